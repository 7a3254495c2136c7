"""Opt-in Regions: each account's opt-in status, and Account Management GetRegionOptStatus.

On AWS a Region launched after March 2019 is "not enabled by default": until the
account opts in, the account's credentials are simply not recognised there, so
every regional call answers UnrecognizedClientException ("The security token
included in the request is invalid."), HTTP 400 from the JSON services. The
middleware refuses ECR and Secrets Manager calls that way (`refuses`); the status
lives in emustate (`/_ptc/region_opt` changes it).

GetRegionOptStatus (REST-JSON, `POST /getRegionOptStatus`, botocore's
account/2021-02-01 model) is missing from moto 5.2's `account` service. moto's
server routes a REST service by URL (`moto/account/urls.py`'s url_paths, read when
the service's Flask app is built) and then by the model's requestUri, so adding
the path and a `get_region_opt_status` method to AccountResponse is enough.
"""

import json
import os
import re

import botocore
from moto.account import urls as account_urls
from moto.account.responses import AccountResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.organizations.models import organizations_backends

import permissions
from emustate import MANAGEMENT_ACCOUNT_ID, STATE, USABLE_REGION_STATUSES

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


def _partition_regions(partition: str = "aws") -> frozenset:
    # The commercial partition's Regions as botocore knows them (the accounts here are commercial).
    with open(os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json")) as f:
        data = json.load(f)
    return frozenset(next(p for p in data["partitions"] if p["partition"] == partition)["regions"])


KNOWN_REGIONS = _partition_regions()


def refuses(account: str, region: str) -> bool:
    """Whether AWS would not recognise this account's credentials in `region` (not opted in)."""
    return STATE.region_status(account, region) not in USABLE_REGION_STATUSES


# --- errors (the account model's shapes) --------------------------------------------
class AccessDeniedException(ServiceException):
    code = "AccessDeniedException"


class ValidationException(ServiceException):
    code = "ValidationException"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.reason = "fieldValidationFailed"
        self.fieldList = [{"name": field, "message": message}]


def _is_member(account_id: str) -> bool:
    backend = organizations_backends[MANAGEMENT_ACCOUNT_ID]["aws"]
    return backend.org is not None and any(a.id == account_id for a in backend.accounts)


def get_region_opt_status(self) -> ActionResult:
    account_id = self._get_param("AccountId")
    region = self._get_param("RegionName")
    caller = self.current_account
    # The model's constraints first, as AWS's front end checks them before anything else.
    if account_id is not None and not ACCOUNT_ID_RE.match(str(account_id)):
        raise ValidationException("AccountId", f"Value '{account_id}' at 'accountId' failed to satisfy "
                                               "constraint: Member must satisfy regular expression pattern: ^\\d{12}$")
    if not isinstance(region, str) or not 1 <= len(region) <= 50:
        raise ValidationException("RegionName", "Value at 'regionName' failed to satisfy constraint: "
                                                "Member must have length between 1 and 50")
    if account_id is not None:
        # Organizations context: the management account only, for a member (not itself).
        if caller != MANAGEMENT_ACCOUNT_ID or account_id == MANAGEMENT_ACCOUNT_ID or not _is_member(account_id):
            who = permissions.caller_principal(caller, self.region, self.get_access_key())["session_arn"]
            raise AccessDeniedException(
                f"User: {who} is not authorized to perform: account:GetRegionOptStatus on resource: "
                f"arn:aws:account::{MANAGEMENT_ACCOUNT_ID}:account/{account_id}"
            )
    if region not in KNOWN_REGIONS:
        raise ValidationException("RegionName", f"Invalid Region name '{region}': not a Region of the aws partition")
    return ActionResult({"RegionName": region, "RegionOptStatus": STATE.region_status(account_id or caller, region)})


def install() -> None:
    # Before server.py builds the account app: the URL map is made from url_paths then.
    account_urls.url_paths["{0}/getRegionOptStatus$"] = AccountResponse.dispatch
    AccountResponse.get_region_opt_status = get_region_opt_status
