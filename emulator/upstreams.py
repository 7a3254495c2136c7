"""The upstreams other than GitLab: logins to the secret-based hosts, and an ECR registry of the
Organization as an upstream (ECR-to-ECR).

- Logins: each secret-based host (docker-hub, ghcr, azure, chainguard) accepts a set of
  (username, token) pairs; DEFAULT_USERNAME/DEFAULT_TOKEN is accepted by every host from the
  start, tests add more (control API /_ptc/upstream_credentials). GitLab keeps its own
  logic (gitlab.py: the group's registry tokens and their role).
- ECR upstream: ACCOUNT.dkr.ecr.REGION.amazonaws.com names an account of the emulated
  Organization; its images are that account's moto ECR repositories in that Region (tests put
  one there through /_ptc/central_images). ECR uses the rule's customRoleArn: the role must
  exist in the downstream account and trust pullthroughcache.ecr.amazonaws.com, and the
  upstream's registry or repository policy must let the downstream account pull
  (AWS user guide "Creating a pull through cache rule for an Amazon ECR upstream").

Tokens are credentials: they never leave this module (the control API lists usernames only).
"""

import json
import re
import threading
import urllib.parse

from moto.ecr.models import ecr_backends
from moto.iam.models import iam_backends
from moto.organizations.models import organizations_backends

import permissions
import upstream
from emustate import MANAGEMENT_ACCOUNT_ID

DEFAULT_USERNAME = "ptc-demo"
DEFAULT_TOKEN = "test-UpstreamTokenValue0123456789"
PTC_SERVICE = "pullthroughcache.ecr.amazonaws.com"
ECR_URL_RE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:[\w+=,.@-]+/)*(?P<name>[\w+=,.@-]+)$")
# What the downstream account needs from the upstream's policies to pull (the user guide's
# upstream policy lists these two and BatchImportUpstreamImage, GetImageCopyStatus; the brief
# of this emulator checks the two a pull cannot do without).
PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")

_lock = threading.Lock()
_accepted: dict[str, set[tuple[str, str]]] = {}  # registry URL -> extra accepted (username, token)


# --- logins to the secret-based hosts ---------------------------------------------------------
def add_credential(registry_url: str, username: str, token: str) -> None:
    with _lock:
        _accepted.setdefault(registry_url, set()).add((username, token))


def login_ok(registry_url: str, username: str, token: str) -> bool:
    if (username, token) == (DEFAULT_USERNAME, DEFAULT_TOKEN):
        return True
    with _lock:
        return (username, token) in _accepted.get(registry_url, set())


def credential_state() -> dict:
    """Usernames accepted per host; never the tokens."""
    with _lock:
        hosts = {url: sorted({u for u, _ in pairs}) for url, pairs in _accepted.items()}
    return {"default_username": DEFAULT_USERNAME, "hosts": hosts}


# --- roles (moto IAM) ---------------------------------------------------------------------------
def trust_policy(service: str | None) -> str:
    principal = {"Service": service} if service else {"AWS": f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"}
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


def create_role(account: str, name: str, trust_service: str | None) -> str:
    """Create (or replace the trust policy of) a role; returns its ARN."""
    iam = iam_backends[account]["global"]
    try:
        role = iam.get_role(name)
        role.assume_role_policy_document = trust_policy(trust_service)
    except Exception:  # moto's NoSuchEntity
        role = iam.create_role(role_name=name, assume_role_policy_document=trust_policy(trust_service),
                               path="/", permissions_boundary=None, description="", tags=[],
                               max_session_duration=None)
    return role.arn


def _trusts_service(document) -> bool:
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document) if document.startswith("%") else document)
        except ValueError:
            return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements or []
    for s in statements:
        if not isinstance(s, dict) or s.get("Effect") != "Allow" or "Condition" in s:
            continue  # conditions on the trust: not modelled, so not trusted (fail closed)
        principal = s.get("Principal")
        services = permissions._as_list(principal.get("Service")) if isinstance(principal, dict) else []
        actions = permissions._as_list(s.get("Action"))
        if PTC_SERVICE in services and any(permissions._glob(a, "sts:AssumeRole", True) for a in actions):
            return True
    return False


# --- the upstream's policies --------------------------------------------------------------------
def organization_id() -> str | None:
    org = organizations_backends[MANAGEMENT_ACCOUNT_ID]["aws"]
    return org.org.id if org.org is not None else None


def _in_organization(account: str) -> bool:
    org = organizations_backends[MANAGEMENT_ACCOUNT_ID]["aws"]
    return org.org is not None and any(a.id == account for a in org.accounts)


def _statement_applies(s, action: str, resource: str, context: dict) -> bool:
    if not isinstance(s, dict) or any(k in s for k in ("NotAction", "NotResource", "NotPrincipal")):
        return False
    principal = s.get("Principal")
    down = context["aws:principalaccount"]
    if principal == "*":
        matches = True
    elif isinstance(principal, dict):
        matches = any(p in ("*", down, f"arn:aws:iam::{down}:root", context["aws:principalarn"])
                      for p in permissions._as_list(principal.get("AWS")))
    else:
        matches = False
    # A repository policy has no Resource element (it is the repository's); a registry policy's
    # names repositories.
    resources = permissions._as_list(s["Resource"]) if "Resource" in s else ["*"]
    if not matches or not any(permissions._glob(r, resource) for r in resources) or not any(
            permissions._glob(a, action, ignore_case=True) for a in permissions._as_list(s.get("Action"))):
        return False
    return permissions.conditions_hold_in(s.get("Condition"), context)


def _decision(policy_text, action: str, resource: str, context: dict) -> str | None:
    if not policy_text:
        return None
    try:
        statements = json.loads(policy_text).get("Statement")
    except (ValueError, AttributeError):
        return None
    statements = [statements] if isinstance(statements, dict) else statements if isinstance(statements, list) else []
    effects = [s.get("Effect") for s in statements if _statement_applies(s, action, resource, context)]
    return "Deny" if "Deny" in effects else "Allow" if "Allow" in effects else None


def policy_allows(central: str, region: str, repository: str, downstream: str, role_arn: str) -> bool:
    """Whether the central registry's policy or the repository's allows the downstream account's
    role every PULL_ACTIONS on the repository (an explicit Deny in either wins). Same account: no
    resource policy is needed (IAM's rule; the role's own permissions are not modelled)."""
    if central == downstream:
        return True
    backend = ecr_backends[central][region]
    repo = backend.repositories.get(repository)
    arn = f"arn:aws:ecr:{region}:{central}:repository/{repository}"
    context = {"aws:principalaccount": downstream, "aws:principalarn": role_arn}
    org_id = organization_id()
    if org_id and _in_organization(downstream):
        context["aws:principalorgid"] = org_id
    for action in PULL_ACTIONS:
        decisions = [_decision(backend.registry_policy, action, arn, context),
                     _decision(repo.policy if repo is not None else None, action, arn, context)]
        if "Deny" in decisions or "Allow" not in decisions:
            return False
    return True


# --- validation and images of an ECR upstream ---------------------------------------------------
def check_ecr_rule(account: str, rule: dict, repository: str | None = None) -> str | None:
    """Why ECR could not use the ECR upstream of `rule` (for `repository` when given: a pull),
    or None. AWS documents no failure wording: these messages are ours."""
    match = ECR_URL_RE.match(rule["upstreamRegistryUrl"])
    if match is None:
        return f"The upstream registry URL {rule['upstreamRegistryUrl']} is not an ECR registry"
    role_arn = rule.get("customRoleArn")
    role_match = ROLE_ARN_RE.match(role_arn or "")
    if role_match is None:
        return "No IAM role is configured for the ECR upstream: set customRoleArn"
    iam = iam_backends[account]["global"]
    try:
        role = iam.get_role(role_match["name"])
    except Exception:  # moto's NoSuchEntity
        return f"The IAM role {role_arn} does not exist in account {account}"
    if not _trusts_service(role.assume_role_policy_document):
        return f"The trust policy of {role_arn} does not allow {PTC_SERVICE} to assume it"
    central, region = match["account"], match["region"]
    repos = [repository] if repository else list(ecr_backends[central][region].repositories)
    if not repos:
        # Nothing to check a repository policy against: the registry policy must allow.
        repos = ["*"]
    if not any(policy_allows(central, region, r, account, role_arn) for r in repos):
        return (f"The registry policy of {central} in {region} (or its repository policy) does not allow "
                f"account {account} ecr:BatchGetImage and ecr:GetDownloadUrlForLayer")
    return None


def lookup_ecr(registry_url: str, repository: str, reference: str) -> dict | None:
    """upstream.lookup's answer for an image of the central ECR registry, or None."""
    import pullthrough  # late: pullthrough imports this module

    match = ECR_URL_RE.match(registry_url)
    if match is None:
        return None
    repo = ecr_backends[match["account"]][match["region"]].repositories.get(repository)
    image = pullthrough.find_image(repo, reference) if repo is not None else None
    if image is None:
        return None
    body = image.image_manifest.encode()
    media_type = image.image_manifest_media_type or json.loads(body).get("mediaType") or upstream.DOCKER_V2
    tag = None if reference.startswith("sha256:") else reference
    return {"media_type": media_type, "body": body, "tag": tag, "visibility": "private"}


def publish_central(account: str, region: str, spec: dict) -> dict:
    """Put an image (built as upstream.py builds one; its blobs served like theirs) into the
    account's ECR repository, creating the repository. ValueError for a bad request."""
    url = f"{account}.dkr.ecr.{region}.amazonaws.com"
    checked = upstream.check({**spec, "registry_url": upstream.GITLAB_URL})  # any host passes check
    image, manifests, blobs = upstream.build({**checked, "registry_url": url})
    upstream.add_blobs(blobs)
    backend = ecr_backends[account][region]
    name = image["repository"]
    if name not in backend.repositories:
        backend.create_repository(repository_name=name, registry_id=None, encryption_config=None,
                                  image_scan_config=None, image_tag_mutability="MUTABLE", tags=[])
    for digest, (media_type, body, _) in manifests.items():
        if digest != image["digest"]:  # an index's children, untagged
            _put(backend, name, body, None, media_type, digest)
    _put(backend, name, manifests[image["digest"]][1], image["tag"], image["media_type"], image["digest"])
    listed = {k: image[k] for k in ("repository", "tag", "digest", "media_type", "manifests", "blobs") if k in image}
    return {**listed, "account": account, "region": region, "registry_url": url}


def _put(backend, name: str, body: bytes, tag, media_type: str, digest: str) -> None:
    import pullthrough

    repo = backend.repositories[name]
    if tag is None and pullthrough.find_image(repo, digest) is not None:
        return
    backend.put_image(name, body.decode(), tag, media_type, digest)
