"""Self tests of every upstream kind: the credential rule of each (required, optional, refused),
customRoleArn, logins to the secret-based hosts, pulls through the cache from Docker Hub
(library/), ECR Public, and a central ECR registry (role, trust, central policy).

Run by selftest.py (these functions take its Ctx, after the demo Organization is seeded). They
use dev-a (downstream) and dev-b (central) in ca-central-1 only.
"""

import hashlib
import json

import upstreams
from selftest_blobs import fetch
from selftest_common import error_of
from selftest_registry import error, login, manifest

REGION = "ca-central-1"
DOCKER = {"upstreamRegistry": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io"}
KINDS = {  # upstream -> URL
    "docker-hub": "registry-1.docker.io", "github-container-registry": "ghcr.io",
    "gitlab-container-registry": "registry.gitlab.com", "azure-container-registry": "demo.azurecr.io",
    "chainguard": "cgr.dev", "ecr-public": "public.ecr.aws", "k8s": "registry.k8s.io", "quay": "quay.io",
}
ROLE = "ptc-pull-through"


def _setup(c):
    if getattr(c, "up", None):
        return c.up
    down, central = c.ids["dev-a"], c.ids["dev-b"]
    creds = c.assume(down)
    sm = c.client("secretsmanager", REGION, creds)
    good = sm.create_secret(Name="ecr-pullthroughcache/up-good", SecretString=json.dumps(
        {"username": upstreams.DEFAULT_USERNAME, "accessToken": upstreams.DEFAULT_TOKEN}))["ARN"]
    other = sm.create_secret(Name="ecr-pullthroughcache/up-other", SecretString=json.dumps(
        {"username": "someone", "accessToken": "test-OtherUpstreamToken"}))["ARN"]
    bad = sm.create_secret(Name="ecr-pullthroughcache/up-bad", SecretString=json.dumps(
        {"username": "nobody", "accessToken": "test-RefusedUpstreamToken"}))["ARN"]
    c.up = {"down": down, "central": central, "creds": creds, "good": good, "other": other, "bad": bad,
            "ecr": c.client("ecr", REGION, creds),
            "central_url": f"{central}.dkr.ecr.{REGION}.amazonaws.com",
            "role_arn": f"arn:aws:iam::{down}:role/{ROLE}"}
    return c.up


def test_upstream_credential_rules(c):
    u = _setup(c)
    ecr = u["ecr"]
    for registry, url in KINDS.items():
        required = registry in ("docker-hub", "github-container-registry", "gitlab-container-registry",
                                "azure-container-registry", "chainguard")
        prefix = f"k-{registry[:12]}"
        if required:
            code, _, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix=prefix,
                                  upstreamRegistry=registry, upstreamRegistryUrl=url)
            assert code == "UnsupportedUpstreamRegistryException", (registry, code)
        # Every upstream takes a secret: required ones use it, optional ones ignore it.
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistry=registry,
                                           upstreamRegistryUrl=url, credentialArn=u["other"])
        valid = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=prefix)["isValid"]
        # The "other" pair is accepted nowhere (GitLab's tokens are not it either).
        assert valid is (not required), (registry, valid)
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)
    for registry in ("ecr-public", "k8s", "quay"):  # optional: no secret is fine
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="opt", upstreamRegistry=registry,
                                           upstreamRegistryUrl=KINDS[registry])
        assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="opt")["isValid"] is True
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix="opt")
    refusals = [
        # ECR upstream: a secret is refused, the role is the way.
        (dict(upstreamRegistry="ecr", upstreamRegistryUrl=u["central_url"], credentialArn=u["good"]),
         "InvalidParameterException"),
        # customRoleArn on any other upstream.
        (dict(DOCKER, credentialArn=u["good"], customRoleArn=u["role_arn"]), "InvalidParameterException"),
        # The role must be of the registry's own account.
        (dict(upstreamRegistry="ecr", upstreamRegistryUrl=u["central_url"],
              customRoleArn=f"arn:aws:iam::{u['central']}:role/{ROLE}"), "InvalidParameterException"),
        (dict(upstreamRegistry="azure-container-registry", upstreamRegistryUrl="example.com",
              credentialArn=u["good"]), "UnsupportedUpstreamRegistryException"),
        (dict(upstreamRegistry="ecr", upstreamRegistryUrl="ecr.example.com", customRoleArn=u["role_arn"]),
         "UnsupportedUpstreamRegistryException"),
        (dict(upstreamRegistry="quay", upstreamRegistryUrl="quay.io", upstreamRepositoryPrefix="team"),
         "InvalidParameterException"),
    ]
    for kwargs, expected in refusals:
        code, status, _ = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="refused", **kwargs)
        assert (code, status) == (expected, 400), (kwargs, code, status)
    # Update keeps the same rules.
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="upd-ecr", upstreamRegistry="ecr",
                                       upstreamRegistryUrl=u["central_url"], customRoleArn=u["role_arn"])
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="upd-dh", credentialArn=u["good"], **DOCKER)
    code, _, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="upd-ecr", credentialArn=u["good"])
    assert code == "InvalidParameterException", code
    code, _, _ = error_of(ecr.update_pull_through_cache_rule, ecrRepositoryPrefix="upd-dh", customRoleArn=u["role_arn"])
    assert code == "InvalidParameterException", code
    for prefix in ("upd-ecr", "upd-dh"):
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)


def test_upstream_logins_per_host(c):
    u = _setup(c)
    ecr = u["ecr"]
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="login-dh", credentialArn=u["other"], **DOCKER)
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="login-cg", upstreamRegistry="chainguard",
                                       upstreamRegistryUrl="cgr.dev", credentialArn=u["other"])
    valid = lambda p: ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=p)  # noqa: E731
    assert valid("login-dh")["isValid"] is False
    assert "test-OtherUpstreamToken" not in json.dumps(valid("login-dh"), default=str)
    c.ctl("POST", "/_ptc/upstream_credentials", {"registry_url": "registry-1.docker.io", "username": "someone",
                                                 "token": "test-OtherUpstreamToken"})
    assert valid("login-dh")["isValid"] is True
    assert valid("login-cg")["isValid"] is False, "a pair is accepted by its own host only"
    state = c.ctl("GET", "/_ptc/upstream_credentials")
    assert state["hosts"]["registry-1.docker.io"] == ["someone"] and "test-Other" not in json.dumps(state)
    ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="login-cg", credentialArn=u["good"])
    assert valid("login-cg")["isValid"] is True, "the default pair is accepted by every host"
    for prefix in ("login-dh", "login-cg"):
        ecr.delete_pull_through_cache_rule(ecrRepositoryPrefix=prefix)


def test_pull_docker_hub_and_ecr_public(c):
    u = _setup(c)
    ecr = u["ecr"]
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", credentialArn=u["good"], **DOCKER)
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistry="ecr-public",
                                       upstreamRegistryUrl="public.ecr.aws")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="dh-bad", credentialArn=u["bad"],
                                       upstreamRegistry="docker-hub", upstreamRegistryUrl="registry-1.docker.io")
    endpoint, auth = login(c, u["creds"], REGION)
    listed = {(i["registry_url"], i["repository"], i["tag"]): i["digest"]
              for i in c.ctl("GET", "/_ptc/upstream_images")["images"]}
    status, headers, _ = manifest(endpoint, auth, "docker-hub/library/nginx", "latest")
    assert status == 200 and headers["docker-content-digest"] == listed[
        ("registry-1.docker.io", "library/nginx", "latest")], status
    status, _, body = manifest(endpoint, auth, "docker-hub/nginx", "latest")
    assert status == 404 and error(body)[0] == "MANIFEST_UNKNOWN", "Docker Hub needs library/ (ECR's user guide)"
    status, _, body = manifest(endpoint, auth, "dh-bad/library/alpine", "3.20")
    assert status == 403 and error(body)[0] == "DENIED", (status, body)
    status, _, _ = manifest(endpoint, auth, "ecr-public/docker/library/busybox", "latest")
    assert status == 200, status
    c.ctl("POST", "/_ptc/upstream_images", {"images": [{"registry_url": "quay.io", "repository": "team/x",
                                                        "tag": "1"}]})
    assert ("quay.io", "team/x", "1") in {(i["registry_url"], i["repository"], i["tag"])
                                          for i in c.ctl("GET", "/_ptc/upstream_images")["images"]}
    seeded = {"github-container-registry": "demo-org/app:1.0", "azure-container-registry": "team/app:1.0",
              "chainguard": "chainguard/static:latest", "k8s": "pause:3.10", "quay": "prometheus/node-exporter:latest"}
    for registry, image in seeded.items():
        secret = {"credentialArn": u["good"]} if registry not in ("k8s", "quay") else {}
        prefix = f"p-{registry[:10]}"
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistry=registry,
                                           upstreamRegistryUrl=KINDS[registry], **secret)
        name, tag = image.split(":")
        status, _, body = manifest(endpoint, auth, f"{prefix}/{name}", tag)
        assert status == 200, (registry, status, body)
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert {"docker-hub/library/nginx", "ecr-public/docker/library/busybox"} <= names, names


def test_pull_central_ecr(c):
    u = _setup(c)
    ecr, down, central = u["ecr"], u["down"], u["central"]
    image = c.ctl("POST", "/_ptc/central_images", {"account": central, "region": REGION,
                                                   "images": [{"repository": "base/app", "tag": "1.0"}]})["images"][0]
    assert image["registry_url"] == u["central_url"]
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="central", upstreamRegistry="ecr",
                                       upstreamRegistryUrl=u["central_url"], customRoleArn=u["role_arn"],
                                       upstreamRepositoryPrefix="base")
    endpoint, auth = login(c, u["creds"], REGION)

    def check(expected_words):
        got = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="central")
        status, headers, body = manifest(endpoint, auth, "central/app", "1.0")
        if expected_words is None:
            assert got["isValid"] is True and status == 200, (got, status, body)
            assert headers["docker-content-digest"] == image["digest"]
        else:
            assert got["isValid"] is False and expected_words in got["failure"], got
            assert status == 403 and expected_words in error(body)[1], (status, body)

    check("does not exist")
    c.ctl("POST", "/_ptc/roles", {"account": down, "name": ROLE, "trust_service": "ec2.amazonaws.com"})
    check("trust policy")
    arn = c.ctl("POST", "/_ptc/roles", {"account": down, "name": ROLE})["arn"]
    assert arn == u["role_arn"], arn
    check("registry policy")
    org_id = c.ctl("GET", "/_ptc/organization")["id"]
    pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage",
            "ecr:GetImageCopyStatus"]
    org_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": pull,
        "Resource": f"arn:aws:ecr:{REGION}:{central}:repository/*",
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}}]}
    wrong_org = json.loads(json.dumps(org_policy))
    wrong_org["Statement"][0]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = "o-nottheorg0"
    base = {"op": "put_registry_policy", "account": central, "region": REGION}
    c.ctl("POST", "/_ptc/mutate", {**base, "policy_text": json.dumps(wrong_org)})
    check("registry policy")
    c.ctl("POST", "/_ptc/mutate", {**base, "policy_text": json.dumps(org_policy)})
    check(None)
    # The layers come through S3 like any imported image's, with their digests.
    for entry in image["blobs"]:
        status, headers, _ = fetch(f"{endpoint}/v2/central/app/blobs/{entry['digest']}", "GET",
                                   {"Authorization": f"Basic {auth}"})
        assert status == 307, status
        status, _, data = fetch(headers["location"])
        assert status == 200 and "sha256:" + hashlib.sha256(data).hexdigest() == entry["digest"], status
    # A repository policy naming the downstream account works too (the user guide's form).
    central_ecr = c.client("ecr", REGION, c.assume(central))
    central_ecr.delete_registry_policy()
    ecr.batch_delete_image(repositoryName="central/app", imageIds=[{"imageTag": "1.0"}])
    check("registry policy")
    central_ecr.set_repository_policy(repositoryName="base/app", policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{down}:root"},
                                                "Action": pull}]}))
    check(None)


TESTS = [test_upstream_credential_rules, test_upstream_logins_per_host, test_pull_docker_hub_and_ecr_public,
         test_pull_central_ecr]
