"""WSGI middleware in front of moto: control API, registry, S3 and GitLab routing, call log,
Region opt-in refusals, the service models' input checks (model_check.py), fault injection."""

import io
import json
import re
import time
from http import HTTPStatus
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.wsgi import get_input_stream

import control
import gitlab
import model_check
import policy_race
import regions
import registry
import s3
from emustate import MANAGEMENT_ACCOUNT_ID, STATE

# X-Amz-Target prefixes of the JSON-protocol services the tool drives.
TARGET_SERVICES = {
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "secretsmanager": "secretsmanager",
    "AWSOrganizationsV20161128": "organizations",
}
# Services whose operation is named by the request path (signing name -> nothing else needed).
REST_JSON_SERVICES = {"account"}
# Regional services whose calls an account's Region opt-in status gates.
OPT_IN_GATED_SERVICES = {"ecr", "secretsmanager"}
UNRECOGNIZED_TOKEN = "The security token included in the request is invalid."
# Same extraction as moto.core.responses.BaseResponse.access_key_regex.
ACCESS_KEY_RE = re.compile(r"AWS.*(?P<access_key>(?<![A-Z0-9])[A-Z0-9]{20}(?![A-Z0-9]))[:/]")
SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")

HANG_DEFAULT_MS = 600_000
# A fault on the registry endpoint answers in the registry API's own terms.
REGISTRY_FAULT_CODES = {
    "Throttling": (429, "TOOMANYREQUESTS"), "ThrottlingException": (429, "TOOMANYREQUESTS"),
    "LimitExceeded": (429, "TOOMANYREQUESTS"), "LimitExceededException": (429, "TOOMANYREQUESTS"),
    "InternalFailure": (500, "UNKNOWN"), "ServiceUnavailable": (503, "UNAVAILABLE"),
    "UnrecognizedClientException": (401, "UNAUTHORIZED"),
}
# ... and on the S3 layer bucket in S3's (ErrorResponses: SlowDown and ServiceUnavailable are
# 503, InternalError 500; credentials S3 does not recognise are InvalidAccessKeyId, 403).
S3_FAULT_CODES = {
    "Throttling": (503, "SlowDown", "Please reduce your request rate."),
    "ThrottlingException": (503, "SlowDown", "Please reduce your request rate."),
    "LimitExceeded": (503, "SlowDown", "Please reduce your request rate."),
    "LimitExceededException": (503, "SlowDown", "Please reduce your request rate."),
    "InternalFailure": (500, "InternalError", "We encountered an internal error. Please try again."),
    "ServiceUnavailable": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "UnrecognizedClientException": (403, "InvalidAccessKeyId",
                                    "The AWS Access Key Id you provided does not exist in our records."),
}


def _account_for(environ) -> str:
    """The account moto will attribute this request to (see BaseResponse.get_current_account)."""
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    match = ACCESS_KEY_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return MANAGEMENT_ACCOUNT_ID  # moto's DEFAULT_ACCOUNT_ID
    # AssumeRole keys are registered in the IAM backend of the role's account.
    from moto.iam.models import get_account_id_from

    return get_account_id_from(match.group("access_key"))


def describe_request(environ, body: bytes) -> dict:
    """Service, action, account and region of an AWS request, as far as they can be told."""
    scope = SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    service = scope.group("service") if scope else None
    region = scope.group("region") if scope else "us-east-1"
    if target:
        prefix, _, action = target.partition(".")
        service = service or TARGET_SERVICES.get(prefix, prefix)
    elif service in REST_JSON_SERVICES:
        # REST-JSON: the operation is the path, e.g. POST /getRegionOptStatus.
        name = environ.get("PATH_INFO", "").strip("/").split("/")[0]
        action = name[:1].upper() + name[1:]
    else:
        # Query protocol (STS): Action is a form field or a query parameter.
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            try:
                params.update(parse_qs(body.decode("utf-8")))
            except UnicodeDecodeError:
                pass
        action = (params.get("Action") or [""])[0]
        extra = {"role_arn": params["RoleArn"][0]} if action == "AssumeRole" and "RoleArn" in params else {}
        return {"service": service or "unknown", "action": action, "account": _account_for(environ),
                "region": region, **extra}
    call = {"service": service or "unknown", "action": action, "account": _account_for(environ),
            "region": region}
    if target:
        # Members sent as "" (how an update clears a setting): tests check none is sent needlessly.
        try:
            sent = json.loads(body or b"{}")
        except ValueError:
            sent = None
        empty = sorted(k for k, v in sent.items() if v == "") if isinstance(sent, dict) else []
        if empty:
            call["empty_members"] = empty
    return call


# --- fault answers ------------------------------------------------------------
def _error(call: dict, status: int, code: str, message: str, sender: bool = True):
    """An error in the protocol of the called service: JSON 1.1 for ECR, Secrets Manager
    and Organizations, REST-JSON for Account Management, the query protocol's XML for
    STS, the distribution spec's JSON errors for the registry endpoint."""
    if call["service"] == "registry":
        status, registry_code = REGISTRY_FAULT_CODES.get(code, (status, "UNKNOWN"))
        return status, [("Content-Type", "application/json")], registry.error_body(registry_code, message)
    if call["service"] == "s3":
        status, s3_code, s3_message = S3_FAULT_CODES.get(code, (status, "InternalError", message))
        return s3.error_response(s3_code, s3_message, status)
    if call["service"] == "sts":
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>{'Sender' if sender else 'Receiver'}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error>"
            "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
        )
        headers = [("Content-Type", "text/xml")]
    else:
        body = json.dumps({"__type": code, "message": message})
        content_type = "application/json" if call["service"] in REST_JSON_SERVICES else "application/x-amz-json-1.1"
        headers = [("Content-Type", content_type), ("x-amzn-errortype", code)]
    headers.append(("x-amzn-RequestId", "c6104cbe-af31-11e0-8154-cbc7ccf896c7"))
    return status, headers, body.encode()


def fault_response(call: dict, fault: dict):
    """(status, headers, body) for an answering fault, or None to forward to moto."""
    kind = fault.get("kind")
    if kind == "latency":
        time.sleep(float(fault.get("latency_ms", 1000)) / 1000.0)
        return None
    if kind == "hang":
        # Park the request without answering; the server stopping releases it.
        STATE.stopping.wait(float(fault.get("latency_ms", HANG_DEFAULT_MS)) / 1000.0)
        return _error(call, 503, "ServiceUnavailable", "Service unavailable", sender=False)
    if kind == "throttle":
        code = "Throttling" if call["service"] == "sts" else "ThrottlingException"
        return _error(call, 400, code, "Rate exceeded")
    if kind == "http500":
        return _error(call, 500, "InternalFailure", "We encountered an internal error. Please try again.", sender=False)
    if kind == "http503":
        return _error(call, 503, "ServiceUnavailable", "Service unavailable", sender=False)
    if kind == "limit_exceeded":
        code = "LimitExceeded" if call["service"] == "sts" else "LimitExceededException"
        return _error(call, 400, code, "The operation did not succeed because it would have exceeded a service limit for your account.")
    if kind == "region_disabled":
        # AWS does not recognise these credentials in this Region (e.g. a token from the global
        # STS endpoint in an opt-in Region): the query protocol's InvalidClientTokenId is a 403,
        # the JSON services' UnrecognizedClientException a 400.
        if call["service"] == "sts":
            return _error(call, 403, "InvalidClientTokenId", UNRECOGNIZED_TOKEN)
        return _error(call, 400, "UnrecognizedClientException", UNRECOGNIZED_TOKEN)
    return None  # unknown kinds are rejected by the control API; be lenient here


def _answer(call: dict, environ, start_response, answer):
    status, headers, payload = answer
    STATE.update_call(call, status=status)
    headers.append(("Content-Length", str(len(payload))))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else payload]


def _region_refusal(call: dict, environ, start_response):
    """A regional call in a Region the account has not opted in to, answered as AWS does; else None."""
    if call["service"] not in OPT_IN_GATED_SERVICES or not regions.refuses(call["account"], call["region"]):
        return None
    return _answer(call, environ, start_response,
                   _error(call, 400, "UnrecognizedClientException", UNRECOGNIZED_TOKEN))


def _model_refusal(call: dict, environ, body: bytes, start_response):
    """A request its service model refuses, answered as AWS's front end does (model_check.py)
    and recorded on the call as `model_refusal`; else None."""
    try:
        refused = model_check.refusal(call, environ, body)
    except Exception as e:  # a bug of the check: shown to the tests (call log), not to the client
        STATE.update_call(call, model_refusal=f"the model check failed: {type(e).__name__}: {e}")
        return None
    if refused is None:
        return None
    status, code, message, extra, logged = refused
    STATE.update_call(call, model_refusal=logged)
    if call["service"] == "sts" or not extra:
        # The query protocol's XML carries the message as text.
        text = escape(message) if call["service"] == "sts" else message
        return _answer(call, environ, start_response, _error(call, status, code, text))
    status, headers, _ = _error(call, status, code, message)
    return _answer(call, environ, start_response,
                   (status, headers, json.dumps({"__type": code, "message": message, **extra}).encode()))


def _bad_gateway(call: dict):
    """A 502 from a gateway in front of the service: GitLab.com's edge answers HTML, AWS's
    front ends the service's own error shape."""
    if call["service"] == "gitlab":
        page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        return 502, [("Content-Type", "text/html")], page
    return _error(call, 502, "BadGateway", "Bad Gateway", sender=False)


def _apply_then(call: dict, environ, start_response, forward):
    """Carries the call out (its effect stays), then answers 502 as if the answer was lost on
    the way back: the client cannot tell whether its write happened."""
    result = forward(environ, lambda status, headers, exc_info=None: (lambda data: None))
    try:
        for _ in result:
            pass
    finally:
        getattr(result, "close", lambda: None)()
    return _answer(call, environ, start_response, _bad_gateway(call))


def _fault(call: dict, environ, start_response, forward):
    """Answers the call with an injected fault, if one fires and answers; None to go on (a
    latency fault has then already waited). `forward` carries the call out, for the faults
    that apply it first."""
    fault = STATE.pick_fault(call["service"], call["action"], call["account"], call["region"])
    if fault is None:
        return None
    STATE.update_call(call, fault=fault["kind"])
    if fault["kind"] == "apply_then_http502":
        return _apply_then(call, environ, start_response, forward)
    if fault["kind"] == "foreign_write":
        return policy_race.carry_out_then_write(call, environ, start_response, forward, fault)
    answer = fault_response(call, fault)
    if answer is None:
        return None
    return _answer(call, environ, start_response, answer)


class PtcMiddleware:
    def __init__(self, moto_app):
        self.moto_app = moto_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_ptc/"):
            return self._control(environ, start_response)
        if path.startswith("/_registry/"):
            return self._registry(environ, start_response)
        if path.startswith(s3.PREFIX):
            return self._s3(environ, start_response)
        if path.startswith(gitlab.PREFIX + "/"):
            return self._gitlab(environ, start_response)
        if path.startswith("/moto-api"):
            return self.moto_app(environ, start_response)  # moto's own dashboard/reset: not AWS calls

        # Buffer the body once so it can be inspected here and re-read by moto.
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False

        call = STATE.record_call(describe_request(environ, body))
        refused = _region_refusal(call, environ, start_response)
        if refused is not None:
            return refused
        refused = _model_refusal(call, environ, body, start_response)
        if refused is not None:
            return refused
        faulted = _fault(call, environ, start_response, self.moto_app)
        if faulted is not None:
            return faulted

        def recording_start_response(status, headers, exc_info=None):
            STATE.update_call(call, status=int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        return self.moto_app(environ, recording_start_response)

    def _registry(self, environ, start_response):
        get_input_stream(environ).read()  # GET and HEAD only: drain whatever was sent
        call = STATE.record_call(registry.describe(environ))
        faulted = _fault(call, environ, start_response, lambda e, sr: registry.handle(e, sr, call))
        if faulted is not None:
            return faulted
        return registry.handle(environ, start_response, call)

    def _s3(self, environ, start_response):
        get_input_stream(environ).read()  # GET and HEAD only: drain whatever was sent
        call = STATE.record_call(s3.describe(environ))
        faulted = _fault(call, environ, start_response, lambda e, sr: _answer(call, e, sr, s3.answer(e)))
        if faulted is not None:
            return faulted
        return _answer(call, environ, start_response, s3.answer(environ))

    def _gitlab(self, environ, start_response):
        raw = get_input_stream(environ).read()
        call = STATE.record_call(gitlab.describe(environ))
        faulted = _fault(call, environ, start_response, lambda e, sr: gitlab.handle(e, sr, call, raw))
        if faulted is not None:
            return faulted
        return gitlab.handle(environ, start_response, call, raw)

    def _control(self, environ, start_response):
        raw = get_input_stream(environ).read()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except ValueError:
            status, result = 400, {"error": "request body must be JSON"}
        else:
            status, result = control.handle(environ["REQUEST_METHOD"], environ["PATH_INFO"], payload)
        body = json.dumps(result, default=str).encode()
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
