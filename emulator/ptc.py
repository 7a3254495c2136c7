"""ECR pull through cache (PTC) operations, added to moto's ECR service.

moto 5.2 implements none of the *PullThroughCacheRule operations. Its ECR
response class dispatches `AmazonEC2ContainerRegistry_V20150921.<Action>` to the
same-named snake_case method, so installing methods on ECRResponse is enough;
results are plain dicts wrapped in ActionResult and serialized by moto against
botocore's ECR model, and errors are ServiceException subclasses whose `code`
becomes the `__type` / X-Amzn-Errortype the SDKs map to modeled errors.

Rules are stored on moto's ECR backend for (account, region), so moto's
/moto-api/reset clears them along with everything else.

Create and Update check the secret as ECR does (`secret_problem`): missing in
the registry's account and Region, scheduled for deletion, or under a customer
managed KMS key each raise the error the model lists for it; Validate answers
isValid=false instead. `credentialArn` outside the model's length or pattern is
a ValidationException (README: "Pull through cache rules and their secrets").
"""

import json
import re
import threading
from datetime import datetime, timezone

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.models import ecr_backends
from moto.ecr.responses import ECRResponse
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

import secrets_guard
import upstreams
from emustate import STATE

MAX_RULES_PER_REGISTRY = 50  # AWS quota, not adjustable

PREFIX_RE = re.compile(
    r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$"
)
CREDENTIAL_ARN_RE = re.compile(
    r"^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$"
)

# Upstreams with one fixed URL, and those that cannot be used without credentials.
FIXED_UPSTREAM_URLS = {
    "ecr-public": "public.ecr.aws",
    "quay": "quay.io",
    "k8s": "registry.k8s.io",
    "docker-hub": "registry-1.docker.io",
    "github-container-registry": "ghcr.io",
    "gitlab-container-registry": "registry.gitlab.com",
    "chainguard": "cgr.dev",
}
# What each upstream does with a Secrets Manager credential (credentialArn), one table:
# "required": ECR's user guide lists these as needing a secret ("Sync an upstream registry with
#   an Amazon ECR private registry"), Chainguard among them;
# "optional": the guide documents no authentication for them and no source shows ECR refusing
#   one (Pulumi/Terraform examples set it on ecr-public): accepted, stored, never used;
# "refused": the ECR upstream authenticates with customRoleArn (the model's doc of it), so a
#   secret there is a parameter error (our reading: AWS documents no answer).
CREDENTIAL_RULE = {
    "docker-hub": "required",
    "github-container-registry": "required",
    "gitlab-container-registry": "required",
    "azure-container-registry": "required",
    "chainguard": "required",
    "ecr-public": "optional",
    "k8s": "optional",
    "quay": "optional",
    "ecr": "refused",
}
CREDENTIALS_REQUIRED = {r for r, rule in CREDENTIAL_RULE.items() if rule == "required"}
ECR_URL_RE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$")
AZURE_URL_RE = re.compile(r"^[a-z0-9]+\.azurecr\.io$")  # Azure login servers: lowercase NAME.azurecr.io
ROLE_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
# ECR's answer to a rule without the credential its upstream requires, as a user saw it
# (aws-controllers-k8s/community#2589; AWS does not document it): the code is
# UnsupportedUpstreamRegistryException, not a parameter error. The report cut the message
# after these words, so nothing more is claimed.
CREDENTIAL_REQUIRED_MESSAGE = (
    "The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN."
)

_lock = threading.RLock()  # one lock for every registry's rule table; contention is irrelevant here


# --- errors (codes are the ECR model's shape names) -----------------------
class InvalidParameterException(ServiceException):
    code = "InvalidParameterException"


class PullThroughCacheRuleAlreadyExistsException(ServiceException):
    code = "PullThroughCacheRuleAlreadyExistsException"


class PullThroughCacheRuleNotFoundException(ServiceException):
    code = "PullThroughCacheRuleNotFoundException"


class LimitExceededException(ServiceException):
    code = "LimitExceededException"


class UnsupportedUpstreamRegistryException(ServiceException):
    code = "UnsupportedUpstreamRegistryException"


class SecretNotFoundException(ServiceException):
    code = "SecretNotFoundException"


class UnableToAccessSecretException(ServiceException):
    code = "UnableToAccessSecretException"


class UnableToDecryptSecretValueException(ServiceException):
    code = "UnableToDecryptSecretValueException"


class ValidationException(ServiceException):
    code = "ValidationException"


def _not_found(prefix: str, registry_id: str) -> PullThroughCacheRuleNotFoundException:
    return PullThroughCacheRuleNotFoundException(
        f"The pull through cache rule with prefix '{prefix}' does not exist "
        f"in the registry with id '{registry_id}'"
    )


# --- rule store -------------------------------------------------------------
def rule_table(account: str, region: str) -> dict:
    """prefix -> rule dict for one registry (account + region), insertion ordered."""
    backend = ecr_backends[account][region]
    return backend.__dict__.setdefault("_ptc_rules", {})


def iter_rule_tables():
    """Yield (account, region, table) for every registry that has held a rule."""
    for account, region, backend in list(ecr_backends.iter_backends()):
        table = backend.__dict__.get("_ptc_rules")
        if table:
            yield account, region, table


def find_secret(account: str, region: str, arn: str):
    """The secret whose full ARN is `arn`, in this account and region only (as ECR requires)."""
    if region not in secretsmanager_backends[account]:
        return None
    backend = secretsmanager_backends[account][region]
    for secret in list(dict.values(backend.secrets)):
        if isinstance(secret, FakeSecret) and secret.arn == arn:
            return secret
    return None


def current_secret_string(secret) -> str | None:
    """The AWSCURRENT version's value: what GetSecretValue, and so ECR, reads."""
    version = secret.versions.get(secrets_guard.current_version_id(secret) or "", {})
    return version.get("secret_string")


def _check_prefix(prefix, field="ecrRepositoryPrefix") -> None:
    if not isinstance(prefix, str) or not 2 <= len(prefix) <= 30 or not PREFIX_RE.match(prefix):
        raise InvalidParameterException(
            f"Invalid parameter at '{field}' failed to satisfy constraint: "
            "'must be 2-30 characters and satisfy regular expression "
            f"'{PREFIX_RE.pattern}''"
        )


def _check_credential_arn_form(arn) -> None:
    """The model's constraints on credentialArn (length 50-612, pattern): ValidationException,
    in the wording of AWS's request validation."""
    if not isinstance(arn, str):
        raise ValidationException("1 validation error detected: Value at 'credentialArn' failed to satisfy "
                                  "constraint: Member must be a string")
    if len(arn) < 50 or len(arn) > 612:
        bound = "greater than or equal to 50" if len(arn) < 50 else "less than or equal to 612"
        raise ValidationException(f"1 validation error detected: Value '{arn}' at 'credentialArn' failed to "
                                  f"satisfy constraint: Member must have length {bound}")
    if not CREDENTIAL_ARN_RE.match(arn):
        raise ValidationException(f"1 validation error detected: Value '{arn}' at 'credentialArn' failed to "
                                  f"satisfy constraint: Member must satisfy regular expression pattern: "
                                  f"{CREDENTIAL_ARN_RE.pattern}")


def secret_problem(account: str, region: str, arn: str) -> tuple[str, str] | None:
    """Why ECR could not use the secret `arn` of this registry: (error code, reason), or None.

    The codes are the ECR errors Create/UpdatePullThroughCacheRule raise (their model
    documentation): SecretNotFoundException, the ARN names no secret of the registry's
    account and Region; UnableToAccessSecretException, the secret cannot be read
    (scheduled for deletion); UnableToDecryptSecretValueException, readable but
    encrypted with a key ECR cannot use (a customer managed key).
    """
    secret = find_secret(account, region, arn)
    if secret is None:
        return "SecretNotFoundException", "the secret was not found"
    if secret.is_deleted():
        return "UnableToAccessSecretException", "the secret is scheduled for deletion"
    key = secrets_guard.customer_managed_key(secret)
    if key is not None:
        return ("UnableToDecryptSecretValueException",
                f"the secret is encrypted with the customer managed KMS key {key}; ECR can decrypt only "
                "secrets encrypted with the default aws/secretsmanager key")
    return None


SECRET_ERRORS = {
    "SecretNotFoundException": (SecretNotFoundException,
                                "The ARN of the secret specified in the pull through cache rule was not found"),
    "UnableToAccessSecretException": (UnableToAccessSecretException,
                                      "The secret is unable to be accessed. Verify the resource permissions "
                                      "for the secret and try again."),
    "UnableToDecryptSecretValueException": (UnableToDecryptSecretValueException,
                                            "The secret is accessible but is unable to be decrypted. Verify "
                                            "the resource permissions and try again."),
}


def _check_secret(arn: str, account: str, region: str) -> None:
    # ECR reads the secret with the registry's own service-linked role at create/update time.
    problem = secret_problem(account, region, arn)
    if problem is not None:
        error, message = SECRET_ERRORS[problem[0]]
        raise error(f"{message} ({arn}: {problem[1]})")


def _infer_upstream(url: str, registry: str | None) -> str:
    if registry is None:
        registry = next((r for r, u in FIXED_UPSTREAM_URLS.items() if u == url), None)
        if registry is None and AZURE_URL_RE.match(url):
            registry = "azure-container-registry"
        if registry is None and ECR_URL_RE.match(url):
            registry = "ecr"
    expected = FIXED_UPSTREAM_URLS.get(registry or "")
    wrong = ((expected is not None and url != expected)
             or (registry == "azure-container-registry" and not AZURE_URL_RE.match(url))
             or (registry == "ecr" and not ECR_URL_RE.match(url)))
    if registry is None or wrong:
        raise UnsupportedUpstreamRegistryException(
            f"The upstream registry URL '{url}' is not supported"
            + (f" for upstream registry '{registry}'" if registry else "")
        )
    return registry


def _check_credentials(account: str, registry: str, credential_arn, custom_role_arn) -> None:
    """CREDENTIAL_RULE for credentialArn; customRoleArn only on the ECR upstream, in the
    registry's own account. Both refusals are our reading of the model's doc of customRoleArn
    ("IAM role to be assumed by Amazon ECR to authenticate to the ECR upstream registry ...
    must be in the same account as the registry that you are configuring"); AWS documents no
    wording."""
    rule = CREDENTIAL_RULE.get(registry, "optional")
    if rule == "required" and not credential_arn:
        raise UnsupportedUpstreamRegistryException(CREDENTIAL_REQUIRED_MESSAGE)
    if rule == "refused" and credential_arn:
        raise InvalidParameterException("Invalid parameter at 'credentialArn': the ECR upstream registry "
                                        "authenticates with an IAM role (customRoleArn), not a secret")
    if custom_role_arn is not None:
        if registry != "ecr":
            raise InvalidParameterException("Invalid parameter at 'customRoleArn': a custom role is used only "
                                            f"with the ECR upstream registry, not '{registry}'")
        match = ROLE_ACCOUNT_RE.match(custom_role_arn) if isinstance(custom_role_arn, str) else None
        if match is None or match[1] != account:
            raise InvalidParameterException("Invalid parameter at 'customRoleArn': the role must be an IAM role "
                                            f"of the account of the registry being configured ({account})")


def new_rule(account: str, region: str, prefix: str, url: str, registry: str | None,
             credential_arn: str | None = None, custom_role_arn: str | None = None,
             upstream_prefix: str | None = None, check: bool = True) -> dict:
    """Create and store a rule. check=False skips the AWS validations (control API mutate)."""
    if check:
        if credential_arn is not None:
            _check_credential_arn_form(credential_arn)  # request validation comes first
        _check_prefix(prefix)
        if not url:
            raise InvalidParameterException("upstreamRegistryUrl must be specified")
        registry = _infer_upstream(url, registry)
        _check_credentials(account, registry, credential_arn, custom_role_arn)
        if credential_arn is not None:
            _check_secret(credential_arn, account, region)
        if upstream_prefix is not None:
            _check_prefix(upstream_prefix, "upstreamRepositoryPrefix")
            if registry != "ecr" and upstream_prefix != "ROOT":
                # The model: "The repository name prefix of the upstream registry to match with the
                # upstream repository name" is an ECR upstream's (our reading for the others).
                raise InvalidParameterException("Invalid parameter at 'upstreamRepositoryPrefix': only the ECR "
                                                "upstream registry takes an upstream repository prefix")
    elif registry is None:
        # Behind the API's back without an upstream named: the URL's, as ECR would infer it.
        try:
            registry = _infer_upstream(url, None)
        except UnsupportedUpstreamRegistryException:
            pass
    now = datetime.now(timezone.utc)
    rule = {
        "ecrRepositoryPrefix": prefix,
        "upstreamRegistryUrl": url,
        "createdAt": now,
        "updatedAt": now,
        "registryId": account,
        "upstreamRegistry": registry,
        "credentialArn": credential_arn,
        "customRoleArn": custom_role_arn,
        "upstreamRepositoryPrefix": upstream_prefix or "ROOT",
    }
    with _lock:
        table = rule_table(account, region)
        if prefix in table:
            raise PullThroughCacheRuleAlreadyExistsException(
                f"A pull through cache rule with prefix '{prefix}' already exists "
                f"in the registry with id '{account}'"
            )
        if check and len(table) >= MAX_RULES_PER_REGISTRY:
            raise LimitExceededException(
                "The operation did not succeed because it would have exceeded a service limit "
                f"for your account: at most {MAX_RULES_PER_REGISTRY} pull through cache rules "
                "per registry per Region"
            )
        table[prefix] = rule
    return rule


def remove_rule(account: str, region: str, prefix: str) -> dict:
    with _lock:
        rule = rule_table(account, region).pop(prefix, None)
    if rule is None:
        raise _not_found(prefix, account)
    return rule


def read_credentials(account: str, region: str, arn: str) -> tuple[dict | None, str | None]:
    """({"username", "accessToken"}, None) from the rule's secret, or (None, why not). The
    failure text names the secret at most; it never echoes the secret's value."""
    problem = secret_problem(account, region, arn)
    if problem is not None:
        verb = "decrypt" if problem[0] == "UnableToDecryptSecretValueException" else "access"
        return None, f"Unable to {verb} the secret {arn}: {problem[1]}"
    raw = current_secret_string(find_secret(account, region, arn))
    try:
        creds = json.loads(raw) if raw is not None else None
    except ValueError:
        creds = None
    if not isinstance(creds, dict):
        return None, f"Unable to read credentials from the secret {arn}: the value must be JSON with 'username' and 'accessToken'"
    username, token = creds.get("username"), creds.get("accessToken")
    if not isinstance(username, str) or not username or not isinstance(token, str) or not token:
        return None, f"Unable to read credentials from the secret {arn}: 'username' and 'accessToken' must be non-empty"
    return creds, None


def validate_rule(account: str, region: str, rule: dict) -> tuple[bool, str | None]:
    """What ECR's ValidatePullThroughCacheRule would conclude, without the network: the ECR
    upstream checks the role and the upstream's policies (upstreams.py); a secret-based upstream
    logs in with the secret (GitLab: gitlab.py's tokens; the others: upstreams.py's accepted
    pairs); an upstream that takes no credential ignores one it was given."""
    registry = rule.get("upstreamRegistry")
    if registry == "ecr":
        failure = upstreams.check_ecr_rule(account, rule)
        return failure is None, failure
    arn = rule.get("credentialArn")
    if not arn or CREDENTIAL_RULE.get(registry, "required") != "required":
        return True, None  # an upstream URL we do not know (control API): logs in as GitLab
    creds, failure = read_credentials(account, region, arn)
    if creds is None:
        return False, failure
    if registry in ("gitlab-container-registry", None):
        ok = STATE.is_valid_token(creds["accessToken"])
    else:
        ok = upstreams.login_ok(rule["upstreamRegistryUrl"], creds["username"], creds["accessToken"])
    return (True, None) if ok else (False, "Invalid username or password for the upstream registry")


def _public(rule: dict, fields) -> dict:
    return {k: rule[k] for k in fields if rule.get(k) is not None}


RULE_FIELDS = ("ecrRepositoryPrefix", "upstreamRegistryUrl", "createdAt", "registryId",
               "upstreamRegistry", "credentialArn", "customRoleArn",
               "upstreamRepositoryPrefix", "updatedAt")
CREATE_FIELDS = RULE_FIELDS[:-1]  # CreatePullThroughCacheRuleResponse has no updatedAt
DELETE_FIELDS = ("ecrRepositoryPrefix", "upstreamRegistryUrl", "createdAt", "registryId",
                 "credentialArn", "customRoleArn", "upstreamRepositoryPrefix")


# --- ECRResponse methods ----------------------------------------------------
def _registry(self) -> str:
    """The caller's registry; ECR addresses another account's registry only via policies we don't model."""
    registry_id = self._get_param("registryId")
    if registry_id and registry_id != self.current_account:
        raise InvalidParameterException(
            f"Invalid parameter at 'registryId': registry '{registry_id}' is not the caller's registry"
        )
    return self.current_account


def create_pull_through_cache_rule(self) -> ActionResult:
    account = _registry(self)
    rule = new_rule(
        account, self.region,
        prefix=self._get_param("ecrRepositoryPrefix"),
        url=self._get_param("upstreamRegistryUrl"),
        registry=self._get_param("upstreamRegistry"),
        credential_arn=self._get_param("credentialArn"),
        custom_role_arn=self._get_param("customRoleArn"),
        upstream_prefix=self._get_param("upstreamRepositoryPrefix"),
    )
    return ActionResult(_public(rule, CREATE_FIELDS))


def describe_pull_through_cache_rules(self) -> ActionResult:
    account = _registry(self)
    wanted = self._get_param("ecrRepositoryPrefixes")
    with _lock:
        table = dict(rule_table(account, self.region))
    if wanted:
        missing = [p for p in wanted if p not in table]
        if missing:
            raise _not_found(missing[0], account)
        rules = [table[p] for p in dict.fromkeys(wanted)]
    else:
        rules = list(table.values())
    # Paging: nextToken is simply the index of the next rule.
    max_results = int(self._get_param("maxResults") or 100)
    token = self._get_param("nextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidParameterException("Invalid parameter at 'nextToken': invalid token")
    page = rules[start:start + max_results]
    result = {"pullThroughCacheRules": [_public(r, RULE_FIELDS) for r in page]}
    if start + max_results < len(rules):
        result["nextToken"] = str(start + max_results)
    return ActionResult(result)


def update_pull_through_cache_rule(self) -> ActionResult:
    account = _registry(self)
    prefix = self._get_param("ecrRepositoryPrefix")
    credential_arn = self._get_param("credentialArn")
    custom_role_arn = self._get_param("customRoleArn")
    if credential_arn is not None:
        _check_credential_arn_form(credential_arn)
    if credential_arn is None and custom_role_arn is None:
        # What AWS answers (the model makes both optional).
        raise InvalidParameterException("Invalid input: Please set either credential arn or role arn to update the credentials")
    with _lock:
        rule = rule_table(account, self.region).get(prefix)
        if rule is None:
            raise _not_found(prefix, account)
        _check_credentials(account, rule["upstreamRegistry"], credential_arn or rule.get("credentialArn"),
                           custom_role_arn)
        if credential_arn is not None:
            _check_secret(credential_arn, account, self.region)
            rule["credentialArn"] = credential_arn
        if custom_role_arn is not None:
            rule["customRoleArn"] = custom_role_arn
        rule["updatedAt"] = datetime.now(timezone.utc)
        result = _public(rule, ("ecrRepositoryPrefix", "registryId", "updatedAt", "credentialArn",
                                "customRoleArn", "upstreamRepositoryPrefix"))
    return ActionResult(result)


def delete_pull_through_cache_rule(self) -> ActionResult:
    account = _registry(self)
    rule = remove_rule(account, self.region, self._get_param("ecrRepositoryPrefix"))
    return ActionResult(_public(rule, DELETE_FIELDS))


def validate_pull_through_cache_rule(self) -> ActionResult:
    account = _registry(self)
    prefix = self._get_param("ecrRepositoryPrefix")
    with _lock:
        rule = rule_table(account, self.region).get(prefix)
        rule = dict(rule) if rule else None
    if rule is None:
        raise _not_found(prefix, account)
    is_valid, failure = validate_rule(account, self.region, rule)
    result = _public(rule, ("ecrRepositoryPrefix", "registryId", "upstreamRegistryUrl",
                            "credentialArn", "customRoleArn", "upstreamRepositoryPrefix"))
    result["isValid"] = is_valid
    if failure:
        result["failure"] = failure
    return ActionResult(result)


def install() -> None:
    for fn in (create_pull_through_cache_rule, describe_pull_through_cache_rules,
               update_pull_through_cache_rule, delete_pull_through_cache_rule,
               validate_pull_through_cache_rule):
        setattr(ECRResponse, fn.__name__, fn)
