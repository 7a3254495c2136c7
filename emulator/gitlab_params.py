"""GitLab's REST API parameters as Grape reads them, for gitlab.py: the query string and a JSON or
form body (Rack's nested `a[]=x`, `a[b]=x`), coerced values, and every error gathered into one 400.
"""

import json
import re
from urllib.parse import parse_qsl


class Answer(Exception):
    def __init__(self, status: int, body, headers=()):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, list(headers)


def _nested(pairs) -> dict:
    """Rack's nested parameters: `a[]=x&a[]=y` is a list, `a[b]=x` a hash, `a=x` a string."""
    out: dict = {}
    for key, value in pairs:
        m = re.fullmatch(r"([^\[\]]+)\[([^\[\]]*)\]", key)
        if m is None:
            out[key] = value
        elif m.group(2) == "":
            have = out.get(m.group(1))
            out[m.group(1)] = (have if isinstance(have, list) else []) + [value]
        else:
            have = out.get(m.group(1))
            out[m.group(1)] = dict(have if isinstance(have, dict) else {}, **{m.group(2): value})
    return out


def _params(environ, raw: bytes) -> dict:
    """The query string's parameters, overridden by the body's (JSON or form)."""
    params = _nested(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if not raw.strip():
        return params
    if ctype == "application/x-www-form-urlencoded":
        params.update(_nested(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    elif ctype in ("application/json", "") or ctype.endswith("+json"):
        try:
            body = json.loads(raw)
        except ValueError:
            raise Answer(400, {"error": "message body does not match declared format"})
        if isinstance(body, dict):
            params.update(body)
    return params


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _as_string(v):
    if isinstance(v, (list, dict)):
        raise TypeError
    return str(v).lower() if isinstance(v, bool) else str(v)


def _as_bool(v):
    if isinstance(v, bool):
        return v
    if str(v).lower() not in _TRUE | _FALSE:
        raise ValueError
    return str(v).lower() in _TRUE


def _as_int(v):
    if isinstance(v, bool) or not re.fullmatch(r"[+-]?\d+", str(v).strip()):
        raise ValueError
    return int(v)


def _as_strings(v):
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise TypeError
    return v


class Checked:
    """Grape's declared parameters: coerced values, with every error gathered into one 400."""

    def __init__(self, params: dict):
        self.params, self.values, self.errors = params, {}, []

    def take(self, name, coerce, required=False, values=None):
        if self.params.get(name) is None:
            if required:
                self.errors.append(f"{name} is missing")
            return
        try:
            value = coerce(self.params[name])
        except (TypeError, ValueError):
            self.errors.append(f"{name} is invalid")
            return
        if values is not None and not set(value if isinstance(value, list) else [value]) <= set(values):
            self.errors.append(f"{name} does not have a valid value")
            return
        self.values[name] = value

    def done(self) -> dict:
        if self.errors:
            raise Answer(400, {"error": ", ".join(self.errors)})
        return self.values
