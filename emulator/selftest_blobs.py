"""Self tests of blobs: tokens' roles against images' visibility, the 307 of a blob to a presigned
S3 URL and what S3 serves or refuses there, GetDownloadUrlForLayer, an image index and its child by
digest, a corrupt layer, redirect_base, S3 faults.

Run by selftest.py (these functions take its Ctx). They use their own registry, prod-b in
us-east-2, with two rules: "gitlab" whose secret holds a Reporter token, "guest" a Guest's.
"""

import hashlib
import json
import re
import subprocess
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from selftest_common import GITLAB, Ctx, error_of, start_server
from selftest_registry import error, login, manifest

REGION = "us-east-2"
APP, WORKER, CLI, MULTI = ("gitlab/demo-group/demo-project/app", "gitlab/demo-group/demo-project/worker",
                           "gitlab/gitlab-org/release-cli", "gitlab/demo-group/demo-project/multi")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPORTER_TOKEN, GUEST_TOKEN = "blob-reporter-token", "blob-guest-token"
ONE_AUTH = ("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
            "parameter or the Authorization header should be specified")
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 307 itself is what the tests look at


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url, method="GET", headers=None):
    """(status, lower-cased headers, body) without following redirects."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def blob(c, name, digest, method="GET", auth=None):
    return fetch(f"{c.blob_endpoint}/v2/{name}/blobs/{digest}", method,
                 {"Authorization": f"Basic {auth or c.blob_auth}"})


def s3_error(body):
    root = ET.fromstring(body)
    return root.findtext("Code"), root.findtext("Message")


def download(c, name, descriptor):
    """The bytes of a blob, through the registry's 307 and S3, with the checks every download gets."""
    status, headers, body = blob(c, name, descriptor["digest"])
    assert (status, body) == (307, b""), (status, body)
    assert headers["docker-content-digest"] == descriptor["digest"], headers
    status, s3_headers, data = fetch(headers["location"])
    assert status == 200 and s3_headers["content-type"] == "application/octet-stream", (status, data[:300])
    assert int(s3_headers["content-length"]) == len(data) == descriptor["size"], s3_headers
    assert s3_headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"', s3_headers
    return data


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptors(doc):
    return [doc["config"]] + doc["layers"]


def upstream_image(c, repository, tag):
    return next(i for i in c.ctl("GET", "/_ptc/upstream_images")["images"]
                if (i["repository"], i["tag"]) == (repository, tag))


def setup_blobs(c):
    c.blob_account = member = c.ids["prod-b"]
    creds = c.blob_creds = c.assume(member)
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": [REPORTER_TOKEN, {"token": GUEST_TOKEN, "access_level": 10}]})
    sm, ecr = c.client("secretsmanager", REGION, creds), c.client("ecr", REGION, creds)
    for prefix, token in (("gitlab", REPORTER_TOKEN), ("guest", GUEST_TOKEN)):
        arn = sm.create_secret(Name=f"ecr-pullthroughcache/blobs-{prefix}",
                               SecretString=json.dumps({"username": "bot", "accessToken": token}))["ARN"]
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, credentialArn=arn, **GITLAB)
    c.blob_endpoint, c.blob_auth = login(c, creds, REGION)
    c.blob_session = c.client("sts", creds=creds).get_caller_identity()["Arn"]


# --- tests -------------------------------------------------------------------------------------
def test_blob_tokens_are_seeded_with_roles(c):
    setup_blobs(c)
    levels = {t["token"]: t["access_level"] for t in c.ctl("GET", "/_ptc/gitlab")["tokens"]}
    assert (levels[REPORTER_TOKEN], levels[GUEST_TOKEN]) == (20, 10), levels
    for bad in ({"tokens": ["x"], "access_level": 11}, {"tokens": [{"token": "x", "access_level": "guest"}]},
                {"tokens": [""]}, {"tokens": "x"}):
        try:
            c.ctl("POST", "/_ptc/valid_tokens", bad)
            raise AssertionError(f"{bad} should fail")
        except AssertionError as e:
            assert "-> 400" in str(e), e
    levels = {t["token"]: t["access_level"] for t in c.ctl("GET", "/_ptc/gitlab")["tokens"]}
    assert "x" not in levels and levels[GUEST_TOKEN] == 10, "a refused request changes nothing"


def test_blob_reporter_pulls_a_private_image_through_s3(c):
    member = c.blob_account
    c.ctl("POST", "/_ptc/calls/reset", {})
    status, headers, body = manifest(c.blob_endpoint, c.blob_auth, APP, "1.0")
    assert status == 200, (status, body)
    doc = json.loads(body)
    assert upstream_image(c, "demo-group/demo-project/app", "1.0")["visibility"] == "private"
    for d in descriptors(doc):
        data = download(c, APP, d)
        assert sha(data) == d["digest"], d
    config = json.loads(download(c, APP, doc["config"]))
    assert (config["architecture"], config["os"]) == ("amd64", "linux"), config
    assert len(doc["layers"]) == 2 and min(x["size"] for x in doc["layers"]) < 10_000 and \
        50_000 <= max(x["size"] for x in doc["layers"]) <= 300_000, doc["layers"]

    layer = doc["layers"][0]
    status, headers, body = blob(c, APP, layer["digest"])
    location = urlsplit(headers["location"])
    assert f"{location.scheme}://{location.netloc}" == c.url, location
    assert location.path == (f"/_s3/prod-{REGION}-starport-layer-bucket/{member}/{APP}/"
                             f"{layer['digest'].split(':')[1]}"), location.path
    query = dict(parse_qsl(location.query))
    assert (query["X-Amz-Algorithm"], query["X-Amz-Expires"], query["X-Amz-SignedHeaders"]) == (
        "AWS4-HMAC-SHA256", "3600", "host"), query
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}/\d{8}/" + REGION + r"/s3/aws4_request", query["X-Amz-Credential"]), query
    assert re.fullmatch(r"\d{8}T\d{6}Z", query["X-Amz-Date"]) and re.fullmatch(r"[a-f0-9]{64}", query["X-Amz-Signature"])
    # HEAD: the same 307 from the registry; S3 answers the object's headers without the bytes.
    status, head_headers, body = blob(c, APP, layer["digest"], "HEAD")
    assert (status, body, head_headers["docker-content-digest"]) == (307, b"", layer["digest"]), head_headers
    status, s3_headers, body = fetch(head_headers["location"], "HEAD")
    assert (status, body, int(s3_headers["content-length"])) == (200, b"", layer["size"]), s3_headers

    calls = [x for x in c.ctl("GET", "/_ptc/calls")["calls"] if x["service"] in ("registry", "s3")]
    gets = [x for x in calls if x["action"] == "GetBlob"]
    assert gets and set(gets[0]) == {"service", "action", "account", "region", "principal", "repository",
                                     "digest", "status"}, gets[0]
    assert (gets[0]["account"], gets[0]["region"], gets[0]["repository"], gets[0]["status"]) == (
        member, REGION, APP, 307), gets[0]
    assert gets[0]["principal"] == f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", gets[0]
    objects = [x for x in calls if x["service"] == "s3"]
    assert {x["action"] for x in objects} == {"GetObject", "HeadObject"}, objects
    assert all(x["authorization"] is False and x["status"] == 200 and x["account"] == member and
               x["region"] == REGION and x["digest"].startswith("sha256:") for x in objects), objects
    assert [x["action"] for x in calls if x["service"] == "registry"].count("HeadBlob") == 1


def test_blob_guest_token_validates_but_pulls_public_images_only(c):
    ecr = c.client("ecr", REGION, c.blob_creds)
    assert ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix="guest")["isValid"] is True
    for name, reference in (("guest/demo-group/demo-project/worker", "2.3"),
                            ("guest/demo-group/demo-project/multi", "1.0")):
        status, _, body = manifest(c.blob_endpoint, c.blob_auth, name, reference)
        upstream_repo = name.split("/", 1)[1]
        assert status == 403 and error(body) == ("DENIED", "authentication to the upstream registry failed: "
                                                 f"registry.gitlab.com denied pull access to {upstream_repo}"), body
        assert GUEST_TOKEN.encode() not in body
        assert error_of(ecr.describe_repositories, repositoryNames=[name])[0] == "RepositoryNotFoundException"
    # A child of a private index, asked for by digest, is just as private.
    child = upstream_image(c, "demo-group/demo-project/multi", "1.0")["manifests"][0]["digest"]
    status, _, body = manifest(c.blob_endpoint, c.blob_auth, "guest/demo-group/demo-project/multi", child)
    assert status == 403 and error(body)[1].endswith("denied pull access to demo-group/demo-project/multi"), body
    # A public image pulls with any active token, blobs included.
    status, _, body = manifest(c.blob_endpoint, c.blob_auth, "guest/gitlab-org/release-cli", "latest")
    assert status == 200, body
    for d in descriptors(json.loads(body)):
        assert sha(download(c, "guest/gitlab-org/release-cli", d)) == d["digest"]


def test_blob_download_needs_get_download_url_for_layer(c):
    member = c.blob_account
    doc = json.loads(manifest(c.blob_endpoint, c.blob_auth, APP, "1.0")[2])
    layer = doc["layers"][0]["digest"]
    repo_arn = f"arn:aws:ecr:{REGION}:{member}:repository/{APP}"
    c.ctl("POST", "/_ptc/identity_policies", {"policies": [
        {"account": member, "role_name": "OrganizationAccountAccessRole",
         "actions": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"]}]})
    try:
        status, _, body = blob(c, APP, layer)
        assert status == 403 and error(body) == ("DENIED", (
            f"User: {c.blob_session} is not authorized to perform: ecr:GetDownloadUrlForLayer on resource: "
            f"{repo_arn} because no identity-based policy allows the ecr:GetDownloadUrlForLayer action")), body
        assert manifest(c.blob_endpoint, c.blob_auth, APP, "1.0")[0] == 200, "the cached manifest still pulls"
        # What the repository does not hold is unknown before any permission is asked.
        for name, digest in ((APP, "sha256:" + "1" * 64), (APP, "not-a-digest"), ("gitlab/none", layer)):
            status, _, body = blob(c, name, digest)
            assert status == 404 and error(body)[0] == "BLOB_UNKNOWN", (name, digest, body)
        # Registry permissions policy scope V2 covers every ECR action: it can grant the download.
        ecr = c.client("ecr", REGION, c.blob_creds)
        ecr.put_registry_policy(policyText=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:GetDownloadUrlForLayer", "Resource": "*"}]}))
        assert blob(c, APP, layer)[0] == 307
        ecr.delete_registry_policy()
    finally:
        c.ctl("POST", "/_ptc/identity_policies", {"policies": []})
    assert blob(c, APP, layer)[0] == 307


def test_s3_refuses_what_s3_refuses(c):
    doc = json.loads(manifest(c.blob_endpoint, c.blob_auth, APP, "1.0")[2])
    location = blob(c, APP, doc["layers"][1]["digest"])[1]["location"]
    base, _, query = location.partition("?")
    params = dict(parse_qsl(query))
    c.ctl("POST", "/_ptc/calls/reset", {})

    # A client that forwards the registry's Authorization header on the redirect.
    status, _, body = fetch(location, headers={"Authorization": f"Basic {c.blob_auth}"})
    assert status == 400 and s3_error(body) == ("InvalidArgument", ONE_AUTH), body
    assert ET.fromstring(body).findtext("ArgumentName") == "Authorization" and c.blob_auth.encode() not in body
    status, _, body = fetch(base, headers={"Authorization": f"Basic {c.blob_auth}"})
    assert (status, s3_error(body)) == (400, ("InvalidArgument", "Unsupported Authorization Type")), body

    tampered = dict(params, **{"X-Amz-Signature": params["X-Amz-Signature"][:-1] +
                               ("0" if params["X-Amz-Signature"][-1] != "0" else "1")})
    status, headers, body = fetch(f"{base}?{urlencode(tampered)}")
    assert status == 403 and s3_error(body) == ("SignatureDoesNotMatch", MISMATCH), body
    assert headers["content-type"] == "application/xml"
    other_key = base[:-64] + doc["layers"][0]["digest"].split(":")[1]  # a signature is for one object
    assert s3_error(fetch(f"{other_key}?{query}")[2])[0] == "SignatureDoesNotMatch"

    signed = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ") - timedelta(hours=2)
    status, _, body = fetch(f"{base}?{urlencode(dict(params, **{'X-Amz-Date': signed.strftime('%Y%m%dT%H%M%SZ')}))}")
    assert status == 403 and s3_error(body) == ("AccessDenied", "Request has expired"), body
    root = ET.fromstring(body)
    assert root.findtext("X-Amz-Expires") == "3600" and root.findtext("Expires") and root.findtext("ServerTime"), body

    without_signature = {k: v for k, v in params.items() if k != "X-Amz-Signature"}
    status, _, body = fetch(f"{base}?{urlencode(without_signature)}")
    assert status == 400 and s3_error(body)[0] == "AuthorizationQueryParametersError", body
    status, _, body = fetch(f"{base}?Signature=abc")
    assert (status, s3_error(body)) == (403, ("AccessDenied", "Query-string authentication requires the Signature, "
                                                              "Expires and AWSAccessKeyId parameters")), body
    assert (fetch(base)[0], s3_error(fetch(base)[2])) == (403, ("AccessDenied", "Access Denied"))
    status, _, body = fetch(f"{base}?{urlencode(dict(params, **{'X-Amz-Expires': 'soon'}))}")
    assert (status, s3_error(body)) == (400, ("AuthorizationQueryParametersError", "X-Amz-Expires should be a number"))
    wrong_bucket = base.replace("-starport-layer-bucket", "-other-bucket")
    assert s3_error(fetch(f"{wrong_bucket}?{query}")[2])[0] == "NoSuchBucket"
    assert fetch(location)[0] == 200, "the untouched URL still works"

    calls = [x for x in c.ctl("GET", "/_ptc/calls")["calls"] if x["service"] == "s3"]
    assert [(x["authorization"], x["status"]) for x in calls[:2]] == [(True, 400), (True, 400)], calls
    assert all(x["authorization"] is False for x in calls[2:]), calls
    assert c.blob_auth not in json.dumps(calls) and params["X-Amz-Signature"] not in json.dumps(calls)


def test_s3_faults(c):
    doc = json.loads(manifest(c.blob_endpoint, c.blob_auth, APP, "1.0")[2])
    location = blob(c, APP, doc["config"]["digest"])[1]["location"]
    for kind, status, code in (("http503", 503, "ServiceUnavailable"), ("throttle", 503, "SlowDown"),
                               ("http500", 500, "InternalError")):
        c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "s3", "action": "GetObject", "kind": kind, "times": 1}]})
        got, _, body = fetch(location)
        assert (got, s3_error(body)[0]) == (status, code), (kind, got, body)
        assert fetch(location)[0] == 200
    c.ctl("POST", "/_ptc/faults", {"rules": []})


def test_blob_index_and_its_child_by_digest(c):
    member = c.blob_account
    listed = upstream_image(c, "demo-group/demo-project/multi", "1.0")
    assert (listed["media_type"], listed["visibility"]) == (OCI_INDEX, "private"), listed
    assert [m["platform"] for m in listed["manifests"]] == ["linux/amd64", "linux/arm64"], listed
    status, headers, body = manifest(c.blob_endpoint, c.blob_auth, MULTI, "1.0")
    assert status == 200 and headers["content-type"] == OCI_INDEX, (status, headers)
    assert headers["docker-content-digest"] == sha(body) == listed["digest"]
    index = json.loads(body)
    assert [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]] == [
        ("linux", "amd64"), ("linux", "arm64")], index
    amd64, arm64 = index["manifests"]
    status, headers, child = manifest(c.blob_endpoint, c.blob_auth, MULTI, arm64["digest"])
    assert status == 200 and headers["content-type"] == OCI_MANIFEST and sha(child) == arm64["digest"], headers
    assert len(child) == arm64["size"]
    repo = next(r for r in c.ctl("GET", "/_ptc/state")["repositories"]
                if (r["account"], r["region"], r["name"]) == (member, REGION, MULTI))
    assert sorted(repo["images"], key=lambda i: i["tag"] or "") == [
        {"tag": None, "digest": arm64["digest"]}, {"tag": "1.0", "digest": listed["digest"]}], repo["images"]
    doc = json.loads(child)
    for d in descriptors(doc):
        assert sha(download(c, MULTI, d)) == d["digest"]
    assert json.loads(download(c, MULTI, doc["config"]))["architecture"] == "arm64"
    assert [b["digest"] for b in listed["manifests"][1]["blobs"]] == [d["digest"] for d in descriptors(doc)]
    # The amd64 child was not pulled: its blobs are not in the repository.
    amd64_config = listed["manifests"][0]["blobs"][0]
    assert amd64_config["kind"] == "config" and amd64["digest"] == listed["manifests"][0]["digest"]
    assert error(blob(c, MULTI, amd64_config["digest"])[2])[0] == "BLOB_UNKNOWN"


def test_blob_corrupt_layer_fails_its_digest(c):
    spec = {"repository": "team/blobs/corrupt", "tag": "1.0", "visibility": "public",
            "layer_sizes": [2_500_000, 4096], "corrupt": True}
    image = c.ctl("POST", "/_ptc/upstream_images", {"images": [spec]})["images"][0]
    assert c.ctl("POST", "/_ptc/upstream_images", {"images": [spec]})["images"][0] == image, "deterministic"
    assert [(b["kind"], b["size"]) for b in image["blobs"]][1:] == [("layer", 2_500_000), ("layer", 4096)], image
    assert (image["visibility"], image["corrupt"]) == ("public", True)
    name = "gitlab/team/blobs/corrupt"
    doc = json.loads(manifest(c.blob_endpoint, c.blob_auth, name, "1.0")[2])
    big, small = doc["layers"]
    assert sha(download(c, name, big)) == big["digest"] and sha(download(c, name, doc["config"])) == doc["config"]["digest"]
    data = download(c, name, small)
    assert len(data) == 4096 and sha(data) != small["digest"], "the smallest layer is served corrupt"
    indexed = c.ctl("POST", "/_ptc/upstream_images", {"images": [
        {"repository": "team/blobs/armv7", "tag": "2", "platforms": ["linux/arm/v7"]}]})["images"][0]
    assert indexed["manifests"][0]["platform"] == "linux/arm/v7" and indexed["visibility"] == "private", indexed
    for bad in ({"visibility": "internal"}, {"platforms": ["linux"]}, {"platforms": []}, {"layer_sizes": [0]},
                {"layer_sizes": []}, {"corrupt": "yes"}):
        try:
            c.ctl("POST", "/_ptc/upstream_images", {"images": [dict(spec, tag="bad", **bad)]})
            raise AssertionError(f"{bad} should fail")
        except AssertionError as e:
            assert "-> 400" in str(e), e
    assert not [i for i in c.ctl("GET", "/_ptc/upstream_images")["images"] if i["tag"] == "bad"]


def test_blob_redirect_base(c):
    digest = json.loads(manifest(c.blob_endpoint, c.blob_auth, APP, "1.0")[2])["config"]["digest"]
    try:
        assert c.ctl("POST", "/_ptc/s3", {"redirect_base": "http://127.0.0.1:9/"}) == {
            "ok": True, "redirect_base": "http://127.0.0.1:9"}
        assert c.ctl("GET", "/_ptc/s3") == {"redirect_base": "http://127.0.0.1:9"}
        location = blob(c, APP, digest)[1]["location"]
        assert location.startswith(f"http://127.0.0.1:9/_s3/prod-{REGION}-starport-layer-bucket/"), location
        # Signed for that host: the same URL on another host does not verify.
        moved = c.url + location[len("http://127.0.0.1:9"):]
        assert s3_error(fetch(moved)[2])[0] == "SignatureDoesNotMatch"
        for bad in ({"redirect_base": "http://example.com"}, {"redirect_base": "ftp://127.0.0.1:9"},
                    {"redirect_base": "http://127.0.0.1:9/path"}, {"redirect_base": 9}, {}):
            try:
                c.ctl("POST", "/_ptc/s3", bad)
                raise AssertionError(f"{bad} should fail")
            except AssertionError as e:
                assert "-> 400" in str(e), e
    finally:
        assert c.ctl("POST", "/_ptc/s3", {"redirect_base": None}) == {"ok": True, "redirect_base": None}
    assert blob(c, APP, digest)[1]["location"].startswith(c.url + "/_s3/")


def test_blob_cli_tokens_are_reporters_and_verbose_logs_hide_signatures(c):
    proc, url = start_server("--seed", "demo", "--valid-token", "cli-token", "--verbose", stderr=subprocess.PIPE,
                             env_extra={"PTC_DEMO_VALID_TOKEN": "demo-token"})
    try:
        v = Ctx(url)
        tokens = {t["token"]: t["access_level"] for t in v.ctl("GET", "/_ptc/gitlab")["tokens"]}
        assert tokens == {"cli-token": 20, "demo-token": 20}, tokens
        # The management account's static keys: no identity policy, an administrator.
        base = {"account": "123456789012", "region": "us-east-1"}
        arn = v.ctl("POST", "/_ptc/mutate", {"op": "create_secret", **base, "name": "ecr-pullthroughcache/cli",
                                             "value": {"username": "u", "accessToken": "cli-token"}})["arn"]
        v.ctl("POST", "/_ptc/mutate", {"op": "create_rule", **base, "prefix": "gitlab", "credential_arn": arn,
                                       "upstream_url": "registry.gitlab.com",
                                       "upstream_registry": "gitlab-container-registry"})
        endpoint, auth = login(v, None, "us-east-1")
        doc = json.loads(manifest(endpoint, auth, APP, "1.0")[2])
        status, headers, _ = fetch(f"{endpoint}/v2/{APP}/blobs/{doc['config']['digest']}",
                                   headers={"Authorization": f"Basic {auth}"})
        assert status == 307 and fetch(headers["location"])[0] == 200, status
        signature = dict(parse_qsl(urlsplit(headers["location"]).query))["X-Amz-Signature"]
    finally:
        proc.terminate()
        _, logs = proc.communicate(timeout=10)
    logs = logs.decode()
    assert "/_s3/" in logs and "X-Amz-Signature=REDACTED" in logs, logs[-2000:]
    for secret in (signature, auth, v.registry_passwords[0], "cli-token"):
        assert secret not in logs, f"{secret[:6]}... leaked into stderr"


TESTS = [test_blob_tokens_are_seeded_with_roles, test_blob_reporter_pulls_a_private_image_through_s3,
         test_blob_guest_token_validates_but_pulls_public_images_only,
         test_blob_download_needs_get_download_url_for_layer, test_s3_refuses_what_s3_refuses, test_s3_faults,
         test_blob_index_and_its_child_by_digest, test_blob_corrupt_layer_fails_its_digest, test_blob_redirect_base,
         test_blob_cli_tokens_are_reporters_and_verbose_logs_hide_signatures]
