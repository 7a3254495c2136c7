"""The emulator's control API, served under /_ptc/ on the same port as moto.

Tests use it to declare valid GitLab tokens (and their role), accept logins on the other
upstream hosts, publish images into a central ECR registry, create IAM roles, deny AssumeRole,
seed an Organization, inspect and mutate state behind the tool's back, read the call
log, inject faults, publish images upstream, choose identity policies, opt
accounts in to Regions, set STS and Secrets Manager timing limits, and point
layer downloads' S3 URLs elsewhere.
Everything here calls moto's backends directly.
"""

import json
import os
import re

from moto.ecr.models import ecr_backends
from moto.organizations.models import organizations_backends
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

import gitlab
import policy_race
import ptc
import s3
import secrets_guard
import templates
import upstream
import upstreams
from emustate import MANAGEMENT_ACCOUNT_ID, MAX_SESSION_DURATION_RANGE, OPT_IN_REGIONS, STATE

FAULT_KINDS = {"throttle", "http500", "http503", "latency", "hang", "limit_exceeded", "region_disabled",
               "apply_then_http502", "foreign_write"}

DEMO_SPEC = {
    "ous": [
        {"name": "Workloads", "parent": "root"},
        {"name": "Prod", "parent": "Workloads"},
        {"name": "Sandbox", "parent": "root"},
    ],
    "accounts": [
        {"name": "dev-a", "parent": "Workloads"},
        {"name": "dev-b", "parent": "Workloads"},
        {"name": "prod-a", "parent": "Prod"},
        {"name": "prod-b", "parent": "Prod"},
        {"name": "sandbox-1", "parent": "Sandbox"},
        {"name": "legacy", "parent": "root", "state": "SUSPENDED"},
    ],
}


class BadRequest(Exception):
    pass


def _require(payload: dict, *keys):
    missing = [k for k in keys if payload.get(k) in (None, "")]
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}")
    return [payload[k] for k in keys]


# --- seeding --------------------------------------------------------------------
def seed(spec: dict) -> dict:
    """Create (or complete) the Organization described by `spec`; idempotent by name."""
    org = organizations_backends[MANAGEMENT_ACCOUNT_ID]["aws"]
    if org.org is None:
        org.create_organization(region="us-east-1", FeatureSet="ALL")
    root_id = org.org.root_id

    ou_ids = {"root": root_id}
    for ou in spec.get("ous", []):
        name, parent = ou["name"], ou.get("parent", "root")
        if parent not in ou_ids:
            raise BadRequest(f"OU {name!r}: parent {parent!r} is not 'root' or an earlier OU")
        existing = next((o for o in org.ou if o.name == name and o.parent_id == ou_ids[parent]), None)
        if existing is None:
            created = org.create_organizational_unit(Name=name, ParentId=ou_ids[parent])
            ou_ids[name] = created["OrganizationalUnit"]["Id"]
        else:
            ou_ids[name] = existing.id

    for acct in spec.get("accounts", []):
        name, parent = acct["name"], acct.get("parent", "root")
        if parent not in ou_ids:
            raise BadRequest(f"account {name!r}: unknown parent {parent!r}")
        account = next((a for a in org.accounts if a.name == name), None)
        if account is None:
            status = org.create_account(AccountName=name, Email=acct.get("email", f"{name}@example.com"))
            account = org.get_account_by_id(status["CreateAccountStatus"]["AccountId"])
        if account.parent_id != ou_ids[parent]:
            org.move_account(AccountId=account.id, SourceParentId=account.parent_id,
                             DestinationParentId=ou_ids[parent])
        state = acct.get("state", "ACTIVE")
        if state == "SUSPENDED" and account.state != "SUSPENDED":
            org.close_account(AccountId=account.id)
        elif state != account.state:
            # Other states (PENDING_CLOSURE, CLOSED, ...) have no moto operation: set them.
            account.state = state
            account.status = state if state in ("ACTIVE", "SUSPENDED", "PENDING_CLOSURE") else "SUSPENDED"
    return layout()


def layout() -> dict:
    org = organizations_backends[MANAGEMENT_ACCOUNT_ID]["aws"]
    if org.org is None:
        return {"management_account_id": MANAGEMENT_ACCOUNT_ID, "root_id": None, "ous": {}, "accounts": []}
    root_id = org.org.root_id
    names = {o.id: ("root" if o.id == root_id else o.name) for o in org.ou}
    return {
        "management_account_id": MANAGEMENT_ACCOUNT_ID,
        "root_id": root_id,
        "ous": {o.name: o.id for o in org.ou if o.id != root_id},
        "accounts": [
            {"id": a.id, "name": a.name, "state": a.state,
             "parent": names.get(a.parent_id, a.parent_id), "parent_id": a.parent_id}
            for a in org.accounts
        ],
    }


def seed_demo() -> dict:
    result = seed(DEMO_SPEC)
    if os.environ.get("PTC_DEMO_VALID_TOKEN"):
        STATE.add_valid_tokens([os.environ["PTC_DEMO_VALID_TOKEN"]])
    return result


# --- state ------------------------------------------------------------------------
def state() -> dict:
    secrets = []
    for account, region, backend in list(secretsmanager_backends.iter_backends()):
        for secret in list(dict.values(backend.secrets)):
            if not isinstance(secret, FakeSecret):
                continue  # replicas are views of a primary secret
            secrets.append({
                "account": account, "region": region, "name": secret.name, "arn": secret.arn,
                "value": ptc.current_secret_string(secret),
                "tags": {t["Key"]: t["Value"] for t in secret.tags or []},
                "deleted": secret.is_deleted(),
                "kms_key_id": secrets_guard.customer_managed_key(secret),  # null: aws/secretsmanager
                "current_version": secrets_guard.current_version_id(secret),
                "versions": {vid: list(v.get("version_stages", [])) for vid, v in list(secret.versions.items())},
            })
    rules = []
    for account, region, table in ptc.iter_rule_tables():
        for rule in list(table.values()):
            rules.append({
                "account": account, "region": region,
                "ecrRepositoryPrefix": rule["ecrRepositoryPrefix"],
                "upstreamRegistry": rule["upstreamRegistry"],
                "upstreamRegistryUrl": rule["upstreamRegistryUrl"],
                "credentialArn": rule["credentialArn"],
            })
    return {"secrets": secrets, "rules": rules, "templates": template_state(),
            "registry_policies": registry_policy_state(), "repositories": repository_state()}


def registry_policy_state() -> list:
    return [{"account": account, "region": region, "policyText": backend.registry_policy}
            for account, region, backend in list(ecr_backends.iter_backends()) if backend.registry_policy]


def repository_state() -> list:
    out = []
    for account, region, backend in list(ecr_backends.iter_backends()):
        for repo in list(backend.repositories.values()):
            tags = backend.tagger.list_tags_for_resource(repo.arn)["tags"]
            images = []
            for image in list(repo.images):
                # One entry per tag; an untagged image (pulled by digest) has tag null.
                for tag in list(image.image_tags) or [None]:
                    images.append({"tag": tag, "digest": image.get_image_digest()})
            out.append({
                "account": account, "region": region, "name": repo.name,
                "imageTagMutability": getattr(repo.image_tag_mutability, "value", repo.image_tag_mutability),
                "lifecyclePolicy": repo.lifecycle_policy,
                "tags": {t["Key"]: t["Value"] for t in tags},
                "images": images,
            })
    return out


def template_state() -> list:
    out = []
    for account, region, table in templates.iter_template_tables():
        for t in list(table.values()):
            entry = {"account": account, "region": region}
            for key in templates.TEMPLATE_FIELDS:
                value = t.get(key)
                if key in ("createdAt", "updatedAt"):
                    value = value.isoformat()
                entry[key] = value  # absent optional fields are null
            out.append(entry)
    return out


# --- mutations behind the tool's back -----------------------------------------------
def _value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def mutate(p: dict) -> dict:
    op = p.get("op")
    if op in ("create_secret", "put_secret_value", "delete_secret"):
        account, region, name = _require(p, "account", "region", "name")
        sm = secretsmanager_backends[account][region]
        if op == "create_secret":
            (value,) = _require(p, "value")
            tags = [{"Key": k, "Value": str(v)} for k, v in (p.get("tags") or {}).items()]
            kms_key_id = p.get("kms_key_id")
            if kms_key_id is not None and (not isinstance(kms_key_id, str) or not 1 <= len(kms_key_id) <= 2048):
                raise BadRequest("'kms_key_id' must be a KMS key ARN, key id or alias (1 to 2048 characters)")
            sm.create_secret(name=name, secret_string=_value(value), secret_binary=None,
                             description=None, tags=tags or None, kms_key_id=kms_key_id,
                             client_request_token=None, replica_regions=[], force_overwrite=False)
        elif op == "put_secret_value":
            (value,) = _require(p, "value")
            sm.put_secret_value(secret_id=name, secret_string=_value(value), secret_binary=None,
                                client_request_token=None, version_stages=["AWSCURRENT"])
        else:
            arn = sm.secrets[name].arn
            # Schedules deletion (30-day recovery window), like the console's default; `force`
            # deletes without recovery (then the name stays taken for the force-delete delay).
            sm.delete_secret(secret_id=name, recovery_window_in_days=None,
                             force_delete_without_recovery=bool(p.get("force")))
            return {"ok": True, "arn": arn}
        return {"ok": True, "arn": sm.secrets[name].arn}
    if op == "create_rule":
        account, region, prefix, url = _require(p, "account", "region", "prefix", "upstream_url")
        ptc.new_rule(account, region, prefix, url, p.get("upstream_registry"),
                     credential_arn=p.get("credential_arn"), custom_role_arn=p.get("custom_role_arn"),
                     upstream_prefix=p.get("upstream_repository_prefix"), check=False)
        return {"ok": True}
    if op == "delete_rule":
        account, region, prefix = _require(p, "account", "region", "prefix")
        ptc.remove_rule(account, region, prefix)
        return {"ok": True}
    if op == "create_template":
        account, region, prefix, applied_for = _require(p, "account", "region", "prefix", "applied_for")
        if not isinstance(applied_for, list):
            raise BadRequest("'applied_for' must be a list, e.g. [\"PULL_THROUGH_CACHE\"]")
        tags = p.get("resource_tags") or {}
        fields = {
            "imageTagMutability": p.get("image_tag_mutability"),
            "lifecyclePolicy": _value(p["lifecycle_policy"]) if p.get("lifecycle_policy") is not None else None,
            "description": p.get("description"),
            "resourceTags": [{"Key": k, "Value": str(v)} for k, v in tags.items()] or None,
        }
        templates.new_template(account, region, prefix, applied_for, fields, check=False)
        return {"ok": True}
    if op == "delete_template":
        account, region, prefix = _require(p, "account", "region", "prefix")
        templates.remove_template(account, region, prefix)
        return {"ok": True}
    if op == "put_registry_policy":
        account, region, text = _require(p, "account", "region", "policy_text")
        if not isinstance(text, str):
            raise BadRequest("'policy_text' must be a string (it is stored verbatim)")
        ecr_backends[account][region].registry_policy = text  # no validation: behind the API's back
        return {"ok": True}
    if op == "delete_repository":
        account, region, name = _require(p, "account", "region", "name")
        ecr_backends[account][region].delete_repository(name, force=True)
        return {"ok": True}
    raise BadRequest(f"unknown op {op!r}")


# --- registry: upstream images and identity policies --------------------------------------
def add_upstream_images(images) -> dict:
    if not isinstance(images, list):
        raise BadRequest("'images' must be a list of {\"repository\", \"tag\", ...}")
    try:
        for image in images:
            upstream.check(image)  # all of them first: a bad one publishes nothing
        return {"ok": True, "images": [upstream.add_image(image) for image in images]}
    except ValueError as e:
        raise BadRequest(str(e))


def add_upstream_credentials(p: dict) -> dict:
    registry_url, username, token = _require(p, "registry_url", "username", "token")
    if not all(isinstance(v, str) for v in (registry_url, username, token)):
        raise BadRequest("'registry_url', 'username' and 'token' must be strings")
    upstreams.add_credential(registry_url, username, token)
    return {"ok": True}


def add_central_images(p: dict) -> dict:
    account, region, images = _require(p, "account", "region", "images")
    if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account) or not isinstance(images, list):
        raise BadRequest("'account' must be a 12-digit account id, 'images' a list of {\"repository\", \"tag\", ...}")
    try:
        for image in images:
            upstream.check(image)
        return {"ok": True, "images": [upstreams.publish_central(account, region, image) for image in images]}
    except ValueError as e:
        raise BadRequest(str(e))


def create_role(p: dict) -> dict:
    account, name = _require(p, "account", "name")
    if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account):
        raise BadRequest("'account' must be a 12-digit account id")
    if not isinstance(name, str) or not re.fullmatch(r"[\w+=,.@-]{1,64}", name):
        raise BadRequest("'name' must be an IAM role name")
    service = p.get("trust_service", upstreams.PTC_SERVICE)
    if service is not None and not isinstance(service, str):
        raise BadRequest("'trust_service' must be a service principal or null (trust the management account)")
    return {"ok": True, "arn": upstreams.create_role(account, name, service)}


def set_identity_policies(policies) -> dict:
    if not isinstance(policies, list):
        raise BadRequest("'policies' must be a list")
    for entry in policies:
        if not isinstance(entry, dict):
            raise BadRequest("each policy must be an object")
        account, role_name, actions = entry.get("account"), entry.get("role_name"), entry.get("actions")
        if not isinstance(account, str) or not (account == "*" or re.fullmatch(r"\d{12}", account)):
            raise BadRequest("'account' must be \"*\" or a 12-digit account id")
        if not isinstance(role_name, str) or not role_name:
            raise BadRequest("'role_name' must be a role's name")
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise BadRequest("'actions' must be a list of action names, e.g. [\"ecr:BatchGetImage\"]")
        resources = entry.get("resources", [])
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            raise BadRequest("'resources' must be a list of ARN patterns (evaluated for secretsmanager:DescribeSecret)")
    STATE.set_identity_policies([{"account": e["account"], "role_name": e["role_name"], "actions": e["actions"],
                                  **({"resources": e["resources"]} if "resources" in e else {})}
                                 for e in policies])
    return {"ok": True, "policies": STATE.identity_policies()}


# --- Region opt-in, STS session limits, Secrets Manager deletion delay ---------------------
REGION_OPT_STATUSES = ("ENABLED", "DISABLED", "ENABLING", "DISABLING")


def set_region_opt(p: dict) -> dict:
    account, region, status = _require(p, "account", "region", "status")
    if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account):
        raise BadRequest("'account' must be a 12-digit account id")
    if region not in OPT_IN_REGIONS:
        # As AWS: only opt-in Regions can be enabled or disabled.
        raise BadRequest(f"'region' must be an opt-in Region: {', '.join(sorted(OPT_IN_REGIONS))}")
    if status not in REGION_OPT_STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(REGION_OPT_STATUSES)}")
    STATE.set_region_status(account, region, status)
    return {"ok": True, "account": account, "region": region, "status": status}


def _int_in(p: dict, key: str, low: int, high: int) -> int:
    value = p.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{key}' must be an integer from {low} to {high}")
    return value


def set_max_session_duration(p: dict) -> dict:
    STATE.set_max_session_duration(_int_in(p, "seconds", *MAX_SESSION_DURATION_RANGE))
    return {"ok": True, "seconds": STATE.max_session_duration()}


def set_force_delete_delay(p: dict) -> dict:
    STATE.set_force_delete_delay_ms(_int_in(p, "ms", 0, 3_600_000))
    secrets_guard.set_visible_while_purging(p.get("visible") is True)
    return {"ok": True, "ms": STATE.force_delete_delay_ms(), "visible": secrets_guard.visible_while_purging()}


def set_s3(p: dict) -> dict:
    if "redirect_base" not in p:
        raise BadRequest("missing field: redirect_base (a loopback \"http://127.0.0.1:PORT\", or null)")
    try:
        return s3.set_redirect_base(p["redirect_base"])
    except ValueError as e:
        raise BadRequest(str(e))


def set_valid_tokens(p: dict) -> dict:
    try:
        STATE.set_valid_tokens(p.get("tokens", []), p.get("access_level", gitlab.REPORTER))
    except ValueError as e:
        raise BadRequest(str(e))
    return {"ok": True}


def set_faults(rules) -> dict:
    if not isinstance(rules, list):
        raise BadRequest("'rules' must be a list")
    for r in rules:
        if r.get("kind") not in FAULT_KINDS:
            raise BadRequest(f"fault kind must be one of {sorted(FAULT_KINDS)}")
        if not 0.0 <= float(r.get("rate", 1.0)) <= 1.0:
            raise BadRequest("rate must be within 0.0-1.0")
        if r.get("kind") == "foreign_write" and policy_race.check(r):
            raise BadRequest(policy_race.check(r))
        skip = r.get("skip", 0)
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise BadRequest("skip must be a whole number of calls, 0 or more")
    STATE.set_faults(rules)
    return {"ok": True, "rules": STATE.faults()}


# --- routing ---------------------------------------------------------------------------
ROUTES = {
    ("GET", "/_ptc/health"): lambda p: {"ok": True},
    ("GET", "/_ptc/calls"): lambda p: {"calls": STATE.calls()},
    ("POST", "/_ptc/calls/reset"): lambda p: (STATE.reset_calls(), {"ok": True})[1],
    ("POST", "/_ptc/valid_tokens"): set_valid_tokens,
    ("POST", "/_ptc/deny_assume_role"): lambda p: (STATE.set_denied_accounts(p.get("accounts", [])), {"ok": True})[1],
    ("POST", "/_ptc/seed"): lambda p: seed_demo() if p.get("demo") else seed(p),
    ("GET", "/_ptc/seed"): lambda p: layout(),
    ("GET", "/_ptc/state"): lambda p: state(),
    ("POST", "/_ptc/mutate"): mutate,
    ("GET", "/_ptc/faults"): lambda p: {"rules": STATE.faults()},
    ("POST", "/_ptc/faults"): lambda p: set_faults(p.get("rules", [])),
    ("GET", "/_ptc/gitlab"): lambda p: gitlab.state(),
    ("POST", "/_ptc/gitlab"): gitlab.control,
    ("GET", "/_ptc/upstream_images"): lambda p: {"images": upstream.list_images()},
    ("POST", "/_ptc/upstream_images"): lambda p: add_upstream_images(p.get("images", [])),
    ("GET", "/_ptc/upstream_credentials"): lambda p: upstreams.credential_state(),
    ("POST", "/_ptc/upstream_credentials"): add_upstream_credentials,
    ("POST", "/_ptc/central_images"): add_central_images,
    ("POST", "/_ptc/roles"): create_role,
    ("GET", "/_ptc/organization"): lambda p: {"id": upstreams.organization_id()},
    ("GET", "/_ptc/identity_policies"): lambda p: {"policies": STATE.identity_policies()},
    ("POST", "/_ptc/identity_policies"): lambda p: set_identity_policies(p.get("policies", [])),
    ("POST", "/_ptc/registry_tokens/expire"): lambda p: {"ok": True, "expired": STATE.expire_registry_tokens()},
    ("GET", "/_ptc/region_opt"): lambda p: {"regions": STATE.region_statuses()},
    ("POST", "/_ptc/region_opt"): set_region_opt,
    ("GET", "/_ptc/max_session_duration"): lambda p: {"seconds": STATE.max_session_duration()},
    ("POST", "/_ptc/max_session_duration"): set_max_session_duration,
    ("GET", "/_ptc/s3"): lambda p: {"redirect_base": s3.redirect_base()},
    ("POST", "/_ptc/s3"): set_s3,
    ("GET", "/_ptc/force_delete_delay"): lambda p: {"ms": STATE.force_delete_delay_ms(),
                                                     "visible": secrets_guard.visible_while_purging()},
    ("POST", "/_ptc/force_delete_delay"): set_force_delete_delay,
}


def handle(method: str, path: str, payload) -> tuple[int, dict]:
    route = ROUTES.get((method, path.rstrip("/")))
    if route is None:
        return 404, {"error": f"no control endpoint {method} {path}"}
    if not isinstance(payload, dict):
        return 400, {"error": "request body must be a JSON object"}
    try:
        return 200, route(payload)
    except BadRequest as e:
        return 400, {"error": str(e)}
    except Exception as e:  # moto errors (e.g. secret not found) and bad input
        code = getattr(e, "code", type(e).__name__)
        return 400, {"error": f"{code}: {getattr(e, 'message', str(e))}"}
