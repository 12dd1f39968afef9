"""Writing an image into a store (c/image 5.23 `storage/storage_dest.go`), atomically.

The order of work, and what a reader of the store can see:
1. `put_blob` stages every blob, as received, in a private temporary directory
   (`--tmpdir`, else /var/tmp; the store is not touched). `try_reusing_blob` finds layers
   the store already has by uncompressed or compressed digest (as c/image).
2. `commit()`: each layer's ID is c/image's (`diffID` hex for a base layer, else
   `sha256(parentID + "+" + diffID hex)`); a layer the store already has is reused.
   Missing layers are created with `containers-storage import-layer` (`_cli.py`: c/storage's
   own `PutLayer`, so extraction, whiteouts, tar-split, digests and the `incomplete` flag are
   exactly c/storage's); each layer's uncompressed digest is then checked against the one
   the image config announces (or the one computed here for schema1).
3. The image record: under `layers.lock` then `images.lock` (exclusive, c/storage's order)
   the layer chain is checked, the big data files are written (`sha256:<config>`,
   `manifest-<list digest>` when copied from a list, `manifest-<digest>`, `manifest`,
   `signatures`, `signature-<hex>`), and `images.json` is replaced in one rename with the
   whole record: ID (config digest), `created` (from the config), names and names history,
   metadata with the signature sizes, exactly as c/image's `CreateImage`/`SetImageBigData`/
   `SetMetadata`/`AddNames` would leave it; then `images.lock` is touched.

Beyond c/image (whose commit is not transactional): the image appears complete or not at
all (c/image creates the record first and adds its manifest afterwards); a failed commit
deletes the layers it created (unless another image started using them), and a failed
update of an image that existed is left as it was (c/image deletes it). A killed copy leaves
at most unreferenced layers (or an `incomplete` one, which c/storage removes on its next
write) and an unreferenced image directory, never a half-written record.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from toolkit.compression import decompressing_reader, peek_compression
from toolkit.digest import CHUNK_SIZE, Digest, VerifyingReader
from toolkit.errors import (
    DestinationError,
    ManifestError,
    NonImageArtifactError,
    NotSupportedError,
    ToolkitError,
    safe_text,
)
from toolkit.limits import MAX_CONFIG_SIZE
from toolkit.manifest import guess_mime_type, manifest_digest, matches_digest, mime, parse_config, parse_manifest
from toolkit.manifest.config import schema1_to_schema2_config
from toolkit.manifest.formats import ImageManifest, Schema1
from toolkit.manifest.gojson import GoStruct, GoTime, marshal
from toolkit.safefile import create_new_file
from toolkit.transports._fs import copy_hashing, remove_tree_quietly, wrap_os_error
from toolkit.transports.base import DestinationCapabilities, ImageDestinationBase
from toolkit.transports.containers_storage._cli import StorageCommand
from toolkit.transports.containers_storage._layer_reader import TarSplitReader
from toolkit.transports.containers_storage._reference import (
    StorageReference,
    check_driver,
    manifest_key,
    signature_key,
)
from toolkit.transports.containers_storage._store import ImageTable, LayerRecord, LayerTable, Store
from toolkit.types import BlobInfo, Compression, LayerCompression, SystemContext

__all__ = ["StorageImageDestination", "layer_id_for"]

log = logging.getLogger(__name__)

_CAPABILITIES = DestinationCapabilities(
    supported_manifest_mime_types=(mime.OCI_MANIFEST, mime.DOCKER_V2S2, mime.DOCKER_V2S1_SIGNED, mime.DOCKER_V2S1),
    supports_signatures=True,
    desired_layer_compression=LayerCompression.PRESERVE,
    accepts_foreign_layer_urls=False,
    must_match_runtime_os=True,
    ignores_embedded_docker_reference=True,
    has_thread_safe_put_blob=True,
    supports_manifest_lists=False,
)


def layer_id_for(parent: str, diff_id: Digest) -> str:
    """c/image's storage layer ID: the diffID hex for a base layer, else
    sha256(`parent` + "+" + diffID hex) (bare hex on both sides; not the OCI ChainID)."""
    if not parent:
        return diff_id.hex
    return Digest.from_bytes(f"{parent}+{diff_id.hex}".encode()).hex


def _dedupe(names: Sequence[str]) -> list[str]:
    """c/storage `dedupeNames`: first occurrences, in order."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _now() -> str:
    """Go `time.Now().UTC()` as JSON writes it."""
    ns = time.time_ns()
    t = time.gmtime(ns // 1_000_000_000)
    return GoTime(t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ns % 1_000_000_000).format()


@dataclass(frozen=True, slots=True)
class _Staged:
    path: Path
    size: int


class StorageImageDestination(ImageDestinationBase):
    """A `containers-storage:` destination; nothing reaches the store before `commit()`."""

    def __init__(self, ref: StorageReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        self._store: Store = ref.store
        check_driver(ref.location)
        if ref.id_mapping_keys:
            raise NotSupportedError(
                "containers-storage: storage.conf sets "
                + ", ".join(ref.id_mapping_keys)
                + "; writing ID-mapped layers is not supported"
            )
        self._check_store_format()
        self._cli = StorageCommand(ref.location)
        parent = ctx.tmpdir if ctx.tmpdir is not None else Path("/var/tmp")
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="storage", dir=parent))
        except OSError as exc:
            raise wrap_os_error(exc, f"creating a temporary directory in {safe_text(str(parent))}") from exc
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._staged: dict[Digest, _Staged] = {}
        self._diff_ids: dict[Digest, Digest] = {}
        self._manifest: bytes | None = None
        self._manifest_digest: Digest | None = None
        self._manifest_mime = ""
        self._top_level: bytes | None = None
        self._signatures: bytes = b""
        self._signature_sizes: list[int] = []
        self._signatureses: dict[Digest, bytes] = {}
        self._signatures_sizes: dict[Digest, list[int]] = {}
        self._signatures_put = False
        self._committed = False

    def _check_store_format(self) -> None:
        """Refuse, before any blob is copied, a store skopo must not rewrite."""
        store = self._store
        with store.reading_layers() as layers, store.reading_images() as images:
            _refuse_newer_format(store, images, layers)

    @property
    def reference(self) -> StorageReference:
        return self._ref

    @property
    def capabilities(self) -> DestinationCapabilities:
        return _CAPABILITIES

    # ------------------------------------------------------------------ blobs

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        digest = info.digest
        if digest is None:
            return None
        with self._lock:
            staged = self._staged.get(digest)
        if staged is not None:
            return BlobInfo(digest=digest, size=staged.size, media_type=info.media_type)
        with self._store.reading_layers() as layers:
            by_diff = layers.by_diff_digest(str(digest))
            if by_diff:
                with self._lock:
                    self._diff_ids[digest] = digest
                return BlobInfo(digest=digest, size=by_diff[0].diff_size, media_type=info.media_type)
            for layer in layers.by_compressed_digest(str(digest)):
                try:
                    diff_id = Digest.parse(layer.diff_digest)
                except ToolkitError:
                    continue
                with self._lock:
                    self._diff_ids[digest] = diff_id
                return BlobInfo(digest=digest, size=layer.compressed_size, media_type=info.media_type)
        return None

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        path = self._dir / str(next(self._counter))
        try:
            with os.fdopen(create_new_file(path, 0o644), "wb") as f:
                digest, size = copy_hashing(stream, f.write, info)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        with self._lock:
            if digest in self._staged:
                with contextlib.suppress(OSError):
                    path.unlink()
            else:
                self._staged[digest] = _Staged(path, size)
        return BlobInfo(digest=digest, size=size, media_type=info.media_type)

    # ------------------------------------------------------------------ manifest, signatures

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: Digest | None = None) -> None:
        if instance_digest is not None:
            raise NotSupportedError("containers-storage: manifest lists cannot be stored")
        self._manifest = bytes(raw)
        self._manifest_digest = manifest_digest(raw)
        self._manifest_mime = mime_type or guess_mime_type(raw)

    def set_top_level_manifest(self, raw: bytes, mime_type: str) -> None:
        self._top_level = bytes(raw)

    def put_signatures(self, signatures: Sequence[bytes], instance_digest: Digest | None = None) -> None:
        """c/image `PutSignaturesWithFormat`: `signatures` for the image, and per instance."""
        blob = b"".join(signatures)
        sizes = [len(s) for s in signatures]
        self._signatures_put = True
        if instance_digest is None:
            self._signatures, self._signature_sizes = blob, sizes
            instance_digest = self._manifest_digest
        if instance_digest is not None:
            self._signatureses[instance_digest] = blob
            self._signatures_sizes[instance_digest] = sizes

    # ------------------------------------------------------------------ commit

    def commit(self) -> None:
        raw, digest = self._manifest, self._manifest_digest
        if raw is None or digest is None:
            raise ToolkitError("Internal error: storageImageDestination.Commit() called without PutManifest()")
        if not self._signatures_put:
            # c/image's copy always stores signatures, an empty list included.
            self.put_signatures([])
        self._check_reference_digest(raw)
        view = parse_manifest(raw, self._manifest_mime)
        if view.non_image_artifact_type is not None:
            raise NonImageArtifactError(
                view.non_image_artifact_type, 'the "containers-storage" transport can only store container images'
            )
        config_bytes = self._config_bytes(view)
        infos = view.layer_infos()
        diff_ids = self._plan_diff_ids(view, config_bytes)
        created_layers: list[str] = []
        try:
            if not self._store.initialised():
                self._cli.initialise()
            chain = self._commit_layers(infos, diff_ids, created_layers)
            image_id = self._ref.id or self._compute_id(view, config_bytes, diff_ids)
            self._write_image(image_id, chain, self._created(view, config_bytes), view)
        except BaseException:
            self._delete_layers(created_layers)
            raise
        self._committed = True
        remove_tree_quietly(self._dir)

    def _check_reference_digest(self, raw: bytes) -> None:
        named = self._ref.named
        if named is None or named.digest is None:
            return
        if matches_digest(raw, named.digest):
            return
        if self._top_level is not None and matches_digest(self._top_level, named.digest):
            return
        raise DestinationError(f"Manifest to be saved does not match expected digest {named.digest}")

    def _config_bytes(self, view: ImageManifest) -> bytes | None:
        info = view.config_info()
        if info.digest is None:
            return None
        with self._lock:
            staged = self._staged.get(info.digest)
        if staged is None:
            return None
        if staged.size > MAX_CONFIG_SIZE:
            raise ManifestError(f"image config {info.digest} is too large ({staged.size} bytes)")
        return staged.path.read_bytes()

    def _plan_diff_ids(self, view: ImageManifest, config_bytes: bytes | None) -> list[Digest | None]:
        """Each layer's expected uncompressed digest (None for schema1 empty layers)."""
        infos = view.layer_infos()
        announced: list[Digest] | None = None
        if config_bytes is not None and not isinstance(view, Schema1):
            try:
                announced = list(parse_config(config_bytes).diff_ids)
            except ToolkitError:
                announced = None
        real = [i for i in infos if not getattr(i, "empty_layer", False)]
        if announced is not None and len(announced) != len(real):
            announced = None
        out: list[Digest | None] = []
        index = 0
        for info in infos:
            if getattr(info, "empty_layer", False):
                out.append(None)
                continue
            blob = info.digest
            if blob is None:
                raise ManifestError("a layer without a digest cannot be stored")
            with self._lock:
                known = self._diff_ids.get(blob)
            expected = announced[index] if announced is not None else None
            if known is not None and expected is not None and known != expected:
                raise DestinationError(
                    f"layer {index} (blob {blob}) has uncompressed digest {known}, but the image config says {expected}"
                )
            diff_id = known or expected or self._compute_diff_id(blob)
            with self._lock:
                self._diff_ids.setdefault(blob, diff_id)
            out.append(diff_id)
            index += 1
        return out

    def _compute_diff_id(self, blob: Digest) -> Digest:
        with self._lock:
            staged = self._staged.get(blob)
        if staged is None:
            raise DestinationError(f'error determining uncompressed digest for blob "{blob}"')
        hasher = Digest.from_bytes(b"").hasher()
        with open(staged.path, "rb") as f:
            compression, prefixed = peek_compression(f)
            stream: Any = prefixed
            if compression is not Compression.NONE:
                stream = decompressing_reader(prefixed, compression, budget=self._ctx.max_decompressed_size)
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
        return Digest("sha256", hasher.hexdigest())

    def _commit_layers(
        self, infos: Sequence[BlobInfo], diff_ids: Sequence[Digest | None], created: list[str]
    ) -> list[str]:
        """Reuse or create every layer; the chain of layer IDs, base first."""
        chain: list[str] = []
        parent = ""
        for index, (info, diff_id) in enumerate(zip(infos, diff_ids, strict=True)):
            if diff_id is None:  # schema1 empty layer: the parent's ID carries over
                continue
            layer_id = layer_id_for(parent, diff_id)
            if self._find_layer(layer_id) is None:
                self._create_layer(index, info, diff_id, layer_id, parent, created)
            chain.append(layer_id)
            parent = layer_id
        return chain

    def _find_layer(self, layer_id: str) -> LayerRecord | None:
        with self._store.reading_layers() as layers:
            return layers.get(layer_id)

    def _create_layer(
        self, index: int, info: BlobInfo, diff_id: Digest, layer_id: str, parent: str, created: list[str]
    ) -> None:
        blob = info.digest
        assert blob is not None
        with self._lock:
            staged = self._staged.get(blob)
        path = staged.path if staged is not None else self._export_layer(blob, diff_id)
        try:
            self._cli.import_layer(layer_id, parent, path)
        except ToolkitError:
            if self._find_layer(layer_id) is None:  # not a concurrent copy that made the same layer
                raise
            return
        created.append(layer_id)
        record = self._find_layer(layer_id)
        if record is None or record.diff_digest != str(diff_id):
            actual = record.diff_digest if record is not None else "unknown"
            raise DestinationError(
                f"layer {index} (blob {blob}): its uncompressed digest is {safe_text(actual, 80)}, "
                f"but the image config says {diff_id}"
            )

    def _export_layer(self, blob: Digest, diff_id: Digest) -> Path:
        """The content of a layer the store has (same uncompressed or compressed digest),
        as an uncompressed tar in the staging directory (c/image does this with `Diff`)."""
        store = self._store
        path = self._dir / str(next(self._counter))
        with store.reading_layers() as layers:
            candidates = layers.by_diff_digest(str(diff_id)) or layers.by_compressed_digest(str(blob))
            if not candidates:
                raise DestinationError(f'locating layer for blob "{blob}": layer not known')
            layer = candidates[0]
            what = f"layer {layer.id}"
            reader = TarSplitReader(
                store.tar_split_path(layer.id), store.layer_files_dir(layer.id), diff_size=layer.diff_size, what=what
            )
            try:
                expected = Digest.parse(layer.diff_digest)
                verified = VerifyingReader(reader, expected, layer.diff_size, what=what)  # type: ignore[arg-type]
                with os.fdopen(create_new_file(path, 0o644), "wb") as f:
                    shutil.copyfileobj(verified, f, CHUNK_SIZE)
            except BaseException:
                with contextlib.suppress(OSError):
                    path.unlink()
                raise
            finally:
                reader.close()
        return path

    def _delete_layers(self, created: list[str]) -> None:
        for layer_id in reversed(created):
            try:
                self._cli.delete_layer(layer_id)
            except ToolkitError as exc:
                # Another image may have started to use it meanwhile: then it stays.
                log.debug("not deleting layer %s: %s", layer_id, exc)

    # ------------------------------------------------------------------ the image record

    def _compute_id(self, view: ImageManifest, config_bytes: bytes | None, diff_ids: Sequence[Digest | None]) -> str:
        """c/image `computeID`: the config digest (schema2, OCI images), the digest of the
        synthesised config (schema1), else a random ID."""
        if isinstance(view, Schema1):
            try:
                return Digest.from_bytes(schema1_to_schema2_config(view, [d for d in diff_ids if d is not None])).hex
            except ToolkitError:
                return secrets.token_hex(32)
        config = view.config_info()
        if config.digest is None:
            return secrets.token_hex(32)
        return config.digest.hex

    def _created(self, view: ImageManifest, config_bytes: bytes | None) -> str:
        """The image's `created`: the config's (c/image `Inspect`), else now."""
        text: str | None = None
        try:
            if isinstance(view, Schema1):
                diff_ids = [d for d in self._plan_diff_ids(view, None) if d is not None]
                text = parse_config(schema1_to_schema2_config(view, diff_ids)).created
            elif config_bytes is not None:
                text = parse_config(config_bytes).created
            if text:
                parsed = GoTime.parse(text, what="created")
                if parsed != GoTime():  # Go's zero time: c/storage uses "now" instead
                    return parsed.format()
        except ToolkitError:
            pass
        return _now()

    def _big_data_items(self, view: ImageManifest) -> list[tuple[str, bytes, Digest]]:
        """c/image's `SetImageBigData` calls, in its order: (key, bytes, recorded digest)."""
        raw, digest = self._manifest, self._manifest_digest
        assert raw is not None and digest is not None
        layer_blobs = {info.digest for info in view.layer_infos()}
        items: list[tuple[str, bytes, Digest]] = []
        with self._lock:
            data_blobs = sorted(d for d in self._staged if d not in layer_blobs)
            staged = dict(self._staged)
        for blob in data_blobs:
            data = staged[blob].path.read_bytes() if staged[blob].size <= MAX_CONFIG_SIZE else None
            if data is None:
                raise ManifestError(f"non-layer blob {blob} is too large to store")
            items.append((str(blob), data, Digest.from_bytes(data)))
        if self._top_level is not None and self._top_level != raw:
            top_digest = manifest_digest(self._top_level)
            items.append((manifest_key(top_digest), self._top_level, top_digest))
        items.append((manifest_key(digest), raw, digest))
        items.append(("manifest", raw, digest))
        if self._signatures:
            items.append(("signatures", self._signatures, Digest.from_bytes(self._signatures)))
        for instance, signatures in sorted(self._signatureses.items()):
            items.append((signature_key(instance), signatures, Digest.from_bytes(signatures)))
        return items

    def _metadata(self) -> str:
        """`json.Marshal` of c/image's destination: its two exported fields."""
        doc = GoStruct()
        doc.add("signature-sizes", self._signature_sizes, omitempty=True)
        doc.add("signatures-sizes", {str(k): v for k, v in self._signatures_sizes.items()}, omitempty=True)
        return marshal(doc).decode("utf-8")

    def _write_image(self, image_id: str, chain: list[str], created: str, view: ImageManifest) -> None:
        store = self._store
        top = chain[-1] if chain else ""
        items = self._big_data_items(view)
        metadata = self._metadata()
        name = str(self._ref.named) if self._ref.named is not None else None
        with store.layers_lock.exclusive():
            layers = store.load_layers()
            for layer_id in chain:
                if layers.get(layer_id) is None:
                    raise DestinationError(
                        f"layer {layer_id} is no longer in the store (removed while the image was being written)"
                    )
            with store.images_lock.exclusive():
                table = store.load_images()
                _refuse_newer_format(store, table, layers)
                _update_images(store, table, image_id, top, created, items, metadata, name)

    # ------------------------------------------------------------------ abort

    def _abort(self) -> None:
        remove_tree_quietly(self._dir)


def _refuse_newer_format(store: Store, images: ImageTable, layers: LayerTable) -> None:
    problems = store.format_problems(images, layers)
    if problems:
        raise NotSupportedError(
            f"containers-storage: the store {safe_text(store.describe())} was written by a newer "
            f"containers/storage ({', '.join(problems[:3])}); skopo writes only the format of "
            "containers/storage 1.43 and would drop what it does not know"
        )


def _update_images(
    store: Store,
    table: ImageTable,
    image_id: str,
    top: str,
    created: str,
    items: list[tuple[str, bytes, Digest]],
    metadata: str,
    name: str | None,
) -> None:
    """Apply CreateImage (or reuse), SetImageBigData*, SetMetadata, AddNames to `table` and
    write it (caller holds layers.lock and images.lock exclusively)."""
    existing = table.by_id(image_id)
    order = [r.id for r in table.records]
    changed: dict[str, dict[str, Any]] = {}
    if existing is not None:
        if existing.top_layer != top:
            raise DestinationError(
                f'image with ID "{image_id}" already exists, but uses a different top layer: that ID is already in use'
            )
        fields: dict[str, Any] = dict(existing.fields)
        log.debug("reusing image ID %s", image_id)
    else:
        store.clear_image_dir(image_id)  # no record owns it: left by a killed writer
        fields = {"id": image_id, "created": created}
        if top:
            fields["layer"] = top
        order.append(image_id)
        log.debug("created new image ID %s", image_id)
    names = list(fields.get("big-data-names") or [])
    sizes = dict(fields.get("big-data-sizes") or {})
    digests = dict(fields.get("big-data-digests") or {})
    for key, data, digest in items:
        store.write_big_data(image_id, key, data)
        if key not in names:
            names.append(key)
        sizes[key] = len(data)
        digests[key] = str(digest)
        if not fields.get("digest") and key.startswith("manifest"):
            fields["digest"] = str(digest)  # c/storage recomputeDigests on the first manifest item
    fields["big-data-names"] = names
    fields["big-data-sizes"] = sizes
    fields["big-data-digests"] = digests
    fields["metadata"] = metadata
    if name is not None:
        new_names = _dedupe([name, *(fields.get("names") or [])])
        for other in table.records:
            if other.id != image_id and name in other.names:
                other_fields = dict(changed.get(other.id, other.fields))
                other_fields["names"] = [n for n in other.names if n != name]
                changed[other.id] = other_fields
        history = list(fields.get("names-history") or [])
        for each in new_names:
            history = _dedupe([each, *history])
        fields["names"] = new_names
        fields["names-history"] = history
    changed[image_id] = fields
    store.write_images(table, changed, order)
