"""End-to-end check of the emulator with boto3: python3 emulator/selftest.py

Starts server.py as a subprocess, drives it like ptc-rollout would (Organizations,
AssumeRole, Secrets Manager, ECR pull through cache rules, pulls through the
registry endpoint: selftest_registry.py, selftest_permissions.py; blobs and S3:
selftest_blobs.py; the service-model check: selftest_model.py; every upstream kind:
selftest_upstreams.py) plus the control API, and prints `N passed, M failed` last;
exits non-zero on any failure.
"""

import json
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

import selftest_blobs
import selftest_gitlab
import selftest_model
import selftest_parity
import selftest_permissions
import selftest_registry
import selftest_upstreams
from selftest_common import GITLAB, LIFECYCLE, MGMT, NO_RETRY, SECRET_NAME, Ctx, error_of, start_server


# --- tests -----------------------------------------------------------------------------
def test_health(c):
    assert c.ctl("GET", "/_ptc/health") == {"ok": True}


def test_seed_and_list_accounts(c):
    spec = {"ous": [{"name": "Workloads", "parent": "root"}, {"name": "Prod", "parent": "Workloads"}],
            "accounts": [{"name": "dev", "parent": "Workloads"}, {"name": "prod", "parent": "Prod"},
                         {"name": "old", "parent": "root", "state": "SUSPENDED"}]}
    first = c.ctl("POST", "/_ptc/seed", spec)
    again = c.ctl("POST", "/_ptc/seed", spec)
    assert first == again, "seeding must be idempotent"
    assert first["management_account_id"] == MGMT and first["root_id"].startswith("r-")
    assert set(first["ous"]) == {"Workloads", "Prod"}
    by_name = {a["name"]: a for a in first["accounts"]}
    assert by_name["dev"]["parent"] == "Workloads" and by_name["prod"]["parent"] == "Prod"
    assert by_name["old"]["state"] == "SUSPENDED"
    assert by_name["master"]["id"] == MGMT
    c.layout = c.ctl("POST", "/_ptc/seed", {"demo": True})
    c.ids = {a["name"]: a["id"] for a in c.layout["accounts"]}
    org = c.client("organizations")
    accounts = [a for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]
    listed = {a["Name"]: a for a in accounts}
    assert {"master", "dev-a", "dev-b", "prod-a", "prod-b", "sandbox-1", "legacy"} <= set(listed)
    assert listed["legacy"]["State"] == "SUSPENDED" and listed["dev-a"]["State"] == "ACTIVE"
    prod_ou = c.layout["ous"]["Prod"]
    children = org.list_accounts_for_parent(ParentId=prod_ou)["Accounts"]
    assert {a["Name"] for a in children} == {"prod", "prod-a", "prod-b"}


def test_assume_role_member(c):
    creds = c.assume(c.ids["dev-a"])
    ident = c.client("sts", creds=creds).get_caller_identity()
    assert ident["Account"] == c.ids["dev-a"], ident


def test_assume_role_management_refused(c):
    code, status, msg = error_of(c.client("sts").assume_role,
                                 RoleArn=f"arn:aws:iam::{MGMT}:role/OrganizationAccountAccessRole",
                                 RoleSessionName="ptc-rollout")
    assert (code, status) == ("AccessDenied", 403), (code, status)
    assert "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/" in msg, msg


def test_deny_list(c):
    c.ctl("POST", "/_ptc/deny_assume_role", {"accounts": [c.ids["dev-b"]]})
    code, status, _ = error_of(c.assume, c.ids["dev-b"])
    assert (code, status) == ("AccessDenied", 403)
    c.assume(c.ids["prod-a"])  # others unaffected
    c.ctl("POST", "/_ptc/deny_assume_role", {"accounts": []})
    c.assume(c.ids["dev-b"])


def test_ptc_rule_lifecycle(c):
    member = c.ids["dev-a"]
    creds = c.assume(member)
    sm = c.client("secretsmanager", "eu-west-1", creds)
    ecr = c.client("ecr", "eu-west-1", creds)
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=json.dumps({"username": "u", "accessToken": "good"}))["ARN"]
    assert f":{member}:" in arn and ":eu-west-1:" in arn, arn
    c.secret_arn = arn
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": []})

    created = ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="gitlab", credentialArn=arn, **GITLAB)
    assert created["registryId"] == member and created["credentialArn"] == arn
    assert created["upstreamRegistry"] == "gitlab-container-registry" and "createdAt" in created
    code, _, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="gitlab", credentialArn=arn, **GITLAB)
    assert code == "PullThroughCacheRuleAlreadyExistsException", code

    rules = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert [r["ecrRepositoryPrefix"] for r in rules] == ["gitlab"] and "updatedAt" in rules[0]
    rules = ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["gitlab"])["pullThroughCacheRules"]
    assert rules[0]["upstreamRegistryUrl"] == "registry.gitlab.com" and rules[0]["credentialArn"] == arn
    code, status, _ = error_of(ecr.describe_pull_through_cache_rules, ecrRepositoryPrefixes=["nope"])
    assert (code, status) == ("PullThroughCacheRuleNotFoundException", 400), (code, status)
    # Rules are per Region: nothing in us-east-1.
    assert c.client("ecr", "us-east-1", creds).describe_pull_through_cache_rules()["pullThroughCacheRules"] == []

    v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")
    assert v["isValid"] is False and "good" not in v["failure"], v
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": ["good"]})
    v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")
    assert v["isValid"] is True and v["credentialArn"] == arn and v["upstreamRegistryUrl"] == "registry.gitlab.com", v

    arn2 = sm.create_secret(Name=SECRET_NAME + "-2", SecretString=json.dumps({"username": "u", "accessToken": "bad"}))["ARN"]
    upd = ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="gitlab", credentialArn=arn2)
    assert upd["credentialArn"] == arn2 and "updatedAt" in upd
    v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")
    assert v["isValid"] is False and v["failure"] == "Invalid username or password for the upstream registry", v
    assert "bad" not in v["failure"]
    ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="gitlab", credentialArn=arn)
    code, _, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="nope", credentialArn=arn)
    assert code == "PullThroughCacheRuleNotFoundException"

    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="gl-tmp", credentialArn=arn, **GITLAB)
    deleted = ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="gl-tmp")
    assert deleted["ecrRepositoryPrefix"] == "gl-tmp" and deleted["credentialArn"] == arn
    for op in (ecr.delete_pull_through_cache_rule, ecr.validate_pull_through_cache_rule):
        code, _, _ = error_of(op, ecrRepositoryPrefix="gl-tmp")
        assert code == "PullThroughCacheRuleNotFoundException", code


def test_ptc_parameter_errors(c):
    creds = c.assume(c.ids["dev-a"])
    ecr = c.client("ecr", "eu-west-1", creds)
    bad_arn = c.secret_arn.replace("ecr-pullthroughcache/", "other/")
    code, _, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="Gitlab",
                          credentialArn=c.secret_arn, **GITLAB)  # upper case
    assert code == "InvalidParameterException", code
    # An upstream that needs a credential, without one: ECR's answer as a user saw it
    # (aws-controllers-k8s/community#2589). Chainguard needs one too (the user guide's list).
    for kwargs in (GITLAB, dict(upstreamRegistry="chainguard", upstreamRegistryUrl="cgr.dev")):
        code, status, message = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="gitlab2", **kwargs)
        assert (code, status) == ("UnsupportedUpstreamRegistryException", 400), (kwargs, code)
        assert message.startswith("The specified upstream registry requires authentication"), message
    # The credentialArn's pattern is a model constraint: ValidationException (selftest_parity.py).
    code, _, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="gitlab2", credentialArn=bad_arn, **GITLAB)
    assert code == "ValidationException", code
    code, _, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="gitlab2",
                          credentialArn=c.secret_arn + "x", **GITLAB)
    assert code == "SecretNotFoundException", code
    code, _, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="gitlab2",
                          upstreamRegistry="gitlab-container-registry", upstreamRegistryUrl="gitlab.example.com",
                          credentialArn=c.secret_arn)
    assert code == "UnsupportedUpstreamRegistryException", code


def test_rule_limit(c):
    creds = c.assume(c.ids["dev-b"])
    ecr = c.client("ecr", "us-west-2", creds)
    for i in range(50):
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=f"quay-{i}", upstreamRegistryUrl="quay.io")
    code, status, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="quay-50", upstreamRegistryUrl="quay.io")
    assert (code, status) == ("LimitExceededException", 400), (code, status)
    pages = list(ecr.get_paginator("describe_pull_through_cache_rules").paginate(PaginationConfig={"PageSize": 20}))
    assert [len(p["pullThroughCacheRules"]) for p in pages] == [20, 20, 10]


def test_template_lifecycle(c):
    member = c.ids["dev-a"]
    creds = c.assume(member)
    ecr = c.client("ecr", "eu-west-1", creds)
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
    created = ecr.create_repository_creation_template(
        prefix="gitlab", description="GitLab pull through cache", appliedFor=["PULL_THROUGH_CACHE"],
        imageTagMutability="IMMUTABLE", lifecyclePolicy=LIFECYCLE,
        resourceTags=[{"Key": "managed-by", "Value": "ptc-rollout"}])
    t = created["repositoryCreationTemplate"]
    assert created["registryId"] == member, created
    assert (t["prefix"], t["appliedFor"], t["imageTagMutability"]) == ("gitlab", ["PULL_THROUGH_CACHE"], "IMMUTABLE"), t
    assert t["lifecyclePolicy"] == LIFECYCLE and t["resourceTags"] == [{"Key": "managed-by", "Value": "ptc-rollout"}]
    assert t["encryptionConfiguration"] == {"encryptionType": "AES256"} and "createdAt" in t and "updatedAt" in t
    code, status, _ = error_of(ecr.create_repository_creation_template, prefix="gitlab", appliedFor=["PULL_THROUGH_CACHE"])
    assert (code, status) == ("TemplateAlreadyExistsException", 400), (code, status)
    # Defaults: MUTABLE, AES256, no lifecycle policy; ROOT is a valid prefix.
    root = ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["CREATE_ON_PUSH", "REPLICATION"])
    root = root["repositoryCreationTemplate"]
    assert root["imageTagMutability"] == "MUTABLE" and "lifecyclePolicy" not in root, root

    listed = ecr.describe_repository_creation_templates()
    assert listed["registryId"] == member and "nextToken" not in listed
    assert [x["prefix"] for x in listed["repositoryCreationTemplates"]] == ["gitlab", "ROOT"]
    # An unknown prefix is not an error: it is simply absent from the answer.
    some = ecr.describe_repository_creation_templates(prefixes=["nope", "gitlab"])["repositoryCreationTemplates"]
    assert [x["prefix"] for x in some] == ["gitlab"] and some[0]["lifecyclePolicy"] == LIFECYCLE, some
    assert ecr.describe_repository_creation_templates(prefixes=["nope"])["repositoryCreationTemplates"] == []
    # Templates are per Region.
    assert c.client("ecr", "us-east-1", creds).describe_repository_creation_templates()["repositoryCreationTemplates"] == []

    # Update changes only what is given; "" clears an optional text.
    upd = ecr.update_repository_creation_template(prefix="gitlab", imageTagMutability="MUTABLE", description="")
    t = upd["repositoryCreationTemplate"]
    assert upd["registryId"] == member and t["imageTagMutability"] == "MUTABLE" and "description" not in t, t
    assert t["lifecyclePolicy"] == LIFECYCLE and t["appliedFor"] == ["PULL_THROUGH_CACHE"] and t["updatedAt"] >= t["createdAt"]
    upd = ecr.update_repository_creation_template(prefix="gitlab", appliedFor=["PULL_THROUGH_CACHE", "REPLICATION"],
                                                  resourceTags=[])
    assert upd["repositoryCreationTemplate"]["appliedFor"] == ["PULL_THROUGH_CACHE", "REPLICATION"]
    assert upd["repositoryCreationTemplate"].get("resourceTags", []) == []
    code, status, _ = error_of(ecr.update_repository_creation_template, prefix="nope", imageTagMutability="MUTABLE")
    assert (code, status) == ("TemplateNotFoundException", 400), (code, status)

    deleted = ecr.delete_repository_creation_template(prefix="ROOT")
    assert deleted["registryId"] == member and deleted["repositoryCreationTemplate"]["prefix"] == "ROOT"
    code, _, _ = error_of(ecr.delete_repository_creation_template, prefix="ROOT")
    assert code == "TemplateNotFoundException", code
    assert [x["prefix"] for x in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]] == ["gitlab"]

    # Paging: 25 templates in pages of 10.
    other = c.client("ecr", "ap-northeast-1", creds)
    for i in range(25):
        other.create_repository_creation_template(prefix=f"team-{i:02}", appliedFor=["PULL_THROUGH_CACHE"])
    pages = list(other.get_paginator("describe_repository_creation_templates").paginate(PaginationConfig={"PageSize": 10}))
    assert [len(p["repositoryCreationTemplates"]) for p in pages] == [10, 10, 5]
    assert pages[-1]["repositoryCreationTemplates"][-1]["prefix"] == "team-24"


def test_template_parameter_errors(c):
    creds = c.assume(c.ids["dev-a"])
    ecr = c.client("ecr", "eu-west-1", creds)
    # No client-side checks: let the emulator see what a careless SDK caller could send.
    raw = c.client("ecr", "eu-west-1", creds, config=NO_RETRY.merge(Config(parameter_validation=False)))
    pt = ["PULL_THROUGH_CACHE"]
    invalid = [
        dict(prefix="GitLab", appliedFor=pt),  # upper case
        dict(prefix="team//x", appliedFor=pt),  # empty path segment
        dict(prefix="gl-empty", appliedFor=[]),  # nothing to apply for
        dict(prefix="gl-lp", appliedFor=pt, lifecyclePolicy="{not json"),
        dict(prefix="gl-lp", appliedFor=pt, lifecyclePolicy='{"rulez": []}'),
        dict(prefix="gl-rp", appliedFor=pt, repositoryPolicy="[1, 2"),
        dict(prefix="gl-ex", appliedFor=pt, imageTagMutability="IMMUTABLE_WITH_EXCLUSION"),  # needs filters
        dict(prefix="gl-ex", appliedFor=pt, imageTagMutability="IMMUTABLE",
             imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}]),
        dict(prefix="gl-kms", appliedFor=pt, encryptionConfiguration={"encryptionType": "AES256",
             "kmsKey": "arn:aws:kms:eu-west-1:111122223333:key/abcd"}),
        dict(prefix="gl-role", appliedFor=pt, customRoleArn="not-an-arn"),
    ]
    for kwargs in invalid:
        code, status, _ = error_of(ecr.create_repository_creation_template, **kwargs)
        assert (code, status) == ("InvalidParameterException", 400), (kwargs, code, status)
    for kwargs in (dict(prefix="gl-af", appliedFor=["ON_TUESDAYS"]),
                   dict(prefix="gl-mut", appliedFor=pt, imageTagMutability="SOMETIMES"),
                   dict(prefix="gl-enc", appliedFor=pt, encryptionConfiguration={"encryptionType": "ROT13"}),
                   dict(prefix="gl-desc", appliedFor=pt, description="x" * 257)):
        code, status, _ = error_of(raw.create_repository_creation_template, **kwargs)
        assert (code, status) == ("ValidationException", 400), (kwargs, code, status)
    code, _, _ = error_of(raw.describe_repository_creation_templates, maxResults=0)
    assert code == "ValidationException", code
    # With exclusion filters the *_WITH_EXCLUSION mutabilities work.
    ok = ecr.create_repository_creation_template(
        prefix="gl-ex", appliedFor=pt, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}])
    assert ok["repositoryCreationTemplate"]["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}]
    # Going back to plain IMMUTABLE drops the filters.
    t = ecr.update_repository_creation_template(prefix="gl-ex", imageTagMutability="IMMUTABLE")["repositoryCreationTemplate"]
    assert t["imageTagMutability"] == "IMMUTABLE" and "imageTagMutabilityExclusionFilters" not in t, t
    ecr.delete_repository_creation_template(prefix="gl-ex")
    # Update refuses what create refuses, and leaves the template as it was.
    for kwargs in (dict(appliedFor=[]), dict(lifecyclePolicy="nope")):
        code, _, _ = error_of(ecr.update_repository_creation_template, prefix="gitlab", **kwargs)
        assert code == "InvalidParameterException", (kwargs, code)
    t = ecr.describe_repository_creation_templates(prefixes=["gitlab"])["repositoryCreationTemplates"][0]
    assert t["lifecyclePolicy"] == LIFECYCLE and t["appliedFor"] == ["PULL_THROUGH_CACHE", "REPLICATION"], t
    assert [x["prefix"] for x in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]] == ["gitlab"]


def test_call_log(c):
    member = c.ids["prod-a"]
    c.ctl("POST", "/_ptc/calls/reset", {})
    creds = c.assume(member)
    c.client("ecr", "eu-central-1", creds).describe_pull_through_cache_rules()
    c.client("organizations").list_roots()
    calls = c.ctl("GET", "/_ptc/calls")["calls"]
    strip = [{k: x[k] for k in ("service", "action", "account", "region")} for x in calls]
    assert strip == [
        {"service": "sts", "action": "AssumeRole", "account": MGMT, "region": "us-east-1"},
        {"service": "ecr", "action": "DescribePullThroughCacheRules", "account": member, "region": "eu-central-1"},
        {"service": "organizations", "action": "ListRoots", "account": MGMT, "region": "us-east-1"},
    ], strip
    assert calls[0]["role_arn"].startswith(f"arn:aws:iam::{member}:") and all(x["status"] == 200 for x in calls)
    c.ctl("POST", "/_ptc/calls/reset", {})
    assert c.ctl("GET", "/_ptc/calls") == {"calls": []}


def test_state(c):
    member = c.ids["dev-a"]
    st = c.ctl("GET", "/_ptc/state")
    secret = next(s for s in st["secrets"] if s["arn"] == c.secret_arn)
    assert (secret["account"], secret["region"], secret["name"], secret["deleted"]) == (member, "eu-west-1", SECRET_NAME, False)
    assert json.loads(secret["value"]) == {"username": "u", "accessToken": "good"}
    rule = next(r for r in st["rules"] if r["account"] == member and r["ecrRepositoryPrefix"] == "gitlab")
    assert rule == {"account": member, "region": "eu-west-1", "ecrRepositoryPrefix": "gitlab",
                    "upstreamRegistry": "gitlab-container-registry", "upstreamRegistryUrl": "registry.gitlab.com",
                    "credentialArn": c.secret_arn}, rule


def test_mutate(c):
    member, region = c.ids["sandbox-1"], "ap-southeast-2"
    base = {"account": member, "region": region}
    arn = c.ctl("POST", "/_ptc/mutate", {"op": "create_secret", **base, "name": SECRET_NAME,
                                         "value": {"username": "u", "accessToken": "good"}, "tags": {"team": "x"}})["arn"]
    c.ctl("POST", "/_ptc/mutate", {"op": "create_rule", **base, "prefix": "gitlab", "upstream_registry": "gitlab-container-registry",
                                   "upstream_url": "registry.gitlab.com", "credential_arn": arn})
    ecr = c.client("ecr", region, c.assume(member))
    assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")["isValid"] is True
    c.ctl("POST", "/_ptc/mutate", {"op": "put_secret_value", **base, "name": SECRET_NAME, "value": '{"username": "u", "accessToken": "stale"}'})
    v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")
    assert v["isValid"] is False and "stale" not in v["failure"]
    c.ctl("POST", "/_ptc/mutate", {"op": "delete_secret", **base, "name": SECRET_NAME})
    v = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")
    assert v["isValid"] is False and v["failure"].startswith("Unable to access the secret"), v
    secret = next(s for s in c.ctl("GET", "/_ptc/state")["secrets"] if s["arn"] == arn)
    assert secret["deleted"] is True and secret["tags"] == {"team": "x"}
    c.ctl("POST", "/_ptc/mutate", {"op": "delete_rule", **base, "prefix": "gitlab"})
    assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


def test_template_state_and_mutate(c):
    member, region = c.ids["dev-a"], "eu-west-1"
    entry = next(t for t in c.ctl("GET", "/_ptc/state")["templates"]
                 if (t["account"], t["region"], t["prefix"]) == (member, region, "gitlab"))
    assert entry["appliedFor"] == ["PULL_THROUGH_CACHE", "REPLICATION"] and entry["imageTagMutability"] == "MUTABLE", entry
    assert entry["lifecyclePolicy"] == LIFECYCLE and entry["resourceTags"] == [] and entry["description"] is None, entry
    assert entry["encryptionConfiguration"] == {"encryptionType": "AES256"} and entry["createdAt"].endswith("+00:00")
    # A template made behind the tool's back, seen through the API.
    other = c.ids["prod-b"]
    base = {"account": other, "region": "us-east-2"}
    c.ctl("POST", "/_ptc/mutate", {"op": "create_template", **base, "prefix": "gitlab",
                                   "applied_for": ["PULL_THROUGH_CACHE"], "image_tag_mutability": "IMMUTABLE",
                                   "lifecycle_policy": {"rules": []}, "resource_tags": {"team": "x"}})
    ecr = c.client("ecr", "us-east-2", c.assume(other))
    t = ecr.describe_repository_creation_templates(prefixes=["gitlab"])["repositoryCreationTemplates"][0]
    assert (t["appliedFor"], t["imageTagMutability"], t["lifecyclePolicy"]) == (["PULL_THROUGH_CACHE"], "IMMUTABLE", '{"rules": []}'), t
    assert t["resourceTags"] == [{"Key": "team", "Value": "x"}]
    entry = next(t for t in c.ctl("GET", "/_ptc/state")["templates"] if t["account"] == other)
    assert (entry["region"], entry["prefix"], entry["imageTagMutability"]) == ("us-east-2", "gitlab", "IMMUTABLE"), entry
    c.ctl("POST", "/_ptc/mutate", {"op": "create_template", **base, "prefix": "quay", "applied_for": ["REPLICATION"]})
    assert ecr.describe_repository_creation_templates(prefixes=["quay"])["repositoryCreationTemplates"][0]["imageTagMutability"] == "MUTABLE"
    for bad in ({"op": "create_template", **base, "prefix": "gitlab", "applied_for": ["PULL_THROUGH_CACHE"]},  # exists
                {"op": "create_template", **base, "prefix": "x1"},  # applied_for missing
                {"op": "create_template", **base, "prefix": "x1", "applied_for": "PULL_THROUGH_CACHE"},  # not a list
                {"op": "delete_template", **base, "prefix": "nope"}):
        try:
            c.ctl("POST", "/_ptc/mutate", bad)
            raise AssertionError(f"{bad} should fail")
        except AssertionError as e:
            assert "-> 400" in str(e), e
    for prefix in ("gitlab", "quay"):
        c.ctl("POST", "/_ptc/mutate", {"op": "delete_template", **base, "prefix": prefix})
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
    assert not [t for t in c.ctl("GET", "/_ptc/state")["templates"] if t["account"] == other]


def _faults(c, *rules):
    c.ctl("POST", "/_ptc/faults", {"rules": list(rules)})


def test_fault_throttle(c):
    member = c.ids["dev-a"]
    creds = c.assume(member)
    _faults(c, {"service": "ecr", "action": "DescribePullThroughCacheRules", "account": member, "region": "*", "kind": "throttle", "rate": 1.0})
    c.ctl("POST", "/_ptc/calls/reset", {})
    code, status, msg = error_of(c.client("ecr", "eu-west-1", creds).describe_pull_through_cache_rules)
    assert (code, status, msg) == ("ThrottlingException", 400, "Rate exceeded"), (code, status, msg)
    assert c.ctl("GET", "/_ptc/calls")["calls"][-1]["fault"] == "throttle"
    # Other accounts and actions are unaffected.
    c.client("ecr", "eu-west-1", c.assume(c.ids["prod-a"])).describe_pull_through_cache_rules()
    c.client("ecr", "eu-west-1", creds).validate_pull_through_cache_rule(ecrRepositoryPrefix="gitlab")
    _faults(c, {"service": "sts", "action": "*", "kind": "throttle"},
            {"service": "secretsmanager", "kind": "throttle"}, {"service": "organizations", "kind": "throttle"})
    assert error_of(c.assume, member)[:2] == ("Throttling", 400)
    assert error_of(c.client("secretsmanager", "eu-west-1").list_secrets)[:2] == ("ThrottlingException", 400)
    assert error_of(c.client("organizations").list_accounts)[:2] == ("ThrottlingException", 400)
    _faults(c)
    c.assume(member)


def test_fault_http_errors(c):
    org = c.client("organizations")
    for kind, status, code in (("http500", 500, "InternalFailure"), ("http503", 503, "ServiceUnavailable")):
        _faults(c, {"service": "organizations", "action": "ListAccounts", "kind": kind})
        assert error_of(org.list_accounts)[:2] == (code, status)
        _faults(c, {"service": "sts", "action": "AssumeRole", "kind": kind})
        assert error_of(c.assume, c.ids["dev-a"])[:2] == (code, status)
    _faults(c, {"service": "ecr", "action": "*", "kind": "limit_exceeded"})
    ecr = c.client("ecr", "eu-west-1", c.assume(c.ids["dev-a"]))
    assert error_of(ecr.describe_pull_through_cache_rules)[:2] == ("LimitExceededException", 400)
    _faults(c)


def test_fault_times_and_rate(c):
    org = c.client("organizations")
    _faults(c, {"service": "organizations", "action": "ListRoots", "kind": "throttle", "times": 2})
    assert error_of(org.list_roots)[0] == "ThrottlingException"
    assert error_of(org.list_roots)[0] == "ThrottlingException"
    org.list_roots()
    _faults(c, {"service": "organizations", "action": "ListRoots", "kind": "throttle", "rate": 0.0})
    org.list_roots()
    # The SDK's own retries get through a one-off throttle.
    _faults(c, {"service": "organizations", "action": "ListRoots", "kind": "throttle", "times": 1})
    c.client("organizations", config=Config(retries={"mode": "standard", "total_max_attempts": 3})).list_roots()
    _faults(c)


def test_fault_latency_and_hang(c):
    org = c.client("organizations")
    _faults(c, {"service": "organizations", "action": "ListRoots", "kind": "latency", "latency_ms": 400})
    t0 = time.monotonic()
    org.list_roots()
    assert time.monotonic() - t0 >= 0.4
    _faults(c, {"service": "organizations", "action": "ListRoots", "kind": "hang", "latency_ms": 5000})
    hasty = c.client("organizations", config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=1))
    t0 = time.monotonic()
    try:
        hasty.list_roots()
        raise AssertionError("a hung call must not answer")
    except ReadTimeoutError:
        pass
    assert 0.9 <= time.monotonic() - t0 < 4
    _faults(c)
    org.list_roots()  # the server still answers while a request hangs


def test_bad_control_requests(c):
    for path, payload in (("/_ptc/faults", {"rules": [{"kind": "nope"}]}), ("/_ptc/mutate", {"op": "nope"}),
                          ("/_ptc/mutate", {"op": "delete_rule", "account": MGMT, "region": "us-east-1", "prefix": "zz"})):
        try:
            c.ctl("POST", path, payload)
            raise AssertionError(f"{path} {payload} should fail")
        except AssertionError as e:
            assert "-> 400" in str(e), e


def test_shutdown_and_stdout(c):
    # Runs last against the main server: SIGTERM exits 0 and stdout held only the first line.
    proc = c.proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == b""
    c.stderr.seek(0)
    logs = c.stderr.read().decode()
    assert "HTTP/1.1" not in logs, "request log lines must be off without --verbose:\n" + logs[-2000:]
    for password in getattr(c, "registry_passwords", []):
        assert password not in logs, "a registry password leaked into stderr"


def test_exit_on_stdin_eof(c):
    proc, _ = start_server("--exit-on-stdin-eof", stderr=subprocess.DEVNULL)
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    proc, url = start_server("--seed", "demo", "--valid-token", "tok", stderr=subprocess.DEVNULL)
    try:
        names = {a["name"] for a in Ctx(url).ctl("GET", "/_ptc/seed")["accounts"]}
        assert {"dev-a", "legacy", "sandbox-1"} <= names
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


TESTS = [test_health, test_seed_and_list_accounts, test_assume_role_member, test_assume_role_management_refused,
         test_deny_list, test_ptc_rule_lifecycle, test_ptc_parameter_errors, test_rule_limit,
         test_template_lifecycle, test_template_parameter_errors, test_call_log,
         test_state, test_mutate, test_template_state_and_mutate, test_fault_throttle, test_fault_http_errors, test_fault_times_and_rate,
         test_fault_latency_and_hang, test_bad_control_requests,
         *selftest_registry.TESTS, *selftest_permissions.TESTS, *selftest_parity.TESTS,
         *selftest_gitlab.TESTS, *selftest_blobs.TESTS, *selftest_model.TESTS, *selftest_upstreams.TESTS,
         test_exit_on_stdin_eof, test_shutdown_and_stdout]


def main() -> int:
    stderr = tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc, url = start_server("--exit-on-stdin-eof", stderr=stderr)
    print(f"server up at {url} in {time.monotonic() - t0:.1f}s")
    c = Ctx(url)
    c.proc, c.stderr = proc, stderr
    passed = failed = 0
    try:
        for test in TESTS:
            try:
                test(c)
                passed += 1
                print(f"ok   {test.__name__}")
            except Exception:
                failed += 1
                print(f"FAIL {test.__name__}\n{traceback.format_exc()}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
