"""A simulated GitLab.com container registry: the upstream the pull through cache imports from.

One table per emulator process (GitLab.com is one registry for every AWS account):
upstream repository -> {tag: (media type, manifest bytes)}. Manifests are Docker
image manifests v2 built deterministically from the repository and tag, so a test
can predict digests and two emulator runs agree. Only the manifest is served:
the config and layer blobs it names do not exist.
"""

import hashlib
import json
import threading

GITLAB_URL = "registry.gitlab.com"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
SEED = (
    ("demo-group/demo-project/app", "1.0"),
    ("demo-group/demo-project/app", "latest"),
    ("demo-group/demo-project/worker", "2.3"),
    ("gitlab-org/release-cli", "latest"),
)

_lock = threading.Lock()
_images: dict[str, dict[str, tuple[str, bytes]]] = {}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def make_manifest(repository: str, tag: str) -> bytes:
    """The deterministic manifest of repository:tag (sizes derived from the same hashes)."""
    config_seed, layer_seed = _sha256(f"config {repository}:{tag}"), _sha256(f"layer {repository}:{tag}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_V2,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1000 + int(config_seed[:4], 16) % 9000,
            "digest": "sha256:" + config_seed,
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 100_000 + int(layer_seed[:6], 16) % 9_000_000,
            "digest": "sha256:" + layer_seed,
        }],
    }
    # Docker's own indentation, for realism; what matters is that it never changes.
    return json.dumps(manifest, indent=3).encode()


def add_image(repository: str, tag: str) -> str:
    """Publish repository:tag upstream (idempotent); returns its digest."""
    body = make_manifest(repository, tag)
    with _lock:
        _images.setdefault(repository, {})[tag] = (DOCKER_V2, body)
    return digest_of(body)


def list_images() -> list[dict]:
    with _lock:
        return [{"repository": repo, "tag": tag, "digest": digest_of(body)}
                for repo, tags in _images.items() for tag, (_, body) in tags.items()]


def lookup(registry_url: str, repository: str, reference: str) -> tuple[str, bytes, str | None] | None:
    """(media type, manifest, tag or None) of repository at a tag or digest, or None.

    Only GitLab.com is simulated: any other upstream has no images.
    """
    if registry_url != GITLAB_URL:
        return None
    with _lock:
        tags = dict(_images.get(repository, {}))
    if reference.startswith("sha256:"):
        for media_type, body in tags.values():
            if digest_of(body) == reference:
                return media_type, body, None
        return None
    found = tags.get(reference)
    return (found[0], found[1], reference) if found else None


for _repository, _tag in SEED:
    add_image(_repository, _tag)
