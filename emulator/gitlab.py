"""A small GitLab for the tests, at /_gitlab/api/v4/ on the emulator: group access tokens
(create, list, get, revoke, and `GET /personal_access_tokens/self`) and group CI/CD variables
(create, read, update), in the shapes of GitLab's REST API v4 (docs.gitlab.com/api/
group_access_tokens, /api/personal_access_tokens, /api/group_level_variables).

ECR's ValidatePullThroughCacheRule and the pull-through registry accept exactly the tokens
this GitLab holds active (not revoked, not past `expires_at`), as GitLab.com's registry does.
The control API's `valid_tokens` seeds such tokens (read_registry, Guest) in the default group.

Errors as GitLab answers them: 401 for a missing, wrong, revoked or expired token (never
retried by a careful client: GitLab.com bans an address after 30 failed logins in 3
minutes), 403 for a token without the `api` scope or the Owner role, 404 for an unknown group,
token or variable, 400 for missing parameters and for `expires_at` beyond the 365 days allowed.
"""

import json
import secrets as pyrandom
import threading
from datetime import date, datetime, timedelta, timezone
from urllib.parse import unquote

PREFIX = "/_gitlab/api/v4"
DEFAULT_GROUP = {"id": 4242, "full_path": "demo-group", "name": "demo-group"}
MAX_LIFETIME_DAYS = 365
GUEST, OWNER = 10, 50

_lock = threading.RLock()
_groups: dict[int, dict] = {DEFAULT_GROUP["id"]: dict(DEFAULT_GROUP)}
_tokens: list[dict] = []
_variables: dict[tuple[int, str], dict] = {}
_next_id = [1000]


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _is_active(t: dict) -> bool:
    return not t["revoked"] and (t["expires_at"] is None or date.fromisoformat(t["expires_at"]) >= _today())


def _public(t: dict) -> dict:
    """A token as the API shows it: never its secret value."""
    keys = ("id", "name", "revoked", "created_at", "scopes", "user_id", "last_used_at", "expires_at",
            "access_level")
    shown = {k: t[k] for k in keys}
    shown["active"] = _is_active(t)
    return shown


def add_token(token: str, name: str, scopes, access_level: int, group_id: int | None = None,
              expires_at: str | None = None) -> dict:
    """Stores a token (the control API's seeding; POST access_tokens)."""
    with _lock:
        _next_id[0] += 1
        t = {
            "id": _next_id[0], "name": name, "revoked": False,
            "created_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "scopes": list(scopes), "user_id": 90000 + _next_id[0], "last_used_at": None,
            "expires_at": expires_at or (_today() + timedelta(days=MAX_LIFETIME_DAYS)).isoformat(),
            "access_level": access_level, "group_id": group_id or DEFAULT_GROUP["id"],
            "token": token,
        }
        _tokens.append(t)
        return t


def seed_registry_tokens(tokens) -> None:
    """Makes these the group's active registry tokens (replacing earlier seeded ones)."""
    with _lock:
        _tokens[:] = [t for t in _tokens if not t.get("seeded")]
        add_registry_tokens(tokens)


def add_registry_tokens(tokens) -> None:
    """Adds active registry tokens (read_registry, Guest) to the default group."""
    for value in tokens:
        add_token(str(value), "seeded", ["read_registry"], GUEST)["seeded"] = True


def is_active_token(value: str) -> bool:
    """Whether GitLab would let this token log in to the registry."""
    with _lock:
        return any(t["token"] == value and _is_active(t) and "read_registry" in t["scopes"] for t in _tokens)


def control(payload: dict) -> dict:
    """POST /_ptc/gitlab: seed groups and API tokens; revoke or age tokens for a scenario."""
    with _lock:
        for g in payload.get("groups", []):
            _groups[int(g["id"])] = {"id": int(g["id"]), "full_path": g["full_path"], "name": g["full_path"]}
        known = {t["token"] for t in _tokens}
        for value in payload.get("owner_tokens", []):
            if str(value) not in known:
                add_token(str(value), "owner", ["api"], OWNER, _group_of(payload))
        for value in payload.get("tokens_without_api", []):
            if str(value) not in known:
                add_token(str(value), "reporter", ["read_api"], OWNER, _group_of(payload))
        for value in payload.get("expire", []):
            for t in _tokens:
                if t["token"] == value:
                    t["expires_at"] = (_today() - timedelta(days=1)).isoformat()
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
            "tokens": [dict(_public(t), group_id=t["group_id"], token=t["token"]) for t in _tokens],
            "variables": [dict(v, group_id=g) for (g, _), v in _variables.items()],
        }


# --- the REST API ---------------------------------------------------------------------------
class Answer(Exception):
    def __init__(self, status: int, body):
        super().__init__(status)
        self.status, self.body = status, body


def _caller(environ) -> dict:
    value = environ.get("HTTP_PRIVATE_TOKEN") or ""
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    if not value and auth.startswith("Bearer "):
        value = auth[len("Bearer "):]
    with _lock:
        found = next((t for t in _tokens if value and t["token"] == value), None)
    if found is None or not _is_active(found):
        raise Answer(401, {"message": "401 Unauthorized"})
    return found


def _group(raw: str) -> dict:
    key = unquote(raw)
    with _lock:
        g = _groups.get(int(key)) if key.isdigit() else next(
            (g for g in _groups.values() if g["full_path"] == key), None)
    if g is None:
        raise Answer(404, {"message": "404 Group Not Found"})
    return g


def _owner_of(caller: dict, group: dict) -> None:
    if "api" not in caller["scopes"] or caller["access_level"] < OWNER or caller["group_id"] != group["id"]:
        raise Answer(403, {"message": "403 Forbidden"})


def _create_token(group: dict, body: dict) -> tuple[int, dict]:
    for field in ("name", "scopes"):
        if not body.get(field):
            raise Answer(400, {"error": f"{field} is missing"})
    expires_at = body.get("expires_at")
    if expires_at is not None:
        try:
            day = date.fromisoformat(expires_at)
        except ValueError:
            raise Answer(400, {"error": "expires_at is invalid"})
        if day > _today() + timedelta(days=MAX_LIFETIME_DAYS):
            raise Answer(400, {"message": "400 Bad request - Expires at must expire in 365 days"})
    value = "glpat-" + pyrandom.token_urlsafe(15)
    t = add_token(value, body["name"], body["scopes"], int(body.get("access_level", 40)), group["id"], expires_at)
    return 201, dict(_public(t), token=value)


def _token_in(group: dict, raw_id: str) -> dict:
    with _lock:
        t = next((t for t in _tokens if str(t["id"]) == raw_id and t["group_id"] == group["id"]), None)
    if t is None:
        raise Answer(404, {"message": "404 Not Found"})
    return t


def _variable(group: dict, key: str, method: str, body: dict) -> tuple[int, dict]:
    with _lock:
        have = _variables.get((group["id"], key))
        if method == "GET":
            if have is None:
                raise Answer(404, {"message": "404 Variable Not Found"})
            return 200, have
        if method == "PUT":
            if have is None:
                raise Answer(404, {"message": "404 Variable Not Found"})
            for k in ("value", "masked", "protected", "raw", "variable_type", "description"):
                if k in body:
                    have[k] = body[k]
            return 200, have
    raise Answer(405, {"message": "405 Method Not Allowed"})


def _create_variable(group: dict, body: dict) -> tuple[int, dict]:
    key = body.get("key")
    if not key or "value" not in body:
        raise Answer(400, {"error": "key is missing" if not key else "value is missing"})
    with _lock:
        if (group["id"], key) in _variables:
            raise Answer(400, {"message": {"key": [f"({key}) has already been taken"]}})
        var = {"key": key, "value": body["value"], "variable_type": body.get("variable_type", "env_var"),
               "protected": bool(body.get("protected", False)), "masked": bool(body.get("masked", False)),
               "raw": bool(body.get("raw", False)), "environment_scope": "*", "description": None}
        _variables[(group["id"], key)] = var
        return 201, var


def _route(method: str, parts: list[str], environ, body: dict) -> tuple[int, object]:
    caller = _caller(environ)
    if parts == ["personal_access_tokens", "self"] and method == "GET":
        return 200, _public(caller)
    if len(parts) < 3 or parts[0] != "groups":
        raise Answer(404, {"error": "404 Not Found"})
    group = _group(parts[1])
    _owner_of(caller, group)
    kind, rest = parts[2], parts[3:]
    if kind == "access_tokens":
        if not rest and method == "GET":
            with _lock:
                return 200, [_public(t) for t in _tokens if t["group_id"] == group["id"]]
        if not rest and method == "POST":
            return _create_token(group, body)
        if len(rest) == 1 and method == "GET":
            return 200, _public(_token_in(group, rest[0]))
        if len(rest) == 1 and method == "DELETE":
            t = _token_in(group, rest[0])
            with _lock:
                t["revoked"] = True
            return 204, None
    if kind == "variables":
        if not rest and method == "POST":
            return _create_variable(group, body)
        if len(rest) == 1:
            return _variable(group, unquote(rest[0]), method, body)
    raise Answer(404, {"error": "404 Not Found"})


def describe(environ) -> dict:
    """The call log's entry: the API path, never a token."""
    return {"service": "gitlab", "action": f"{environ['REQUEST_METHOD']} {environ['PATH_INFO'][len(PREFIX):]}",
            "account": "", "region": ""}


def handle(environ, start_response, call: dict, raw: bytes):
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        body = None
    # The raw path: a group's full path travels URL-encoded (`my%2Fgroup`), one segment.
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?")[0]
    parts = [p for p in raw_path[raw_path.index(PREFIX) + len(PREFIX):].split("/") if p]
    try:
        if body is None:
            raise Answer(400, {"error": "the body must be a JSON object"})
        status, result = _route(environ["REQUEST_METHOD"], parts, environ, body)
    except Answer as a:
        status, result = a.status, a.body
    call["status"] = status
    data = b"" if result is None else json.dumps(result).encode()
    start_response(f"{status} {'OK' if status < 400 else 'Error'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
