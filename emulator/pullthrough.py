"""What ECR does on a cache miss: find the rule, check the caller may import, log in
upstream with the rule's secret (an ECR upstream: assume the rule's role, which the upstream's
policies must let pull; upstreams.py), fetch the manifest, check GitLab lets the secret's token
pull it (a Guest pulls only public images), create the repository from the repository creation
template that applies, and store the image.

registry.py drives these steps in order and turns RegistryError into the
registry API's JSON errors.
"""

import json
import threading

from moto.ecr.models import ecr_backends
from moto.utilities.utils import get_partition

import gitlab
import permissions
import ptc
import templates
import upstream
import upstreams

# Serialises repository creation and image storage: concurrent first pulls of
# one image must create the repository once and store the image once.
_import_lock = threading.RLock()


class RegistryError(Exception):
    """An answer of the registry API other than 200: status, code (distribution spec), message."""

    def __init__(self, status: int, code: str, message: str, detail=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def repository_arn(account: str, region: str, name: str) -> str:
    return f"arn:{get_partition(region)}:ecr:{region}:{account}:repository/{name}"


def longest_prefix(prefixes, name: str) -> str | None:
    """The prefix that owns `name`: the longest one ending at a path-segment boundary, else ROOT."""
    best = None
    for prefix in prefixes:
        bare = prefix.rstrip("/")  # the prefix pattern allows one trailing slash
        if prefix != "ROOT" and name.startswith(bare + "/") and (best is None or len(bare) > len(best.rstrip("/"))):
            best = prefix
    if best is None and "ROOT" in prefixes:
        best = "ROOT"
    return best


def find_rule(account: str, region: str, name: str) -> dict | None:
    with ptc._lock:
        table = dict(ptc.rule_table(account, region))
    prefix = longest_prefix(table, name)
    return dict(table[prefix]) if prefix else None


def upstream_repository(rule: dict, name: str) -> str:
    """`name` without the rule's prefix, under the rule's upstream prefix if it has one."""
    prefix = rule["ecrRepositoryPrefix"]
    rest = name if prefix == "ROOT" else name[len(prefix.rstrip("/")) + 1:]
    upstream_prefix = rule.get("upstreamRepositoryPrefix") or "ROOT"
    return rest if upstream_prefix == "ROOT" else f"{upstream_prefix.rstrip('/')}/{rest}"


def check_permission(principal: dict, action: str, account: str, region: str, name: str) -> None:
    message = permissions.denial(principal, action, repository_arn(account, region, name), account, region)
    if message:
        raise RegistryError(403, "DENIED", message)


def check_upstream_credentials(account: str, region: str, rule: dict, name: str | None = None) -> None:
    """ECR logs in upstream with the rule's secret; any failure is one opaque DENIED
    that names the secret (never its value). An ECR upstream: the role and the upstream's
    policies for the repository pulled (the failure says which is missing)."""
    url, arn = rule["upstreamRegistryUrl"], rule.get("credentialArn")
    if rule.get("upstreamRegistry") == "ecr":
        repository = upstream_repository(rule, name) if name is not None else None
        failure = upstreams.check_ecr_rule(account, rule, repository)
        if failure:
            raise RegistryError(403, "DENIED", f"authentication to the upstream registry failed: {failure}")
        return
    if not arn:
        if rule.get("upstreamRegistry") in ptc.CREDENTIALS_REQUIRED:
            raise RegistryError(403, "DENIED", f"authentication to the upstream registry failed: "
                                               f"no credentials are configured for {url}")
        return
    is_valid, _ = ptc.validate_rule(account, region, rule)
    if not is_valid:
        raise RegistryError(403, "DENIED", f"authentication to the upstream registry failed: "
                                           f"the credentials in {arn} were refused by {url}")


def fetch_upstream(rule: dict, name: str, reference: str) -> dict:
    """upstream.lookup's {"media_type", "body", "tag", "visibility"}, or RegistryError 404."""
    repo = upstream_repository(rule, name)
    if rule.get("upstreamRegistry") == "ecr":
        found = upstreams.lookup_ecr(rule["upstreamRegistryUrl"], repo, reference)
    else:
        found = upstream.lookup(rule["upstreamRegistryUrl"], repo, reference)
    if found is None:
        sep = "@" if reference.startswith("sha256:") else ":"
        raise RegistryError(404, "MANIFEST_UNKNOWN", "Requested image not found upstream: "
                                                     f"{rule['upstreamRegistryUrl']}/{repo}{sep}{reference}")
    return found


def check_upstream_pull(account: str, region: str, rule: dict, name: str, found: dict) -> None:
    """GitLab's registry lets the secret's token pull a private project's image only with the
    Reporter role or above (a Guest pulls public images only); ECR reports GitLab's refusal as a
    failed upstream login, naming the repository, never the token."""
    if (found["visibility"] == "public" or not rule.get("credentialArn")
            or rule.get("upstreamRegistry") != "gitlab-container-registry"):
        return  # only GitLab's roles are modelled per image
    raw = ptc.current_secret_string(ptc.find_secret(account, region, rule["credentialArn"]))
    try:
        token = json.loads(raw).get("accessToken") if raw else None
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not gitlab.may_pull(token, found["visibility"]):
        url = rule["upstreamRegistryUrl"]
        raise RegistryError(403, "DENIED", f"authentication to the upstream registry failed: {url} denied pull "
                                           f"access to {upstream_repository(rule, name)}")


def find_template(account: str, region: str, name: str) -> dict | None:
    with ptc._lock:
        table = {p: t for p, t in templates.template_table(account, region).items()
                 if "PULL_THROUGH_CACHE" in t["appliedFor"]}
    prefix = longest_prefix(table, name)
    return dict(table[prefix]) if prefix else None


def _create_repository(backend, account: str, region: str, name: str):
    """Create `name` as ECR would for a pull through cache: settings from the template that applies."""
    template = find_template(account, region, name) or {}
    encryption = template.get("encryptionConfiguration")
    repo = backend.create_repository(
        repository_name=name, registry_id=None,
        encryption_config=dict(encryption) if encryption else None,
        image_scan_config=None,
        image_tag_mutability=template.get("imageTagMutability") or "MUTABLE",
        # ECR tags a created repository only when the template names a role to do it with.
        tags=list(template.get("resourceTags") or []) if template.get("customRoleArn") else [],
        image_tag_mutability_exclusion_filters=template.get("imageTagMutabilityExclusionFilters"),
    )
    # Stored as the template holds them (already validated when the template was made).
    repo.lifecycle_policy = template.get("lifecyclePolicy") or None
    repo.policy = template.get("repositoryPolicy") or None
    return repo


def find_image(repo, reference: str):
    """The image of a moto repository at a tag or a digest (of the manifest bytes), or None."""
    for image in list(repo.images):
        if reference.startswith("sha256:"):
            if reference in (image.get_image_digest(), upstream.digest_of(image.image_manifest.encode())):
                return image
        elif reference in image.image_tags:
            return image
    return None


def store(account: str, region: str, name: str, reference: str, media_type: str, body: bytes,
          tag: str | None) -> None:
    """Create the repository if needed and store the image, so DescribeImages and BatchGetImage see it."""
    backend = ecr_backends[account][region]
    with _import_lock:
        repo = backend.repositories.get(name)
        if repo is None:
            repo = _create_repository(backend, account, region, name)
        if find_image(repo, reference) is None:
            backend.put_image(name, body.decode(), tag, media_type, upstream.digest_of(body))
