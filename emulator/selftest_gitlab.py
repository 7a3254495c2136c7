"""Self tests of the emulator's GitLab (/_gitlab/api/v4): tokens seen by themselves, minted,
listed and revoked by an Owner token, the error codes, group CI/CD variables, and ECR's
validation accepting exactly the tokens GitLab holds active.

Run by selftest.py (these functions take its Ctx). They use their own group and the
management account's registry in us-west-2, so the other tests' state does not matter to them.
"""

import json
import urllib.error
import urllib.request
from datetime import date, timedelta

from selftest_common import GITLAB, Ctx

OWNER = "glpat-owner-selftest"
READER = "glpat-readapi-selftest"
GROUP = {"id": 777, "full_path": "selftest/group"}
REGION = "us-west-2"


def api(c: Ctx, method: str, path: str, token: str | None = OWNER, body=None):
    """(status, parsed body) of a GitLab API call."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["PRIVATE-TOKEN"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(c.url + "/_gitlab/api/v4" + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def seed(c: Ctx) -> None:
    c.ctl("POST", "/_ptc/gitlab", {"groups": [GROUP], "owner_tokens": [OWNER], "tokens_without_api": [READER]})


def validates(c: Ctx, token: str, prefix: str) -> bool:
    """Whether ECR validates a rule whose secret holds `token` (management account, REGION)."""
    sm, ecr = c.client("secretsmanager", REGION), c.client("ecr", REGION)
    arn = sm.create_secret(Name=f"ecr-pullthroughcache/{prefix}",
                           SecretString=json.dumps({"username": "bot", "accessToken": token}))["ARN"]
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, credentialArn=arn, **GITLAB)
    return ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=prefix)["isValid"]


def test_gitlab_a_token_sees_itself_and_wrong_ones_get_401(c: Ctx) -> None:
    seed(c)
    c.ctl("POST", "/_ptc/valid_tokens", {"tokens": ["good"]})
    status, me = api(c, "GET", "/personal_access_tokens/self", token="good")
    assert status == 200 and me["scopes"] == ["read_registry"] and me["active"] is True, me
    assert "token" not in me and me["access_level"] == 10, me
    assert date.fromisoformat(me["expires_at"]) > date.today(), me
    for wrong in ("nope", None):
        status, body = api(c, "GET", "/personal_access_tokens/self", token=wrong)
        assert (status, body) == (401, {"message": "401 Unauthorized"}), (status, body)


def test_gitlab_an_owner_mints_lists_and_revokes_and_ecr_follows(c: Ctx) -> None:
    seed(c)
    path = "/groups/selftest%2Fgroup/access_tokens"
    expires = (date.today() + timedelta(days=300)).isoformat()
    status, minted = api(c, "POST", path, body={"name": "ptc-rollout 2026-11-28", "scopes": ["read_registry"],
                                                "access_level": 10, "expires_at": expires})
    assert status == 201 and minted["token"].startswith("glpat-") and minted["expires_at"] == expires, minted
    status, listed = api(c, "GET", f"/groups/{GROUP['id']}/access_tokens")
    assert status == 200 and [t["name"] for t in listed if t["id"] == minted["id"]] == ["ptc-rollout 2026-11-28"]
    assert all("token" not in t for t in listed), listed
    assert validates(c, minted["token"], "gl-minted") is True
    status, _ = api(c, "DELETE", f"{path}/{minted['id']}")
    assert status == 204, status
    status, got = api(c, "GET", f"{path}/{minted['id']}")
    assert status == 200 and got["revoked"] is True and got["active"] is False, got
    assert api(c, "GET", "/personal_access_tokens/self", token=minted["token"])[0] == 401
    assert c.client("ecr", REGION).validate_pull_through_cache_rule(ecrRepositoryPrefix="gl-minted")["isValid"] is False
    # An expired token is refused as a revoked one is.
    status, other = api(c, "POST", path, body={"name": "x", "scopes": ["read_registry"], "access_level": 10})
    assert status == 201, other
    c.ctl("POST", "/_ptc/gitlab", {"expire": [other["token"]]})
    assert api(c, "GET", "/personal_access_tokens/self", token=other["token"])[0] == 401


def test_gitlab_errors_say_what_is_wrong(c: Ctx) -> None:
    seed(c)
    path = f"/groups/{GROUP['id']}/access_tokens"
    assert api(c, "GET", path, token=READER) == (403, {"message": "403 Forbidden"})
    assert api(c, "GET", "/groups/no-such-group/access_tokens") == (404, {"message": "404 Group Not Found"})
    assert api(c, "DELETE", f"{path}/999999") == (404, {"message": "404 Not Found"})
    too_late = (date.today() + timedelta(days=366)).isoformat()
    status, body = api(c, "POST", path, body={"name": "x", "scopes": ["read_registry"], "expires_at": too_late})
    assert status == 400 and "365 days" in body["message"], (status, body)
    assert api(c, "POST", path, body={"scopes": ["read_registry"]}) == (400, {"error": "name is missing"})
    calls = [x for x in c.ctl("GET", "/_ptc/calls")["calls"] if x["service"] == "gitlab"]
    assert calls and all(OWNER not in json.dumps(x) for x in calls), "the call log never holds a token"


def test_gitlab_group_variables_are_created_and_updated(c: Ctx) -> None:
    seed(c)
    path = f"/groups/{GROUP['id']}/variables"
    status, var = api(c, "POST", path, body={"key": "GITLAB_REGISTRY_TOKEN", "value": "v1", "masked": True,
                                             "protected": True})
    assert status == 201 and var["masked"] is True and var["protected"] is True, var
    assert api(c, "POST", path, body={"key": "GITLAB_REGISTRY_TOKEN", "value": "v2"})[0] == 400
    status, var = api(c, "PUT", f"{path}/GITLAB_REGISTRY_TOKEN", body={"value": "v2"})
    assert status == 200 and var["value"] == "v2" and var["masked"] is True, var
    assert api(c, "GET", f"{path}/GITLAB_REGISTRY_TOKEN")[1]["value"] == "v2"
    assert api(c, "PUT", f"{path}/NOPE", body={"value": "x"}) == (404, {"message": "404 Variable Not Found"})


TESTS = [test_gitlab_a_token_sees_itself_and_wrong_ones_get_401,
         test_gitlab_an_owner_mints_lists_and_revokes_and_ecr_follows,
         test_gitlab_errors_say_what_is_wrong, test_gitlab_group_variables_are_created_and_updated]
