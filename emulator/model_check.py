"""Every AWS request checked against its operation's input shape in the botocore service
models installed with moto, as AWS's front ends check it before the service sees it:
required members, string and list lengths, patterns, enums, integer ranges, nested
structures, lists and maps. The rules come from AWS's models, not from us.

A refusal answers in the service's protocol and AWS's wording ("1 validation error
detected: Value 'X' at 'member' failed to satisfy constraint: Member must ...", several
joined by "; "), with the code the service answers for invalid input:
- STS: ValidationError (query protocol XML).
- Organizations: InvalidInputException with a Reason (the model's InvalidInputException
  documents INPUT_REQUIRED, INVALID_PATTERN, MIN/MAX_LENGTH_EXCEEDED, MIN/MAX_VALUE_EXCEEDED,
  INVALID_ENUM ... and the message "You provided a value that does not match the required
  pattern." that AWS answers, e.g. boto/boto3#4565).
- ECR: ValidationException where the operation's model lists it (the pull through cache
  and template operations); InvalidParameterException with ECR's wording "Invalid
  parameter at 'repositoryName' failed to satisfy constraint: '...'" for the older
  operations that do not (aws-actions/amazon-ecr-login#225, aws/aws-dotnet-deploy#549), and
  for repository prefixes, which ECR checks as repository names (ptc.py, templates.py; the
  conformance scenario "limits: create, prefix in upper case").
- Account: ValidationException with reason fieldValidationFailed and a fieldList (the
  model's ValidationException shape; regions.py).
- Secrets Manager, KMS: the unmodelled ValidationException (aws-sdk-js-v3#1215 shows
  `com.amazon.AWSMimirService#ValidationException` from GetSecretValue).
Values of members the model marks sensitive (secret strings, KMS plaintext) are never
written into a message: "Value at 'secretString' ...", as AWS does.
"""

import functools
import json
import re
from urllib.parse import parse_qs, unquote

import botocore.session
import regex

SERVICES = ("organizations", "sts", "secretsmanager", "kms", "ecr", "account")
# Members ECR validates as repository names, answering its own InvalidParameterException.
ECR_REPOSITORY_PREFIX_MEMBERS = {"ecrRepositoryPrefix", "prefix", "ecrRepositoryPrefixes", "prefixes"}
ORGANIZATIONS_REASONS = {  # the model's InvalidInputExceptionReason, by constraint
    "required": ("INPUT_REQUIRED", "You must provide a value for all required parameters."),
    "min_length": ("MIN_LENGTH_EXCEEDED", "You provided a string parameter that is shorter than allowed."),
    "max_length": ("MAX_LENGTH_EXCEEDED", "You provided a string parameter that is longer than allowed."),
    "pattern": ("INVALID_PATTERN", "You provided a value that does not match the required pattern."),
    "enum": ("INVALID_ENUM", "You specified an invalid value."),
    "min_value": ("MIN_VALUE_EXCEEDED", "You provided a numeric parameter that has a smaller value than allowed."),
    "max_value": ("MAX_VALUE_EXCEEDED", "You provided a numeric parameter that has a larger value than allowed."),
}

_MODELS: dict = {}
_PATTERNS: dict = {}


@functools.cache
def _loader():
    return botocore.session.get_session().get_component("data_loader")


@functools.cache
def read_model(service: str) -> dict:
    """A service's botocore model (gzipped in botocore: the loader reads it), read once; also
    for tests/model_rules.py and scripts/model-table.py."""
    return _loader().load_service_model(service, "service-2")


def load() -> None:
    """Loads the six models once, at start."""
    for name in SERVICES:
        _MODELS[name] = read_model(name)


def _model(service: str):
    if not _MODELS:
        load()
    return _MODELS.get(service)


def compiled_pattern(text: str):
    """A model's pattern, compiled to be matched with `fullmatch` (also for tests/model_rules.py)."""
    # The models' patterns are Java regexes matched against the whole value: `regex` knows
    # \p{L} and friends (Unicode, as in Java); Java's \w \d \s and their negations are ASCII
    # (no UNICODE_CHARACTER_CLASS), `regex`'s Unicode, so they are spelled out.
    compiled = _PATTERNS.get(text)
    if compiled is None:
        compiled = _PATTERNS[text] = regex.compile(_java_classes(text), regex.V0)
    return compiled


# Java's sets for \w, \d and \s (java.util.regex.Pattern); \W, \D and \S are their complements.
_ASCII_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}


def _java_classes(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            chars = _ASCII_CLASSES.get(nxt.lower())
            if chars is None:
                out.append(text[i:i + 2])
            else:
                out.append(f"[^{chars}]" if nxt.isupper() else f"[{chars}]")
            i += 2
        elif ch == "[":
            i, translated = _java_class(text, i)
            out.append(translated)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _java_class(text: str, start: int):
    r"""The bracketed class opening at `start`: (the index after it, its translation). A \W, \D
    or \S inside it cannot be written as ASCII ranges in a V0 class, so such a class becomes a
    group: [a\W] is [a] or [^word]; [^a\W] is not [a] and [word]."""
    i = start + 1
    negated = text.startswith("^", i)
    i += negated
    own, outside = [], []  # the class's own characters; the sets a \W, \D or \S is outside of
    first = True
    while i < len(text) and (text[i] != "]" or first):
        first = False
        if text[i] == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            chars = _ASCII_CLASSES.get(nxt.lower())
            if chars is None:
                own.append(text[i:i + 2])
            else:
                (outside if nxt.isupper() else own).append(chars)
            i += 2
        else:
            own.append(text[i])
            i += 1
    if i >= len(text):
        return len(text), text[start:]  # not closed: `regex` says so
    own_set = "".join(own)
    if not outside:
        return i + 1, f"[{'^' if negated else ''}{own_set}]"
    if not negated:
        either = ([f"[{own_set}]"] if own else []) + [f"[^{chars}]" for chars in outside]
        return i + 1, f"(?:{'|'.join(either)})"
    ahead = (f"(?![{own_set}])" if own else "") + "".join(f"(?=[{chars}])" for chars in outside[1:])
    return i + 1, f"(?:{ahead}[{outside[0]}])"


class Violation:
    def __init__(self, path: str, value, shown: bool, constraint: str, kind: str):
        self.path, self.value, self.shown, self.constraint, self.kind = path, value, shown, constraint, kind
        self.member = ""  # the top-level member, as the model spells it (Account's fieldList)

    def text(self) -> str:
        if self.value is None and self.kind == "required":
            value = "Value null"
        elif not self.shown:
            value = "Value"
        else:
            value = f"Value '{_java_str(self.value)}'"
        return f"{value} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def _java_str(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


# --- validation ----------------------------------------------------------------------
def _check(shapes: dict, shape_name: str, value, path: str, out: list, hide: bool = False) -> None:
    shape = shapes[shape_name]
    kind = shape.get("type")
    hide = hide or bool(shape.get("sensitive"))
    shown = not hide
    if kind == "structure":
        if not isinstance(value, dict):
            return
        for member in shape.get("required", []):
            if value.get(member) is None:
                out.append(Violation(_join(path, member), None, True, "Member must not be null", "required"))
        for member, ref in shape.get("members", {}).items():
            if value.get(member) is not None:
                _check(shapes, ref["shape"], value[member], _join(path, member), out, hide)
    elif kind == "list":
        if not isinstance(value, list):
            return
        _bounds(shape, len(value), path, value, shown, out)
        member = shapes[shape["member"]["shape"]]
        if member.get("type") in ("structure", "list", "map"):
            for i, item in enumerate(value, 1):
                _check(shapes, shape["member"]["shape"], item, f"{path}.{i}.member", out, hide)
        else:
            # A list of scalars: AWS names the list and nests the members' constraints.
            inner: list = []
            for item in value:
                _check(shapes, shape["member"]["shape"], item, path, inner, hide)
            if inner:
                seen = list(dict.fromkeys(v.constraint for v in inner))
                out.append(Violation(path, value, shown and all(v.shown for v in inner),
                                     f"Member must satisfy constraint: [{', '.join(seen)}]", inner[0].kind))
    elif kind == "map":
        if not isinstance(value, dict):
            return
        _bounds(shape, len(value), path, value, shown, out)
        for key, item in value.items():
            _check(shapes, shape["key"]["shape"], key, f"{path}.key", out, hide)
            _check(shapes, shape["value"]["shape"], item, f"{path}.{key}", out, hide)
    elif kind == "string":
        if not isinstance(value, str):
            return
        _bounds(shape, len(value), path, value, shown, out)
        if "pattern" in shape and not compiled_pattern(shape["pattern"]).fullmatch(value):
            out.append(Violation(path, value, shown,
                                 f"Member must satisfy regular expression pattern: {shape['pattern']}", "pattern"))
        if "enum" in shape and value not in shape["enum"]:
            out.append(Violation(path, value, shown,
                                 f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]", "enum"))
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return
        _bounds(shape, value, path, value, shown, out, "value")


def _bounds(shape: dict, n: int, path: str, value, shown: bool, out: list, what: str = "length") -> None:
    """The model's min and max, on a length (`what` "length") or on a number ("value")."""
    if "min" in shape and n < shape["min"]:
        out.append(Violation(path, value, shown,
                             f"Member must have {what} greater than or equal to {shape['min']}", f"min_{what}"))
    if "max" in shape and n > shape["max"]:
        out.append(Violation(path, value, shown,
                             f"Member must have {what} less than or equal to {shape['max']}", f"max_{what}"))


def _join(path: str, member: str) -> str:
    name = _lower_first(member)
    return f"{path}.{name}" if path else name


# --- parsing each protocol -----------------------------------------------------------
def _query_value(shapes: dict, shape_name: str, params: dict, prefix: str):
    """The query protocol's flat `A.B.member.1.C` fields, rebuilt as the shape's value."""
    shape = shapes[shape_name]
    kind = shape.get("type")
    if kind == "structure":
        out = {}
        for member, ref in shape.get("members", {}).items():
            name = ref.get("locationName", member)
            sub = _query_value(shapes, ref["shape"], params, f"{prefix}.{name}" if prefix else name)
            if sub is not None:
                out[member] = sub
        return out if out or not prefix else None
    if kind == "list":
        item_name = shape["member"].get("locationName", "member")
        base = f"{prefix}.{item_name}." if not shape.get("flattened") else f"{prefix}."
        indices = sorted({int(m.group(1)) for k in params
                          for m in [re.match(re.escape(base) + r"(\d+)(?:\.|$)", k)] if m})
        if not indices:
            return [] if prefix in params else None  # `Name=` is an empty list
        return [_query_value(shapes, shape["member"]["shape"], params, f"{base}{i}") for i in indices]
    if kind == "map":
        base = f"{prefix}.entry."
        indices = sorted({int(m.group(1)) for k in params
                          for m in [re.match(re.escape(base) + r"(\d+)\.", k)] if m})
        if not indices:
            return None
        return {params.get(f"{base}{i}.key", ""): _query_value(shapes, shape["value"]["shape"], params, f"{base}{i}.value")
                for i in indices}
    raw = params.get(prefix)
    if raw is None:
        return None
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def _rest_operation(model: dict, method: str, path: str):
    for name, op in model["operations"].items():
        http = op.get("http", {})
        uri = http.get("requestUri", "/").split("?")[0]
        if http.get("method") != method:
            continue
        regex_uri = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(uri).replace(r"\+", "")) + "/?$"
        match = re.match(regex_uri, path)
        if match:
            labels = re.findall(r"\{([^}+]+)\+?\}", uri)
            return name, dict(zip(labels, (unquote(g) for g in match.groups())))
    return None, {}


def request_input(call: dict, environ, body: bytes):
    """(operation name, the input as the shape's value) of an AWS request, or (None, None)."""
    model = _model(call["service"])
    if model is None:
        return None, None
    protocol = model["metadata"]["protocol"]
    if protocol == "query":
        params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            try:
                params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
            except UnicodeDecodeError:
                return None, None
        op = model["operations"].get(params.get("Action", ""))
        if op is None or "input" not in op:
            return None, None
        return op["name"], _query_value(model["shapes"], op["input"]["shape"], params, "") or {}
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        return None, None  # not JSON: the service's own SerializationException, not ours
    if protocol == "rest-json":
        name, labels = _rest_operation(model, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        op = model["operations"].get(name or "")
        if op is None or "input" not in op or not isinstance(payload, dict):
            return None, None
        members = model["shapes"][op["input"]["shape"]].get("members", {})
        query = parse_qs(environ.get("QUERY_STRING", ""))
        for member, ref in members.items():
            where, key = ref.get("location"), ref.get("locationName", member)
            if where == "uri" and key in labels:
                payload[member] = labels[key]
            elif where == "querystring" and key in query:
                payload[member] = query[key][0]
            elif where == "header":
                header = environ.get("HTTP_" + key.upper().replace("-", "_"))
                if header is not None:
                    payload[member] = header
        return name, payload
    op = model["operations"].get(call["action"])
    if op is None or "input" not in op:
        return None, None
    return op["name"], payload


# --- the answer ----------------------------------------------------------------------
def refusal(call: dict, environ, body: bytes):
    """(status, code, message answered, extra JSON fields, message for the call log) when the
    request breaks its model, else None."""
    name, value = request_input(call, environ, body)
    if name is None or not isinstance(value, dict):
        return None
    model = _model(call["service"])
    op = model["operations"][name]
    violations: list = []
    input_shape = model["shapes"][op["input"]["shape"]]
    for member in input_shape.get("required", []):
        if value.get(member) is None:
            violations.append(Violation(_lower_first(member), None, True, "Member must not be null", "required"))
            violations[-1].member = member
    for member, ref in input_shape.get("members", {}).items():
        if value.get(member) is not None:
            found: list = []
            _check(model["shapes"], ref["shape"], value[member], _lower_first(member), found)
            for v in found:
                v.member = member
            violations += found
    if not violations:
        return None
    count = len(violations)
    detail = "; ".join(v.text() for v in violations)
    message = f"{count} validation error{'s' if count > 1 else ''} detected: {detail}"
    service = call["service"]
    if service == "sts":
        return 400, "ValidationError", message, {}, message
    if service == "organizations":
        reason, text = ORGANIZATIONS_REASONS[violations[0].kind]
        return 400, "InvalidInputException", text, {"Reason": reason}, f"{text} ({message})"
    if service == "account":
        fields = [{"name": v.member, "message": v.text()} for v in violations]
        return 400, "ValidationException", message, {"reason": "fieldValidationFailed", "fieldList": fields}, message
    if service == "ecr":
        lists_validation = any(e["shape"] == "ValidationException" for e in op.get("errors", []))
        prefix = violations[0].member in ECR_REPOSITORY_PREFIX_MEMBERS
        if prefix or not lists_validation:
            first = violations[0]
            text = f"Invalid parameter at '{first.path}' failed to satisfy constraint: '{first.constraint}'"
            return 400, "InvalidParameterException", text, {}, f"{text} ({message})"
    return 400, "ValidationException", message, {}, message


load()  # at start: the server imports this module (through middleware.py) before serving
