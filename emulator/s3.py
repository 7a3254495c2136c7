"""The S3 side of an ECR layer download, under /_s3/ on the emulator's port.

ECR answers a blob request with a 307 to a presigned S3 URL in its layer bucket,
prod-<region>-starport-layer-bucket (blobs.py mints it with `presign`). Here that URL is
http://<host>/_s3/<bucket>/<account>/<repository>/<digest hex>?X-Amz-Algorithm=AWS4-HMAC-SHA256&..,
signed with Signature Version 4 for query strings (SignedHeaders=host, UNSIGNED-PAYLOAD) by a
secret key made per process, so only URLs this process minted verify.

What GET (and HEAD) of such a URL answers, in this order, as S3 words it (XML
<Error><Code>..</Code><Message>..</Message>..</Error>):

1. An Authorization header: 400 InvalidArgument "Only one auth mechanism allowed; only the
   X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header
   should be specified" (with query parameters; without them "Unsupported Authorization Type").
   S3 echoes the header in ArgumentValue; here it is left out: it may hold a registry password.
2. Some but not all X-Amz-* parameters: 400 AuthorizationQueryParametersError; some but not all
   of the older Signature/Expires/AWSAccessKeyId: 403 AccessDenied "Query-string authentication
   requires the Signature, Expires and AWSAccessKeyId parameters"; none: 403 AccessDenied
   "Access Denied" (the bucket is private). Then malformed X-Amz-* values: 400
   AuthorizationQueryParametersError.
3. Another bucket than a layer bucket: 404 NoSuchBucket.
4. Past X-Amz-Date + X-Amz-Expires: 403 AccessDenied "Request has expired" (before the
   signature, as S3 does: an altered X-Amz-Date still reads as expired).
5. Another access key: 403 InvalidAccessKeyId; a signature that does not verify: 403
   SignatureDoesNotMatch.
6. A key that names no blob: 404 NoSuchKey. Else 200 with the bytes, application/octet-stream,
   Content-Length and an ETag (the MD5, as for a single-part upload).

A HEAD is checked against the GET signature (on S3 the method is signed; choice: a client
following a redirected HEAD of a blob gets the object's headers). Range requests are not
modelled. `redirect_base` (control API) makes minted URLs point elsewhere, e.g. at a closed port.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
import string
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from xml.sax.saxutils import escape

import upstream

PREFIX = "/_s3/"
EXPIRES_SECONDS = 3600
BUCKET_RE = re.compile(r"^prod-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)-starport-layer-bucket$")
KEY_RE = re.compile(r"^(?P<account>\d{12})/(?P<name>.+)/(?P<hex>[a-f0-9]{64})$")
V4_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders",
             "X-Amz-Expires")
V2_PARAMS = ("Signature", "Expires", "AWSAccessKeyId")
AMZ_DATE = "%Y%m%dT%H%M%SZ"
# Per process: what the "S3" of this emulator signs with. Never logged or shown.
_ACCESS_KEY = "ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
_SECRET_KEY = secrets.token_urlsafe(30)
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"

_lock = threading.Lock()
_redirect_base: list[str | None] = [None]


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


# --- redirect_base (control API) --------------------------------------------------------------
def set_redirect_base(value) -> dict:
    """None restores the request's own Host; otherwise a loopback http(s)://host[:port]."""
    if value is not None:
        parts = urlsplit(value) if isinstance(value, str) else None
        try:
            host = parts.hostname if parts else None
            loopback = host == "localhost" or (host is not None and ipaddress.ip_address(host).is_loopback)
            port_ok = parts is not None and (parts.port is None or parts.port >= 0)  # .port raises if bad
        except ValueError:
            loopback = port_ok = False
        if not (parts and parts.scheme in ("http", "https") and loopback and port_ok
                and parts.path in ("", "/") and not parts.query and not parts.fragment and not parts.username):
            raise ValueError("'redirect_base' must be null or a loopback \"http://127.0.0.1:PORT\" "
                             "(scheme, host and port only)")
        value = value.rstrip("/")
    with _lock:
        _redirect_base[0] = value
    return {"ok": True, "redirect_base": value}


def redirect_base() -> str | None:
    with _lock:
        return _redirect_base[0]


# --- signing -----------------------------------------------------------------------------------
def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical(host: str, path: str, params: dict) -> str:
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                     for k, v in sorted(params.items()) if k != "X-Amz-Signature")
    return "\n".join(("GET", quote(path, safe="/-_.~"), query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"))


def _string_to_sign(canonical: str, amz_date: str, scope: str) -> str:
    return "\n".join(("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))


def _signature(string_to_sign: str, day: str, region: str) -> str:
    key = _hmac(("AWS4" + _SECRET_KEY).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def presign(request_host: str, account: str, region: str, name: str, digest: str) -> str:
    """A presigned GetObject URL for a blob, valid EXPIRES_SECONDS, on redirect_base or request_host."""
    base = redirect_base() or f"http://{request_host}"
    host = urlsplit(base).netloc
    path = f"{PREFIX}prod-{region}-starport-layer-bucket/{account}/{name}/{digest.split(':', 1)[1]}"
    now = datetime.now(timezone.utc)
    amz_date, day = now.strftime(AMZ_DATE), now.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"
    params = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{_ACCESS_KEY}/{scope}",
              "X-Amz-Date": amz_date, "X-Amz-Expires": str(EXPIRES_SECONDS), "X-Amz-SignedHeaders": "host"}
    params["X-Amz-Signature"] = _signature(_string_to_sign(_canonical(host, path, params), amz_date, scope),
                                           day, region)
    return f"{base}{quote(path, safe='/-_.~')}?{urlencode(params)}"


# --- requests ----------------------------------------------------------------------------------
def _target(environ) -> dict:
    """bucket, key, account, region, digest of a request (None where the path does not say)."""
    rest = environ.get("PATH_INFO", "")[len(PREFIX):]
    bucket, _, key = rest.partition("/")
    bucket_match, key_match = BUCKET_RE.match(bucket), KEY_RE.match(key)
    return {"bucket": bucket, "key": key,
            "region": bucket_match["region"] if bucket_match else "",
            "account": key_match["account"] if key_match else "",
            "digest": "sha256:" + key_match["hex"] if key_match else None}


def describe(environ) -> dict:
    """The call-log entry: never the query's signature, never an Authorization header's value."""
    t = _target(environ)
    method = environ.get("REQUEST_METHOD")
    action = {"GET": "GetObject", "HEAD": "HeadObject"}.get(method, "Unsupported")
    return {"service": "s3", "action": action, "account": t["account"], "region": t["region"],
            "authorization": bool(environ.get("HTTP_AUTHORIZATION")), "digest": t["digest"]}


def _check_query(params: dict, query_auth: bool) -> None:
    if any(p in params for p in V4_PARAMS) and not all(p in params for p in V4_PARAMS):
        raise S3Error(400, "AuthorizationQueryParametersError",
                      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                      "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
    if not query_auth:
        if any(p in params for p in V2_PARAMS):
            raise S3Error(403, "AccessDenied", "Query-string authentication requires the Signature, Expires "
                                               "and AWSAccessKeyId parameters")
        raise S3Error(403, "AccessDenied", "Access Denied")
    if "X-Amz-Algorithm" not in params:
        # Signature Version 2: not what ECR mints, so it cannot verify here.
        raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                    "signature you provided. Check your key and signing method.")
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise S3Error(400, "AuthorizationQueryParametersError", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    if not re.fullmatch(r"-?\d{1,18}", params["X-Amz-Expires"]):
        raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
    expires = int(params["X-Amz-Expires"])
    if expires < 0:
        raise S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative")
    if expires > 604800:
        raise S3Error(400, "AuthorizationQueryParametersError",
                      "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
                      "must be less than 604800 seconds")
    try:
        datetime.strptime(params["X-Amz-Date"], AMZ_DATE)
    except ValueError:
        raise S3Error(400, "AuthorizationQueryParametersError",
                      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if len(params["X-Amz-Credential"].split("/")) != 5:
        raise S3Error(400, "AuthorizationQueryParametersError",
                      "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "
                      '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')


def _verify(environ, params: dict) -> None:
    signed_at = datetime.strptime(params["X-Amz-Date"], AMZ_DATE).replace(tzinfo=timezone.utc)
    expires_at = signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))
    now = datetime.now(timezone.utc)
    if now > expires_at:
        raise S3Error(403, "AccessDenied", "Request has expired", **{
            "X-Amz-Expires": params["X-Amz-Expires"], "Expires": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    key_id, day, region, _, _ = params["X-Amz-Credential"].split("/")
    if not hmac.compare_digest(key_id, _ACCESS_KEY):
        raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                      AWSAccessKeyId=key_id)
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    canonical = _canonical(host, environ.get("PATH_INFO", ""), params)
    string_to_sign = _string_to_sign(canonical, params["X-Amz-Date"], "/".join((day, region, "s3", "aws4_request")))
    expected = _signature(string_to_sign, day, region)
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                    "signature you provided. Check your key and signing method.",
                      AWSAccessKeyId=key_id, StringToSign=string_to_sign,
                      SignatureProvided=params["X-Amz-Signature"], CanonicalRequest=canonical)


def _object(environ) -> bytes:
    """The object's bytes, or S3Error."""
    target = _target(environ)
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        raise S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                      Method=environ.get("REQUEST_METHOD"), ResourceType="OBJECT")
    params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    query_auth = any(p in params for p in V4_PARAMS) or all(p in params for p in V2_PARAMS)
    if environ.get("HTTP_AUTHORIZATION"):
        message = ("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                   "string parameter or the Authorization header should be specified" if query_auth
                   else "Unsupported Authorization Type")
        raise S3Error(400, "InvalidArgument", message, ArgumentName="Authorization")
    _check_query(params, query_auth)
    if not target["region"]:
        raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist", BucketName=target["bucket"])
    _verify(environ, params)
    data = upstream.blob(target["digest"]) if target["digest"] else None
    if data is None:
        raise S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=target["key"])
    return data


def _error_body(e: S3Error, request_id: str) -> bytes:
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in e.extra.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{e.code}</Code><Message>{escape(e.message)}'
            f"</Message>{extra}<RequestId>{request_id}</RequestId><HostId>{_host_id(request_id)}</HostId>"
            "</Error>").encode()


def _host_id(request_id: str) -> str:
    return hashlib.sha256(request_id.encode()).hexdigest()[:56]


def error_response(code: str, message: str, status: int) -> tuple[int, list, bytes]:
    """An S3 XML error (middleware's fault answers)."""
    request_id = secrets.token_hex(8).upper()
    return status, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], \
        _error_body(S3Error(status, code, message), request_id)


def answer(environ) -> tuple[int, list, bytes]:
    request_id = secrets.token_hex(8).upper()
    headers = [("x-amz-request-id", request_id), ("x-amz-id-2", _host_id(request_id)), ("Server", "AmazonS3")]
    try:
        data = _object(environ)
    except S3Error as e:
        return e.status, headers + [("Content-Type", "application/xml")], _error_body(e, request_id)
    return 200, headers + [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                           ("ETag", f'"{hashlib.md5(data).hexdigest()}"'), ("Last-Modified", LAST_MODIFIED)], data
