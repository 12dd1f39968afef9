"""Reading an image from a store (c/image 5.23 `storage/storage_src.go`), in Python.

- The manifest is the stored big data item: `manifest-<digest>` for a list instance or
  when the reference names a digest (falling back to `manifest`), else `manifest`; its
  bytes, and so its digest, are as stored. The config is the big data item named by its
  digest. Signatures are `signatures` / `signature-<hex>`, split by the sizes recorded in
  the image's metadata.
- Layers are served uncompressed: `layer_infos_for_copy` lists each layer of the image's
  chain by its `diff-digest`/`diff-size` (the uncompressed media type of the manifest's
  kind), as c/image does; the copy engine then writes a manifest that matches what it
  copies. The stream is the layer's original tar, rebuilt from the tar-split data
  (`_layer_reader.py`) and verified against `diff-digest` as it flows, while the store's
  `layers.lock` is held shared (as c/storage's `Diff` holds it; a writer waits).
- Beyond c/image: an image stored without any manifest (made by a tool that never wrote
  one) is read as an uncompressed OCI image: its config is the stored item whose digest
  names it and whose `rootfs.diff_ids` are the layers', else a minimal config (os, host
  architecture, creation time, diff IDs).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import ArchiveError, ImageNotFoundError, ManifestError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, MAX_SIGNATURE_LIST_SIZE
from toolkit.manifest import guess_mime_type, mime, parse_config, parse_manifest
from toolkit.manifest.gojson import GoStruct, marshal
from toolkit.manifest.platform import current_host
from toolkit.manifest.to_schema1 import GZIPPED_EMPTY_LAYER, GZIPPED_EMPTY_LAYER_DIGEST
from toolkit.transports.base import BlobStream, ImageSourceBase
from toolkit.transports.containers_storage._layer_reader import TarSplitReader
from toolkit.transports.containers_storage._reference import (
    StorageReference,
    check_driver,
    manifest_key,
    resolve_image,
    signature_key,
)
from toolkit.transports.containers_storage._store import ImageRecord, LayerRecord
from toolkit.types import BlobInfo, SystemContext

__all__ = ["StorageImageSource"]

log = logging.getLogger(__name__)



def _parse_metadata(text: str, image_id: str) -> tuple[list[int], dict[str, list[int]]]:
    """The signature sizes c/image keeps in an image's metadata."""
    if not text:
        return [], {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ArchiveError(f"decoding metadata for source image {image_id}: {safe_text(str(exc), 200)}") from exc

    def sizes(value: Any) -> list[int]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SIGNATURE_LIST_SIZE for v in value
        ):
            raise ArchiveError(f"decoding metadata for source image {image_id}: bad signature sizes")
        return value

    if not isinstance(doc, dict):
        return [], {}
    per_instance = doc.get("signatures-sizes") or {}
    if not isinstance(per_instance, dict):
        raise ArchiveError(f"decoding metadata for source image {image_id}: bad signature sizes")
    return sizes(doc.get("signature-sizes")), {k: sizes(v) for k, v in per_instance.items()}


class StorageImageSource(ImageSourceBase):
    """An image of a store, resolved when opened (raises `ImageNotFoundError`)."""

    has_thread_safe_get_blob = True

    def __init__(self, ref: StorageReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        self._store = ref.store
        check_driver(ref.location)
        with self._store.reading_images() as table:
            self._image = resolve_image(ref, table, self._store, ctx)
        self._signature_sizes, self._signatures_sizes = _parse_metadata(self._image.metadata, self._image.id)
        self._lock = threading.Lock()
        self._manifest: bytes | None = None
        self._synthesized: tuple[bytes, bytes | None] | None = None  # (manifest, config made here)

    @property
    def reference(self) -> StorageReference:
        return self._ref

    @property
    def image_id(self) -> str:
        return self._image.id

    # ------------------------------------------------------------------ big data

    def _big_data(self, key: str, limit: int) -> bytes | None:
        with self._store.reading_images() as table:
            current = table.by_id(self._image.id)
            if current is None:
                raise ImageNotFoundError(f"image {self._image.id} was removed from the store while being read")
            return self._store.read_big_data(current, key, limit)

    # ------------------------------------------------------------------ manifest

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raw = self._big_data(manifest_key(instance_digest), MAX_MANIFEST_SIZE)
            if raw is None:
                raise ImageNotFoundError(
                    f'reading manifest for image instance "{instance_digest}": no such item in image {self._image.id}'
                )
            return raw, guess_mime_type(raw)
        with self._lock:
            if self._manifest is None:
                self._manifest = self._read_top_manifest()
            raw = self._manifest
        return raw, guess_mime_type(raw)

    def _read_top_manifest(self) -> bytes:
        named = self._ref.named
        if named is not None and named.digest is not None:
            raw = self._big_data(manifest_key(named.digest), MAX_MANIFEST_SIZE)
            if raw is not None:
                return raw
        raw = self._big_data("manifest", MAX_MANIFEST_SIZE)
        if raw is not None:
            return raw
        log.debug("image %s has no stored manifest: reading it as an uncompressed OCI image", self._image.id)
        return self._synthesize()[0]

    # ------------------------------------------------------------------ layers

    def _chain(self) -> list[LayerRecord]:
        with self._store.reading_layers() as layers:
            return layers.chain(self._image.top_layer, f"image {self._image.id}")

    def layer_infos_for_copy(self, instance_digest: Digest | None = None) -> list[BlobInfo] | None:
        raw, mime_type = self.get_manifest(instance_digest)
        if mime.is_list_type(mime_type):
            raise ManifestError("can't copy layers for a manifest list (shouldn't be attempted)")
        view = parse_manifest(raw, mime_type)
        layer_type = mime.OCI_LAYER if mime_type == mime.OCI_MANIFEST else mime.DOCKER_LAYER_UNCOMPRESSED
        physical: list[BlobInfo] = []
        for layer in self._chain():
            if not layer.diff_digest:
                raise ToolkitError(f'uncompressed digest for layer "{layer.id}" is unknown')
            if layer.diff_size < 0:
                raise ToolkitError(f'uncompressed size for layer "{layer.id}" is unknown')
            physical.append(
                BlobInfo(digest=_layer_digest(layer), size=layer.diff_size, media_type=layer_type)
            )
        out: list[BlobInfo] = []
        used = 0
        for info in view.layer_infos():
            if getattr(info, "empty_layer", False):
                out.append(
                    BlobInfo(
                        digest=GZIPPED_EMPTY_LAYER_DIGEST, size=len(GZIPPED_EMPTY_LAYER), media_type=info.media_type
                    )
                )
                continue
            if used >= len(physical):
                raise ToolkitError(
                    f"creating LayerInfosForCopy of image {self._image.id}: expected more than "
                    f"{len(physical)} physical layers to exist"
                )
            out.append(physical[used])
            used += 1
        if used != len(physical):
            raise ToolkitError(
                f"creating LayerInfosForCopy of image {self._image.id}: used only {used} out of "
                f"{len(physical)} physical layers"
            )
        return out

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        digest = info.digest
        if digest is None:
            raise ToolkitError("containers-storage: a blob without a digest cannot be read")
        if digest == GZIPPED_EMPTY_LAYER_DIGEST:
            empty = GZIPPED_EMPTY_LAYER
            return VerifyingReader(io.BytesIO(empty), digest, len(empty), what="blob"), len(empty)
        stream = self._layer_stream(digest)
        if stream is not None:
            return stream
        data: bytes | None = self._big_data(str(digest), MAX_CONFIG_SIZE)
        if data is None and self._synthesized is not None and self._synthesized[1] is not None:
            made = self._synthesized[1]
            data = made if digest.matches(made) else None
        if data is None:
            raise ImageNotFoundError(f"blob {digest} not found in image {self._image.id}")
        return VerifyingReader(io.BytesIO(data), digest, len(data), what="blob"), len(data)

    def _layer_stream(self, digest: Digest) -> tuple[BlobStream, int] | None:
        """A verifying stream of the layer whose uncompressed digest is `digest`, or None."""
        store = self._store
        lock = store.layers_lock
        if not store.layers_dir.is_dir():
            return None
        lock.acquire_shared()
        try:
            table = store.load_layers()
            candidates = table.by_diff_digest(str(digest))
            if not candidates:
                lock.release()
                return None
            in_image = {layer.id for layer in table.chain(self._image.top_layer, f"image {self._image.id}")}
            candidates.sort(key=lambda layer: layer.id not in in_image)
            layer = candidates[0]
            what = f"layer {layer.id} (blob {digest})"
            reader = TarSplitReader(
                store.tar_split_path(layer.id), store.layer_files_dir(layer.id), diff_size=layer.diff_size, what=what
            )
        except BaseException:
            lock.release()
            raise
        reader.on_close = lock.release  # held while the stream is read, as c/storage's Diff
        size = layer.diff_size
        verified = VerifyingReader(reader, digest, size if size >= 0 else None, what=what)  # type: ignore[arg-type]
        return verified, size

    # ------------------------------------------------------------------ signatures

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        if instance_digest is None:
            sizes, key, instance = self._signature_sizes, "signatures", "default instance"
        else:
            sizes = self._signatures_sizes.get(str(instance_digest), [])
            key, instance = signature_key(instance_digest), instance_digest.encoded
        if not sizes:
            return []
        data = self._big_data(key, MAX_SIGNATURE_LIST_SIZE)
        if data is None:
            raise ToolkitError(f'looking up signatures data for image "{self._image.id}" ({instance}): not found')
        out: list[bytes] = []
        offset = 0
        for length in sizes:
            if offset + length > len(data):
                raise ToolkitError(
                    f'looking up signatures data for image "{self._image.id}" ({instance}): expected at least '
                    f"{len(data)} bytes, only found {offset + length}"
                )
            out.append(data[offset : offset + length])
            offset += length
        if offset != len(data):
            raise ToolkitError(f"signatures data ({instance}) contained {len(data) - offset} extra bytes")
        return out

    # ------------------------------------------------------------------ images without a manifest

    def _synthesize(self) -> tuple[bytes, bytes | None]:
        if self._synthesized is None:
            self._synthesized = _synthesize(self, self._image, self._chain())
        return self._synthesized


def _layer_digest(layer: LayerRecord) -> Digest:
    try:
        return Digest.parse(layer.diff_digest)
    except ToolkitError as exc:
        raise ArchiveError(f"layer {layer.id}: invalid diff-digest ({exc})") from exc


def _synthesize(source: StorageImageSource, image: ImageRecord, chain: list[LayerRecord]) -> tuple[bytes, bytes | None]:
    """An uncompressed OCI manifest (and, if none is stored, a config) for `image`."""
    diff_ids = [_layer_digest(layer) for layer in chain]
    config: bytes | None = None
    for key in image.big_data_names:
        try:
            candidate = Digest.parse(key)
        except ToolkitError:
            continue
        data = source._big_data(key, MAX_CONFIG_SIZE)
        if data is None or not candidate.matches(data):
            continue
        try:
            if list(parse_config(data).diff_ids) == diff_ids:
                config = data
                break
        except ToolkitError:
            continue
    made: bytes | None = None
    if config is None:
        doc = GoStruct()
        if image.created:
            doc.add("created", image.created)
        doc.add("architecture", current_host().goarch)
        doc.add("os", "linux")
        doc.add("rootfs", GoStruct([("type", "layers"), ("diff_ids", [str(d) for d in diff_ids])]))
        config = made = marshal(doc)
    manifest = GoStruct()
    manifest.add("schemaVersion", 2)
    manifest.add("mediaType", mime.OCI_MANIFEST)
    manifest.add(
        "config",
        GoStruct(
            [("mediaType", mime.OCI_CONFIG), ("digest", str(Digest.from_bytes(config))), ("size", len(config))]
        ),
    )
    manifest.add(
        "layers",
        [
            GoStruct([("mediaType", mime.OCI_LAYER), ("digest", str(d)), ("size", layer.diff_size)])
            for d, layer in zip(diff_ids, chain, strict=True)
        ],
    )
    return marshal(manifest), made
