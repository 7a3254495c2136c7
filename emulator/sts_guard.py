"""AssumeRole refusals that moto does not model.

moto lets anyone assume any role ARN, even in the management account, which on
AWS has no OrganizationAccountAccessRole. We refuse, as AWS would, AssumeRole
of that role in the management account (its other roles, such as a workload's
role that `probe --as-role` pulls as, can be assumed), and of any role in the
accounts on the control API's deny list; every other AssumeRole keeps moto's behaviour (credentials mapped to the
role's account).

Session duration (botocore's sts model, AssumeRole's DurationSeconds): 900 to
43200 by the model; at most the role's MaxSessionDuration (one value for every
role here, `/_ptc/max_session_duration`, 43200 unless set); and at most 3600
when the caller is itself an assumed role (role chaining). Each refusal is a
400 ValidationError with AWS's wording.
"""

import re
from xml.sax.saxutils import escape

from moto.sts.responses import TokenResponse

from emustate import STATE

ROLE_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")
DURATION_RANGE = (900, 43200)  # roleDurationSecondsType
ROLE_CHAINING_LIMIT = 3600
CHAINING_MESSAGE = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
MAX_SESSION_MESSAGE = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."

_original_assume_role = TokenResponse.assume_role


def error_xml(code: str, message: str) -> str:
    # STS speaks the query protocol: the SDKs read ErrorResponse/Error/Code.
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId>"  # moto rewrites it
        "</ErrorResponse>"
    )


def access_denied_xml(message: str) -> str:
    return error_xml("AccessDenied", message)


def _validation_error(message: str):
    return error_xml("ValidationError", message), {"status": 400, "Content-Type": "text/xml"}


def _duration(self):
    """DurationSeconds as sent (None when absent), or a model-constraint error answer."""
    raw = self._get_param("DurationSeconds")
    if raw is None:
        return None, None
    try:
        seconds = int(raw)
    except (TypeError, ValueError):
        return None, _validation_error(f"1 validation error detected: Value '{raw}' at 'durationSeconds' "
                                       "failed to satisfy constraint: Member must be an integer")
    low, high = DURATION_RANGE
    if not low <= seconds <= high:
        bound = f"greater than or equal to {low}" if seconds < low else f"less than or equal to {high}"
        return None, _validation_error(f"1 validation error detected: Value '{seconds}' at 'durationSeconds' "
                                       f"failed to satisfy constraint: Member must have value {bound}")
    return seconds, None


def assume_role(self):
    role_arn = self._get_param("RoleArn") or ""
    seconds, invalid = _duration(self)
    if invalid is not None:
        return invalid  # the model's constraints come first, as at AWS's front end
    match = ROLE_ACCOUNT_RE.match(role_arn)
    if match and STATE.is_assume_role_denied(match.group(1), role_arn.rsplit("/", 1)[-1]):
        _, caller_arn, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
        message = (
            f"User: {caller_arn} is not authorized to perform: sts:AssumeRole "
            f"on resource: {role_arn}"
        )
        return access_denied_xml(message), {"status": 403, "Content-Type": "text/xml"}
    if seconds is not None:
        # Credentials that came from AssumeRole themselves: this call chains roles.
        chained = self.backend.get_assumed_role_from_access_key(self.get_access_key()) is not None
        if chained and seconds > ROLE_CHAINING_LIMIT:
            return _validation_error(CHAINING_MESSAGE)
        if seconds > STATE.max_session_duration():
            return _validation_error(MAX_SESSION_MESSAGE)
    return _original_assume_role(self)


def install() -> None:
    TokenResponse.assume_role = assume_role
