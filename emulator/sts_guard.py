"""AssumeRole refusals that moto does not model.

moto lets anyone assume any role ARN, even in the management account, which on
AWS has no OrganizationAccountAccessRole. We refuse, as AWS would, AssumeRole
of that role in the management account (its other roles, such as a workload's
role that `probe --as-role` pulls as, can be assumed), and of any role in the
accounts on the control API's deny list; every other AssumeRole keeps moto's behaviour (credentials mapped to the
role's account).
"""

import re
from xml.sax.saxutils import escape

from moto.sts.responses import TokenResponse

from emustate import STATE

ROLE_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")

_original_assume_role = TokenResponse.assume_role


def access_denied_xml(message: str) -> str:
    # STS speaks the query protocol: the SDKs read ErrorResponse/Error/Code.
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId>"  # moto rewrites it
        "</ErrorResponse>"
    )


def assume_role(self):
    role_arn = self._get_param("RoleArn") or ""
    match = ROLE_ACCOUNT_RE.match(role_arn)
    if match and STATE.is_assume_role_denied(match.group(1), role_arn.rsplit("/", 1)[-1]):
        _, caller_arn, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
        message = (
            f"User: {caller_arn} is not authorized to perform: sts:AssumeRole "
            f"on resource: {role_arn}"
        )
        return access_denied_xml(message), {"status": 403, "Content-Type": "text/xml"}
    return _original_assume_role(self)


def install() -> None:
    TokenResponse.assume_role = assume_role
