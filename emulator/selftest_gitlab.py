"""Self tests of the emulator's GitLab (/_gitlab/api/v4): tokens seen by themselves, minted,
listed and revoked by an Owner's token, the error codes and bodies, group CI/CD variables,
parameters in form bodies and query strings as well as JSON (Grape reads all three), the token list's
pagination and state filter, and ECR's validation accepting exactly the tokens GitLab holds active.

Run by selftest.py (these functions take its Ctx). They use their own groups and the
management account's registry in us-west-2, so the other tests' state does not matter to them.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

from selftest_common import GITLAB, Ctx, error_of

OWNER = "test-owner-selftest"
READER = "test-readapi-selftest"
GROUP = {"id": 777, "full_path": "selftest/group"}
PAGED_OWNER = "test-owner-paged-selftest"
PAGED = {"id": 778, "full_path": "selftest/paged"}
REGION = "us-west-2"


def today():
    return datetime.now(timezone.utc).date()  # GitLab.com's dates are UTC


def call(c: Ctx, method: str, path: str, token: str | None = OWNER, body=None, form=None):
    """(status, headers, parsed body) of a GitLab API call; `form` is sent URL-encoded, as Rack nests it."""
    headers = {}
    data = None
    if token:
        headers["PRIVATE-TOKEN"] = token
    if body is not None:
        headers["Content-Type"], data = "application/json", json.dumps(body).encode()
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(c.url + "/_gitlab/api/v4" + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, resp.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, e.headers, json.loads(raw) if raw else None


def api(c: Ctx, method: str, path: str, token: str | None = OWNER, body=None, form=None):
    """(status, parsed body) of a GitLab API call."""
    status, _, parsed = call(c, method, path, token, body, form)
    return status, parsed


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
    # PersonalAccessTokenWithLastUsedIps: no value, and no access_level (that is the group list's).
    assert "token" not in me and "access_level" not in me and me["last_used_ips"] == [], me
    assert datetime.fromisoformat(me["expires_at"]).date() > today(), me
    for wrong in ("nope", None):
        status, body = api(c, "GET", "/personal_access_tokens/self", token=wrong)
        assert (status, body) == (401, {"message": "401 Unauthorized"}), (status, body)


def test_gitlab_an_owner_mints_lists_and_revokes_and_ecr_follows(c: Ctx) -> None:
    seed(c)
    path = "/groups/selftest%2Fgroup/access_tokens"
    expires = (today() + timedelta(days=300)).isoformat()
    status, minted = api(c, "POST", path, body={"name": "ptc-rollout 2026-11-28", "scopes": ["read_registry"],
                                                "access_level": 10, "expires_at": expires})
    assert status == 201 and minted["token"].startswith("glpat-") and minted["expires_at"] == expires, minted
    assert (minted["access_level"], minted["resource_type"], minted["resource_id"]) == (10, "group", 777), minted
    status, listed = api(c, "GET", f"/groups/{GROUP['id']}/access_tokens?per_page=100")
    assert status == 200 and [t["name"] for t in listed if t["id"] == minted["id"]] == ["ptc-rollout 2026-11-28"]
    assert all("token" not in t for t in listed) and {"owner", "reporter"}.isdisjoint(t["name"] for t in listed)
    assert validates(c, minted["token"], "gl-minted") is True
    status, _, body = call(c, "DELETE", f"{path}/{minted['id']}")
    assert (status, body) == (204, None), (status, body)
    status, got = api(c, "GET", f"{path}/{minted['id']}")
    assert status == 200 and got["revoked"] is True and got["active"] is False, got
    status, headers, body = call(c, "GET", "/personal_access_tokens/self", token=minted["token"])
    assert status == 401 and body["error"] == "invalid_token" and "revoked" in body["error_description"], body
    assert headers["WWW-Authenticate"].startswith("Bearer "), headers
    assert c.client("ecr", REGION).validate_pull_through_cache_rule(ecrRepositoryPrefix="gl-minted")["isValid"] is False
    # No expires_at: GitLab.com gives the longest lifetime; access_level defaults to Maintainer.
    status, other = api(c, "POST", path, body={"name": "x", "scopes": ["read_registry"]})
    assert status == 201 and other["access_level"] == 40, other
    assert other["expires_at"] == (today() + timedelta(days=365)).isoformat(), other
    c.ctl("POST", "/_ptc/gitlab", {"expire": [other["token"]]})
    status, body = api(c, "GET", "/personal_access_tokens/self", token=other["token"])
    assert status == 401 and body["error_description"].startswith("Token is expired."), body
    # GitLab expires a token at 00:00 UTC on its date: dated tomorrow it works, dated today not.
    c.ctl("POST", "/_ptc/gitlab", {"expires_in_days": {other["token"]: 1}})
    assert api(c, "GET", "/personal_access_tokens/self", token=other["token"])[0] == 200
    c.ctl("POST", "/_ptc/gitlab", {"expires_in_days": {other["token"]: 0}})
    assert api(c, "GET", "/personal_access_tokens/self", token=other["token"])[0] == 401


def test_gitlab_errors_say_what_is_wrong(c: Ctx) -> None:
    seed(c)
    path = f"/groups/{GROUP['id']}/access_tokens"
    assert api(c, "GET", path, token=READER)[0] == 200  # read_api reads
    status, body = api(c, "POST", path, token=READER, body={"name": "x", "scopes": ["read_registry"]})
    assert status == 403 and body["error"] == "insufficient_scope", body
    assert api(c, "GET", "/groups/no-such-group/access_tokens") == (404, {"message": "404 Group Not Found"})
    assert api(c, "GET", "/groups/demo-group/access_tokens") == (404, {"message": "404 Group Not Found"})
    assert api(c, "DELETE", f"{path}/999999") == (404, {"message": "404 group Access Token Not Found"})
    too_late = (today() + timedelta(days=366)).isoformat()
    status, body = api(c, "POST", path, body={"name": "x", "scopes": ["read_registry"], "expires_at": too_late})
    latest = (today() + timedelta(days=365)).isoformat()
    assert (status, body) == (400, {"message": f"400 Bad request - Expires at must be before {latest}"}), body
    assert api(c, "POST", path, body={"scopes": ["read_registry"]}) == (400, {"error": "name is missing"})
    assert api(c, "POST", path, body={"name": "x", "scopes": ["nope"]}) == (
        400, {"error": "scopes does not have a valid value"})
    # A group access token (a bot) may not mint tokens, even with api and Owner.
    status, bot = api(c, "POST", path, body={"name": "bot", "scopes": ["api"], "access_level": 50})
    assert status == 201, bot
    assert api(c, "POST", path, token=bot["token"], body={"name": "y", "scopes": ["read_registry"]}) == (
        400, {"message": "400 Bad request - User does not have permission to create group access token"})
    status, body = api(c, "GET", path, token=minted_registry_token(c))
    assert status == 403 and body["scope"] == "api read_api", body
    calls = [x for x in c.ctl("GET", "/_ptc/calls")["calls"] if x["service"] == "gitlab"]
    assert calls and all(OWNER not in json.dumps(x) for x in calls), "the call log never holds a token"


def minted_registry_token(c: Ctx) -> str:
    status, t = api(c, "POST", f"/groups/{GROUP['id']}/access_tokens", body={"name": "r", "scopes": ["read_registry"]})
    assert status == 201, t
    return t["token"]


def test_gitlab_group_variables_are_created_and_updated(c: Ctx) -> None:
    seed(c)
    path = f"/groups/{GROUP['id']}/variables"
    status, var = api(c, "POST", path, body={"key": "GITLAB_REGISTRY_TOKEN", "value": "test-v1-aaaaaaaa",
                                             "masked": True, "protected": True})
    assert status == 201 and var["masked"] is True and var["protected"] is True and var["hidden"] is False, var
    status, body = api(c, "POST", path, body={"key": "GITLAB_REGISTRY_TOKEN", "value": "test-v2-aaaaaaaa"})
    assert (status, body) == (400, {"message": {"key": ["(GITLAB_REGISTRY_TOKEN) has already been taken"]}})
    status, var = api(c, "PUT", f"{path}/GITLAB_REGISTRY_TOKEN", body={"value": "test-v2-aaaaaaaa"})
    assert status == 200 and var["value"] == "test-v2-aaaaaaaa" and var["masked"] is True, var
    assert var["protected"] is True and var["environment_scope"] == "*", var  # what is not given is kept
    assert api(c, "GET", f"{path}/GITLAB_REGISTRY_TOKEN")[1]["value"] == "test-v2-aaaaaaaa"
    assert api(c, "PUT", f"{path}/NOPE", body={"value": "x"}) == (404, {"message": "404 GroupVariable Not Found"})
    assert api(c, "PUT", f"{path}/GITLAB_REGISTRY_TOKEN", body={"value": "short"}) == (
        400, {"message": {"value": ["is invalid"]}})  # a masked value has 8 characters or more
    # The same key in another environment scope: reading it then needs filter[environment_scope].
    assert api(c, "POST", path, body={"key": "GITLAB_REGISTRY_TOKEN", "value": "p", "environment_scope": "prod"})[0] == 201
    status, body = api(c, "GET", f"{path}/GITLAB_REGISTRY_TOKEN")
    assert status == 409 and "filter[environment_scope]" in body["message"], body
    scoped = f"{path}/GITLAB_REGISTRY_TOKEN?filter%5Benvironment_scope%5D=prod"
    assert api(c, "GET", scoped)[1]["value"] == "p"
    assert api(c, "PUT", scoped, body={"value": "p2"})[1] == api(c, "GET", scoped)[1]
    assert api(c, "GET", scoped)[1]["value"] == "p2" and api(c, "GET", scoped)[1]["environment_scope"] == "prod"
    # masked_and_hidden (GitLab 17.4+): masked too, its value never shown again, still replaceable.
    status, var = api(c, "POST", path, body={"key": "HIDDEN_ONE", "value": "test-h1-aaaaaaaa",
                                             "masked_and_hidden": True, "description": "d"})
    assert status == 201 and var["hidden"] is True and var["masked"] is True and var["value"] is None, var
    status, var = api(c, "PUT", f"{path}/HIDDEN_ONE", body={"value": "test-h2-aaaaaaaa"})
    assert status == 200 and var["value"] is None and var["hidden"] is True and var["description"] == "d", var
    assert api(c, "POST", path, body={"key": "HIDDEN_TWO", "value": "short", "masked_and_hidden": True}) == (
        400, {"message": {"value": ["is invalid"]}})


def test_gitlab_takes_form_bodies_and_query_strings(c: Ctx) -> None:
    seed(c)
    path = f"/groups/{GROUP['id']}/access_tokens"
    expires = (today() + timedelta(days=30)).isoformat()
    form = [("name", "form token"), ("access_level", "10"), ("expires_at", expires),
            ("scopes[]", "read_registry"), ("scopes[]", "read_api")]
    status, t = api(c, "POST", path, form=form)
    assert status == 201 and t["scopes"] == ["read_registry", "read_api"] and t["access_level"] == 10, t
    assert t["expires_at"] == expires and validates(c, t["token"], "gl-form") is True, t
    assert api(c, "POST", path, form=[("name", "x"), ("scopes", "read_registry")]) == (
        400, {"error": "scopes is invalid"})  # an array travels as scopes[]
    assert api(c, "POST", path, form=[("name", "x"), ("scopes[]", "read_registry"), ("access_level", "owner")]) == (
        400, {"error": "access_level is invalid"})
    # Parameters in the query string alone, as with a body.
    status, q = api(c, "POST", f"{path}?name=query+token&scopes%5B%5D=read_registry")
    assert status == 201 and (q["name"], q["scopes"]) == ("query token", ["read_registry"]), q
    vars_path = f"/groups/{GROUP['id']}/variables"
    status, var = api(c, "POST", vars_path, form={"key": "FORM_VAR", "value": "abcdefgh12", "masked": "true",
                                                  "protected": "false", "raw": "1"})
    assert status == 201 and (var["masked"], var["protected"], var["raw"]) == (True, False, True), var
    status, var = api(c, "PUT", f"{vars_path}/FORM_VAR", form={"masked": "false"})
    assert status == 200 and var["masked"] is False and var["value"] == "abcdefgh12" and var["raw"] is True, var
    status, var = api(c, "PUT", f"{vars_path}/FORM_VAR?value=from-query&description=q")
    assert status == 200 and (var["value"], var["description"]) == ("from-query", "q"), var
    assert api(c, "PUT", f"{vars_path}/FORM_VAR", form={"protected": "maybe"}) == (
        400, {"error": "protected is invalid"})
    assert api(c, "GET", f"{vars_path}/FORM_VAR")[1]["value"] == "from-query"  # JSON still works above


def test_gitlab_paginates_and_filters_the_token_list(c: Ctx) -> None:
    c.ctl("POST", "/_ptc/gitlab", {"groups": [PAGED], "owner_tokens": [PAGED_OWNER]})
    path = f"/groups/{PAGED['id']}/access_tokens"
    ids = []
    for i in range(25):
        status, t = api(c, "POST", path, token=PAGED_OWNER, body={"name": f"t{i}", "scopes": ["read_registry"]})
        assert status == 201, t
        ids.append(t["id"])
    seen, base = [], f"{c.url}/_gitlab/api/v4{path}?"
    for page in (1, 2, 3):
        status, headers, body = call(c, "GET", f"{path}?per_page=10&page={page}", token=PAGED_OWNER)
        assert status == 200 and len(body) == (10 if page < 3 else 5), (page, body)
        seen += [t["id"] for t in body]
        assert (headers["X-Page"], headers["X-Per-Page"], headers["X-Total"], headers["X-Total-Pages"]) == (
            str(page), "10", "25", "3"), dict(headers)
        assert headers["X-Next-Page"] == (str(page + 1) if page < 3 else ""), dict(headers)
        assert headers["X-Prev-Page"] == (str(page - 1) if page > 1 else ""), dict(headers)
        links = {part.split("; ")[1]: part.split("; ")[0].strip("<>") for part in headers["Link"].split(", ")}
        assert all(url.startswith(base) for url in links.values()), links
        assert links['rel="first"'] == base + f"id={PAGED['id']}&page=1&per_page=10", links
        assert links['rel="last"'] == base + f"id={PAGED['id']}&page=3&per_page=10", links
        assert ('rel="next"' in links) == (page < 3) and ('rel="prev"' in links) == (page > 1), links
        if page < 3:
            assert links['rel="next"'] == base + f"id={PAGED['id']}&page={page + 1}&per_page=10", links
    assert seen == ids, "pages follow one another in id order, the Owner's own token not among them"
    status, headers, body = call(c, "GET", path, token=PAGED_OWNER)
    assert len(body) == 20 and headers["X-Per-Page"] == "20" and headers["X-Total-Pages"] == "2", dict(headers)
    status, headers, body = call(c, "GET", f"{path}?per_page=500", token=PAGED_OWNER)
    assert len(body) == 25 and headers["X-Per-Page"] == "100" and 'rel="next"' not in headers["Link"]
    # state=active|inactive (GitLab 17.2+): revoked and expired tokens are inactive.
    for token_id in ids[:3]:
        assert api(c, "DELETE", f"{path}/{token_id}", token=PAGED_OWNER)[0] == 204
    status, t = api(c, "POST", path, token=PAGED_OWNER, body={"name": "old", "scopes": ["read_registry"]})
    c.ctl("POST", "/_ptc/gitlab", {"expire": [t["token"]]})
    status, headers, active = call(c, "GET", f"{path}?state=active&per_page=100", token=PAGED_OWNER)
    assert [x["id"] for x in active] == ids[3:] and headers["X-Total"] == "22", active
    assert "state=active" in headers["Link"], headers["Link"]
    inactive = api(c, "GET", f"{path}?state=inactive", token=PAGED_OWNER)[1]
    assert [x["id"] for x in inactive] == ids[:3] + [t["id"]] and not any(x["active"] for x in inactive)
    assert [x["id"] for x in api(c, "GET", f"{path}?revoked=true", token=PAGED_OWNER)[1]] == ids[:3]
    assert api(c, "GET", f"{path}?state=gone", token=PAGED_OWNER) == (
        400, {"error": "state does not have a valid value"})



def test_gitlab_tiers_and_who_may_create_or_list_tokens(c: Ctx) -> None:
    # GitLab.com: group access tokens need Premium or Ultimate; a Free group's Owner is refused
    # as a non-Owner is (ResourceAccessTokens::CreateService's has_permission_to_create?).
    free, premium = {"id": 781, "full_path": "selftest/free", "tier": "free"}, {"id": 782, "full_path": "selftest/premium"}
    c.ctl("POST", "/_ptc/gitlab", {"groups": [free], "owner_tokens": ["test-owner-free-selftest"]})
    c.ctl("POST", "/_ptc/gitlab", {"groups": [premium], "owner_tokens": ["test-owner-premium-selftest"]})
    tiers = {g["id"]: g["tier"] for g in c.ctl("GET", "/_ptc/gitlab")["groups"]}
    assert (tiers[781], tiers[782], tiers[4242]) == ("free", "premium", "premium"), tiers
    body = {"name": "ptc", "scopes": ["read_registry"], "access_level": 20}
    assert api(c, "POST", "/groups/781/access_tokens", token="test-owner-free-selftest", body=body) == (
        400, {"message": "400 Bad request - User does not have permission to create group access token"})
    assert api(c, "GET", "/groups/781/access_tokens", token="test-owner-free-selftest")[0] == 200
    # A member below Owner (a Developer's read_api token) may not list the group's tokens: 401.
    status, developer = api(c, "POST", "/groups/782/access_tokens", token="test-owner-premium-selftest",
                            body={"name": "dev", "scopes": ["read_api"], "access_level": 30})
    assert status == 201, developer
    assert api(c, "GET", "/groups/782/access_tokens", token=developer["token"]) == (401, {"message": "401 Unauthorized"})
    try:
        c.ctl("POST", "/_ptc/gitlab", {"groups": [dict(free, tier="gold")]})
        raise AssertionError("an unknown tier should fail")
    except AssertionError as e:
        assert "-> 400" in str(e), e
    assert {g["id"]: g["tier"] for g in c.ctl("GET", "/_ptc/gitlab")["groups"]}[781] == "free"

def test_faults_apply_then_http502_and_skip(c: Ctx) -> None:
    """`apply_then_http502` carries a write out and answers 502 (GitLab's edge: HTML; AWS: its
    error shape); `skip` lets the first matching calls through."""
    seed(c)
    path = f"/groups/{GROUP['id']}/variables"
    key = "APPLIED_THEN_502"
    assert api(c, "POST", path, body={"key": key, "value": "test-before-aaaa", "masked": True})[0] == 201
    put = f"PUT {path}/{key}"
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "gitlab", "action": put, "kind": "apply_then_http502",
                                              "times": 1}]})
    req = urllib.request.Request(c.url + "/_gitlab/api/v4" + path + "/" + key, method="PUT",
                                 data=json.dumps({"value": "test-after-aaaaa"}).encode(),
                                 headers={"PRIVATE-TOKEN": OWNER, "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30)
        raise AssertionError("the answer should be a 502")
    except urllib.error.HTTPError as e:
        assert e.code == 502 and e.headers["Content-Type"] == "text/html", (e.code, e.headers)
        assert b"502 Bad Gateway" in e.read()
    assert api(c, "GET", f"{path}/{key}")[1]["value"] == "test-after-aaaaa", "the write was applied"
    last = [x for x in c.ctl("GET", "/_ptc/calls")["calls"] if x["action"] == put][-1]
    assert (last["status"], last["fault"]) == (502, "apply_then_http502"), last
    assert api(c, "PUT", f"{path}/{key}", body={"value": "test-again-aaaa"})[0] == 200, "times: 1"
    # skip: the first matching read passes, the next one fails, then the rule is spent.
    get = f"GET {path}/{key}"
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "gitlab", "action": get, "kind": "http503",
                                              "skip": 1, "times": 1}]})
    assert [api(c, "GET", f"{path}/{key}")[0] for _ in range(3)] == [200, 503, 200]
    # On an AWS service: the secret exists although CreateSecret answered 502.
    c.ctl("POST", "/_ptc/faults", {"rules": [{"service": "secretsmanager", "action": "CreateSecret",
                                              "kind": "apply_then_http502", "times": 1}]})
    sm = c.client("secretsmanager", REGION)
    name = "ecr-pullthroughcache/applied-then-502"
    code, status, _ = error_of(sm.create_secret, Name=name, SecretString="x")
    assert (code, status) == ("BadGateway", 502), (code, status)
    assert sm.describe_secret(SecretId=name)["Name"] == name
    c.ctl("POST", "/_ptc/faults", {"rules": []})
    for bad in ({"kind": "http503", "skip": -1}, {"kind": "http503", "skip": "1"}):
        try:
            c.ctl("POST", "/_ptc/faults", {"rules": [bad]})
            raise AssertionError(f"{bad} should be refused")
        except AssertionError as e:
            assert "-> 400" in str(e), e


TESTS = [test_gitlab_a_token_sees_itself_and_wrong_ones_get_401,
         test_gitlab_an_owner_mints_lists_and_revokes_and_ecr_follows,
         test_gitlab_errors_say_what_is_wrong, test_gitlab_group_variables_are_created_and_updated,
         test_gitlab_takes_form_bodies_and_query_strings, test_gitlab_paginates_and_filters_the_token_list,
         test_gitlab_tiers_and_who_may_create_or_list_tokens, test_faults_apply_then_http502_and_skip]
