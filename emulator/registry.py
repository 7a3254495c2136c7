"""The registry side of ECR: GetAuthorizationToken and the Registry HTTP API v2.

On AWS `docker pull ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG` talks to a
per-registry host. Here each registry is a path on the emulator's own port,
/_registry/<account>/<region>, and GetAuthorizationToken's proxyEndpoint points
there (http, not https: the emulator is loopback only).

- GetAuthorizationToken mints a random password (base64 "AWS:<password>"),
  valid 12 hours, bound to the caller's principal, account and Region.
- /v2/ checks Basic auth; /v2/<name>/manifests/<reference> (GET, HEAD) serves
  an image from the cache, or on a miss pulls it through (pullthrough.py);
  /v2/<name>/blobs/<digest> (GET, HEAD) redirects to S3 (blobs.py, s3.py).
- No push, no catalog, no tag listing.

The password is a credential: it never goes to the call log, an error message
or stderr.
"""

import base64
import json
import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.models import ECR_REPOSITORY_NAME_PATTERN, ecr_backends
from moto.ecr.responses import ECRResponse

import blobs
import permissions
import pullthrough
import upstream
from emustate import STATE
from pullthrough import RegistryError

log = logging.getLogger("registry")

TOKEN_LIFETIME = timedelta(hours=12)
PATH_RE = re.compile(r"^/_registry/(?P<account>[^/]+)/(?P<region>[^/]+)(?P<rest>/.*)?$")
NAME_RE = re.compile(ECR_REPOSITORY_NAME_PATTERN)
REFERENCE_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$")
DEFAULT_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


class AccessDeniedException(ServiceException):
    code = "AccessDeniedException"


# --- GetAuthorizationToken --------------------------------------------------------------
def get_authorization_token(self) -> ActionResult:
    # registryIds (deprecated on AWS) is ignored: the token is for the caller's own registry.
    account, region = self.current_account, self.region
    principal = permissions.caller_principal(account, region, self.get_access_key())
    if not permissions.identity_allows(principal, "ecr:GetAuthorizationToken"):
        raise AccessDeniedException(
            f"User: {principal['session_arn']} is not authorized to perform: ecr:GetAuthorizationToken "
            "on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action"
        )
    password = secrets.token_urlsafe(32)
    expires_at = datetime.now(timezone.utc) + TOKEN_LIFETIME
    STATE.add_registry_token(password, {**principal, "region": region, "expires_at": expires_at})
    host = self.headers.get("Host") or "127.0.0.1"
    return ActionResult({"authorizationData": [{
        "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
        "expiresAt": expires_at,
        "proxyEndpoint": f"http://{host}/_registry/{account}/{region}",
    }]})


def install() -> None:
    ECRResponse.get_authorization_token = get_authorization_token


# --- requests ----------------------------------------------------------------------------
def parse(environ) -> dict:
    """account, region, kind ("ping" | "manifest" | "blob" | "other"), name, reference (a tag or
    digest; a blob's digest) of a registry request."""
    match = PATH_RE.match(environ.get("PATH_INFO", ""))
    out = {"account": match["account"] if match else "", "region": match["region"] if match else "",
           "kind": "other", "name": None, "reference": None}
    rest = (match["rest"] or "") if match else ""
    if rest in ("/v2", "/v2/"):
        out["kind"] = "ping"
    elif rest.startswith("/v2/") and "/manifests/" in rest:
        name, _, reference = rest[len("/v2/"):].rpartition("/manifests/")
        out.update(kind="manifest", name=name, reference=reference)
    elif rest.startswith("/v2/") and "/blobs/" in rest and not rest.endswith("/blobs/uploads/"):
        name, _, digest = rest[len("/v2/"):].rpartition("/blobs/")
        out.update(kind="blob", name=name, reference=digest)
    return out


def describe(environ) -> dict:
    """The call-log entry of a registry request (principal and cached are filled in later)."""
    req = parse(environ)
    head = environ.get("REQUEST_METHOD") == "HEAD"
    if req["kind"] == "blob":  # a blob never touches the cache lookup: no "cached"
        return {"service": "registry", "action": "HeadBlob" if head else "GetBlob", "account": req["account"],
                "region": req["region"], "principal": None, "repository": req["name"], "digest": req["reference"]}
    action = {"ping": "Ping", "manifest": "HeadManifest" if head else "GetManifest"}.get(req["kind"], "Unsupported")
    return {"service": "registry", "action": action, "account": req["account"], "region": req["region"],
            "principal": None, "repository": req["name"], "cached": None}


def error_body(code: str, message: str, detail=None) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()


def _proxy_endpoint(environ, account: str, region: str) -> str:
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return f"http://{host}/_registry/{account}/{region}"


def _authenticate(environ, account: str, region: str) -> dict:
    """The principal behind the request's Basic credentials, or RegistryError 401."""
    scheme, _, encoded = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    password = None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = None
        if user != "AWS":
            password = None
    if not password:
        raise RegistryError(401, "UNAUTHORIZED", "Not Authorized")
    token = STATE.registry_token(password)
    if token is None:
        raise RegistryError(401, "UNAUTHORIZED", "Your authorization token is not valid")
    if token["expires_at"] <= datetime.now(timezone.utc):
        raise RegistryError(401, "UNAUTHORIZED", "Your authorization token has expired. Reauthenticate and try again.")
    if (token["account"], token["region"]) != (account, region):
        raise RegistryError(401, "UNAUTHORIZED", "Your authorization token was issued for another registry")
    return token


def _accepts(environ, media_type: str) -> bool:
    header = environ.get("HTTP_ACCEPT")
    if not header:
        return True  # no Accept: the client takes what there is
    listed = {part.split(";", 1)[0].strip().lower() for part in header.split(",")}
    return media_type.lower() in listed or "*/*" in listed


def _not_accepted(media_type: str) -> RegistryError:
    return RegistryError(404, "MANIFEST_UNKNOWN", f"The manifest's media type {media_type} was not "
                                                  "accepted: the request's Accept header does not list it")


def _manifest(call: dict, token: dict, req: dict, environ) -> tuple[str, bytes]:
    """(media type, manifest) for a manifest request, or RegistryError."""
    account, region, name, reference = req["account"], req["region"], req["name"], req["reference"]
    if not NAME_RE.fullmatch(name or ""):
        raise RegistryError(400, "NAME_INVALID", f"Invalid repository name '{name}'")
    if not REFERENCE_RE.match(reference or ""):
        raise RegistryError(404, "MANIFEST_UNKNOWN", f"Requested image not found: '{reference}' is not a tag or digest")
    backend = ecr_backends[account][region]
    repo = backend.repositories.get(name)
    image = pullthrough.find_image(repo, reference) if repo is not None else None

    if image is not None:  # a cache hit: an ordinary pull
        STATE.update_call(call, cached=True)
        pullthrough.check_permission(token, "ecr:BatchGetImage", account, region, name)
        body = image.image_manifest.encode()
        media_type = image.image_manifest_media_type or json.loads(body).get("mediaType") or DEFAULT_MEDIA_TYPE
        if not _accepts(environ, media_type):
            raise _not_accepted(media_type)
        return media_type, body

    STATE.update_call(call, cached=False)
    rule = pullthrough.find_rule(account, region, name)
    if rule is None:
        if repo is not None:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"Requested image not found: {name}:{reference}")
        raise RegistryError(404, "NAME_UNKNOWN", f"The repository with name '{name}' does not exist "
                                                 f"in the registry with id '{account}'")
    if repo is None:
        pullthrough.check_permission(token, "ecr:CreateRepository", account, region, name)
    pullthrough.check_permission(token, "ecr:BatchImportUpstreamImage", account, region, name)
    # A pull through the cache is still a pull: the principal reads the image it imported.
    pullthrough.check_permission(token, "ecr:BatchGetImage", account, region, name)
    pullthrough.check_upstream_credentials(account, region, rule, name)
    found = pullthrough.fetch_upstream(rule, name, reference)
    pullthrough.check_upstream_pull(account, region, rule, name, found)
    media_type, body = found["media_type"], found["body"]
    if not _accepts(environ, media_type):
        raise _not_accepted(media_type)  # checked before importing: nothing is stored
    pullthrough.store(account, region, name, reference, media_type, body, found["tag"])
    return media_type, body


def answer(environ, call: dict) -> tuple[int, list, bytes]:
    """(status, headers, body) for a registry request; the call log entry is updated in place."""
    req = parse(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    headers = [("Docker-Distribution-API-Version", "registry/2.0")]
    try:
        if req["kind"] == "other" or method not in ("GET", "HEAD"):
            raise RegistryError(404 if req["kind"] == "other" else 405, "UNSUPPORTED",
                                "The emulator's registry serves only GET and HEAD of /v2/, manifests and blobs")
        token = _authenticate(environ, req["account"], req["region"])
        STATE.update_call(call, principal=token["principal_arn"])
        if req["kind"] == "ping":
            return 200, headers + [("Content-Type", "application/json")], b"{}"
        if req["kind"] == "blob":
            if not NAME_RE.fullmatch(req["name"] or ""):
                raise RegistryError(400, "NAME_INVALID", f"Invalid repository name '{req['name']}'")
            status, extra, body = blobs.answer(token, req, environ, ecr_backends[req["account"]][req["region"]])
            return status, headers + extra, body
        media_type, body = _manifest(call, token, req, environ)
        return 200, headers + [("Content-Type", media_type),
                               ("Docker-Content-Digest", upstream.digest_of(body))], body
    except RegistryError as e:
        if e.status == 401:
            realm = _proxy_endpoint(environ, req["account"], req["region"])
            headers.append(("WWW-Authenticate", f'Basic realm="{realm}",service="ecr.amazonaws.com"'))
        return e.status, headers + [("Content-Type", "application/json")], error_body(e.code, e.message, e.detail)
    except Exception:
        # The traceback names no credential: the password lives only in STATE and locals.
        log.exception("registry request %s %s failed", method, environ.get("PATH_INFO"))
        return 500, headers + [("Content-Type", "application/json")], error_body("UNKNOWN", "internal error")


def handle(environ, start_response, call: dict):
    status, headers, body = answer(environ, call)
    STATE.update_call(call, status=status)
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    # HEAD: the same headers (Content-Length included), no body.
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
