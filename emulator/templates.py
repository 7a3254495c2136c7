"""ECR repository creation templates, added to moto's ECR service.

moto 5.2 implements none of the *RepositoryCreationTemplate(s) operations. As in
ptc.py, methods installed on ECRResponse answer
`AmazonEC2ContainerRegistry_V20150921.<Action>`; results are plain dicts wrapped
in ActionResult (moto serializes them against botocore's ECR model) and errors
are ServiceException subclasses whose `code` becomes the `__type`.

Templates are stored on moto's ECR backend for (account, region), so moto's
/moto-api/reset clears them along with everything else.

AWS behaviours kept here (botocore's ecr/2015-09-21 model and the ECR guide):
- DescribeRepositoryCreationTemplates with `prefixes` returns only the templates
  that exist; an unknown prefix is simply absent (TemplateNotFoundException is
  modelled for Update and Delete only).
- Update changes only the fields given; an empty string clears description,
  repositoryPolicy, lifecyclePolicy and customRoleArn. Create defaults
  imageTagMutability to MUTABLE and encryption to AES256.
- Errors: TemplateAlreadyExistsException, TemplateNotFoundException,
  InvalidParameterException (the prefix pattern, an empty appliedFor, a policy
  that is not JSON, exclusion filters that do not fit the mutability, a
  customRoleArn in another account than the registry's),
  ValidationException (model constraints: enum values, lengths, maxResults).
"""

import json
import re
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.models import ecr_backends
from moto.ecr.responses import ECRResponse

from ptc import PREFIX_RE, InvalidParameterException, _lock, _registry

APPLIED_FOR = ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH")
IMAGE_TAG_MUTABILITY = ("MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
ENCRYPTION_TYPES = ("AES256", "KMS", "KMS_DSSE")
KMS_KEY_RE = re.compile(r"^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[a-z0-9-]+")
EXCLUSION_FILTER_RE = re.compile(r"^[0-9a-zA-Z._*-]{1,128}$")
ROLE_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]+$")

TEMPLATE_FIELDS = ("prefix", "description", "encryptionConfiguration", "resourceTags",
                   "imageTagMutability", "imageTagMutabilityExclusionFilters", "repositoryPolicy",
                   "lifecyclePolicy", "appliedFor", "customRoleArn", "createdAt", "updatedAt")
# Fields whose empty string means "none" (they are optional strings with min length 0).
CLEARABLE = ("description", "repositoryPolicy", "lifecyclePolicy", "customRoleArn")


class TemplateAlreadyExistsException(ServiceException):
    code = "TemplateAlreadyExistsException"


class TemplateNotFoundException(ServiceException):
    code = "TemplateNotFoundException"


class ValidationException(ServiceException):
    code = "ValidationException"


def _not_found(prefix: str, registry_id: str) -> TemplateNotFoundException:
    return TemplateNotFoundException(
        f"The repository creation template with prefix '{prefix}' does not exist "
        f"in the registry with id '{registry_id}'"
    )


def _constraint(field: str, value, constraint: str) -> ValidationException:
    # The wording of AWS's model-validation errors.
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    )


# --- template store -------------------------------------------------------------
def template_table(account: str, region: str) -> dict:
    """prefix -> template dict for one registry (account + region), insertion ordered."""
    backend = ecr_backends[account][region]
    return backend.__dict__.setdefault("_ptc_templates", {})


def iter_template_tables():
    """Yield (account, region, table) for every registry that has held a template."""
    for account, region, backend in list(ecr_backends.iter_backends()):
        table = backend.__dict__.get("_ptc_templates")
        if table:
            yield account, region, table


# --- checks -------------------------------------------------------------------------
def _check_prefix(prefix) -> None:
    if not isinstance(prefix, str) or not 2 <= len(prefix) <= 256 or not PREFIX_RE.match(prefix):
        raise InvalidParameterException(
            "Invalid parameter at 'prefix' failed to satisfy constraint: "
            "'must be 2-256 characters and satisfy regular expression "
            f"'{PREFIX_RE.pattern}''"
        )


def _check_applied_for(applied_for) -> list:
    if not isinstance(applied_for, list) or not applied_for:
        raise InvalidParameterException(
            "Invalid parameter at 'appliedFor' failed to satisfy constraint: "
            f"'must contain at least one of {list(APPLIED_FOR)}'"
        )
    for value in applied_for:
        if value not in APPLIED_FOR:
            raise _constraint("appliedFor", value, f"Member must satisfy enum value set: {list(APPLIED_FOR)}")
    return list(dict.fromkeys(applied_for))


def _check_json_policy(text, field: str, what: str):
    """A policy text: "" clears it; otherwise it must be a JSON object."""
    if text is None or text == "":
        return text
    if not isinstance(text, str):
        raise _constraint(field, text, "Member must be a string")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise InvalidParameterException(
            f"Invalid parameter at '{field}' failed to satisfy constraint: '{what} validation failure: "
            f"the text is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})'"
        )
    if not isinstance(doc, dict):
        raise InvalidParameterException(
            f"Invalid parameter at '{field}' failed to satisfy constraint: '{what} validation failure: "
            "the document must be a JSON object'"
        )
    if field == "lifecyclePolicy" and not isinstance(doc.get("rules"), list):
        raise InvalidParameterException(
            f"Invalid parameter at '{field}' failed to satisfy constraint: '{what} validation failure: "
            "object has missing required properties ([\"rules\"])'"
        )
    return text


def _check_fields(fields: dict) -> None:
    """Validate every given request field; fields left None were not sent."""
    description = fields.get("description")
    if description is not None and len(description) > 256:
        raise _constraint("description", description, "Member must have length less than or equal to 256")
    mutability = fields.get("imageTagMutability")
    if mutability is not None and mutability not in IMAGE_TAG_MUTABILITY:
        raise _constraint("imageTagMutability", mutability,
                          f"Member must satisfy enum value set: {list(IMAGE_TAG_MUTABILITY)}")
    filters = fields.get("imageTagMutabilityExclusionFilters")
    if filters is not None:
        if not 1 <= len(filters) <= 5:
            raise _constraint("imageTagMutabilityExclusionFilters", filters,
                              "Member must have length between 1 and 5")
        for f in filters:
            if f.get("filterType") != "WILDCARD" or not EXCLUSION_FILTER_RE.match(f.get("filter") or ""):
                raise InvalidParameterException(
                    "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: "
                    "'filterType must be WILDCARD and filter must match ^[0-9a-zA-Z._*-]{1,128}$'"
                )
    encryption = fields.get("encryptionConfiguration")
    if encryption is not None:
        etype, key = encryption.get("encryptionType"), encryption.get("kmsKey")
        if etype not in ENCRYPTION_TYPES:
            raise _constraint("encryptionConfiguration.encryptionType", etype,
                              f"Member must satisfy enum value set: {list(ENCRYPTION_TYPES)}")
        if key and (etype == "AES256" or not KMS_KEY_RE.match(key)):
            raise InvalidParameterException(
                "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: "
                "'a KMS key ARN is allowed only with encryption type KMS or KMS_DSSE'"
            )
    tags = fields.get("resourceTags")
    if tags is not None:
        for tag in tags:
            key, value = tag.get("Key"), tag.get("Value")
            if not isinstance(key, str) or not 1 <= len(key) <= 128 or not isinstance(value, str) or len(value) > 256:
                raise InvalidParameterException(
                    "Invalid parameter at 'resourceTags' failed to satisfy constraint: "
                    "'tag keys must be 1-128 characters and values at most 256 characters'"
                )
        keys = [t["Key"] for t in tags]
        if len(set(keys)) != len(keys):
            raise InvalidParameterException("Invalid parameter at 'resourceTags': duplicate tag keys")
    role = fields.get("customRoleArn")
    if role and not ROLE_ARN_RE.match(role):
        raise InvalidParameterException(
            f"Invalid parameter at 'customRoleArn' failed to satisfy constraint: '{role} is not a valid IAM role ARN'"
        )
    _check_json_policy(fields.get("repositoryPolicy"), "repositoryPolicy", "Repository policy")
    _check_json_policy(fields.get("lifecyclePolicy"), "lifecyclePolicy", "Lifecycle policy")


def _check_role_account(role, account: str) -> None:
    """ECR assumes customRoleArn as the registry's own service: the role must be in its account."""
    match = ROLE_ARN_RE.match(role or "")
    if match and role.split(":")[4] != account:
        raise InvalidParameterException(
            f"Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'the role {role} must be "
            f"in the registry's account {account}'"
        )


def _check_mutability_filters(template: dict) -> None:
    """Exclusion filters go with, and only with, the *_WITH_EXCLUSION mutabilities."""
    with_exclusion = template["imageTagMutability"].endswith("_WITH_EXCLUSION")
    if with_exclusion != bool(template.get("imageTagMutabilityExclusionFilters")):
        raise InvalidParameterException(
            "Invalid parameter at 'imageTagMutabilityExclusionFilters': exclusion filters are required with, "
            "and allowed only with, IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION"
        )


# --- store operations (shared with the control API) ---------------------------------------
def new_template(account: str, region: str, prefix: str, applied_for, fields: dict | None = None,
                 check: bool = True) -> dict:
    """Create and store a template. check=False skips the AWS validations (control API mutate)."""
    fields = {k: v for k, v in (fields or {}).items() if v is not None}
    if check:
        _check_prefix(prefix)
        applied_for = _check_applied_for(applied_for)
        _check_fields(fields)
        _check_role_account(fields.get("customRoleArn"), account)
    now = datetime.now(timezone.utc)
    template = {
        "prefix": prefix,
        "appliedFor": list(applied_for),
        "imageTagMutability": "MUTABLE",
        "encryptionConfiguration": {"encryptionType": "AES256"},
        "resourceTags": [],
        **{k: v for k, v in fields.items() if not (k in CLEARABLE and v == "")},
        "createdAt": now,
        "updatedAt": now,
    }
    if check:
        _check_mutability_filters(template)
    with _lock:
        table = template_table(account, region)
        if prefix in table:
            raise TemplateAlreadyExistsException(
                f"The repository creation template with prefix '{prefix}' already exists "
                f"in the registry with id '{account}'"
            )
        table[prefix] = template
    return template


def update_template(account: str, region: str, prefix: str, fields: dict) -> dict:
    fields = {k: v for k, v in fields.items() if v is not None}
    _check_prefix(prefix)
    if "appliedFor" in fields:
        fields["appliedFor"] = _check_applied_for(fields["appliedFor"])
    _check_fields(fields)
    _check_role_account(fields.get("customRoleArn"), account)
    with _lock:
        current = template_table(account, region).get(prefix)
        if current is None:
            raise _not_found(prefix, account)
        updated = dict(current)
        for key, value in fields.items():
            if key in CLEARABLE and value == "":
                updated.pop(key, None)
            else:
                updated[key] = value
        if updated["imageTagMutability"] in ("MUTABLE", "IMMUTABLE"):
            # Switching back to a plain mutability drops the exclusion filters. An assumption:
            # ECR's docs do not say, and the model's 1..5 filters leave no way to send none.
            if "imageTagMutabilityExclusionFilters" not in fields:
                updated.pop("imageTagMutabilityExclusionFilters", None)
        _check_mutability_filters(updated)
        updated["updatedAt"] = datetime.now(timezone.utc)
        template_table(account, region)[prefix] = updated
    return updated


def remove_template(account: str, region: str, prefix: str) -> dict:
    with _lock:
        template = template_table(account, region).pop(prefix, None)
    if template is None:
        raise _not_found(prefix, account)
    return template


def public(template: dict) -> dict:
    return {k: template[k] for k in TEMPLATE_FIELDS if template.get(k) is not None}


# --- ECRResponse methods ----------------------------------------------------------------
REQUEST_FIELDS = ("description", "encryptionConfiguration", "resourceTags", "imageTagMutability",
                  "imageTagMutabilityExclusionFilters", "repositoryPolicy", "lifecyclePolicy",
                  "customRoleArn")


def _request_fields(self) -> dict:
    return {k: self._get_param(k) for k in REQUEST_FIELDS}


def create_repository_creation_template(self) -> ActionResult:
    account = _registry(self)
    template = new_template(account, self.region, self._get_param("prefix"),
                            self._get_param("appliedFor"), _request_fields(self))
    return ActionResult({"registryId": account, "repositoryCreationTemplate": public(template)})


def describe_repository_creation_templates(self) -> ActionResult:
    account = _registry(self)
    wanted = self._get_param("prefixes")
    with _lock:
        table = dict(template_table(account, self.region))
    if wanted:
        for p in wanted:
            if not isinstance(p, str) or not 1 <= len(p) <= 256:
                raise _constraint("prefixes", p, "Member must have length between 1 and 256")
        # Unknown prefixes are not an error: they are simply not in the answer.
        templates = [table[p] for p in dict.fromkeys(wanted) if p in table]
    else:
        templates = list(table.values())
    max_results = self._get_param("maxResults")
    if max_results is not None and not 1 <= int(max_results) <= 1000:
        raise _constraint("maxResults", max_results, "Member must have value between 1 and 1000")
    max_results = int(max_results or 100)
    # Paging: nextToken is simply the index of the next template.
    token = self._get_param("nextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidParameterException("Invalid parameter at 'nextToken': invalid token")
    page = templates[start:start + max_results]
    result = {"registryId": account, "repositoryCreationTemplates": [public(t) for t in page]}
    if start + max_results < len(templates):
        result["nextToken"] = str(start + max_results)
    return ActionResult(result)


def update_repository_creation_template(self) -> ActionResult:
    account = _registry(self)
    fields = _request_fields(self)
    fields["appliedFor"] = self._get_param("appliedFor")
    template = update_template(account, self.region, self._get_param("prefix"), fields)
    return ActionResult({"registryId": account, "repositoryCreationTemplate": public(template)})


def delete_repository_creation_template(self) -> ActionResult:
    account = _registry(self)
    prefix = self._get_param("prefix")
    _check_prefix(prefix)
    template = remove_template(account, self.region, prefix)
    return ActionResult({"registryId": account, "repositoryCreationTemplate": public(template)})


def install() -> None:
    for fn in (create_repository_creation_template, describe_repository_creation_templates,
               update_repository_creation_template, delete_repository_creation_template):
        setattr(ECRResponse, fn.__name__, fn)
