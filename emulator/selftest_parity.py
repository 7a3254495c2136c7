"""Self tests of behaviours where the emulator follows real AWS (issue 9): opt-in Regions and
GetRegionOptStatus, AssumeRole session limits, secrets under a customer managed key and the
ECR errors about secrets, Secrets Manager deletion and versions. Run by selftest.py."""

import json
import subprocess
import time

from botocore.config import Config

from selftest_common import GITLAB, MGMT, SECRET_NAME, Ctx, error_of, start_server

UNRECOGNIZED = ("UnrecognizedClientException", 400, "The security token included in the request is invalid.")
CHAINING = "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
MAX_SESSION = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
NAME_TAKEN = "You can't create this secret because a secret with this name is already scheduled for deletion."
UNCHECKED = Config(retries={"mode": "standard", "total_max_attempts": 1}, parameter_validation=False)


def _refused(c, path, payload):
    try:
        c.ctl("POST", path, payload)
    except AssertionError as e:
        assert "-> 400" in str(e), e
        return
    raise AssertionError(f"{path} {payload} should fail")


# --- opt-in Regions ------------------------------------------------------------------------
def test_opt_in_region_refused_until_enabled(c):
    member = c.ids["dev-a"]
    creds = c.assume(member)
    sm = c.client("secretsmanager", "af-south-1", creds)
    c.ctl("POST", "/_ptc/calls/reset", {})
    assert error_of(sm.describe_secret, SecretId=SECRET_NAME) == UNRECOGNIZED
    assert error_of(c.client("ecr", "af-south-1", creds).describe_pull_through_cache_rules) == UNRECOGNIZED
    assert error_of(c.client("secretsmanager", "me-south-1").list_secrets) == UNRECOGNIZED  # the management account too
    c.client("secretsmanager", "eu-west-1", creds).list_secrets()  # enabled by default
    account = c.client("account", creds=creds)
    assert account.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"] == "DISABLED"
    assert account.get_region_opt_status(RegionName="eu-west-1")["RegionOptStatus"] == "ENABLED_BY_DEFAULT"

    c.ctl("POST", "/_ptc/region_opt", {"account": member, "region": "af-south-1", "status": "ENABLED"})
    arn = sm.create_secret(Name=SECRET_NAME, SecretString="{}")["ARN"]
    assert sm.describe_secret(SecretId=SECRET_NAME)["ARN"] == arn and ":af-south-1:" in arn
    assert account.get_region_opt_status(RegionName="af-south-1") | {"ResponseMetadata": None} == \
        {"RegionName": "af-south-1", "RegionOptStatus": "ENABLED", "ResponseMetadata": None}
    # Per account: another member is still refused there.
    other = c.client("secretsmanager", "af-south-1", c.assume(c.ids["dev-b"]))
    assert error_of(other.describe_secret, SecretId=SECRET_NAME) == UNRECOGNIZED
    assert {"account": member, "region": "af-south-1", "status": "ENABLED"} in c.ctl("GET", "/_ptc/region_opt")["regions"]
    # Only ENABLED (and ENABLED_BY_DEFAULT) let calls in; DISABLED is the default and not listed.
    for status in ("ENABLING", "DISABLING"):
        c.ctl("POST", "/_ptc/region_opt", {"account": member, "region": "af-south-1", "status": status})
        assert error_of(sm.describe_secret, SecretId=SECRET_NAME) == UNRECOGNIZED, status
        assert account.get_region_opt_status(RegionName="af-south-1")["RegionOptStatus"] == status
    c.ctl("POST", "/_ptc/region_opt", {"account": member, "region": "af-south-1", "status": "DISABLED"})
    assert not [e for e in c.ctl("GET", "/_ptc/region_opt")["regions"] if e["account"] == member]
    calls = c.ctl("GET", "/_ptc/calls")["calls"]
    opt = [x for x in calls if x["service"] == "account"]
    assert opt and all(x["action"] == "GetRegionOptStatus" and x["account"] == member for x in opt), opt
    refused = [x for x in calls if x["region"] == "af-south-1" and x["status"] == 400]
    assert {x["service"] for x in refused} == {"ecr", "secretsmanager"} and "fault" not in refused[0], refused


def test_get_region_opt_status_for_members(c):
    member = c.ids["prod-a"]
    mgmt = c.client("account")
    assert mgmt.get_region_opt_status(RegionName="il-central-1", AccountId=member)["RegionOptStatus"] == "DISABLED"
    c.ctl("POST", "/_ptc/region_opt", {"account": member, "region": "il-central-1", "status": "ENABLED"})
    assert mgmt.get_region_opt_status(RegionName="il-central-1", AccountId=member)["RegionOptStatus"] == "ENABLED"
    assert mgmt.get_region_opt_status(RegionName="il-central-1")["RegionOptStatus"] == "DISABLED"  # its own
    as_member = c.client("account", creds=c.assume(member))
    # Only the management account may name an account, and never itself or an outsider.
    for client, account_id in ((as_member, member), (as_member, c.ids["dev-a"]), (mgmt, MGMT), (mgmt, "111122223333")):
        code, status, _ = error_of(client.get_region_opt_status, RegionName="il-central-1", AccountId=account_id)
        assert (code, status) == ("AccessDeniedException", 403), (account_id, code, status)
    assert error_of(mgmt.get_region_opt_status, RegionName="xx-nowhere-1")[:2] == ("ValidationException", 400)
    raw = c.client("account", config=UNCHECKED)
    for kwargs in (dict(RegionName=""), dict(RegionName="eu-west-1", AccountId="12")):
        assert error_of(raw.get_region_opt_status, **kwargs)[:2] == ("ValidationException", 400), kwargs
    c.ctl("POST", "/_ptc/region_opt", {"account": member, "region": "il-central-1", "status": "DISABLED"})
    for bad in ({"account": member, "region": "us-east-1", "status": "DISABLED"},  # not an opt-in Region
                {"account": member, "region": "af-south-1", "status": "ON"},
                {"account": "dev-a", "region": "af-south-1", "status": "ENABLED"},
                {"account": member, "region": "af-south-1"}):
        _refused(c, "/_ptc/region_opt", bad)


def test_region_disabled_fault_statuses(c):
    creds = c.assume(c.ids["dev-a"])
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": s, "kind": "region_disabled"}
                                             for s in ("ecr", "secretsmanager", "organizations", "account", "sts")]})
    try:
        for call in (c.client("ecr", "eu-west-1", creds).describe_pull_through_cache_rules,
                     c.client("secretsmanager", "eu-west-1", creds).list_secrets,
                     c.client("organizations").list_roots,
                     lambda: c.client("account", creds=creds).get_region_opt_status(RegionName="eu-west-1")):
            assert error_of(call) == UNRECOGNIZED
        code, status, msg = error_of(c.client("sts", creds=creds).get_caller_identity)
        assert (code, status, msg) == ("InvalidClientTokenId", 403, UNRECOGNIZED[2]), (code, status)
        assert c.ctl("GET", "/_ptc/calls")["calls"][-1]["fault"] == "region_disabled"
    finally:
        c.ctl("POST", "/_ptc/faults", {"rules": []})


# --- AssumeRole session duration ---------------------------------------------------------------
def test_assume_role_session_limits(c):
    dev, other = c.ids["dev-a"], c.ids["dev-b"]
    sts = c.client("sts")
    role = f"arn:aws:iam::{dev}:role/OrganizationAccountAccessRole"
    workload = f"arn:aws:iam::{dev}:role/workload"
    assert sts.assume_role(RoleArn=role, RoleSessionName="ss", DurationSeconds=43200)["Credentials"]
    chained = c.client("sts", creds=c.assume(dev))  # an assumed role's credentials: role chaining
    assert error_of(chained.assume_role, RoleArn=workload, RoleSessionName="ss", DurationSeconds=3601) == \
        ("ValidationError", 400, CHAINING)
    chained.assume_role(RoleArn=workload, RoleSessionName="ss", DurationSeconds=3600)
    chained.assume_role(RoleArn=workload, RoleSessionName="ss")
    c.ctl("POST", "/_ptc/max_session_duration", {"seconds": 7200})
    try:
        assert c.ctl("GET", "/_ptc/max_session_duration") == {"seconds": 7200}
        assert error_of(sts.assume_role, RoleArn=role, RoleSessionName="ss", DurationSeconds=7201) == \
            ("ValidationError", 400, MAX_SESSION)
        sts.assume_role(RoleArn=role, RoleSessionName="ss", DurationSeconds=7200)
        # The refusals come first: a denied account is refused whatever the duration.
        c.ctl("POST", "/_ptc/deny_assume_role", {"accounts": [other]})
        code, status, _ = error_of(chained.assume_role, RoleArn=f"arn:aws:iam::{other}:role/OrganizationAccountAccessRole",
                                   RoleSessionName="ss", DurationSeconds=7200)
        assert (code, status) == ("AccessDenied", 403), (code, status)
    finally:
        c.ctl("POST", "/_ptc/deny_assume_role", {"accounts": []})
        c.ctl("POST", "/_ptc/max_session_duration", {"seconds": 43200})
    # The model's range, 900 to 43200 (the SDKs check it too).
    raw = c.client("sts", config=UNCHECKED)
    for seconds, words in ((899, "greater than or equal to 900"), (43201, "less than or equal to 43200")):
        code, status, msg = error_of(raw.assume_role, RoleArn=role, RoleSessionName="ss", DurationSeconds=seconds)
        assert (code, status) == ("ValidationError", 400) and words in msg, (code, status, msg)
    for bad in ({"seconds": 3599}, {"seconds": 43201}, {"seconds": "7200"}, {}):
        _refused(c, "/_ptc/max_session_duration", bad)


# --- secrets ECR cannot use ------------------------------------------------------------------
def test_cmk_secret_and_ptc_secret_errors(c):
    member, region = c.ids["prod-b"], "eu-west-2"
    base = {"account": member, "region": region}
    creds = c.assume(member)
    sm, ecr = c.client("secretsmanager", region, creds), c.client("ecr", region, creds)
    good = json.dumps({"username": "u", "accessToken": "good"})
    key = f"arn:aws:kms:{region}:{member}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    cmk = c.ctl("POST", "/_ptc/mutate", {"op": "create_secret", **base, "name": SECRET_NAME + "/cmk",
                                         "value": good, "kms_key_id": key})["arn"]
    default = sm.create_secret(Name=SECRET_NAME, SecretString=good)["ARN"]
    explicit = sm.create_secret(Name=SECRET_NAME + "/dflt", SecretString=good, KmsKeyId="alias/aws/secretsmanager")["ARN"]
    assert sm.describe_secret(SecretId=cmk)["KmsKeyId"] == key
    assert "KmsKeyId" not in sm.describe_secret(SecretId=default) and "KmsKeyId" not in sm.describe_secret(SecretId=explicit)
    kms = {s["arn"]: s["kms_key_id"] for s in c.ctl("GET", "/_ptc/state")["secrets"]}
    assert (kms[cmk], kms[default], kms[explicit]) == (key, None, None)
    elsewhere = c.ctl("POST", "/_ptc/mutate", {"op": "create_secret", "account": member, "region": "us-east-1",
                                               "name": SECRET_NAME, "value": good})["arn"]
    scheduled = c.ctl("POST", "/_ptc/mutate", {"op": "create_secret", **base, "name": SECRET_NAME + "/old", "value": good})["arn"]
    c.ctl("POST", "/_ptc/mutate", {"op": "delete_secret", **base, "name": SECRET_NAME + "/old"})
    cases = [
        (cmk, "UnableToDecryptSecretValueException"),
        (default[:-6] + "XXXXXX", "SecretNotFoundException"),
        (elsewhere, "SecretNotFoundException"),  # another Region of the same account
        (scheduled, "UnableToAccessSecretException"),
        (default.replace("ecr-pullthroughcache/", "other/"), "ValidationException"),  # pattern
        (default + "x" * 600, "ValidationException"),  # length
    ]
    for arn, expected in cases:
        code, status, msg = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="gl-x", credentialArn=arn, **GITLAB)
        assert (code, status) == (expected, 400), (arn, code, status)
        assert "good" not in msg
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="gl-ok", credentialArn=default, **GITLAB)
    for arn, expected in cases:
        code, _, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="gl-ok", credentialArn=arn)
        assert code == expected, (arn, code)
    assert ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["gl-ok"])["pullThroughCacheRules"][0]["credentialArn"] == default
    assert error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="gl-ok")[0] == "InvalidParameterException"
    # Request validation precedes the rule lookup.
    assert error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="nope", credentialArn=cases[4][0])[0] == "ValidationException"
    # Validate raises none of them (not in its model): it answers isValid=false with the reason.
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": ["good"]})
    for prefix, arn, start in (("gl-cmk", cmk, "Unable to decrypt the secret"), ("gl-old", scheduled, "Unable to access the secret")):
        c.ctl("POST", "/_ptc/mutate", {"op": "create_rule", **base, "prefix": prefix, "upstream_url": "registry.gitlab.com",
                                       "upstream_registry": "gitlab-container-registry", "credential_arn": arn})
        v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=prefix)
        assert v["isValid"] is False and v["failure"].startswith(start) and "good" not in v["failure"], v
    assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gl-ok")["isValid"] is True
    _refused(c, "/_ptc/mutate", {"op": "create_secret", **base, "name": SECRET_NAME + "/k", "value": good, "kms_key_id": 7})


# --- Secrets Manager deletion and versions --------------------------------------------------------
def test_secret_deletion_is_asynchronous(c):
    member, region = c.ids["prod-a"], "ca-central-1"
    base = {"account": member, "region": region}
    sm = c.client("secretsmanager", region, c.assume(member))
    name = SECRET_NAME + "/del"
    sm.create_secret(Name=name, SecretString="v1")
    sm.delete_secret(SecretId=name)  # scheduled: 30-day recovery window
    assert error_of(sm.create_secret, Name=name, SecretString="v2") == ("InvalidRequestException", 400, NAME_TAKEN)
    _refused(c, "/_ptc/mutate", {"op": "create_secret", **base, "name": name, "value": "v2"})
    # A forced deletion also purges a secret already scheduled for deletion; with no delay the name is free at once.
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert error_of(sm.describe_secret, SecretId=name)[0] == "ResourceNotFoundException"
    sm.create_secret(Name=name, SecretString="v2")
    assert c.ctl("POST", "/_ptc/force_delete_delay", {"ms": 800}) == {"ok": True, "ms": 800, "visible": False}
    try:
        for delete in (lambda: sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
                       lambda: c.ctl("POST", "/_ptc/mutate", {"op": "delete_secret", **base, "name": name, "force": True})):
            t0 = time.monotonic()
            delete()
            assert error_of(sm.create_secret, Name=name, SecretString="v3") == ("InvalidRequestException", 400, NAME_TAKEN)
            assert error_of(sm.describe_secret, SecretId=name)[0] == "ResourceNotFoundException"
            assert name not in {s["name"] for s in c.ctl("GET", "/_ptc/state")["secrets"] if s["account"] == member}
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)  # forcing an absent secret: no error
            time.sleep(max(0.0, t0 + 0.9 - time.monotonic()))
            sm.create_secret(Name=name, SecretString="v3")  # the deletion has completed
        # "visible": DescribeSecret still shows the secret with its DeletedDate meanwhile, and
        # RestoreSecret of it is refused.
        c.ctl("POST", "/_ptc/force_delete_delay", {"ms": 800, "visible": True})
        arn = sm.describe_secret(SecretId=name)["ARN"]
        t0 = time.monotonic()
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        assert "DeletedDate" in sm.describe_secret(SecretId=name)
        assert error_of(sm.restore_secret, SecretId=arn)[:2] == ("InvalidRequestException", 400)
        assert error_of(sm.create_secret, Name=name, SecretString="v4") == ("InvalidRequestException", 400, NAME_TAKEN)
        time.sleep(max(0.0, t0 + 0.9 - time.monotonic()))
        assert error_of(sm.describe_secret, SecretId=name)[0] == "ResourceNotFoundException"
        sm.create_secret(Name=name, SecretString="v4")
    finally:
        c.ctl("POST", "/_ptc/force_delete_delay", {"ms": 0})
    for bad in ({"ms": -1}, {"ms": "5"}):
        _refused(c, "/_ptc/force_delete_delay", bad)
    # PTC_FORCE_DELETE_DELAY_MS sets the delay at start.
    proc, url = start_server(stderr=subprocess.DEVNULL, env_extra={"PTC_FORCE_DELETE_DELAY_MS": "250"})
    try:
        assert Ctx(url).ctl("GET", "/_ptc/force_delete_delay") == {"ms": 250, "visible": False}
    finally:
        proc.kill()
        proc.wait()


def test_secret_versions_and_stages(c):
    member, region = c.ids["sandbox-1"], "eu-north-1"
    creds = c.assume(member)
    sm, ecr = c.client("secretsmanager", region, creds), c.client("ecr", region, creds)
    a, b = "a" * 8 + "-0000-4000-8000-" + "a" * 12, "b" * 8 + "-0000-4000-8000-" + "b" * 12
    va, vb = (json.dumps({"username": "u", "accessToken": t}) for t in ("tok-a", "tok-b"))
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=va, ClientRequestToken=a)["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString=vb, ClientRequestToken=b)

    def stages():
        return sm.describe_secret(SecretId=arn)["VersionIdsToStages"]

    assert stages() == {a: ["AWSPREVIOUS"], b: ["AWSCURRENT"]}
    # The same token and value again succeeds and does nothing: AWSCURRENT stays on b.
    assert sm.put_secret_value(SecretId=arn, SecretString=va, ClientRequestToken=a)["VersionId"] == a
    assert stages() == {a: ["AWSPREVIOUS"], b: ["AWSCURRENT"]} and sm.get_secret_value(SecretId=arn)["SecretString"] == vb
    # The same token with another value is refused: a version never changes.
    assert error_of(sm.put_secret_value, SecretId=arn, SecretString="other", ClientRequestToken=a)[:2] == ("ResourceExistsException", 400)
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": ["tok-a"]})
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="gitlab", credentialArn=arn, **GITLAB)
    assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")["isValid"] is False  # reads b
    # Moving AWSCURRENT needs RemoveFromVersionId; then the value follows the label.
    assert error_of(sm.update_secret_version_stage, SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=a)[0] == "InvalidParameterException"
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=a, RemoveFromVersionId=b)
    assert stages() == {a: ["AWSCURRENT"], b: ["AWSPREVIOUS"]}
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == va
    assert {v["VersionId"]: v["VersionStages"] for v in sm.list_secret_version_ids(SecretId=arn)["Versions"]} == stages()
    assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")["isValid"] is True
    entry = next(s for s in c.ctl("GET", "/_ptc/state")["secrets"] if s["arn"] == arn)
    assert (entry["value"], entry["current_version"], entry["kms_key_id"]) == (va, a, None), entry
    assert entry["versions"] == {a: ["AWSCURRENT"], b: ["AWSPREVIOUS"]}, entry


TESTS = [test_opt_in_region_refused_until_enabled, test_get_region_opt_status_for_members,
         test_region_disabled_fault_statuses, test_assume_role_session_limits,
         test_cmk_secret_and_ptc_secret_errors, test_secret_deletion_is_asynchronous,
         test_secret_versions_and_stages]
