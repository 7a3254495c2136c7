"""A small GitLab for the tests, at /_gitlab/api/v4/ on the emulator: group access tokens
(create, list, get, revoke, and `GET /personal_access_tokens/self`) and group CI/CD variables
(create, read, update), in the shapes of GitLab's REST API v4 (docs.gitlab.com/api/
group_access_tokens, /api/personal_access_tokens, /api/group_level_variables; the bodies and
messages follow GitLab's source: lib/api/resource_access_tokens.rb, lib/api/group_variables.rb,
lib/api/helpers.rb, lib/api/api_guard.rb, app/models/personal_access_token.rb).

Parameters are read as GitLab (Grape) reads them: from the query string and from a JSON or an
`application/x-www-form-urlencoded` body (Rack's nesting: `scopes[]=read_registry`,
`masked=true`, `filter[environment_scope]=prod`), the body winning; booleans, integers, dates
and arrays are coerced, and a value that does not coerce is `400 {"error": "<name> is invalid"}`.
`GET /groups/:id/access_tokens` is paginated by offset (`page`, `per_page`: 20 by default, 100
at most) with GitLab's `Link` (absolute, back to this emulator's Host) and `X-Page`, `X-Per-Page`,
`X-Next-Page`, `X-Prev-Page`, `X-Total`, `X-Total-Pages` headers, and filtered by
`state=active|inactive` and `revoked=true|false`.

ECR's ValidatePullThroughCacheRule and the pull-through registry accept exactly the tokens
this GitLab holds active (not revoked, and before `expires_at`: GitLab expires a token at 00:00
UTC on that date), as GitLab.com's registry does.
The control API's `valid_tokens` seeds such tokens (read_registry, Reporter unless an
`access_level` is given) in the default group. The token's role then decides what it pulls
(doc/user/packages/container_registry, "Container registry visibility permissions"): a Guest
pulls only images of public projects, a Reporter or above private ones too (`may_pull`).

Who is who: `owner_tokens` (control API) are personal access tokens of a group Owner, and
`tokens_without_api` the same Owner's tokens with only `read_api`; tokens minted through the API
and the seeded registry tokens are group access tokens (a bot user's), which GitLab lets list and
revoke tokens but never create one (400 "User does not have permission to create group access
token"). Each group has a tier, `premium` unless the control API says `free` or `ultimate`: on
GitLab.com group access tokens need Premium or Ultimate, and ResourceAccessTokens::CreateService
answers a Free group's Owner with the same 400 as a non-Owner.

Errors as GitLab answers them: 401 `{"message": "401 Unauthorized"}` for a missing or unknown
token, 401 `{"error": "invalid_token", ...}` for an expired or revoked one (never retried by a
careful client: GitLab.com bans an address for 15 minutes after 300 failed logins in one
minute); 403
`{"error": "insufficient_scope", ...}` for a token whose scopes do not allow the call (`read_api`
allows GET only); 404 "404 Group Not Found" for a group the token's user is not in, 401 for a
member below Owner listing tokens, 403 for one touching variables; 404 "404 group Access Token
Not Found", "404 GroupVariable Not Found"; 400 `{"error": "name is missing"}` for parameters
Grape rejects; 400 "400 Bad request - Expires at must be before YYYY-MM-DD" for `expires_at`
beyond 365 days from today (a missing `expires_at` gets that date, as GitLab.com's enforced
expiry does); 409 when `filter[environment_scope]` is needed to tell variables apart.
"""

import json
import math
import re
import secrets as pyrandom
import threading
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote_plus, unquote

from gitlab_params import Answer, Checked, _as_bool, _as_int, _as_string, _as_strings, _params

PREFIX = "/_gitlab/api/v4"
DEFAULT_GROUP = {"id": 4242, "full_path": "demo-group", "name": "demo-group", "tier": "premium"}
TIERS = ("free", "premium", "ultimate")
MAX_LIFETIME_DAYS = 365
# An administrator's lower "maximum allowable lifetime for access tokens" (self-managed), set
# through the control API; GitLab words the refusal the same way.
_max_lifetime = [MAX_LIFETIME_DAYS]
GUEST, REPORTER, MAINTAINER, OWNER = 10, 20, 40, 50
ACCESS_LEVELS = (10, 15, 20, 30, 40, 50)  # Gitlab::Access.options_with_owner (15: Planner)
BOT_SCOPES = ("api", "read_api", "read_repository", "write_repository", "read_registry", "write_registry",
              "create_runner", "manage_runner", "ai_features", "k8s_proxy", "self_rotate",
              "read_virtual_registry", "write_virtual_registry", "read_observability", "write_observability")
VARIABLE_TYPES = ("env_var", "file")
PER_PAGE, MAX_PER_PAGE = 20, 100

_lock = threading.RLock()
_groups: dict[int, dict] = {DEFAULT_GROUP["id"]: dict(DEFAULT_GROUP)}
_tokens: list[dict] = []
_variables: dict[tuple[int, str, str], dict] = {}  # (group id, key, environment_scope)
_next_id = [1000]


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _is_active(t: dict) -> bool:
    # GitLab's Expirable: expired once `expires_at <= Time.current`, so at 00:00 UTC on that date.
    return not t["revoked"] and (t["expires_at"] is None or date.fromisoformat(t["expires_at"]) > _today())


def _public(t: dict) -> dict:
    """A token as `GET /personal_access_tokens/self` shows it (PersonalAccessTokenWithLastUsedIps)."""
    keys = ("id", "name", "revoked", "created_at", "description", "scopes", "user_id", "last_used_at")
    shown = {k: t[k] for k in keys}
    shown.update(active=_is_active(t), expires_at=t["expires_at"], last_used_ips=[])
    return shown


def _resource(t: dict) -> dict:
    """A group access token as the group's API shows it (ResourceAccessToken): never its value."""
    return dict(_public(t), access_level=t["access_level"], resource_type="group", resource_id=t["group_id"])


def add_token(token: str, name: str, scopes, access_level: int, group_id: int | None = None,
              expires_at: str | None = None, bot: bool = True, description: str | None = None) -> dict:
    """Stores a token (the control API's seeding; POST access_tokens)."""
    with _lock:
        _next_id[0] += 1
        t = {
            "id": _next_id[0], "name": name, "revoked": False, "description": description,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "scopes": list(scopes), "user_id": 90000 + _next_id[0], "last_used_at": None,
            "expires_at": expires_at or (_today() + timedelta(days=MAX_LIFETIME_DAYS)).isoformat(),
            "access_level": access_level, "group_id": group_id or DEFAULT_GROUP["id"],
            "token": token, "bot": bot,
        }
        _tokens.append(t)
        return t


def registry_token_entries(tokens, access_level=REPORTER) -> list[tuple[str, int]]:
    """(value, access level) of each entry: a token string, or {"token", "access_level"?} to give
    one token its own role; ValueError for anything else."""
    if isinstance(access_level, bool) or access_level not in ACCESS_LEVELS:
        raise ValueError(f"'access_level' must be one of {', '.join(map(str, ACCESS_LEVELS))}")
    if not isinstance(tokens, list):
        raise ValueError("'tokens' must be a list")
    out = []
    for entry in tokens:
        if isinstance(entry, dict):
            out.extend(registry_token_entries([entry.get("token")], entry.get("access_level", access_level)))
        elif isinstance(entry, (str, int)) and not isinstance(entry, bool) and str(entry):
            out.append((str(entry), access_level))
        else:
            raise ValueError("each token must be a non-empty string or {\"token\", \"access_level\"}")
    return out


def seed_registry_tokens(tokens, access_level=REPORTER) -> None:
    """Makes these the group's active registry tokens (replacing earlier seeded ones)."""
    entries = registry_token_entries(tokens, access_level)  # checked before anything is replaced
    with _lock:
        _tokens[:] = [t for t in _tokens if not t.get("seeded")]
        _add_seeded(entries)


def add_registry_tokens(tokens, access_level=REPORTER) -> None:
    """Adds active registry tokens (read_registry; Reporter unless told) to the default group."""
    _add_seeded(registry_token_entries(tokens, access_level))


def _add_seeded(entries) -> None:
    for value, level in entries:
        add_token(value, "seeded", ["read_registry"], level)["seeded"] = True


def _registry_login(value: str) -> dict | None:
    """The active token GitLab's registry would log in with (read_registry), or None."""
    with _lock:
        return next((dict(t) for t in _tokens
                     if t["token"] == value and _is_active(t) and "read_registry" in t["scopes"]), None)


def is_active_token(value: str) -> bool:
    """Whether GitLab would let this token log in to the registry."""
    return _registry_login(value) is not None


def may_pull(value: str, visibility: str) -> bool:
    """Whether the token's user may pull an image of a project of this visibility: any member
    pulls from a public project, Reporter and above from a private one (a Guest may not)."""
    login = _registry_login(value)
    if login is None:
        return False
    return visibility == "public" or login["access_level"] >= REPORTER


def control(payload: dict) -> dict:
    """POST /_ptc/gitlab: seed groups and API tokens; revoke or age tokens for a scenario."""
    if any(g.get("tier", "premium") not in TIERS for g in payload.get("groups", [])):
        raise ValueError(f"a group's tier must be one of {', '.join(TIERS)}")  # before anything changes
    with _lock:
        for g in payload.get("groups", []):
            _groups[int(g["id"])] = {"id": int(g["id"]), "full_path": g["full_path"], "name": g["full_path"],
                                     "tier": g.get("tier", "premium")}
        known = {t["token"] for t in _tokens}
        for value in payload.get("owner_tokens", []):
            if str(value) not in known:
                add_token(str(value), "owner", ["api"], OWNER, _group_of(payload), bot=False)
        for value in payload.get("maintainer_tokens", []):
            # A member with the api scope but below Owner: may not list or create group tokens.
            if str(value) not in known:
                add_token(str(value), "maintainer", ["api"], MAINTAINER, _group_of(payload), bot=False)
        for value in payload.get("tokens_without_api", []):
            if str(value) not in known:
                add_token(str(value), "reporter", ["read_api"], OWNER, _group_of(payload), bot=False)
        if "max_lifetime_days" in payload:
            _max_lifetime[0] = int(payload["max_lifetime_days"])
        for value in payload.get("expire", []):
            for t in _tokens:
                if t["token"] == value:
                    t["expires_at"] = (_today() - timedelta(days=1)).isoformat()
        # Variables made in the UI before the tool ran (a visible one keeps showing its value).
        for v in payload.get("variables", []):
            var = {"variable_type": "env_var", "key": v["key"], "value": v["value"],
                   "hidden": bool(v.get("hidden", False)), "protected": bool(v.get("protected", False)),
                   "masked": bool(v.get("masked", False) or v.get("hidden", False)),
                   "raw": bool(v.get("raw", False)), "environment_scope": "*", "description": None}
            _variables[(_group_of(payload), var["key"], "*")] = var
        # {"TOKEN": days from today}: a token expiring today (0) is already expired on GitLab.
        for value, days in payload.get("expires_in_days", {}).items():
            for t in _tokens:
                if t["token"] == value:
                    t["expires_at"] = (_today() + timedelta(days=int(days))).isoformat()
        return state()


def _group_of(payload: dict) -> int:
    """The group that seeded API tokens belong to: the first one named, else the default."""
    groups = payload.get("groups") or [DEFAULT_GROUP]
    return int(groups[0]["id"])


def state() -> dict:
    """GET /_ptc/gitlab: what this GitLab holds, for tests (values included: it is a test double)."""
    with _lock:
        return {
            "groups": list(_groups.values()),
            "tokens": [dict(_resource(t), group_id=t["group_id"], token=t["token"]) for t in _tokens],
            "variables": [dict(v, group_id=g) for (g, _, _), v in _variables.items()],
        }


# --- who calls ------------------------------------------------------------------------------
def _invalid_token(description: str) -> Answer:
    return Answer(401, {"error": "invalid_token", "error_description": description},
                  [("WWW-Authenticate", f'Bearer realm="Protected by OAuth 2.0", error="invalid_token", '
                                        f'error_description="{description}"')])


def _caller(environ, params: dict) -> dict:
    value = environ.get("HTTP_PRIVATE_TOKEN") or params.get("private_token") or ""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if not value and auth.startswith("Bearer "):
        value = auth[len("Bearer "):]
    with _lock:
        found = next((t for t in _tokens if value and t["token"] == value), None)
    if found is None:
        raise Answer(401, {"message": "401 Unauthorized"})
    if found["expires_at"] is not None and date.fromisoformat(found["expires_at"]) <= _today():
        raise _invalid_token("Token is expired. You can either do re-authorization or token refresh.")
    if found["revoked"]:
        raise _invalid_token("Token was revoked. You have to re-authorize from the user.")
    return found


def _scope_allows(caller: dict, method: str) -> None:
    """API::API's scopes: `api` for everything, `read_api` for GET and HEAD only."""
    if "api" in caller["scopes"] or ("read_api" in caller["scopes"] and method in ("GET", "HEAD")):
        return
    raise Answer(403, {"error": "insufficient_scope",
                       "error_description": "The request requires higher privileges than provided by the access token.",
                       "scope": "api read_api"})


def _group(raw: str, caller: dict) -> dict:
    """The group, if the caller's user belongs to it (private groups are invisible to others)."""
    key = unquote(raw)
    with _lock:
        g = _groups.get(int(key)) if key.isdigit() else next(
            (g for g in _groups.values() if g["full_path"] == key), None)
    if g is None or caller["group_id"] != g["id"]:
        raise Answer(404, {"message": "404 Group Not Found"})
    return g


def _owner(caller: dict) -> bool:
    return caller["access_level"] >= OWNER


# --- group access tokens --------------------------------------------------------------------
def _create_token(group_raw: str, caller: dict, params: dict) -> tuple[int, dict]:
    c = Checked(params)
    c.take("name", _as_string, required=True)
    c.take("scopes", _as_strings, required=True, values=BOT_SCOPES)
    c.take("expires_at", lambda v: date.fromisoformat(_as_string(v)[:10]))
    c.take("access_level", _as_int, values=ACCESS_LEVELS)
    c.take("description", _as_string)
    body = c.done()
    group = _group(group_raw, caller)
    # GitLab.com: group access tokens need Premium or Ultimate, checked with the Owner role
    # (has_permission_to_create?), so a Free group's Owner hears what a non-Owner hears.
    if caller["bot"] or not _owner(caller) or group["tier"] == "free":
        raise Answer(400, {"message": "400 Bad request - User does not have permission to create group access token"})
    if not body["scopes"]:
        raise Answer(400, {"message": "400 Bad request - Scopes can't be blank"})
    latest = _today() + timedelta(days=_max_lifetime[0])
    day = body.get("expires_at") or latest
    if day > latest:
        raise Answer(400, {"message": f"400 Bad request - Expires at must be before {latest.isoformat()}"})
    value = "glpat-" + pyrandom.token_urlsafe(15)
    t = add_token(value, body["name"], body["scopes"], body.get("access_level", MAINTAINER), group["id"],
                  day.isoformat(), description=body.get("description"))
    return 201, dict(_resource(t), token=value)


def _token_in(group: dict, raw_id: str) -> dict:
    with _lock:
        t = next((t for t in _tokens if str(t["id"]) == raw_id and t["group_id"] == group["id"] and t["bot"]), None)
    if t is None:
        raise Answer(404, {"message": "404 group Access Token Not Found"})
    return t


def _page_url(environ, params: dict, page: int) -> str:
    """GitLab's page_href: this request's URL with every parameter, `page` replaced (Rails to_query)."""
    def pairs(key, value):
        if isinstance(value, list):
            return [f"{quote_plus(key + '[]')}={quote_plus(str(v))}" for v in value] or [f"{quote_plus(key + '[]')}="]
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in pairs(f"{key}[{k}]", v)]
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return [f"{quote_plus(key)}={quote_plus(text)}"]
    merged = dict(params, page=page, per_page=params.get("per_page"))
    query = "&".join(sorted(p for k, v in merged.items() for p in pairs(k, v)))
    scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"{scheme}://{host}{_raw_path(environ)}?{query}"


def _number(value, default: int) -> int:
    """Kaminari reads `page` and `per_page` leniently: what is not a positive number is the default."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else default


def _paginate(environ, params: dict, items: list) -> tuple[list, list]:
    per_page = min(_number(params.get("per_page"), PER_PAGE), MAX_PER_PAGE)
    page = _number(params.get("page"), 1)
    total_pages = max(math.ceil(len(items) / per_page), 1)
    inside = page <= total_pages
    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if page > 1 and inside else None
    links = ([f'<{_page_url(environ, params, prev_page)}>; rel="prev"'] if prev_page else []) + \
            ([f'<{_page_url(environ, params, next_page)}>; rel="next"'] if next_page else []) + \
            [f'<{_page_url(environ, params, 1)}>; rel="first"', f'<{_page_url(environ, params, total_pages)}>; rel="last"']
    headers = [("X-Per-Page", str(per_page)), ("X-Page", str(page)), ("X-Next-Page", str(next_page or "")),
               ("X-Prev-Page", str(prev_page or "")), ("Link", ", ".join(links)),
               ("X-Total", str(len(items))), ("X-Total-Pages", str(total_pages))]
    return items[(page - 1) * per_page:page * per_page], headers


def _list_tokens(environ, group_raw: str, caller: dict, params: dict):
    c = Checked(params)
    c.take("state", _as_string, values=("active", "inactive"))
    c.take("revoked", _as_bool)
    wanted = c.done()
    group = _group(group_raw, caller)
    if not _owner(caller):
        raise Answer(401, {"message": "401 Unauthorized"})
    with _lock:
        # The group's bots' tokens (`resource.bots`), in id order: not its members' personal tokens.
        tokens = sorted((t for t in _tokens if t["group_id"] == group["id"] and t["bot"]), key=lambda t: t["id"])
    if "state" in wanted:
        tokens = [t for t in tokens if _is_active(t) == (wanted["state"] == "active")]
    if "revoked" in wanted:
        tokens = [t for t in tokens if t["revoked"] == wanted["revoked"]]
    page, headers = _paginate(environ, dict(params, id=unquote(group_raw)), tokens)  # route's `id` too
    return 200, [_resource(t) for t in page], headers


def _access_tokens(environ, method: str, rest: list[str], group_raw: str, caller: dict, params: dict):
    """Grape validates parameters before the endpoint looks the group up (find_source)."""
    if not rest and method == "GET":
        return _list_tokens(environ, group_raw, caller, params)
    if not rest and method == "POST":
        return _create_token(group_raw, caller, params)
    group = _group(group_raw, caller)
    if len(rest) == 1 and method == "GET":
        if not _owner(caller):
            raise Answer(401, {"message": "401 Unauthorized"})
        return 200, _resource(_token_in(group, rest[0]))
    if len(rest) == 1 and method == "DELETE":
        t = _token_in(group, rest[0])
        if not _owner(caller):
            raise Answer(400, {"message": f"400 Bad request - {caller['name']} cannot delete {t['name']}"})
        with _lock:
            t["revoked"] = True
        return 204, None
    raise Answer(404, {"error": "404 Not Found"})


# --- group CI/CD variables ------------------------------------------------------------------
def _shown(var: dict) -> dict:
    """Entities::Ci::Variable: a hidden variable's value is never shown."""
    return dict(var, value=None if var["hidden"] else var["value"])


def _variable_params(params: dict, create: bool) -> dict:
    c = Checked(params)
    c.take("key", _as_string, required=create)
    c.take("value", _as_string, required=create)
    for flag in ("protected", "masked", "raw") + (("masked_and_hidden",) if create else ()):
        c.take(flag, _as_bool)
    c.take("variable_type", _as_string, values=VARIABLE_TYPES)
    c.take("environment_scope", _as_string)
    c.take("description", _as_string)
    return c.done()


def _invalid(var: dict, group_id: int, old_key=None) -> None:
    """The model's validations: a masked value's format, one key per environment scope."""
    errors = {}
    pattern = r"\S{8,}" if var["raw"] else r"[a-zA-Z0-9_+=/@:.~-]{8,}"
    if var["masked"] and not re.fullmatch(pattern, var["value"] or ""):
        errors["value"] = ["is invalid"]
    if (group_id, var["key"], var["environment_scope"]) != old_key and \
            (group_id, var["key"], var["environment_scope"]) in _variables:
        errors["key"] = [f"({var['key']}) has already been taken"]
    if errors:
        raise Answer(400, {"message": errors})


def _find_variable(group: dict, key: str, params: dict, use_filter: bool) -> tuple:
    scope = (params.get("filter") or {}).get("environment_scope") if isinstance(params.get("filter"), dict) else None
    found = [k for k in _variables if k[:2] == (group["id"], key) and (not use_filter or scope is None or k[2] == scope)]
    if not found:
        raise Answer(404, {"message": "404 GroupVariable Not Found"})
    if use_filter and len(found) > 1:
        raise Answer(409, {"message": "There are multiple variables with provided parameters. "
                                      "Please use 'filter[environment_scope]'"})
    return found[0]


def _variables_route(method: str, rest: list[str], group: dict, caller: dict, params: dict):
    if not _owner(caller):
        raise Answer(403, {"message": "403 Forbidden"})
    with _lock:
        if not rest and method == "POST":
            body = _variable_params(params, create=True)
            hidden = body.get("masked_and_hidden", False)
            var = {"variable_type": body.get("variable_type", "env_var"), "key": body["key"],
                   "value": body["value"], "hidden": hidden, "protected": body.get("protected", False),
                   "masked": hidden or body.get("masked", False), "raw": body.get("raw", False),
                   "environment_scope": body.get("environment_scope") or "*",
                   "description": body.get("description")}
            _invalid(var, group["id"])
            _variables[(group["id"], var["key"], var["environment_scope"])] = var
            return 201, _shown(var)
        if len(rest) == 1 and method == "GET":
            return 200, _shown(_variables[_find_variable(group, unquote(rest[0]), params, True)])
        if len(rest) == 1 and method == "PUT":
            # GitLab updates the first variable with this key unless `filter` is given; what is
            # not given is kept as it was.
            body = _variable_params(params, create=False)
            old = _find_variable(group, unquote(rest[0]), params, "filter" in params)
            var = dict(_variables[old], **{k: v for k, v in body.items() if k != "key"})
            _invalid(var, group["id"], old)
            del _variables[old]
            _variables[(group["id"], var["key"], var["environment_scope"])] = var
            return 200, _shown(var)
    raise Answer(404, {"error": "404 Not Found"})


# --- routing --------------------------------------------------------------------------------
def _route(environ, method: str, parts: list[str], params: dict):
    caller = _caller(environ, params)
    if parts == ["personal_access_tokens", "self"] and method == "GET":
        return 200, _public(caller)
    if len(parts) < 3 or parts[0] != "groups" or parts[2] not in ("access_tokens", "variables"):
        raise Answer(404, {"error": "404 Not Found"})
    _scope_allows(caller, method)
    if parts[2] == "access_tokens":
        return _access_tokens(environ, method, parts[3:], parts[1], caller, params)
    # GroupVariables looks the group up and authorizes in `before`, ahead of validation.
    return _variables_route(method, parts[3:], _group(parts[1], caller), caller, params)


def _raw_path(environ) -> str:
    # The raw path: a group's full path travels URL-encoded (`my%2Fgroup`), one segment.
    return (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?")[0]


def describe(environ) -> dict:
    """The call log's entry: the API path, never a token."""
    return {"service": "gitlab", "action": f"{environ['REQUEST_METHOD']} {environ['PATH_INFO'][len(PREFIX):]}",
            "account": "", "region": ""}


def handle(environ, start_response, call: dict, raw: bytes):
    raw_path = _raw_path(environ)
    parts = [p for p in raw_path[raw_path.index(PREFIX) + len(PREFIX):].split("/") if p]
    headers: list = []
    try:
        params = _params(environ, raw)
        answer = _route(environ, environ["REQUEST_METHOD"], parts, params)
        status, result = answer[0], answer[1]
        headers = list(answer[2]) if len(answer) > 2 else []
    except Answer as a:
        status, result, headers = a.status, a.body, a.headers
    call["status"] = status
    data = b"" if result is None else json.dumps(result).encode()
    reason = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
              403: "Forbidden", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    base = [("Content-Length", str(len(data)))] + ([("Content-Type", "application/json")] if data else [])
    start_response(f"{status} {reason}", base + headers)
    return [data]
