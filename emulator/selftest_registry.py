"""Self tests of the registry endpoint: GetAuthorizationToken, /v2/ auth, pulls through
the cache and from it, the errors, the upstream control API, faults.

Run by selftest.py (these functions take its Ctx). They use their own registry,
prod-a in eu-north-1, so the other tests' state does not matter to them.
"""

import base64
import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from selftest_common import LIFECYCLE, Ctx, error_of, start_server

REGION = "eu-north-1"
APP, WORKER, CLI = ("gitlab/demo-group/demo-project/app", "gitlab/demo-group/demo-project/worker",
                    "gitlab/gitlab-org/release-cli")
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ACCEPT = ", ".join(("application/vnd.oci.image.index.v1+json", OCI_MANIFEST,
                    "application/vnd.docker.distribution.manifest.list.v2+json", DOCKER_V2))
REPO_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["ecr:BatchGetImage"]}]})


# --- helpers ---------------------------------------------------------------------------
def registry_call(endpoint, path, method="GET", auth=None, accept=ACCEPT):
    """(status, lower-cased headers, body) of a registry request; auth is the base64 token."""
    headers = {"Authorization": f"Basic {auth}"} if auth else {}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(endpoint + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def login(c, creds, region=REGION):
    """GetAuthorizationToken: (proxyEndpoint, base64 token); remembers the password."""
    data = c.client("ecr", region, creds).get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1]
    c.__dict__.setdefault("registry_passwords", []).append(password)
    return data["proxyEndpoint"], data["authorizationToken"]


def manifest(endpoint, auth, name, reference, method="GET", accept=ACCEPT):
    return registry_call(endpoint, f"/v2/{name}/manifests/{reference}", method, auth, accept)


def error(body):
    err = json.loads(body)["errors"][0]
    return err["code"], err["message"]


def registry_calls(c):
    return [x for x in c.ctl("GET", "/_ptc/calls")["calls"] if x["service"] == "registry"]


def setup_registry(c):
    """prod-a/eu-north-1: a GitLab secret and rule, and creation templates, via the AWS APIs."""
    c.reg_account = member = c.ids["prod-a"]
    creds = c.reg_creds = c.assume(member)
    sm = c.client("secretsmanager", REGION, creds)
    c.reg_secret = sm.create_secret(Name="ecr-pullthroughcache/gitlab-reg",
                                    SecretString=json.dumps({"username": "u", "accessToken": "reg-good"}))["ARN"]
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": ["good", "reg-good"]})
    ecr = c.client("ecr", REGION, creds)
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="gitlab", upstreamRegistry="gitlab-container-registry",
                                       upstreamRegistryUrl="registry.gitlab.com", credentialArn=c.reg_secret)
    pt = ["PULL_THROUGH_CACHE"]
    ecr.create_repository_creation_template(
        prefix="gitlab", appliedFor=pt, imageTagMutability="IMMUTABLE", lifecyclePolicy=LIFECYCLE,
        repositoryPolicy=REPO_POLICY, resourceTags=[{"Key": "managed-by", "Value": "ptc-rollout"}],
        customRoleArn=f"arn:aws:iam::{member}:role/ecr-template-role")
    # Not at a path-segment boundary of gitlab/demo-group/...: must not apply there.
    ecr.create_repository_creation_template(prefix="gitlab/demo", appliedFor=pt, imageTagMutability="MUTABLE")
    # Longer than "gitlab", but not for pull through cache.
    ecr.create_repository_creation_template(prefix="gitlab/demo-group", appliedFor=["REPLICATION"])
    # The longest that applies to gitlab/gitlab-org/*: MUTABLE, no lifecycle, tags without a role.
    ecr.create_repository_creation_template(prefix="gitlab/gitlab-org", appliedFor=pt,
                                            resourceTags=[{"Key": "untagged", "Value": "yes"}])


# --- tests ---------------------------------------------------------------------------------
def test_registry_auth(c):
    setup_registry(c)
    member, creds = c.reg_account, c.reg_creds
    t0 = datetime.now(timezone.utc)
    data = c.client("ecr", REGION, creds).get_authorization_token()["authorizationData"]
    assert len(data) == 1, data
    user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
    c.__dict__.setdefault("registry_passwords", []).append(password)
    assert user == "AWS" and len(password) >= 32, user
    endpoint = data[0]["proxyEndpoint"]
    assert endpoint == f"{c.url}/_registry/{member}/{REGION}", endpoint
    left = data[0]["expiresAt"] - t0
    assert timedelta(hours=11, minutes=59) <= left <= timedelta(hours=12, minutes=1), left
    _, other = login(c, creds)
    assert other != data[0]["authorizationToken"], "every token is new"
    auth = data[0]["authorizationToken"]

    c.ctl("POST", "/_ptc/calls/reset", {})
    status, headers, body = registry_call(endpoint, "/v2/")
    assert status == 401 and error(body)[0] == "UNAUTHORIZED", (status, body)
    assert headers["www-authenticate"] == f'Basic realm="{endpoint}",service="ecr.amazonaws.com"', headers
    assert headers["content-type"] == "application/json"
    status, _, body = registry_call(endpoint, "/v2/", auth=auth)
    assert (status, json.loads(body)) == (200, {}), (status, body)
    bad = [base64.b64encode(b"AWS:not-a-token").decode(), base64.b64encode(f"root:{password}".encode()).decode(), "%%%"]
    for token in bad:
        assert registry_call(endpoint, "/v2/", auth=token)[0] == 401, token
    # A token is for one registry: another Region's, or another account's, is refused.
    _, us_east = login(c, creds, "us-east-1")
    assert registry_call(endpoint, "/v2/", auth=us_east)[0] == 401
    other_account = endpoint.replace(member, c.ids["prod-b"])
    status, headers, _ = registry_call(other_account, "/v2/", auth=auth)
    assert status == 401 and c.ids["prod-b"] in headers["www-authenticate"], headers
    status, _, body = manifest(endpoint, None, APP, "1.0")
    assert status == 401 and error(body)[0] == "UNAUTHORIZED"

    calls = registry_calls(c)
    assert [(x["action"], x["status"]) for x in calls] == [("Ping", 401), ("Ping", 200)] + [("Ping", 401)] * 5 + [("GetManifest", 401)], calls
    assert calls[1]["principal"] == f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", calls[1]
    assert calls[0]["principal"] is None and calls[0]["cached"] is None and calls[0]["repository"] is None
    assert (calls[1]["account"], calls[1]["region"]) == (member, REGION)
    assert password not in json.dumps(c.ctl("GET", "/_ptc/calls")), "the call log must not hold the password"

    # Expired tokens are refused; a new GetAuthorizationToken works again.
    assert c.ctl("POST", "/_ptc/registry_tokens/expire", {})["expired"] >= 2
    status, _, body = registry_call(endpoint, "/v2/", auth=auth)
    assert status == 401 and "expired" in error(body)[1], body
    endpoint, auth = login(c, creds)
    assert registry_call(endpoint, "/v2/", auth=auth)[0] == 200
    c.reg_endpoint, c.reg_auth = endpoint, auth


def test_registry_pull_through(c):
    member, endpoint, auth = c.reg_account, c.reg_endpoint, c.reg_auth
    ecr = c.client("ecr", REGION, c.reg_creds)
    upstream = {(i["repository"], i["tag"]): i["digest"] for i in c.ctl("GET", "/_ptc/upstream_images")["images"]}
    c.ctl("POST", "/_ptc/calls/reset", {})

    status, headers, body = manifest(endpoint, auth, APP, "1.0")
    assert status == 200, (status, body)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    assert headers["content-type"] == DOCKER_V2 and headers["docker-content-digest"] == digest, headers
    assert int(headers["content-length"]) == len(body) and digest == upstream[("demo-group/demo-project/app", "1.0")]
    doc = json.loads(body)
    assert doc["schemaVersion"] == 2 and len(doc["layers"]) == 2 and doc["config"]["digest"].startswith("sha256:"), doc

    # The repository was created with the "gitlab" template's settings, and holds the image.
    repo = ecr.describe_repositories(repositoryNames=[APP])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE", repo
    assert ecr.get_lifecycle_policy(repositoryName=APP)["lifecyclePolicyText"] == LIFECYCLE
    assert ecr.get_repository_policy(repositoryName=APP)["policyText"] == REPO_POLICY
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [{"Key": "managed-by", "Value": "ptc-rollout"}]
    images = ecr.describe_images(repositoryName=APP)["imageDetails"]
    assert [(i["imageTags"], i["imageDigest"]) for i in images] == [(["1.0"], digest)], images
    got = ecr.batch_get_image(repositoryName=APP, imageIds=[{"imageTag": "1.0"}])["images"][0]
    assert got["imageManifest"] == body.decode() and got["imageManifestMediaType"] == DOCKER_V2

    # From the cache: the same bytes, by tag or digest; HEAD has the headers and no body.
    again = manifest(endpoint, auth, APP, "1.0")
    assert again[0] == 200 and again[2] == body and again[1]["docker-content-digest"] == digest
    status, headers, head_body = manifest(endpoint, auth, APP, "1.0", "HEAD")
    assert (status, head_body, headers["content-length"], headers["docker-content-digest"]) == (200, b"", str(len(body)), digest)
    assert manifest(endpoint, auth, APP, digest)[2] == body
    assert manifest(endpoint, auth, APP, "1.0", accept=None)[0] == 200  # no Accept: anything goes
    status, _, err = manifest(endpoint, auth, APP, "1.0", accept=OCI_MANIFEST)
    assert status == 404 and error(err)[0] == "MANIFEST_UNKNOWN" and "not accepted" in error(err)[1], err
    calls = registry_calls(c)
    assert [(x["action"], x["cached"], x["status"]) for x in calls] == [
        ("GetManifest", False, 200), ("GetManifest", True, 200), ("HeadManifest", True, 200),
        ("GetManifest", True, 200), ("GetManifest", True, 200), ("GetManifest", True, 404)], calls
    assert all(x["repository"] == APP for x in calls)

    # A second tag of an existing repository is imported without CreateRepository.
    assert manifest(endpoint, auth, APP, "latest")[0] == 200
    tags = sorted(t for i in ecr.describe_images(repositoryName=APP)["imageDetails"] for t in i["imageTags"])
    assert tags == ["1.0", "latest"], tags
    # The longest applicable template at a segment boundary: gitlab/gitlab-org, not gitlab/demo.
    assert manifest(endpoint, auth, CLI, "latest")[0] == 200
    repo = ecr.describe_repositories(repositoryNames=[CLI])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE", repo
    assert error_of(ecr.get_lifecycle_policy, repositoryName=CLI)[0] == "LifecyclePolicyNotFoundException"
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [], "no customRoleArn, no tags"

    state = [r for r in c.ctl("GET", "/_ptc/state")["repositories"] if (r["account"], r["region"]) == (member, REGION)]
    entry = next(r for r in state if r["name"] == APP)
    assert entry["imageTagMutability"] == "IMMUTABLE" and entry["lifecyclePolicy"] == LIFECYCLE, entry
    assert entry["tags"] == {"managed-by": "ptc-rollout"}
    assert sorted((i["tag"], i["digest"]) for i in entry["images"]) == sorted(
        [("1.0", digest), ("latest", upstream[("demo-group/demo-project/app", "latest")])]), entry


def test_registry_errors(c):
    member, endpoint, auth = c.reg_account, c.reg_endpoint, c.reg_auth
    ecr = c.client("ecr", REGION, c.reg_creds)
    status, headers, body = manifest(endpoint, auth, "quay/some/image", "1.0")
    assert status == 404 and headers["content-type"] == "application/json", (status, headers)
    assert error(body) == ("NAME_UNKNOWN", f"The repository with name 'quay/some/image' does not exist in the registry with id '{member}'"), body
    # "gitlabx/..." is not under the "gitlab" prefix.
    assert error(manifest(endpoint, auth, "gitlabx/demo-group/demo-project/app", "1.0")[2])[0] == "NAME_UNKNOWN"
    status, _, body = manifest(endpoint, auth, "gitlab/demo-group/nothing", "1.0")
    assert status == 404 and error(body) == ("MANIFEST_UNKNOWN", "Requested image not found upstream: registry.gitlab.com/demo-group/nothing:1.0"), body
    assert error_of(ecr.describe_repositories, repositoryNames=["gitlab/demo-group/nothing"])[0] == "RepositoryNotFoundException"
    assert error(manifest(endpoint, auth, APP, "9.9")[2]) == ("MANIFEST_UNKNOWN", "Requested image not found upstream: registry.gitlab.com/demo-group/demo-project/app:9.9")
    assert manifest(endpoint, auth, "Not_A/Name", "1.0")[0] == 400
    assert registry_call(endpoint, f"/v2/{APP}/manifests/1.0", "PUT", auth)[0] == 405
    status, _, body = registry_call(endpoint, f"/v2/{APP}/blobs/sha256:" + "0" * 64, auth=auth)
    assert status == 404 and error(body)[0] == "BLOB_UNKNOWN", body

    # A token GitLab refuses: DENIED naming the secret, never its value; the cache still serves.
    sm = c.client("secretsmanager", REGION, c.reg_creds)
    sm.put_secret_value(SecretId=c.reg_secret, SecretString=json.dumps({"username": "u", "accessToken": "reg-stale"}))
    status, _, body = manifest(endpoint, auth, WORKER, "2.3")
    assert status == 403 and error(body) == ("DENIED", "authentication to the upstream registry failed: the credentials "
                                             f"in {c.reg_secret} were refused by registry.gitlab.com"), body
    assert b"reg-stale" not in body
    assert error_of(ecr.describe_repositories, repositoryNames=[WORKER])[0] == "RepositoryNotFoundException"
    assert manifest(endpoint, auth, APP, "1.0")[0] == 200
    sm.put_secret_value(SecretId=c.reg_secret, SecretString="not json")
    assert error(manifest(endpoint, auth, WORKER, "2.3")[2])[0] == "DENIED"
    sm.put_secret_value(SecretId=c.reg_secret, SecretString=json.dumps({"username": "u", "accessToken": "reg-good"}))

    # A repository deleted behind the tool's back is imported again on the next pull.
    c.ctl("POST", "/_ptc/mutate", {"op": "delete_repository", "account": member, "region": REGION, "name": CLI})
    assert not [r for r in c.ctl("GET", "/_ptc/state")["repositories"] if r["name"] == CLI and r["account"] == member]
    c.ctl("POST", "/_ptc/calls/reset", {})
    assert manifest(endpoint, auth, CLI, "latest")[0] == 200
    assert [x["cached"] for x in registry_calls(c)] == [False]


def test_registry_root_rule(c):
    # A ROOT rule maps every name, unprefixed, to the same upstream path.
    member, region = c.reg_account, "eu-west-3"
    base = {"account": member, "region": region}
    arn = c.ctl("POST", "/_ptc/mutate", {"op": "create_secret", **base, "name": "ecr-pullthroughcache/root",
                                         "value": {"username": "u", "accessToken": "reg-good"}})["arn"]
    c.ctl("POST", "/_ptc/mutate", {"op": "create_rule", **base, "prefix": "ROOT", "upstream_url": "registry.gitlab.com",
                                   "upstream_registry": "gitlab-container-registry", "credential_arn": arn})
    endpoint, auth = login(c, c.reg_creds, region)
    status, headers, _ = manifest(endpoint, auth, "demo-group/demo-project/worker", "2.3")
    assert status == 200 and headers["docker-content-digest"].startswith("sha256:"), status
    repo = c.client("ecr", region, c.reg_creds).describe_repositories()["repositories"]
    assert [(r["repositoryName"], r["imageTagMutability"]) for r in repo] == [("demo-group/demo-project/worker", "MUTABLE")]


def test_upstream_images_control(c):
    listed = c.ctl("GET", "/_ptc/upstream_images")["images"]
    seeded = {(i["repository"], i["tag"]) for i in listed}
    assert {("demo-group/demo-project/app", "1.0"), ("demo-group/demo-project/app", "latest"),
            ("demo-group/demo-project/worker", "2.3"), ("gitlab-org/release-cli", "latest")} <= seeded, listed
    added = c.ctl("POST", "/_ptc/upstream_images", {"images": [{"repository": "team/new-project/api", "tag": "0.1"}]})
    digest = added["images"][0]["digest"]
    again = c.ctl("POST", "/_ptc/upstream_images", {"images": [{"repository": "team/new-project/api", "tag": "0.1"}]})
    assert again["images"][0]["digest"] == digest, "manifests are deterministic"
    listed = [i for i in c.ctl("GET", "/_ptc/upstream_images")["images"] if i["repository"] == "team/new-project/api"]
    assert [(i["tag"], i["digest"], i["visibility"]) for i in listed] == [("0.1", digest, "private")], listed
    status, headers, _ = manifest(c.reg_endpoint, c.reg_auth, "gitlab/team/new-project/api", "0.1")
    assert status == 200 and headers["docker-content-digest"] == digest, (status, headers)
    for bad in ({"images": [{"repository": "x"}]}, {"images": "x"}, {"images": [{"repository": "x", "tag": "bad tag"}]}):
        try:
            c.ctl("POST", "/_ptc/upstream_images", bad)
            raise AssertionError(f"{bad} should fail")
        except AssertionError as e:
            assert "-> 400" in str(e), e


def test_registry_faults(c):
    endpoint, auth = c.reg_endpoint, c.reg_auth
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "registry", "action": "GetManifest", "kind": "throttle", "times": 1}]})
    c.ctl("POST", "/_ptc/calls/reset", {})
    status, _, body = manifest(endpoint, auth, APP, "1.0")
    assert status == 429 and error(body)[0] == "TOOMANYREQUESTS", (status, body)
    assert manifest(endpoint, auth, APP, "1.0")[0] == 200
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "registry", "account": c.reg_account, "kind": "latency", "latency_ms": 300}]})
    t0 = time.monotonic()
    assert registry_call(endpoint, "/v2/", auth=auth)[0] == 200
    assert time.monotonic() - t0 >= 0.3
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "registry", "kind": "http503"}]})
    status, _, body = manifest(endpoint, auth, APP, "1.0", "HEAD")
    assert (status, body) == (503, b""), (status, body)
    c.ctl("POST", "/_ptc/faults", {"rules": []})
    calls = registry_calls(c)
    assert [x.get("fault") for x in calls] == ["throttle", None, "latency", "http503"], calls


def test_registry_verbose_logs_no_password(c):
    # Even --verbose request logging never shows the password or the Authorization header.
    proc, url = start_server("--verbose", stderr=subprocess.PIPE)
    try:
        v = Ctx(url)
        endpoint, auth = login(v, None, "us-east-1")
        assert registry_call(endpoint, "/v2/", auth=auth)[0] == 200
        assert registry_call(endpoint, "/v2/", auth=base64.b64encode(b"AWS:wrong-password").decode())[0] == 401
    finally:
        proc.terminate()
        _, logs = proc.communicate(timeout=10)
    logs = logs.decode()
    assert "/_registry/" in logs, "verbose mode logs requests"
    for secret in (v.registry_passwords[0], auth, "wrong-password", "Authorization"):
        assert secret not in logs, f"{secret[:6]}... leaked into stderr"


TESTS = [test_registry_auth, test_registry_pull_through, test_registry_errors, test_registry_root_rule,
         test_upstream_images_control, test_registry_faults, test_registry_verbose_logs_no_password]
