"""Who is calling the registry, and may they: identity policies chosen by tests plus
the ECR registry permissions policy.

Only the checks of the registry endpoint (registry.py: ecr:BatchGetImage,
ecr:CreateRepository, ecr:BatchImportUpstreamImage; blobs.py: ecr:GetDownloadUrlForLayer)
and GetAuthorizationToken (identity only) are evaluated; every other AWS call stays
unchecked, as in moto.

- Identity policy: the control API's list of {account, role_name, actions}. A
  principal that matches an entry (its assumed role's name, its account) is
  allowed exactly those actions; one that matches none is allowed everything
  (the member role, the management caller).
- Registry policy: the document PutRegistryPolicy stored for the registry. An
  action is allowed when no Deny statement applies and the identity policy or an
  Allow statement allows it. Statements are evaluated conservatively: anything
  this module does not model (NotAction, a Service principal, another condition
  operator or key) makes the statement not apply.
"""

import json
import re

from moto.ecr.models import ECRBackend, ecr_backends
from moto.iam.policy_validation import MalformedPolicyDocument
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

from emustate import STATE

ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[^/]+/)*(?P<name>[^/]+)$")
# Principals naming a whole account: in the registry's own account they only
# delegate to IAM, so on their own they grant nothing here.
ACCOUNT_PRINCIPAL_RE = re.compile(r"^(?:\d{12}|arn:aws[a-z-]*:iam::\d{12}:root)$")
# Denials worded after the policies that decided them (the pull through cache actions keep the
# emulator's earlier wording, which names both kinds).
IDENTITY_WORDED_ACTIONS = {"ecr:GetDownloadUrlForLayer"}
REGISTRY_POLICY_ACTION_RE = re.compile(r"^ecr:[A-Za-z*?]+$", re.IGNORECASE)


# --- principals -----------------------------------------------------------------
def caller_principal(account: str, region: str, access_key: str) -> dict:
    """The principal behind an access key, as IAM's condition keys would see it.

    For an assumed role aws:PrincipalArn is the role's ARN (path included) and the
    session ARN is what error messages name; other callers are what moto's
    GetCallerIdentity says they are.
    """
    sts = sts_backends[account][get_partition(region)]
    assumed = sts.get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        match = ROLE_ARN_RE.match(assumed.role_arn)
        return {"account": account, "principal_arn": assumed.role_arn, "session_arn": assumed.arn,
                "role_name": match.group("name") if match else assumed.role_arn.rsplit("/", 1)[-1]}
    _, arn, _ = sts.get_caller_identity(access_key, region)
    return {"account": account, "principal_arn": arn, "session_arn": arn, "role_name": None}


# --- wildcards ----------------------------------------------------------------------
def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: * any run of characters, ? one character; nothing else is special."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _arn_like(pattern: str, value: str) -> bool:
    # ArnEquals/ArnLike compare each of the six colon-separated parts on its own.
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    return len(p_parts) == len(v_parts) == 6 and all(_glob(p, v) for p, v in zip(p_parts, v_parts))


def _as_list(value) -> list:
    """A policy element's values; anything that is not a string matches nothing."""
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --- identity policies ------------------------------------------------------------------
def identity_allows(principal: dict, action: str, resource: str | None = None) -> bool:
    """`resource`: checked against the entries' `resources` (default every resource) when
    given, i.e. for Secrets Manager's DescribeSecret (secrets_access.py); ECR's checks pass none."""
    entries = [p for p in STATE.identity_policies()
               if principal.get("role_name") is not None and p["role_name"] == principal["role_name"]
               and p["account"] in ("*", principal["account"])]
    if not entries:
        return True  # no identity policy chosen for this principal: an administrator
    return any(any(_glob(a, action, ignore_case=True) for a in p["actions"])
               and (resource is None or any(_glob(r, resource) for r in p.get("resources", ["*"])))
               for p in entries)


# --- registry policy ----------------------------------------------------------------------
CONDITION_OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": _glob,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
}


def _principal_matches(element, principal: dict) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    for value in _as_list(element.get("AWS")):
        if value == "*":
            return True
        if not ACCOUNT_PRINCIPAL_RE.match(value) and value == principal["principal_arn"]:
            return True
    return False


def _conditions_hold(condition, principal: dict) -> bool:
    context = {"aws:principalarn": principal["principal_arn"], "aws:principalaccount": principal["account"]}
    return conditions_hold_in(condition, context)


def conditions_hold_in(condition, context: dict) -> bool:
    """Whether a statement's Condition holds for these request keys (lowercased)."""
    if condition is None:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        test = CONDITION_OPERATORS.get(operator)
        if test is None or not isinstance(block, dict):
            return False  # fail closed: an operator we do not model
        for key, values in block.items():
            actual = context.get(key.lower())
            patterns = [str(v) for v in (values if isinstance(values, list) else [values])]
            if actual is None or not any(test(p, actual) for p in patterns):
                return False
    return True


def statement_applies(statement: dict, principal: dict, action: str, resource: str) -> bool:
    if not isinstance(statement, dict) or any(k in statement for k in ("NotAction", "NotResource", "NotPrincipal")):
        return False
    return (any(_glob(a, action, ignore_case=True) for a in _as_list(statement.get("Action")))
            and any(_glob(r, resource) for r in _as_list(statement.get("Resource")))
            and _principal_matches(statement.get("Principal"), principal)
            and _conditions_hold(statement.get("Condition"), principal))


def policy_decision(policy_text: str | None, principal: dict, action: str, resource: str) -> str | None:
    """The policy's verdict on one request: "Deny", "Allow", or None when it says nothing."""
    if not policy_text:
        return None
    try:
        statements = json.loads(policy_text).get("Statement")
    except (ValueError, AttributeError):
        return None  # stored behind the API's back (control API) and not a document
    statements = [statements] if isinstance(statements, dict) else statements if isinstance(statements, list) else []
    applying = [s.get("Effect") for s in statements if statement_applies(s, principal, action, resource)]
    if "Deny" in applying:
        return "Deny"
    return "Allow" if "Allow" in applying else None


def denial(principal: dict, action: str, resource: str, account: str, region: str) -> str | None:
    """None when the registry endpoint may do `action` on `resource` for the principal,
    else AWS's message saying why not."""
    policy_text = ecr_backends[account][region].registry_policy
    decision = policy_decision(policy_text, principal, action, resource)
    head = f"User: {principal['session_arn']} is not authorized to perform: {action} on resource: {resource}"
    if decision == "Deny":
        return f"{head} with an explicit deny in a resource-based policy"
    if decision == "Allow" or identity_allows(principal, action):
        return None
    if action in IDENTITY_WORDED_ACTIONS and not policy_text:
        # A layer download with no registry policy: only identity policies were consulted.
        return f"{head} because no identity-based policy allows the {action} action"
    return f"{head} because no identity-based policy or resource-based policy allows the {action} action"


# --- PutRegistryPolicy: scope V2 accepts every ECR action -----------------------------
def _validate_registry_policy_action(self, policy_text: str) -> None:
    # moto accepts only ecr:CreateRepository and ecr:ReplicateImage (scope V1's
    # replication subset); AWS's default scope V2 takes any ecr: action.
    statements = json.loads(policy_text)["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", statement.get("NotAction"))
        actions = [actions] if isinstance(actions, str) else actions
        if not isinstance(actions, list) or not actions or not all(
                isinstance(a, str) and REGISTRY_POLICY_ACTION_RE.match(a) for a in actions):
            raise MalformedPolicyDocument()


def install() -> None:
    ECRBackend._validate_registry_policy_action = _validate_registry_policy_action
