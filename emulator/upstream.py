"""Simulated upstream registries: the hosts the pull through cache imports from.

One table per emulator process, keyed by registry URL (each upstream is one registry for every
AWS account): registry.gitlab.com, registry-1.docker.io, public.ecr.aws, registry.k8s.io,
quay.io, ghcr.io, cgr.dev and any NAME.azurecr.io (HOSTS). An ECR upstream
(ACCOUNT.dkr.ecr.REGION.amazonaws.com) is not here: its images are moto's (upstreams.py). Each image
is built deterministically from its repository, tag and options, so a test can predict digests
and two emulator runs agree:

- a plain image: a Docker image manifest v2 with a config blob (a JSON image config naming
  "architecture" and "os") and layers (by default two: one of a few KB, one of 50-300 KB);
- with `platforms`: an OCI image index with one OCI image manifest per platform, each with its
  own config and layers. The children are untagged: they are found by digest.

Blob bytes are real: every digest in a manifest is the sha256 of the bytes S3 serves (s3.py)
and every size their length. Layers are SHAKE-256 output of a seed (cheap at any size, and not a
tarball: nothing unpacks them), so only the digests and sizes are kept and bytes are made again
when served. `corrupt` makes the image's smallest layer (each child's, for an index) come out of
S3 with one byte changed: same size, wrong sha256.

Each image has a visibility, "private" unless told: GitLab lets a Guest pull only images of
public projects (gitlab.may_pull); pullthrough.py asks before importing. Other hosts store it
but do not use it (their login is checked once per rule: upstreams.py).
"""

import hashlib
import json
import re
import threading

GITLAB_URL = "registry.gitlab.com"
# The fixed hosts ECR's upstreams name (its user guide); Azure's are NAME.azurecr.io.
HOSTS = ("registry.gitlab.com", "registry-1.docker.io", "public.ecr.aws", "registry.k8s.io", "quay.io",
         "ghcr.io", "cgr.dev")
AZURE_RE = re.compile(r"^[a-z0-9]+\.azurecr\.io$")  # Azure login servers: lowercase NAME.azurecr.io
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
VISIBILITIES = ("public", "private")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")
# Bounds that keep publishing cheap (every layer is hashed once when published).
MAX_LAYERS, MAX_LAYER_BYTES, MAX_PLATFORMS = 10, 32 * 1024 * 1024, 8
# A fixed creation time: the config blob, hence every digest, must not change between runs.
CREATED = "2024-01-01T00:00:00Z"

SEED = (
    {"repository": "demo-group/demo-project/app", "tag": "1.0"},
    {"repository": "demo-group/demo-project/app", "tag": "latest"},
    {"repository": "demo-group/demo-project/worker", "tag": "2.3"},
    {"repository": "gitlab-org/release-cli", "tag": "latest", "visibility": "public"},
    {"repository": "demo-group/demo-project/multi", "tag": "1.0", "platforms": ["linux/amd64", "linux/arm64"]},
    # Docker Hub keeps official images under library/ (ECR's user guide: give it in the pull).
    {"registry_url": "registry-1.docker.io", "repository": "library/nginx", "tag": "latest"},
    {"registry_url": "registry-1.docker.io", "repository": "library/alpine", "tag": "3.20"},
    {"registry_url": "public.ecr.aws", "repository": "docker/library/busybox", "tag": "latest"},
    {"registry_url": "registry.k8s.io", "repository": "pause", "tag": "3.10"},
    {"registry_url": "quay.io", "repository": "prometheus/node-exporter", "tag": "latest"},
    {"registry_url": "ghcr.io", "repository": "demo-org/app", "tag": "1.0"},
    {"registry_url": "demo.azurecr.io", "repository": "team/app", "tag": "1.0"},
    {"registry_url": "cgr.dev", "repository": "chainguard/static", "tag": "latest"},
)

_lock = threading.Lock()
# (registry URL, repository) -> tag -> image (listing form)
_images: dict[tuple[str, str], dict[str, dict]] = {}
# (registry URL, repository) -> manifest digest -> (media type, bytes, visibility): tags' and
# index children's.
_manifests: dict[tuple[str, str], dict[str, tuple[str, bytes, str]]] = {}
# blob digest -> {"size", "config": bytes | None, "seed": str | None, "corrupt": bool}. Never
# shrinks: an image imported into ECR keeps its blobs even if the tag is published again.
_blobs: dict[str, dict] = {}


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _layer_bytes(seed: str, size: int) -> bytes:
    return hashlib.shake_256(f"layer {seed}".encode()).digest(size)


def default_layer_sizes(repository: str, tag: str) -> list[int]:
    """A larger layer of 50-300 KB and a small one of a few KB, from repository:tag."""
    h = hashlib.sha256(f"sizes {repository}:{tag}".encode()).hexdigest()
    return [50_000 + int(h[:6], 16) % 250_001, 2_000 + int(h[6:10], 16) % 6_001]


def _platform(text: str) -> dict:
    parts = text.split("/")
    out = {"architecture": parts[1], "os": parts[0]}
    if len(parts) == 3:
        out["variant"] = parts[2]
    return out


def _config(platform: str, layer_digests: list[str]) -> bytes:
    """A JSON image config (Docker's and OCI's share this shape). diff_ids stand for the
    uncompressed layers; here they are the layers' own digests (the layers are no tarballs)."""
    doc = dict(_platform(platform), created=CREATED,
               config={"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh"]},
               rootfs={"type": "layers", "diff_ids": list(layer_digests)})
    return json.dumps(doc, sort_keys=True).encode()


def _image_manifest(seed: str, platform: str, sizes: list[int], corrupt: bool, oci: bool, blobs: dict):
    """(manifest bytes, listing of its blobs) of one image; its blobs are added to `blobs`."""
    layers = []
    smallest = min(range(len(sizes)), key=lambda i: sizes[i])
    for i, size in enumerate(sizes):
        layer_seed = f"{seed}#{i}"
        digest = digest_of(_layer_bytes(layer_seed, size))
        blobs[digest] = {"size": size, "config": None, "seed": layer_seed, "corrupt": corrupt and i == smallest}
        layers.append({"mediaType": OCI_LAYER if oci else DOCKER_LAYER, "size": size, "digest": digest})
    config = _config(platform, [layer["digest"] for layer in layers])
    config_digest = digest_of(config)
    blobs[config_digest] = {"size": len(config), "config": config, "seed": None, "corrupt": False}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_V2,
        "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG, "size": len(config), "digest": config_digest},
        "layers": layers,
    }
    listing = [{"digest": config_digest, "size": len(config), "kind": "config"}] + \
              [{"digest": layer["digest"], "size": layer["size"], "kind": "layer"} for layer in layers]
    # Docker's own indentation, for realism; what matters is that it never changes.
    return json.dumps(manifest, indent=3).encode(), listing


def check(spec: dict) -> dict:
    """The publish request with defaults filled in, or ValueError saying what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("each image must be an object with \"repository\" and \"tag\"")
    registry_url = spec.get("registry_url", GITLAB_URL)
    if registry_url not in HOSTS and not (isinstance(registry_url, str) and AZURE_RE.match(registry_url)):
        raise ValueError(f"'registry_url' must be one of {', '.join(HOSTS)} or NAME.azurecr.io "
                         "(an ECR upstream's images: /_ptc/central_images)")
    repository, tag = spec.get("repository"), spec.get("tag")
    if not isinstance(repository, str) or not repository or not isinstance(tag, str) or not TAG_RE.match(tag):
        raise ValueError(f"bad image {spec!r}: repository and tag must be strings, the tag a valid tag")
    visibility = spec.get("visibility", "private")
    if visibility not in VISIBILITIES:
        raise ValueError(f"'visibility' must be one of {', '.join(VISIBILITIES)}")
    platforms = spec.get("platforms")
    if platforms is not None and (not isinstance(platforms, list) or not 1 <= len(platforms) <= MAX_PLATFORMS
                                  or not all(isinstance(p, str) and PLATFORM_RE.match(p) for p in platforms)
                                  or len(set(platforms)) != len(platforms)):
        raise ValueError(f"'platforms' must be 1 to {MAX_PLATFORMS} distinct \"os/architecture[/variant]\" strings")
    sizes = spec.get("layer_sizes")
    if sizes is None:
        sizes = default_layer_sizes(repository, tag)
    elif not isinstance(sizes, list) or not 1 <= len(sizes) <= MAX_LAYERS or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_LAYER_BYTES for n in sizes):
        raise ValueError(f"'layer_sizes' must be 1 to {MAX_LAYERS} byte counts from 1 to {MAX_LAYER_BYTES}")
    corrupt = spec.get("corrupt", False)
    if not isinstance(corrupt, bool):
        raise ValueError("'corrupt' must be true or false")
    return {"registry_url": registry_url, "repository": repository, "tag": tag, "visibility": visibility, "platforms": platforms,
            "layer_sizes": list(sizes), "corrupt": corrupt}


def build(s: dict) -> tuple[dict, dict, dict]:
    """(image, manifests by digest, blobs by digest) of a checked spec; nothing is stored."""
    repository, tag, visibility = s["repository"], s["tag"], s["visibility"]
    blobs: dict[str, dict] = {}
    manifests: dict[str, tuple[str, bytes, str]] = {}
    image = {"registry_url": s["registry_url"], "repository": repository, "tag": tag, "visibility": visibility,
             "corrupt": s["corrupt"]}
    # GitLab's seeds predate the other hosts: unchanged, so its digests stay what they were.
    host = "" if s["registry_url"] == GITLAB_URL else s["registry_url"] + "/"
    if s["platforms"] is None:
        body, listing = _image_manifest(f"{host}{repository}:{tag}", "linux/amd64", s["layer_sizes"], s["corrupt"],
                                        False, blobs)
        image.update(media_type=DOCKER_V2, blobs=listing)
    else:
        children, entries = [], []
        for platform in s["platforms"]:
            child, listing = _image_manifest(f"{host}{repository}:{tag}@{platform}", platform, s["layer_sizes"],
                                             s["corrupt"], True, blobs)
            manifests[digest_of(child)] = (OCI_MANIFEST, child, visibility)
            children.append({"mediaType": OCI_MANIFEST, "digest": digest_of(child), "size": len(child),
                             "platform": _platform(platform)})
            entries.append({"platform": platform, "digest": digest_of(child), "blobs": listing})
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}, indent=3).encode()
        image.update(media_type=OCI_INDEX, manifests=entries)
    image["digest"] = digest_of(body)
    manifests[image["digest"]] = (image["media_type"], body, visibility)
    return image, manifests, blobs


def add_blobs(blobs: dict) -> None:
    with _lock:
        _blobs.update(blobs)


def add_image(spec: dict) -> dict:
    """Publish an image upstream (idempotent: the same request gives the same digests); returns
    its listing. ValueError for a bad request."""
    image, manifests, blobs = build(check(spec))
    key = (image["registry_url"], image["repository"])
    with _lock:
        _images.setdefault(key, {})[image["tag"]] = image
        _manifests.setdefault(key, {}).update(manifests)
        _blobs.update(blobs)
    return _listed(image)


def _listed(image: dict) -> dict:
    keys = ("registry_url", "repository", "tag", "digest", "media_type", "visibility", "corrupt", "manifests", "blobs")
    return json.loads(json.dumps({k: image[k] for k in keys if k in image}))  # a deep copy


def list_images() -> list[dict]:
    with _lock:
        return [_listed(image) for tags in _images.values() for image in tags.values()]


def lookup(registry_url: str, repository: str, reference: str) -> dict | None:
    """{"media_type", "body", "tag", "visibility"} of repository at a tag or a manifest digest
    (an index's untagged children included) on the host `registry_url`, or None."""
    key = (registry_url, repository)
    with _lock:
        if reference.startswith("sha256:"):
            found = _manifests.get(key, {}).get(reference)
            tag = None
        else:
            image = _images.get(key, {}).get(reference)
            found = _manifests[key][image["digest"]] if image else None
            tag = reference
    if found is None:
        return None
    media_type, body, visibility = found
    return {"media_type": media_type, "body": body, "tag": tag, "visibility": visibility}


def blob(digest: str) -> bytes | None:
    """The bytes S3 serves for a blob digest (a corrupt layer with one byte changed), or None."""
    with _lock:
        spec = _blobs.get(digest)
    if spec is None:
        return None
    data = spec["config"] if spec["config"] is not None else _layer_bytes(spec["seed"], spec["size"])
    if spec["corrupt"]:
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]
    return data


for _spec in SEED:
    add_image(_spec)
