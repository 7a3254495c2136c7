"""Self tests of who may pull through the cache: identity policies, the registry
permissions policy (API and evaluation), and creation templates' customRoleArn.

Run by selftest.py after selftest_registry.py, whose registry (prod-a in
eu-north-1, c.reg_*) they reuse.
"""

import json

import permissions
from selftest_common import error_of
from selftest_registry import APP, REGION, error, login, manifest, registry_calls

WORKER = "gitlab/demo-group/demo-project/worker"
READ_ONLY = ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def _assume(c, account, role_path_name, session):
    return c.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role_path_name}",
                                       RoleSessionName=session)["Credentials"]


def _denied(session_arn, action, repo_arn):
    return (f"User: {session_arn} is not authorized to perform: {action} on resource: {repo_arn} "
            f"because no identity-based policy or resource-based policy allows the {action} action")


def _policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_identity_policies(c):
    member = c.reg_account
    role_arn = f"arn:aws:iam::{member}:role/ci/ci-puller"
    session_arn = f"arn:aws:sts::{member}:assumed-role/ci-puller/build-42"
    c.ctl("POST", "/_ptc/identity_policies", {"policies": [
        {"account": member, "role_name": "ci-puller", "actions": READ_ONLY},
        {"account": "*", "role_name": "no-login", "actions": ["ecr:BatchGetImage"]},
        {"account": "*", "role_name": "importer", "actions": ["ecr:GetAuthorizationToken", "ecr:CreateRepository"]},
    ]})
    assert c.ctl("GET", "/_ptc/identity_policies")["policies"][0] == {"account": member, "role_name": "ci-puller", "actions": READ_ONLY}
    for bad in ({"policies": [{"account": "12", "role_name": "x", "actions": []}]},
                {"policies": [{"account": "*", "actions": []}]}, {"policies": "x"}):
        try:
            c.ctl("POST", "/_ptc/identity_policies", bad)
            raise AssertionError(f"{bad} should fail")
        except AssertionError as e:
            assert "-> 400" in str(e), e

    # No ecr:GetAuthorizationToken: no token.
    no_login = c.client("ecr", REGION, _assume(c, member, "no-login", "session"))
    code, status, msg = error_of(no_login.get_authorization_token)
    assert (code, status) == ("AccessDeniedException", 400), (code, status)
    assert msg == (f"User: arn:aws:sts::{member}:assumed-role/no-login/session is not authorized to perform: "
                   "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows "
                   "the ecr:GetAuthorizationToken action"), msg

    # Read-only: pulls what is cached, cannot import.
    consumer = _assume(c, member, "ci/ci-puller", "build-42")
    endpoint, auth = login(c, consumer)
    c.consumer = (consumer, endpoint, auth, role_arn, session_arn)
    c.ctl("POST", "/_ptc/calls/reset", {})
    assert manifest(endpoint, auth, APP, "1.0")[0] == 200
    status, _, body = manifest(endpoint, auth, WORKER, "2.3")
    repo_arn = f"arn:aws:ecr:{REGION}:{member}:repository/{WORKER}"
    assert status == 403 and error(body) == ("DENIED", _denied(session_arn, "ecr:CreateRepository", repo_arn)), body
    calls = registry_calls(c)
    assert [(x["principal"], x["cached"], x["status"]) for x in calls] == [(role_arn, True, 200), (role_arn, False, 403)], calls

    # CreateRepository without BatchImportUpstreamImage: denied on the second check.
    importer_session = f"arn:aws:sts::{member}:assumed-role/importer/session"
    endpoint2, auth2 = login(c, _assume(c, member, "importer", "session"))
    status, _, body = manifest(endpoint2, auth2, WORKER, "2.3")
    assert error(body)[1] == _denied(importer_session, "ecr:BatchImportUpstreamImage", repo_arn), body
    # The identity policy is per account: elsewhere "ci-puller" matches no entry, an administrator.
    other = c.ids["prod-b"]
    c.client("ecr", "us-east-1", _assume(c, other, "ci-puller", "session")).get_authorization_token()


def test_registry_policy_grants_import(c):
    member = c.reg_account
    consumer, endpoint, auth, role_arn, session_arn = c.consumer
    ecr = c.client("ecr", REGION, c.reg_creds)
    replication = {"Sid": "Replication", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                   "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                   "Resource": f"arn:aws:ecr:{REGION}:{member}:repository/*"}
    ptc = {"Sid": "PtcPullThroughCache", "Effect": "Allow", "Principal": {"AWS": "*"},
           "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
           "Resource": f"arn:aws:ecr:{REGION}:{member}:repository/gitlab/*",
           "Condition": {"ArnLike": {"aws:PrincipalArn": role_arn}}}
    # The replication statement alone (an account principal) grants the consumer nothing.
    ecr.put_registry_policy(policyText=_policy(replication))
    assert manifest(endpoint, auth, WORKER, "2.3")[0] == 403
    text = _policy(replication, ptc)
    ecr.put_registry_policy(policyText=text)
    status, headers, body = manifest(endpoint, auth, WORKER, "2.3")
    assert status == 200, body
    assert ecr.describe_images(repositoryName=WORKER)["imageDetails"][0]["imageTags"] == ["2.3"]

    # A Deny wins over any Allow; the message says so.
    deny = {"Sid": "NoLatest", "Effect": "Deny", "Principal": "*", "Action": "ecr:batchgetimage",
            "Resource": f"arn:aws:ecr:{REGION}:{member}:repository/{APP}",
            "Condition": {"StringEquals": {"AWS:PrincipalAccount": member}}}
    ecr.put_registry_policy(policyText=_policy(replication, ptc, deny))
    status, _, body = manifest(endpoint, auth, APP, "1.0")
    assert status == 403 and error(body)[1].endswith("with an explicit deny in a resource-based policy"), body
    # A condition on a key that is not modelled: the statement does not apply (fail closed).
    deny["Condition"] = {"StringEquals": {"aws:SourceVpc": "vpc-1"}}
    ecr.put_registry_policy(policyText=_policy(replication, ptc, deny))
    assert manifest(endpoint, auth, APP, "1.0")[0] == 200
    ptc["Condition"] = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    ecr.put_registry_policy(policyText=_policy(replication, ptc))
    assert manifest(endpoint, auth, "gitlab/demo-group/demo-project/app", "latest")[0] == 200  # cached
    c.ctl("POST", "/_ptc/upstream_images", {"images": [{"repository": "demo-group/demo-project/worker", "tag": "2.4"}]})
    assert manifest(endpoint, auth, WORKER, "2.4")[0] == 403
    ecr.delete_registry_policy()
    c.ctl("POST", "/_ptc/identity_policies", {"policies": []})
    assert c.ctl("GET", "/_ptc/identity_policies") == {"policies": []}
    assert manifest(endpoint, auth, WORKER, "2.4")[0] == 200  # no identity policy: an administrator


def test_registry_policy_api(c):
    ecr = c.client("ecr", "us-west-1", c.assume(c.ids["dev-b"]))
    for op in (ecr.get_registry_policy, ecr.delete_registry_policy):
        code, status, _ = error_of(op)
        assert (code, status) == ("RegistryPolicyNotFoundException", 400), (code, status)
    # Byte for byte, odd spacing included.
    text = ('{"Version": "2012-10-17",\n  "Statement": [{"Sid": "Ptc", "Effect": "Allow", "Principal": {"AWS": "*"},'
            '   "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"], "Resource": "*"}]}')
    assert ecr.put_registry_policy(policyText=text)["policyText"] == text
    assert ecr.get_registry_policy()["policyText"] == text
    for actions in (["ecr:*"], "ecr:BatchGetImage", ["ecr:ReplicateImage", "ecr:Get*"]):
        ecr.put_registry_policy(policyText=text.replace('["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]', json.dumps(actions)))
    code, _, _ = error_of(ecr.put_registry_policy, policyText=text.replace("ecr:CreateRepository", "s3:GetObject"))
    assert code == "InvalidParameterException", code
    assert ecr.delete_registry_policy()["policyText"].startswith('{"Version"')
    assert error_of(ecr.get_registry_policy)[0] == "RegistryPolicyNotFoundException"
    # Behind the tool's back: stored verbatim, shown in the state.
    account = c.ids["dev-b"]
    c.ctl("POST", "/_ptc/mutate", {"op": "put_registry_policy", "account": account, "region": "us-west-1", "policy_text": text})
    assert ecr.get_registry_policy()["policyText"] == text
    assert {"account": account, "region": "us-west-1", "policyText": text} in c.ctl("GET", "/_ptc/state")["registry_policies"]


def test_foreign_write_fault(c):
    """`foreign_write`: another team's tool writes the registry policy right after the matched
    call, from the policy as it read it (after the call, or before it)."""
    account, region = c.ids["dev-b"], "us-west-2"
    ecr = c.client("ecr", region, c.assume(account))
    theirs = {"Sid": "OtherTeam", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:ReplicateImage",
              "Resource": "*"}
    ours = {"Sid": "Ptc", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:CreateRepository",
            "Resource": "*"}

    def faults(*rules):
        c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "ecr", "account": account, "region": region,
                                                  "kind": "foreign_write", "statement": theirs, "times": 1, **r}
                                                 for r in rules]})

    def sids():
        return [s["Sid"] for s in json.loads(ecr.get_registry_policy()["policyText"])["Statement"]]

    # After a read that found no policy: the read's answer stands, the next read sees theirs.
    faults({"action": "GetRegistryPolicy"})
    assert error_of(ecr.get_registry_policy)[0] == "RegistryPolicyNotFoundException"
    assert sids() == ["OtherTeam"]
    # read "before": their write, from a read that predates ours, undoes our PutRegistryPolicy.
    ecr.delete_registry_policy()
    faults({"action": "PutRegistryPolicy", "read": "before"})
    assert ecr.put_registry_policy(policyText=_policy(ours))["policyText"] == _policy(ours)
    assert sids() == ["OtherTeam"]
    # read "after" (default): merged into what the call left, by Sid, once (`times`).
    ecr.put_registry_policy(policyText=_policy(ours, {**theirs, "Action": "ecr:BatchGetImage"}))
    faults({"action": "PutRegistryPolicy"})
    ecr.put_registry_policy(policyText=_policy(ours))
    assert sids() == ["Ptc", "OtherTeam"]
    assert json.loads(ecr.get_registry_policy()["policyText"])["Statement"][1] == theirs
    ecr.delete_registry_policy()
    assert error_of(ecr.get_registry_policy)[0] == "RegistryPolicyNotFoundException"
    assert [call["fault"] for call in c.ctl("GET", "/_ptc/calls")["calls"] if call.get("fault")][-3:] == \
        ["foreign_write"] * 3
    for bad in ({"statement": "x"}, {"read": "sometime"}):
        try:
            faults({"action": "PutRegistryPolicy", **bad})
        except AssertionError as e:
            assert "-> 400" in str(e), e
        else:
            raise AssertionError(f"accepted {bad}")
    c.ctl("POST", "/_ptc/faults", {"rules": []})


def test_template_custom_role_account(c):
    member = c.reg_account
    ecr = c.client("ecr", REGION, c.reg_creds)
    foreign = "arn:aws:iam::111122223333:role/ecr-template-role"
    for call, kwargs in ((ecr.create_repository_creation_template, {"prefix": "gl-foreign", "appliedFor": ["PULL_THROUGH_CACHE"]}),
                         (ecr.update_repository_creation_template, {"prefix": "gitlab"})):
        code, status, msg = error_of(call, customRoleArn=foreign, **kwargs)
        assert (code, status) == ("InvalidParameterException", 400) and f"registry's account {member}" in msg, (code, msg)
    template = ecr.describe_repository_creation_templates(prefixes=["gitlab"])["repositoryCreationTemplates"][0]
    assert template["customRoleArn"] == f"arn:aws:iam::{member}:role/ecr-template-role", template


def test_policy_evaluation_rules(c):
    # The evaluation itself, in process: the cases the end-to-end tests do not reach.
    role = "arn:aws:iam::111122223333:role/team/puller"
    who = {"account": "111122223333", "principal_arn": role, "session_arn": "x", "role_name": "puller"}
    repo = "arn:aws:ecr:eu-west-1:111122223333:repository/gitlab/a/b"

    def decide(statement, action="ecr:CreateRepository", resource=repo):
        return permissions.policy_decision(_policy(statement), who, action, resource)

    allow = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:CreateRepository", "Resource": repo}
    assert decide(allow) == "Allow" and decide(allow, "ecr:BatchGetImage") is None
    assert decide({**allow, "Action": "ECR:create*"}) == "Allow"
    assert decide({**allow, "Resource": "arn:aws:ecr:*:111122223333:repository/gitlab/*"}) == "Allow"
    assert decide({**allow, "Resource": "arn:aws:ecr:*:111122223333:repository/quay/*"}) is None
    assert decide({**allow, "Principal": "*"}) == "Allow"
    assert decide({**allow, "Principal": {"AWS": [role]}}) == "Allow"
    assert decide({**allow, "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}) is None
    assert decide({**allow, "Principal": {"AWS": "111122223333"}}) is None
    assert decide({**allow, "Principal": {"Service": "ecr.amazonaws.com"}}) is None
    assert decide({k: v for k, v in allow.items() if k != "Principal"}) is None
    assert decide({**allow, "Action": None, "NotAction": "ecr:BatchGetImage"}) is None
    for condition, expected in (
            ({"StringEquals": {"aws:PrincipalArn": role}}, "Allow"),
            ({"StringEquals": {"aws:principalarn": role.upper()}}, None),  # values are case-sensitive
            ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/team/*"}}, "Allow"),
            ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, "Allow"),
            ({"ArnLike": {"aws:PrincipalArn": "arn:aws:*:role/*"}}, None),  # * stays within one ARN part
            ({"ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::1:role/x", role]}}, "Allow"),
            ({"StringEquals": {"aws:PrincipalAccount": "111122223333", "aws:PrincipalArn": role}}, "Allow"),
            ({"StringEquals": {"aws:PrincipalAccount": "444455556666"}}, None),
            ({"StringNotEquals": {"aws:PrincipalAccount": "444455556666"}}, None),  # not modelled
            ({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}, None),  # not modelled
            ({"ArnLike": {"aws:PrincipalArn": role}, "Bool": {"aws:SecureTransport": "true"}}, None)):
        assert decide({**allow, "Condition": condition}) == expected, (condition, expected)
    deny = {**allow, "Effect": "Deny"}
    assert permissions.policy_decision(_policy(allow, deny), who, "ecr:CreateRepository", repo) == "Deny"
    assert permissions.policy_decision("{not json", who, "ecr:CreateRepository", repo) is None


def test_describe_secret_identity_policy(c):
    """DescribeSecret under an identity policy with resources: a secret that does not exist is
    checked by the ARN its name gives, which `NAME-??????` does not match (AccessDenied, not
    ResourceNotFound); once it exists, its suffixed ARN does."""
    member, region, name = c.reg_account, REGION, "ecr-pullthroughcache/iam-check"
    session_arn = f"arn:aws:sts::{member}:assumed-role/secret-reader/session"
    c.ctl("POST", "/_ptc/identity_policies", {"policies": [
        {"account": "*", "role_name": "secret-reader", "actions": ["secretsmanager:DescribeSecret"],
         "resources": [f"arn:aws:secretsmanager:*:*:secret:{name}-??????"]}]})
    try:
        sm = c.client("secretsmanager", region, _assume(c, member, "secret-reader", "session"))
        code, status, msg = error_of(sm.describe_secret, SecretId=name)
        assert (code, status) == ("AccessDeniedException", 400), (code, status)
        assert msg == (f"User: {session_arn} is not authorized to perform: secretsmanager:DescribeSecret on "
                       f"resource: {name} because no identity-based policy allows the "
                       "secretsmanager:DescribeSecret action"), msg
        c.client("secretsmanager", region, c.reg_creds).create_secret(Name=name, SecretString="v")
        assert sm.describe_secret(SecretId=name)["Name"] == name
        c.ctl("POST", "/_ptc/identity_policies", {"policies": [
            {"account": "*", "role_name": "secret-reader", "actions": ["secretsmanager:DescribeSecret"],
             "resources": [f"arn:aws:secretsmanager:*:*:secret:{name}*"]}]})
        code = error_of(sm.describe_secret, SecretId=name + "-absent")[0]
        assert code == "ResourceNotFoundException", code
    finally:
        c.ctl("POST", "/_ptc/identity_policies", {"policies": []})


TESTS = [test_identity_policies, test_registry_policy_grants_import, test_registry_policy_api,
         test_foreign_write_fault, test_template_custom_role_account, test_policy_evaluation_rules,
         test_describe_secret_identity_policy]
