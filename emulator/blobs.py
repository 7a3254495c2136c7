"""Blobs on the registry endpoint: GET and HEAD /v2/<name>/blobs/<digest> under /_registry/.

ECR serves a layer (or an image config) from S3: the registry answers 307 with an empty body,
Docker-Content-Digest, and Location a presigned URL in the Region's layer bucket (s3.py), the
URL GetDownloadUrlForLayer returns. registry.py authenticates the request as for manifests,
then, in order:

1. the repository must exist in moto's ECR and hold an image (an index's child manifests are
   images of their own once pulled) whose config or a layer is the digest, else 404 BLOB_UNKNOWN;
2. the principal needs ecr:GetDownloadUrlForLayer on the repository (permissions.py), else 403
   DENIED in AWS's words.

No upstream access: a blob of an imported image was imported with it (S3 serves its bytes from
upstream.py's table, so a corrupt image stays corrupt).
"""

import json
import re

import permissions
import s3
from pullthrough import RegistryError, repository_arn

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def referenced(repo, digest: str) -> bool:
    """Whether an image of the moto repository names the digest as its config or a layer."""
    for image in list(repo.images):
        try:
            manifest = json.loads(image.image_manifest)
        except ValueError:
            continue
        named = [(manifest.get("config") or {}).get("digest")] + \
                [layer.get("digest") for layer in manifest.get("layers") or [] if isinstance(layer, dict)]
        if digest in named:
            return True
    return False


def answer(token: dict, req: dict, environ, backend) -> tuple[int, list, bytes]:
    """(status, headers, body) of an authenticated blob request, or RegistryError."""
    account, region, name, digest = req["account"], req["region"], req["name"], req["reference"]
    repo = backend.repositories.get(name)
    if repo is None or not DIGEST_RE.match(digest or "") or not referenced(repo, digest):
        raise RegistryError(404, "BLOB_UNKNOWN", f"The blob with digest '{digest}' does not exist in the repository "
                                                 f"with name '{name}' in the registry with id '{account}'")
    action, resource = "ecr:GetDownloadUrlForLayer", repository_arn(account, region, name)
    message = permissions.denial(token, action, resource, account, region)
    if message:
        raise RegistryError(403, "DENIED", message)
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    location = s3.presign(host, account, region, name, digest)
    return 307, [("Docker-Content-Digest", digest), ("Location", location)], b""
