"""The copy engine: `copy_image(policy, src_ref, dest_ref, options)`.

Order of work (the contract, after containers/image `copy/copy.go` and `copy/single.go`):
1. open the source, read the top-level manifest (and its signatures);
2. ask the trust policy — before anything else is read and before the destination is
   opened, so a refusal leaves the destination untouched;
3. open the destination, choose the instance(s) to copy (`--multi-arch`);
4. per image: read and verify the config, copy layers in parallel (each stream verified
   against its digest and size as it flows, transformed on the fly when the destination
   wants other compression), build the manifest the destination accepts, write it, copy
   signatures;
5. commit. Any exception before commit aborts the destination (its `close()` undoes
   everything), so the destination is as before.

The engine never prints; it reports through a `Reporter`.
"""

from __future__ import annotations

import concurrent.futures
import enum
import hashlib
import io
import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from toolkit.compression import (
    CompressionError,
    Readable,
    ReadAheadReader,
    compressing_reader,
    decompressing_reader,
    peek_compression,
)
from toolkit.digest import CHUNK_SIZE, Digest, pass_through
from toolkit.errors import (
    DestinationError,
    DigestMismatchError,
    ManifestTypeRejectedError,
    NonImageArtifactError,
    NotSupportedError,
    SizeMismatchError,
    ToolkitError,
    safe_text,
)
from toolkit.image import UnparsedImage, read_config
from toolkit.manifest import (
    ListUpdate,
    convert,
    convert_list,
    manifest_digest,
    mime,
    parse_config,
    parse_list,
    parse_manifest,
    update_layer_infos,
    update_list_instances,
)
from toolkit.manifest.formats import ImageManifest, Schema1
from toolkit.ops.report import BlobProgress, NullReporter, Reporter
from toolkit.policy import PolicyContext
from toolkit.reference import NamedReference
from toolkit.transports.base import BlobStream, ImageDestination, ImageReference, ImageSource
from toolkit.types import BlobInfo, Compression, LayerCompression, SystemContext

__all__ = ["MultiArch", "CopyOptions", "CopyResult", "copy_image", "DEFAULT_PARALLEL_COPIES"]

log = logging.getLogger(__name__)

DEFAULT_PARALLEL_COPIES = 6
_SCHEMA1_TYPES = frozenset({mime.DOCKER_V2S1, mime.DOCKER_V2S1_SIGNED})


class MultiArch(enum.Enum):
    """What to copy from a manifest list (`--multi-arch`)."""

    SYSTEM = "system"
    ALL = "all"
    INDEX_ONLY = "index-only"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyOptions:
    """How to copy. Defaults match `skopeo copy` without flags."""

    source_ctx: SystemContext = field(default_factory=SystemContext)
    dest_ctx: SystemContext = field(default_factory=SystemContext)
    reporter: Reporter = field(default_factory=NullReporter)
    remove_signatures: bool = False
    #: Signers called with (manifest bytes, docker identity) for each written image; each
    #: returns a signature blob. Filled by the signature layer (`--sign-by`, ...).
    signers: tuple[Callable[[bytes, NamedReference | None], bytes], ...] = ()
    sign_identity: NamedReference | None = None
    #: `--format`: the only manifest type allowed at the destination.
    forced_manifest_mime: str | None = None
    multi_arch: MultiArch = MultiArch.SYSTEM
    preserve_digests: bool = False
    #: `--dest-compress` / `--dest-decompress`; None keeps the destination's preference.
    layer_compression: LayerCompression | None = None
    compression_format: Compression | None = None
    compression_level: int | None = None
    parallel_copies: int = DEFAULT_PARALLEL_COPIES


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What was written at the destination's top level."""

    manifest: bytes
    manifest_mime: str
    manifest_digest: Digest


def copy_image(
    policy: PolicyContext,
    dest_ref: ImageReference,
    src_ref: ImageReference,
    options: CopyOptions,
) -> CopyResult:
    """Copy `src_ref` to `dest_ref` as allowed by `policy`.

    Raises `PolicyRejectedError` if the policy refuses the source; `ToolkitError`
    subclasses for any other failure; in every failure case the destination is left
    as it was (for transports that can promise it; a pipe cannot be un-written).
    """
    reporter = options.reporter
    with src_ref.new_image_source(options.source_ctx) as source:
        top = UnparsedImage(source)
        top_raw, top_mime = top.manifest()
        is_list = mime.is_list_type(top_mime)
        reporter.message("Getting image list signatures" if is_list else "Getting image source signatures")
        top_signatures = [] if options.remove_signatures else top.signatures()
        policy.is_running_image_allowed(top)

        with dest_ref.new_image_destination(options.dest_ctx) as dest:
            # Optional destination hook (docker://): the source repository, so blobs can be
            # mounted across repositories of the same registry instead of uploaded.
            reuse_hint = getattr(dest, "set_reuse_source", None)
            if callable(reuse_hint):
                reuse_hint(src_ref.docker_reference())
            copier = _Copier(source, dest, options)
            if not is_list:
                _check_signature_support(dest, options, top_signatures)
                result = copier.copy_single(top, top_signatures, instance=None)
            elif options.multi_arch is MultiArch.SYSTEM:
                listing = parse_list(top_raw, top_mime)
                chosen = listing.choose_instance(options.source_ctx)
                instance = UnparsedImage(source, chosen)
                policy.is_running_image_allowed(instance)
                signatures = [] if options.remove_signatures else instance.signatures()
                _check_signature_support(dest, options, signatures)
                result = copier.copy_single(instance, signatures, instance=None)
            else:
                _check_signature_support(dest, options, top_signatures)
                result = copier.copy_list(top, top_signatures)
            dest.commit()
    return result


def _check_signature_support(dest: ImageDestination, options: CopyOptions, signatures: Sequence[bytes]) -> None:
    """Refuse, before any blob is written, signatures the destination cannot store
    (carried from the source, or made by `options.signers`)."""
    if (signatures or options.signers) and not dest.capabilities.supports_signatures:
        reason = dest.capabilities.signatures_unsupported_reason or "the destination does not support signatures"
        raise DestinationError(
            f"Can not copy signatures to {dest.reference.transport.name}:"
            f"{safe_text(dest.reference.string_within_transport())}: {reason}"
        )


class CopyCancelledError(ToolkitError):
    """Another layer failed, or the user interrupted the copy, while this layer was copied."""


class _Copier:
    """State of one copy between an open source and an open destination."""

    def __init__(self, source: ImageSource, dest: ImageDestination, options: CopyOptions) -> None:
        self.source = source
        self.dest = dest
        self.options = options
        self.caps = dest.capabilities
        self.reporter = options.reporter
        # Configs already written by this copy (early, beside the layers; see `_copy_layers`).
        self._configs_written: set[Digest] = set()

    # ----------------------------------------------------------------- lists

    def copy_list(self, top: UnparsedImage, signatures: list[bytes]) -> CopyResult:
        """`--all` / `--multi-arch all|index-only`: the list and (unless index-only) every instance."""
        if not self.caps.supports_manifest_lists:
            raise DestinationError(
                f'destination transport "{self.dest.reference.transport.name}" does not support copying '
                "multiple images as a group"
            )
        raw, list_mime = top.manifest()
        listing = parse_list(raw, list_mime)
        can_modify = self._can_modify_manifest(signatures)
        target_list_mime = self._choose_list_mime(list_mime, can_modify)
        instances = listing.instances()
        updates: dict[Digest, tuple[Digest, int, str]] = {}
        if self.options.multi_arch is MultiArch.ALL:
            self.reporter.message(f"Copying {len(instances)} images generated from {len(instances)} images in list")
            for number, entry in enumerate(instances, start=1):
                self.reporter.message(f"Copying image {entry.digest} ({number}/{len(instances)})")
                image = UnparsedImage(self.source, entry.digest)
                inst_sigs = [] if self.options.remove_signatures else image.signatures()
                forced = self._instance_mime_for_list(target_list_mime)
                result = self.copy_single(image, inst_sigs, instance=entry.digest, forced_mime=forced)
                if result.manifest_digest != entry.digest or result.manifest_mime != entry.media_type:
                    updates[entry.digest] = (result.manifest_digest, len(result.manifest), result.manifest_mime)
        new_raw = raw
        if updates or target_list_mime != list_mime:
            if not can_modify:
                raise ToolkitError(
                    "Copying this image would require changing the manifest list, which we cannot do: "
                    + self._why_not_modifiable(signatures)
                )
            if updates:
                new_raw = update_list_instances(
                    listing,
                    [
                        ListUpdate(digest=u[0], size=u[1], media_type=u[2])
                        for u in (updates.get(e.digest, (e.digest, e.size, e.media_type)) for e in instances)
                    ],
                )
                listing = parse_list(new_raw, list_mime)
            new_raw = convert_list(listing, target_list_mime)
        self.reporter.message("Writing manifest list to image destination")
        self.dest.put_manifest(new_raw, target_list_mime)
        self._put_signatures(new_raw, signatures, instance=None, list_signatures=True)
        return CopyResult(new_raw, target_list_mime, Digest.from_bytes(new_raw))

    def _choose_list_mime(self, list_mime: str, can_modify: bool) -> str:
        forced = self.options.forced_manifest_mime
        if forced is not None:
            wanted = mime.OCI_INDEX if forced == mime.OCI_MANIFEST else mime.DOCKER_V2LIST
            if wanted != list_mime and not can_modify:
                raise ToolkitError("Copying this image would require changing the manifest list format")
            return wanted
        supported = self.caps.supported_manifest_mime_types
        if supported is None or list_mime in supported:
            return list_mime
        for candidate in (mime.OCI_INDEX, mime.DOCKER_V2LIST):
            if candidate in supported:
                return candidate
        raise DestinationError("the destination does not accept manifest lists")

    @staticmethod
    def _instance_mime_for_list(list_mime: str) -> str | None:
        return None if list_mime == mime.DOCKER_V2LIST else mime.OCI_MANIFEST

    # ------------------------------------------------------------ single image

    def _can_modify_manifest(self, signatures: Sequence[bytes]) -> bool:
        return not self._why_not_modifiable(signatures)

    def _why_not_modifiable(self, signatures: Sequence[bytes]) -> str:
        if signatures and not self.options.remove_signatures:
            return "Would invalidate signatures"
        if self.options.preserve_digests:
            return "Instructed to preserve digests"
        dest_docker = self.dest.reference.docker_reference()
        if dest_docker is not None and dest_docker.digest is not None:
            return "Destination specifies a digest"
        return ""

    def copy_single(
        self,
        image: UnparsedImage,
        signatures: list[bytes],
        *,
        instance: Digest | None,
        forced_mime: str | None = None,
    ) -> CopyResult:
        """Copy one image; `instance` is set when it is written as a list instance."""
        raw, src_mime = image.manifest()
        manifest = parse_manifest(raw, src_mime)
        not_modifiable = self._why_not_modifiable(signatures)
        forced = forced_mime or self.options.forced_manifest_mime
        target_mime = self._choose_manifest_mime(src_mime, forced)
        if forced in _SCHEMA1_TYPES and not isinstance(manifest, Schema1):
            # Refused before any blob is copied (the conversion itself would refuse after).
            raise NotSupportedError("conversion to v2s1 is not supported")

        self._refuse_artifact_conversion(manifest, target_mime)

        config_info = manifest.config_info()
        config_bytes: bytes | None = None
        diff_ids: list[Digest] = []
        if config_info.digest is not None:
            # Copied byte for byte; parsed only when it is an image config (an artifact's
            # config may be anything, `{}` or not JSON at all).
            config_bytes = read_config(self.source, config_info)
            if manifest.non_image_artifact_type is None and config_info.media_type in mime.IMAGE_CONFIG_TYPES:
                diff_ids = list(parse_config(config_bytes).diff_ids)

        layers = list(self.source.layer_infos_for_copy(image.instance_digest) or manifest.layer_infos())
        plans = [self._plan_layer(manifest, layer) for layer in layers]
        if any(plan.operation is Compression.ZSTD for plan in plans) and target_mime != mime.OCI_MANIFEST:
            supported = self.caps.supported_manifest_mime_types
            if supported is not None and mime.OCI_MANIFEST not in supported:
                raise NotSupportedError("zstd compression is not supported by the destination's manifest formats")
            target_mime = mime.OCI_MANIFEST
        if not_modifiable:
            if any(plan.changes for plan in plans):
                raise ToolkitError(
                    "Copying this image would require changing layer representation, which we cannot do: "
                    f'"{not_modifiable}"'
                )
            if target_mime != src_mime:
                raise ToolkitError(
                    f"Copying this image would require changing the manifest format from {src_mime} to "
                    f'{target_mime}, which we cannot do: "{not_modifiable}"'
                )
        needs_diff_ids = isinstance(manifest, Schema1) and target_mime not in _SCHEMA1_TYPES
        # A config that will be written unchanged goes up beside the layers instead of after
        # them (one fewer round of requests on a registry's critical path); a schema1 source
        # (its config is made from the layers) or a schema1 target (no config) waits.
        early_config = (
            (config_info, config_bytes) if config_bytes is not None and target_mime not in _SCHEMA1_TYPES else None
        )
        copied = self._copy_layers(layers, plans, diff_ids, compute_diff_ids=needs_diff_ids, config=early_config)
        new_layers = [c.info for c in copied]
        layers_changed = any(c.info.compression is not None for c in copied)

        computed_diff_ids = [c.diff_id for c in copied if c.diff_id is not None] if needs_diff_ids else None
        candidates = [target_mime]
        if forced_mime is None and self.options.forced_manifest_mime is None and not not_modifiable:
            # c/image: if the destination refuses a format, try the others it may accept.
            candidates += [m for m in (mime.DOCKER_V2S2, mime.OCI_MANIFEST) if m != target_mime]
        failures: list[str] = []
        for candidate in candidates:
            try:
                return self._write_manifest(
                    manifest, raw, src_mime, candidate, config_info, config_bytes, new_layers,
                    layers_changed, computed_diff_ids, signatures, instance,
                )
            except ManifestTypeRejectedError as exc:
                failures.append(f"{candidate}({exc})")
                log.debug("destination refused manifest type %s: %s", candidate, exc)
            except NotSupportedError as exc:
                if candidate == target_mime:
                    raise
                failures.append(f"{candidate}({exc})")
        raise DestinationError(
            "Uploading manifest failed, attempted the following formats: " + ", ".join(failures)
        )

    def _write_manifest(
        self,
        manifest: ImageManifest,
        raw: bytes,
        src_mime: str,
        target_mime: str,
        config_info: BlobInfo,
        config_bytes: bytes | None,
        new_layers: list[BlobInfo],
        layers_changed: bool,
        diff_ids: list[Digest] | None,
        signatures: list[bytes],
        instance: Digest | None,
    ) -> CopyResult:
        """Build the manifest of type `target_mime`, copy its config, write it and the signatures.

        Raises `ManifestTypeRejectedError` if the destination refuses this manifest type.
        """
        new_raw = raw
        if target_mime != src_mime:
            converted = convert(
                manifest,
                target_mime,
                config_bytes=config_bytes,
                diff_ids=diff_ids,
                layer_infos=new_layers,
            )
            new_raw = converted.manifest
            if converted.config is not None:
                config_bytes = converted.config
                media = mime.OCI_CONFIG if target_mime == mime.OCI_MANIFEST else mime.DOCKER_CONFIG
                config_info = BlobInfo(digest=Digest.from_bytes(config_bytes), size=len(config_bytes), media_type=media)
        elif layers_changed:
            new_raw = update_layer_infos(manifest, new_layers)
        if config_bytes is not None and config_info.digest not in self._configs_written:
            self._copy_config(config_info, config_bytes)

        self.reporter.message("Writing manifest to image destination")
        written_digest = manifest_digest(new_raw)
        # A list instance is stored under the digest of what is actually written.
        stored_as = None if instance is None else written_digest
        self.dest.put_manifest(new_raw, target_mime, stored_as)
        self._put_signatures(new_raw, signatures, instance=stored_as)
        return CopyResult(new_raw, target_mime, written_digest)

    def _refuse_artifact_conversion(self, manifest: ImageManifest, target_mime: str) -> None:
        """An OCI artifact can only be written as the OCI manifest it is: refuse, before any
        blob is copied, a `--format` or a destination that needs another manifest type."""
        artifact_type = manifest.non_image_artifact_type
        if artifact_type is None or target_mime == mime.OCI_MANIFEST:
            return
        supported = self.caps.supported_manifest_mime_types
        if supported is not None and mime.OCI_MANIFEST not in supported:
            detail = f'the "{self.dest.reference.transport.name}" transport can only store container images'
        else:
            detail = f"an artifact cannot be converted to {target_mime}"
        raise NonImageArtifactError(artifact_type, detail)

    def _choose_manifest_mime(self, src_mime: str, forced: str | None) -> str:
        supported = self.caps.supported_manifest_mime_types
        if forced is not None:
            if supported is not None and forced not in supported:
                raise NotSupportedError(
                    f"the destination does not support manifest type {forced} (it accepts {', '.join(supported)})"
                )
            return forced
        if supported is None or src_mime in supported:
            return src_mime
        for candidate in (mime.DOCKER_V2S2, mime.OCI_MANIFEST, *supported):
            if candidate in supported and candidate in mime.SINGLE_IMAGE_TYPES:
                return candidate
        raise DestinationError("the destination accepts no single-image manifest type")

    # ------------------------------------------------------------------ layers

    def _desired_compression(self) -> LayerCompression:
        return self.options.layer_compression or self.caps.desired_layer_compression

    def _plan_layer(self, manifest: ImageManifest, layer: BlobInfo) -> _LayerPlan:
        """Decide what to do with one layer from its media type.

        Only a layer containers/image may recompress (`can_change_layer_compression`: an
        image layer type under an image config) is ever transformed; every other layer
        (artifacts, attestations, encrypted layers, unknown types) is copied byte for byte.
        For a changeable layer the bytes decide later (the media type may be wrong).
        """
        if not manifest.can_change_layer_compression(layer.media_type):
            return _LayerPlan(operation=None, changeable=False)
        current = mime.layer_compression(layer.media_type)
        if current is None:
            return _LayerPlan(operation=None, known=False)
        return _LayerPlan(operation=self._operation_for(current))

    def _operation_for(self, current: Compression) -> Compression | None:
        """The target compression for a layer compressed with `current` (None: keep)."""
        desired = self._desired_compression()
        if desired is LayerCompression.DECOMPRESS and current is not Compression.NONE:
            return Compression.NONE
        if desired is LayerCompression.COMPRESS:
            wanted = self.options.compression_format
            if current is Compression.NONE:
                return wanted or Compression.GZIP
            if wanted is not None and current is not wanted:
                return wanted
        return None

    def _copy_layers(
        self,
        layers: list[BlobInfo],
        plans: list[_LayerPlan],
        diff_ids: list[Digest],
        *,
        compute_diff_ids: bool,
        config: tuple[BlobInfo, bytes] | None = None,
    ) -> list[_CopiedLayer]:
        """Copy every layer (in parallel when both ends allow it); results in layer order.

        When copying in parallel, `config` (info, bytes) is written by the same pool.
        """
        parallel = max(1, self.options.parallel_copies)
        if not (self.caps.has_thread_safe_put_blob and self.source.has_thread_safe_get_blob):
            parallel = 1
        jobs = [
            (layer, plan, diff_ids[i] if i < len(diff_ids) else None)
            for i, (layer, plan) in enumerate(zip(layers, plans, strict=True))
        ]
        cancel = threading.Event()

        def run(job: tuple[BlobInfo, _LayerPlan, Digest | None]) -> _CopiedLayer:
            return self._copy_layer(*job, compute_diff_id=compute_diff_ids, cancel=cancel)

        if parallel == 1 or not jobs or (len(jobs) == 1 and config is None):
            return [run(job) for job in jobs]
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(parallel, len(jobs) + 1)) as pool:
            futures: list[concurrent.futures.Future[Any]] = [pool.submit(run, job) for job in jobs]
            if config is not None:
                futures.append(pool.submit(self._copy_config, *config))
            try:
                # Stop at the first failure (not at the first failure in layer order), so
                # the other layers are cancelled at once and the real error is reported.
                concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
                for future in futures:
                    if future.done() and not future.cancelled() and future.exception() is not None:
                        raise _first_error(futures)
                return [future.result() for future in futures[: len(jobs)]]
            except BaseException:
                cancel.set()
                for future in futures:
                    future.cancel()
                raise

    def _copy_layer(
        self,
        layer: BlobInfo,
        plan: _LayerPlan,
        diff_id: Digest | None,
        *,
        compute_diff_id: bool,
        cancel: threading.Event,
    ) -> _CopiedLayer:
        if cancel.is_set():
            raise CopyCancelledError("copy cancelled")
        if layer.digest is None:
            raise ToolkitError("a layer without a digest cannot be copied")
        if plan.operation is None and (plan.known or not plan.changeable) and not compute_diff_id:
            reused = self.dest.try_reusing_blob(layer)
            if reused is not None:
                self.reporter.blob("blob", layer.digest, layer.size).finish("skipped: already exists")
                return _CopiedLayer(replace(layer, digest=reused.digest, size=reused.size, compression=None), None)
        progress = self.reporter.blob("blob", layer.digest, layer.size)
        stream, _ = self.source.get_blob(layer)
        tap: _DiffIDTap | None = None
        ahead: ReadAheadReader | None = None
        try:
            operation: Compression | None = None
            out: Readable = stream
            put_info = layer
            if plan.changeable:
                # The media type may be wrong or missing: the bytes decide.
                compression, out = peek_compression(stream)
                operation = self._operation_for(compression)
                if compute_diff_id:
                    tap = _DiffIDTap(out, compression)
                    out = tap
                if operation is not None:
                    if compression is not Compression.NONE:
                        out = decompressing_reader(
                            out, compression, budget=self.options.dest_ctx.max_decompressed_size
                        )
                    if operation is not Compression.NONE:
                        out = compressing_reader(out, operation, level=self.options.compression_level)
                    # (De)compress in a thread, overlapping the destination's hashing and writing.
                    out = ahead = ReadAheadReader(out)
                    # The destination must not see EOF before the source bytes are verified.
                    out = _DrainThenEOF(out, stream)
                    expected = diff_id if operation is Compression.NONE else None
                    put_info = BlobInfo(digest=expected, size=-1, media_type=layer.media_type, compression=operation)
            reader = _ProgressReader(out, progress, cancel)
            try:
                stored = self.dest.put_blob(reader, put_info)  # type: ignore[arg-type]
            except CompressionError as exc:
                # A corrupted blob usually shows first as bad compressed data; when the
                # source's own digest check fails, that is the error to report.
                _raise_if_source_mismatch(stream, exc)
                raise ToolkitError(f"copying blob {layer.digest}: {exc}") from exc
            _drain(stream)
        finally:
            if ahead is not None:
                ahead.close()  # stops the thread before the source is closed under it
            stream.close()
        progress.finish("done")
        new_info = BlobInfo(
            digest=stored.digest,
            size=stored.size,
            media_type=layer.media_type,
            urls=layer.urls,
            annotations=layer.annotations,
            compression=operation,
        )
        return _CopiedLayer(new_info, tap.diff_id() if tap is not None else None)

    def _copy_config(self, info: BlobInfo, data: bytes) -> None:
        reused = self.dest.try_reusing_blob(info)
        progress = self.reporter.blob("config", info.digest, info.size)
        if reused is None:
            self.dest.put_blob(io.BytesIO(data), info, is_config=True)
            progress.advance(len(data))
        progress.finish("done")
        if info.digest is not None:
            self._configs_written.add(info.digest)

    # -------------------------------------------------------------- signatures

    def _put_signatures(
        self, manifest_raw: bytes, signatures: list[bytes], *, instance: Digest | None, list_signatures: bool = False
    ) -> None:
        new_signatures = list(signatures)
        if self.options.signers and instance is None:
            identity = self.options.sign_identity or self.dest.reference.docker_reference()
            for signer in self.options.signers:
                new_signatures.append(signer(manifest_raw, identity))
        if not new_signatures:
            return
        if not self.caps.supports_signatures:
            raise DestinationError(
                f"Can not copy signatures to {self.dest.reference.transport.name}:"
                f"{safe_text(self.dest.reference.string_within_transport())}: "
                f"{self.caps.signatures_unsupported_reason or 'the destination does not support signatures'}"
            )
        self.reporter.message("Storing list signatures" if list_signatures else "Storing signatures")
        self.dest.put_signatures(new_signatures, instance)


@dataclass(frozen=True, slots=True)
class _LayerPlan:
    """Target compression for a layer (None: keep as is).

    `changeable`: the layer may be transformed at all (else it is copied byte for byte);
    `known`: its media type announces its compression.
    """

    operation: Compression | None
    known: bool = True
    changeable: bool = True

    @property
    def changes(self) -> bool:
        return self.operation is not None


@dataclass(frozen=True, slots=True)
class _CopiedLayer:
    """A copied layer: its info at the destination, and its diffID if it was computed."""

    info: BlobInfo
    diff_id: Digest | None


class _DiffIDTap:
    """Passes a (gzip or uncompressed) stream through, hashing its uncompressed content.

    Used only for schema1 sources, whose manifests carry no diffIDs.
    """

    def __init__(self, inner: Readable, compression: Compression) -> None:
        if compression not in (Compression.GZIP, Compression.NONE):
            raise NotSupportedError(f"computing the diffID of a {compression.value} layer is not supported")
        self._inner = inner
        self._hash = hashlib.sha256()
        self._inflate = zlib.decompressobj(wbits=31) if compression is Compression.GZIP else None

    def read(self, n: int = -1, /) -> bytes:
        data = self._inner.read(n)
        if not data:
            return data
        if self._inflate is None:
            self._hash.update(data)
            return data
        pending = data
        while pending:
            try:
                self._hash.update(self._inflate.decompress(pending))
            except zlib.error as exc:
                raise ToolkitError(f"invalid gzip layer data: {exc}") from exc
            pending = b""
            if self._inflate.eof and self._inflate.unused_data:
                # Multi-member gzip: continue with a new member.
                pending = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31)
        return data

    def diff_id(self) -> Digest:
        return Digest("sha256", self._hash.hexdigest())

    def close(self) -> None:
        return None


def _first_error(futures: list[concurrent.futures.Future[_CopiedLayer]]) -> BaseException:
    """The error of a failed layer copy, preferring a real failure over a cancellation."""
    errors = [f.exception() for f in futures if f.done() and not f.cancelled()]
    real = [e for e in errors if e is not None and not isinstance(e, CopyCancelledError)]
    found = real[0] if real else next(e for e in errors if e is not None)
    assert found is not None
    return found


def _drain(stream: BlobStream) -> None:
    while stream.read(CHUNK_SIZE):
        pass


def _raise_if_source_mismatch(stream: BlobStream, cause: BaseException) -> None:
    """Read `stream` (a verifying source stream) to its end; raise its digest or size
    mismatch error, if any, from `cause`. Other errors while draining are ignored."""
    try:
        _drain(stream)
    except (DigestMismatchError, SizeMismatchError) as mismatch:
        raise mismatch from cause
    except (ToolkitError, OSError, ValueError):
        return


class _DrainThenEOF:
    """Yields `inner`; at its EOF, reads `source` to its end (verifying it) before EOF."""

    def __init__(self, inner: Readable, source: BlobStream) -> None:
        self._inner = inner
        self._source = source

    def read(self, n: int = -1, /) -> bytes:
        data = self._inner.read(n)
        if not data:
            _drain(self._source)
        return data

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


@pass_through
class _ProgressReader:
    """Counts bytes for the reporter; stops the copy (raises) once `cancel` is set, so
    that Ctrl-C or a failed sibling layer does not wait for every layer to finish."""

    def __init__(self, inner: Readable, progress: BlobProgress, cancel: threading.Event | None = None) -> None:
        self._inner = inner
        self._progress = progress
        self._cancel = cancel

    @property
    def passes_through(self) -> Readable:
        return self._inner

    def read(self, n: int = -1, /) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise CopyCancelledError("copy cancelled")
        data = self._inner.read(n)
        if data:
            self._progress.advance(len(data))
        return data

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()
