"""A source whose `layer_infos_for_copy` names other blobs than its manifest (as
containers-storage serves layers uncompressed): the written manifest names what was copied."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.images import OCI_LAYER_TAR, BuiltImage, build_image, write_dir
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import ToolkitError
from toolkit.ops.copy import CopyOptions, copy_image
from toolkit.policy import InsecureAcceptAnything
from toolkit.transports import parse_image_name
from toolkit.transports.base import BlobStream, ImageSource
from toolkit.types import BlobInfo, SystemContext


class UncompressedLayers:
    """Wraps a `dir:` source: layers are offered (and served) by their diffIDs."""

    def __init__(self, inner: ImageSource, image: BuiltImage, ref: Any) -> None:
        self._inner = inner
        self._tars = {
            Digest.parse(layer.diff_id): gzip.decompress(layer.data) if layer.data[:2] == b"\x1f\x8b" else layer.data
            for layer in image.layers
        }
        self._image = image
        self.reference = ref
        self.has_thread_safe_get_blob = True

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        return self._inner.get_manifest(instance_digest)

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        return self._inner.get_signatures(instance_digest)

    def layer_infos_for_copy(self, instance_digest: Digest | None = None) -> list[BlobInfo] | None:
        return [
            BlobInfo(digest=Digest.parse(layer.diff_id), size=len(self._tars[Digest.parse(layer.diff_id)]),
                     media_type=OCI_LAYER_TAR)
            for layer in self._image.layers
        ]

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        assert info.digest is not None
        tar = self._tars.get(info.digest)
        if tar is None:
            return self._inner.get_blob(info)
        return VerifyingReader(io.BytesIO(tar), info.digest, len(tar)), len(tar)

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> UncompressedLayers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class WrappedRef:
    inner: Any
    image: BuiltImage

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def new_image_source(self, ctx: SystemContext) -> UncompressedLayers:
        return UncompressedLayers(self.inner.new_image_source(ctx), self.image, self)


def _copy(tmp_path: Path, image: BuiltImage, **options: Any) -> dict[str, Any]:
    src = write_dir(image, tmp_path / "src")
    ref = WrappedRef(parse_image_name(f"dir:{src}"), image)
    out = tmp_path / "out"
    copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{out}"), ref, options=CopyOptions(**options))
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_bytes())
    return manifest


def test_manifest_names_the_uncompressed_layers(tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=2, seed=5)
    manifest = _copy(tmp_path, image)
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.diff_id for layer in image.layers]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {OCI_LAYER_TAR}
    assert manifest["config"]["digest"] == image.config_digest
    for layer in manifest["layers"]:
        blob = tmp_path / "out" / layer["digest"].removeprefix("sha256:")
        assert blob.stat().st_size == layer["size"]


def test_same_layers_keep_the_manifest_bytes(tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=2, seed=6, compression="none")
    _copy(tmp_path, image)
    assert (tmp_path / "out/manifest.json").read_bytes() == image.manifest


def test_signed_image_cannot_change_layers(tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=1, seed=8)
    src = write_dir(image, tmp_path / "src")
    (src / "signature-1").write_bytes(b"not really a signature")
    ref = WrappedRef(parse_image_name(f"dir:{src}"), image)
    with pytest.raises(ToolkitError, match="changing layer representation.*Would invalidate signatures"):
        copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{tmp_path / 'out'}"), ref)
    assert not (tmp_path / "out").exists()
