"""Small, realistic container images built in pure Python, with exact bytes.

Nothing here imports `toolkit`: these images are the independent yardstick the tests
measure skopo against. Everything is deterministic for a given seed (random content from
`random.Random(seed)`, fixed tar metadata, gzip with mtime 0), so digests are stable.

- `build_image(...)` -> `BuiltImage`: random-content layers (tar -> gzip), a config
  (architecture/os/rootfs.diff_ids/history) and a Docker schema2 or OCI manifest.
- `build_multiarch(...)` -> `BuiltIndex`: 2-3 platform images under a Docker manifest
  list or an OCI index.
- `write_dir(image, path)`: the containers/image `dir:` layout.
- `write_oci_layout(image, path, ref_name)`: an OCI image layout (adds to an existing one).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "read_oci_layout_manifest",
    "DOCKER_V2S2",
    "DOCKER_LIST",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_LAYER_TAR",
    "OCI_MANIFEST",
    "OCI_INDEX",
    "OCI_CONFIG",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_TAR",
    "DIR_VERSION",
    "OCI_REF_NAME",
    "DEFAULT_PLATFORMS",
    "Format",
    "Compression",
    "Platform",
    "Layer",
    "BuiltImage",
    "BuiltIndex",
    "sha256_digest",
    "tar_bytes",
    "random_layer_tar",
    "make_layer",
    "build_image",
    "build_multiarch",
    "write_dir",
    "write_oci_layout",
]

DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
#: Content of the `version` file of a containers/image `dir:` layout.
DIR_VERSION = b"Directory Transport Version: 1.1\n"
OCI_REF_NAME = "org.opencontainers.image.ref.name"

Format = Literal["docker", "oci"]
Compression = Literal["gzip", "none"]

_CREATED = "2024-01-01T00:00:00Z"
_MTIME = 1704067200  # _CREATED as a Unix time


@dataclass(frozen=True)
class Platform:
    """An image platform (`os`/`architecture`/optional `variant`)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The `platform` object of a manifest list / index entry."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


DEFAULT_PLATFORMS: tuple[Platform, ...] = (
    Platform("linux", "amd64"),
    Platform("linux", "arm64", "v8"),
    Platform("linux", "arm", "v7"),
)


@dataclass(frozen=True)
class Layer:
    """One layer: the blob as stored (`data`, maybe compressed) and its uncompressed digest."""

    data: bytes
    digest: str
    diff_id: str
    media_type: str

    @property
    def size(self) -> int:
        """Size in bytes of the stored blob."""
        return len(self.data)

    def descriptor(self) -> dict[str, Any]:
        """The manifest's descriptor for this layer."""
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class BuiltImage:
    """A single-platform image: exact manifest and config bytes, and its layers."""

    format: Format
    manifest: bytes
    manifest_digest: str
    media_type: str
    config: bytes
    config_digest: str
    config_media_type: str
    layers: tuple[Layer, ...]
    platform: Platform

    @property
    def layer_digests(self) -> list[str]:
        """Digests of the layer blobs, in manifest order."""
        return [layer.digest for layer in self.layers]

    @property
    def diff_ids(self) -> list[str]:
        """Digests of the uncompressed layers (the config's rootfs.diff_ids)."""
        return [layer.diff_id for layer in self.layers]

    @property
    def manifest_hex(self) -> str:
        """The hex part of `manifest_digest`."""
        return self.manifest_digest.split(":", 1)[1]

    def blobs(self) -> dict[str, bytes]:
        """Every blob (config first, then layers) by digest."""
        out = {self.config_digest: self.config}
        for layer in self.layers:
            out.setdefault(layer.digest, layer.data)
        return out

    def descriptor(self) -> dict[str, Any]:
        """A descriptor of this manifest, with its platform (for lists and indexes)."""
        return {
            "mediaType": self.media_type,
            "size": len(self.manifest),
            "digest": self.manifest_digest,
            "platform": self.platform.as_dict(),
        }


@dataclass(frozen=True)
class BuiltIndex:
    """A multi-platform image: a Docker manifest list or an OCI index and its images."""

    format: Format
    manifest: bytes
    manifest_digest: str
    media_type: str
    images: tuple[BuiltImage, ...]

    def blobs(self) -> dict[str, bytes]:
        """Every config and layer blob of every image, by digest (manifests excluded)."""
        out: dict[str, bytes] = {}
        for image in self.images:
            for digest, data in image.blobs().items():
                out.setdefault(digest, data)
        return out

    def image_for(self, architecture: str, variant: str | None = None) -> BuiltImage:
        """The instance for `architecture` (and `variant`, if given)."""
        for image in self.images:
            if image.platform.architecture == architecture and variant in (None, image.platform.variant):
                return image
        raise KeyError(f"no instance for {architecture}/{variant}")


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64:
        raise ValueError(f"unexpected digest {digest!r}")
    return hexpart


def _dumps(obj: Any, indent: int | None) -> bytes:
    if indent is None:
        return json.dumps(obj, separators=(",", ":")).encode()
    return json.dumps(obj, indent=indent).encode()


def tar_bytes(entries: Mapping[str, bytes | None], *, mode: int = 0o644) -> bytes:
    """A deterministic tar: `name -> content` (None makes a directory), in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = _MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = mode
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def random_layer_tar(seed: int, size: int, *, files: int = 3, prefix: str = "data") -> bytes:
    """A tar of `files` files whose random contents add up to `size` bytes."""
    rng = random.Random(seed)
    files = max(1, files)
    entries: dict[str, bytes | None] = {f"{prefix}/": None}
    remaining = size
    for i in range(files):
        n = remaining if i == files - 1 else remaining // (files - i)
        entries[f"{prefix}/file-{i}.bin"] = rng.randbytes(n)
        remaining -= n
    return tar_bytes(entries)


def make_layer(tar: bytes, *, fmt: Format = "docker", compression: Compression = "gzip") -> Layer:
    """A layer from an uncompressed tar: gzip it (mtime 0) or keep it as is."""
    diff_id = sha256_digest(tar)
    if compression == "gzip":
        data = gzip.compress(tar, compresslevel=6, mtime=0)
        media_type = DOCKER_LAYER_GZIP if fmt == "docker" else OCI_LAYER_GZIP
    elif compression == "none":
        data = tar
        media_type = DOCKER_LAYER_TAR if fmt == "docker" else OCI_LAYER_TAR
    else:
        raise ValueError(f"unknown compression {compression!r}")
    return Layer(data=data, digest=sha256_digest(data), diff_id=diff_id, media_type=media_type)


def _config_bytes(layers: Sequence[Layer], platform: Platform, labels: Mapping[str, str] | None) -> bytes:
    config: dict[str, Any] = {
        "architecture": platform.architecture,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
        "created": _CREATED,
        "history": [
            {"created": _CREATED, "created_by": f"/bin/sh -c #(nop) ADD file:{layer.diff_id[7:19]} in / "}
            for layer in layers
        ],
        "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if platform.variant:
        config["variant"] = platform.variant
    if labels:
        config["config"]["Labels"] = dict(labels)
    return json.dumps(config, separators=(",", ":")).encode()


def build_image(
    *,
    fmt: Format = "docker",
    layer_count: int = 2,
    layer_size: int = 4096,
    seed: int = 0,
    platform: Platform = DEFAULT_PLATFORMS[0],
    compression: Compression = "gzip",
    labels: Mapping[str, str] | None = None,
    layer_tars: Sequence[bytes] | None = None,
    annotations: Mapping[str, str] | None = None,
    indent: int | None = 3,
) -> BuiltImage:
    """Build a single-platform image.

    `layer_count` layers of `layer_size` random bytes each (seeded by `seed`), or the
    given uncompressed `layer_tars`. `fmt` picks Docker schema2 or OCI media types.
    `indent` is the manifest's JSON indentation (None for compact); its bytes are kept
    exactly, so `manifest_digest` is sha256 of `manifest`.
    """
    tars = (
        list(layer_tars)
        if layer_tars is not None
        else [random_layer_tar(seed * 1000 + i, layer_size, prefix=f"layer{i}") for i in range(layer_count)]
    )
    layers = tuple(make_layer(t, fmt=fmt, compression=compression) for t in tars)
    config = _config_bytes(layers, platform, labels)
    config_digest = sha256_digest(config)
    media_type = DOCKER_V2S2 if fmt == "docker" else OCI_MANIFEST
    config_media_type = DOCKER_CONFIG if fmt == "docker" else OCI_CONFIG
    manifest_obj: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_media_type, "size": len(config), "digest": config_digest},
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        if fmt != "oci":
            raise ValueError("annotations need fmt='oci'")
        manifest_obj["annotations"] = dict(annotations)
    manifest = _dumps(manifest_obj, indent)
    return BuiltImage(
        format=fmt,
        manifest=manifest,
        manifest_digest=sha256_digest(manifest),
        media_type=media_type,
        config=config,
        config_digest=config_digest,
        config_media_type=config_media_type,
        layers=layers,
        platform=platform,
    )


def build_multiarch(
    *,
    fmt: Format = "docker",
    platforms: Sequence[Platform] = DEFAULT_PLATFORMS,
    layer_count: int = 1,
    layer_size: int = 2048,
    seed: int = 0,
    compression: Compression = "gzip",
    indent: int | None = 3,
) -> BuiltIndex:
    """A Docker manifest list (`fmt="docker"`) or OCI index over one image per platform.

    Each platform's image has its own content (seeded from `seed` and its position).
    """
    if not platforms:
        raise ValueError("at least one platform is needed")
    images = tuple(
        build_image(
            fmt=fmt,
            layer_count=layer_count,
            layer_size=layer_size,
            seed=seed * 100 + i + 1,
            platform=platform,
            compression=compression,
            indent=indent,
        )
        for i, platform in enumerate(platforms)
    )
    media_type = DOCKER_LIST if fmt == "docker" else OCI_INDEX
    index_obj = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [image.descriptor() for image in images],
    }
    manifest = _dumps(index_obj, indent)
    return BuiltIndex(
        format=fmt,
        manifest=manifest,
        manifest_digest=sha256_digest(manifest),
        media_type=media_type,
        images=images,
    )


def write_dir(image: BuiltImage | BuiltIndex, path: Path) -> Path:
    """Write `image` in the containers/image `dir:` layout at `path` (created) and return it.

    `version`, `manifest.json` (the top manifest), blobs named by their hex digest and,
    for a multi-arch image, each instance manifest as `<hex>.manifest.json`.
    """
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_bytes(DIR_VERSION)
    for digest, data in image.blobs().items():
        (path / _hex(digest)).write_bytes(data)
    if isinstance(image, BuiltIndex):
        for instance in image.images:
            (path / f"{instance.manifest_hex}.manifest.json").write_bytes(instance.manifest)
    (path / "manifest.json").write_bytes(image.manifest)
    return path


def write_oci_layout(
    image: BuiltImage | BuiltIndex,
    path: Path,
    ref_name: str | None = "latest",
    *,
    allow_docker_media_types: bool = False,
) -> Path:
    """Add `image` to the OCI image layout at `path` (created if needed) and return `path`.

    Writes `oci-layout`, every blob under `blobs/sha256/` (instance manifests and the
    index too, for a multi-arch image) and an `index.json` entry annotated with
    `org.opencontainers.image.ref.name: ref_name` (an existing entry of the same name
    is replaced; None adds an unnamed entry).

    An OCI layout holds OCI manifests: containers/image ignores index.json entries of other
    media types, so a Docker-format image raises ValueError unless
    `allow_docker_media_types` (for tests of exactly that case).
    """
    if image.format != "oci" and not allow_docker_media_types:
        raise ValueError("an OCI layout needs fmt='oci' (or allow_docker_media_types=True)")
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    blobs = dict(image.blobs())
    if isinstance(image, BuiltIndex):
        for instance in image.images:
            blobs[instance.manifest_digest] = instance.manifest
    blobs[image.manifest_digest] = image.manifest
    for digest, data in blobs.items():
        (blob_dir / _hex(digest)).write_bytes(data)

    index_path = path / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_bytes())
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    entry: dict[str, Any] = {
        "mediaType": image.media_type,
        "digest": image.manifest_digest,
        "size": len(image.manifest),
    }
    if ref_name is not None:
        entry["annotations"] = {OCI_REF_NAME: ref_name}
        index["manifests"] = [
            m for m in index["manifests"] if (m.get("annotations") or {}).get(OCI_REF_NAME) != ref_name
        ]
    index["manifests"].append(entry)
    index_path.write_bytes(json.dumps(index, separators=(",", ":")).encode())
    return path


def read_oci_layout_manifest(path: Path, ref_name: str = "latest") -> dict[str, Any]:
    """The (parsed) manifest of the index.json entry named `ref_name` in the OCI layout at `path`."""
    index = json.loads((path / "index.json").read_bytes())
    entry = next(m for m in index["manifests"] if (m.get("annotations") or {}).get(OCI_REF_NAME) == ref_name)
    result: dict[str, Any] = json.loads((path / "blobs" / "sha256" / entry["digest"].split(":", 1)[1]).read_bytes())
    return result


def corrupt_blob(layout: Path, digest: str) -> None:
    """Flip one byte in the middle of blob `digest` of the OCI layout at `layout` (its
    size stays the same, its digest no longer matches)."""
    blob = layout / "blobs" / "sha256" / digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
