"""The blob path of a copy: layers (in parallel) and configs (c/image `copy/blob.go`).

One layer goes through a pipeline of named steps, each wrapping the stream the next one
reads (as c/image's `copyBlobFromStream` reassigns `stream.reader`):

1. **reuse** — the destination already has the blob: nothing is read;
   **local file** — a layer that flows byte for byte (no decryption, encryption, TOC,
   diffID or (de)compression) from a source that has it as a local file
   (`LocalBlobSource`) to a destination that writes local files (`FileBlobDestination`)
   skips the stream pipeline: the destination copies the file range, hashing what it
   writes (the one hash of those bytes; a mismatch fails as the source's stream would);
2. **source** — a verifying stream from the source (size and digest checked at EOF);
   **decrypt** — an encrypted layer the plan decrypts (`toolkit.crypt`, the key unwrapped
   when the plan was made): plaintext flows on, and the HMAC over the ciphertext is
   checked when the ciphertext ends, *before* EOF is passed on (see "Trust" below);
3. **zstd:chunked TOC** — a layer whose annotations name a zstd:chunked table of contents
   is checked against it as it flows (`zstd_chunked.TOCVerifier`: the TOC's position,
   checksum and entries; a lie fails the copy at the blob's end, never committed);
   **detect compression** — the first bytes decide, not the media type (only for layers
   the engine may change: `plan.changeable`; every other blob flows byte for byte);
4. **diffID** — schema1 sources only: hash the uncompressed content on the way;
5. **(de)compress** — to the target compression (zstd:chunked through
   `zstd_chunked.ZstdChunkedWriter`, whose TOC annotations replace the source's), in a
   read-ahead thread, then "drain then EOF" so the destination sees EOF only once the
   source bytes are verified;
   **encrypt** — a layer the plan encrypts: AES-256-CTR over the (re)compressed bytes, the
   key wrapped for every recipient when the plan was made, the HMAC known at EOF;
6. **progress** — counts the source's bytes (as read), and stops the copy once it is cancelled;
7. **write** — `put_blob`; a compression error is reported as the source's digest or
   size mismatch, or the decrypted layer's HMAC mismatch, when that is the real cause.
   **sized** — a gzip layer inflated from a local file into a destination that stores
   blobs in order in a file (`SizedLayerDestination`: a docker-archive file) is stored in
   an entry reserved from the size its gzip trailer announces (`put_layer_sized`), so
   that the next layer is inflated and written at once (`_copy_in_order`); the trailer is
   untrusted: a wrong size rewinds the destination and the layers are copied again in
   order, the same bytes as the stream path in every case.

Memory. All layers of one copy share one `streams.BufferBudget`: a layer is admitted in
the order layers start (largest first in a pool) once its readers' first buffers fit
(`LAYER_RESERVE`, or `TRANSFORM_RESERVE` for a layer that is decompressed, compressed or
(de|en)crypted), and every reader it opens (`streams.using_lease`) takes further buffers
only while the budget has room, so the bytes in flight stay bounded whatever
`parallel_copies` and the layer sizes; the lease is closed in a `finally`, which gives
everything back whatever failed.

Trust. No consumer ever sees the end of a stream before it is verified: the source's
verifying stream raises instead of EOF on a digest or size mismatch, the decrypting reader
on an HMAC mismatch, the TOC verifier on a lying TOC, and "drain then EOF" reads the
(decrypted) source to its end before the transformed stream ends. A destination writes
blobs to temporary files (or an unfinished upload) and makes them visible only after it
has seen EOF and the copy commits; on any error it discards them. So plaintext of a layer
whose HMAC does not verify is never committed anywhere, although it flowed through the
pipeline (through a pipe destination such as `docker-archive:-` it cannot be recalled; the
stream then ends with an error and is no complete archive).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import sys
import threading
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from toolkit._record import record
from toolkit.compression import (
    SNIFF_SIZE,
    CompressionError,
    Readable,
    ReadAheadReader,
    compressing_reader,
    decompressing_reader,
    detect_compression,
    peek_compression,
)
from toolkit.digest import CHUNK_SIZE, Digest, native_readinto, pass_through, readinto_from
from toolkit.errors import DigestMismatchError, NotSupportedError, SizeMismatchError, ToolkitError
from toolkit.manifest import mime
from toolkit.manifest.formats import ImageManifest
from toolkit.ops.copy.copier import Copier
from toolkit.ops.report import BlobProgress
from toolkit.streams import (
    BUFFER_SIZE,
    LAYER_RESERVE,
    TRANSFORM_RESERVE,
    BufferBudget,
    current_lease,
    iter_chunks,
    using_lease,
)
from toolkit.transports.base import (
    FileBlobDestination,
    ImageSourceBase,
    LocalBlobSource,
    SizedLayerDestination,
    SizeHintMissedError,
)
from toolkit.types import BlobInfo, Compression, LayerCompression, LayerCrypto
from toolkit.zstd_chunked import TOCVerifier, ZstdChunkedWriter, is_chunked_annotation, toc_annotations

if TYPE_CHECKING:
    # `toolkit.crypt` is imported by the copies that encrypt or decrypt (single.py plans them).
    from toolkit.crypt import EncryptingReader, LayerDecryption, LayerEncryption

__all__ = [
    "CopyCancelledError",
    "LayerPlan",
    "CopiedLayer",
    "plan_layer",
    "copy_layers",
    "copy_config",
    "copy_small_blob",
]


class CopyCancelledError(ToolkitError):
    """Another layer failed, or the user interrupted the copy, while this layer was copied."""


@record
class LayerPlan:
    """Target compression for a layer (None: keep as is).

    `changeable`: the layer may be transformed at all (else it is copied byte for byte);
    `known`: its media type announces its compression. `decrypt` / `encrypt`: the layer's
    unwrapped key / its new key wrapped for the recipients (`single.py` decides both before
    any blob is written).
    """

    operation: Compression | None
    known: bool = True
    changeable: bool = True
    decrypt: LayerDecryption | None = None
    encrypt: LayerEncryption | None = None

    @property
    def changes(self) -> bool:
        return self.operation is not None or self.crypto is not None

    @property
    def crypto(self) -> LayerCrypto | None:
        if self.decrypt is not None:
            return LayerCrypto.DECRYPT
        return LayerCrypto.ENCRYPT if self.encrypt is not None else None


@record
class CopiedLayer:
    """A copied layer: its info at the destination, and its diffID if it was computed."""

    info: BlobInfo
    diff_id: Digest | None


# ------------------------------------------------------------------------- planning


def plan_layer(copier: Copier, manifest: ImageManifest, layer: BlobInfo) -> LayerPlan:
    """Decide what to do with one layer from its media type.

    Only a layer containers/image may recompress (`can_change_layer_compression`: an
    image layer type under an image config) is ever transformed; every other layer
    (artifacts, attestations, encrypted layers, unknown types) is copied byte for byte.
    For a changeable layer the bytes decide later (the media type may be wrong).
    """
    if not manifest.can_change_layer_compression(layer.media_type):
        return LayerPlan(operation=None, changeable=False)
    current = mime.layer_compression(layer.media_type)
    if current is None:
        return LayerPlan(operation=None, known=False)
    return LayerPlan(operation=target_compression(copier, current, chunked_source=_is_chunked(layer)))


def target_compression(copier: Copier, current: Compression, *, chunked_source: bool = False) -> Compression | None:
    """The target compression for a layer compressed with `current` (None: keep).

    With `zstd_chunked`, a zstd layer that is not zstd:chunked yet (`chunked_source`: its
    annotations name a TOC) is recompressed, as c/image does for a different algorithm name.
    """
    options = copier.options
    desired = options.layer_compression or copier.caps.desired_layer_compression
    if desired is LayerCompression.DECOMPRESS and current is not Compression.NONE:
        return Compression.NONE
    if desired is LayerCompression.COMPRESS:
        wanted = options.compression_format
        if current is Compression.NONE:
            return wanted or Compression.GZIP
        if wanted is not None and current is not wanted:
            return wanted
        if options.zstd_chunked and wanted is Compression.ZSTD and current is wanted and not chunked_source:
            return wanted
    return None


def _is_chunked(layer: BlobInfo) -> bool:
    return any(is_chunked_annotation(key) for key in layer.annotations)


# -------------------------------------------------------------------------- copying


def copy_layers(
    copier: Copier,
    layers: list[BlobInfo],
    plans: list[LayerPlan],
    diff_ids: list[Digest],
    *,
    compute_diff_ids: bool,
    config: tuple[BlobInfo, bytes] | None = None,
) -> list[CopiedLayer]:
    """Copy every layer (in parallel when both ends allow it); results in layer order.

    When copying in parallel, `config` (info, bytes) is written by the same pool. The first
    failure cancels the other layers at once and is the error raised.
    """
    parallel = max(1, copier.options.parallel_copies)
    # A destination that takes one blob at a time (an archive) still gets the next layer
    # read and inflated ahead while the current one is written (`_copy_in_order`).
    in_order = parallel > 1 and copier.source.has_thread_safe_get_blob and not copier.caps.has_thread_safe_put_blob
    if not (copier.caps.has_thread_safe_put_blob and copier.source.has_thread_safe_get_blob):
        parallel = 1
    if copier.options.zstd_chunked:
        # zstd:chunked compression is CPU-bound: layers beyond the CPUs add only memory
        # (each thread's malloc arena keeps its peak), not speed.
        parallel = min(parallel, (os.cpu_count() or 1) + 1)
    jobs = [
        (layer, plan, diff_ids[i] if i < len(diff_ids) else None)
        for i, (layer, plan) in enumerate(zip(layers, plans, strict=True))
    ]
    cancel = threading.Event()
    # The chunk buffers of all layers together stay within one budget (flat memory
    # whatever the parallelism); each layer takes its share as it starts, in layer order.
    budget = BufferBudget()

    # A layer copied from a local file hashes in a thread of its own only when fewer layers
    # than cores are copied at once: else their threads use every core already, and a hash
    # thread per layer would only add handoffs (measured: +13% CPU for 6 layers).
    at_once = min(parallel, len(jobs)) if not in_order else 1
    background_hash = at_once < (os.cpu_count() or 1)

    def run(index: int, turn: int) -> CopiedLayer:
        # `turn`: the layer's place in the order the budget admits layers (their start order).
        layer, plan, diff_id = jobs[index]
        copy = _LayerCopy(copier, layer, plan, diff_id, cancel, budget, turn)
        copy.background_hash = background_hash
        return copy.run(compute_diff_id=compute_diff_ids)

    if in_order and len(jobs) > 1:
        dest = copier.dest
        if (
            isinstance(dest, SizedLayerDestination)
            and dest.reserves_sized_layers
            and isinstance(copier.source, LocalBlobSource)
        ):
            # Layers inflated from local gzip files go into entries reserved from their
            # expected sizes, so that two layers are inflated at once (see `_gzip_size_hint`).
            # A wrong hint (a multi-member gzip, a layer of 4 GiB or more) costs a second
            # copy of the layers, in strict order: the archive is rewound to before them.
            token = dest.layer_checkpoint()
            try:
                return _copy_in_order(copier, jobs, cancel, compute_diff_ids, budget, sized=True)
            except SizeHintMissedError:
                dest.layer_rewind(token)
            cancel, budget = threading.Event(), BufferBudget()
        return _copy_in_order(copier, jobs, cancel, compute_diff_ids, budget)
    if parallel == 1 or not jobs or (len(jobs) == 1 and config is None):
        return [run(i, i) for i in range(len(jobs))]
    # Largest layers start first (results, so the manifest, stay in layer order): a registry
    # receives and hashes each upload in one stream, so the largest layer's upload is the
    # copy's critical path (measured, 300 MB 3-layer push: its 102 MB layer's PUT is still
    # running 0.27 s after the others end), and with more layers than workers a large layer
    # left for last would run alone at the end. The budget admits layers in this same order:
    # admitting by layer index would make a started layer wait for a smaller, earlier one
    # still queued behind it for a worker (a deadlock once the pool is full).
    order = sorted(range(len(jobs)), key=lambda i: -max(jobs[i][0].size, 0))
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(parallel, len(jobs) + 1)) as pool:
        started = {index: pool.submit(run, index, turn) for turn, index in enumerate(order)}
        futures: list[concurrent.futures.Future[Any]] = [started[i] for i in range(len(jobs))]
        if config is not None:
            futures.append(pool.submit(copy_config, copier, *config))
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


class _Turns:
    """Layer `i` may write only after layer `i - 1` finished (successfully or not): the
    destination sees its blobs one at a time, in layer order."""

    def __init__(self, cancel: threading.Event) -> None:
        self._cond = threading.Condition()
        self._next = 0
        self._cancel = cancel

    def wait(self, index: int) -> None:
        """Return once it is layer `index`'s turn; `CopyCancelledError` once the copy is
        cancelled (another layer failed, or Ctrl-C)."""
        with self._cond:
            while self._next != index:
                if self._cancel.is_set():
                    raise CopyCancelledError("copy cancelled")
                self._cond.wait(0.05)
        if self._cancel.is_set():
            raise CopyCancelledError("copy cancelled")

    def done(self, index: int) -> None:
        """Layer `index` is finished: the next one may write."""
        with self._cond:
            self._next = max(self._next, index + 1)
            self._cond.notify_all()


def _copy_in_order(
    copier: Copier,
    jobs: list[tuple[BlobInfo, LayerPlan, Digest | None]],
    cancel: threading.Event,
    compute_diff_ids: bool,
    budget: BufferBudget,
    *,
    sized: bool = False,
) -> list[CopiedLayer]:
    """Copy layers to a destination that takes one blob at a time, in layer order, with
    the next layer prepared meanwhile: its source opened and its read-ahead (reading,
    verifying, inflating) started, bounded by that reader's buffer pool, so the pipeline
    does not drain and refill between layers. At most two layers are open at once. A layer
    whose digest occurs earlier in the list is not prepared early (the earlier copy may let
    the destination reuse it). The first failure cancels the other layer and is raised.

    `sized` (the destination is a `SizedLayerDestination`): a layer inflated from a local
    gzip file whose size is announced in its trailer is stored in an entry reserved for
    that size, and the next layer's turn comes once the entry is reserved, not written:
    both layers are then inflated and written at once (each into its own place), in the
    same bytes as one after the other. `SizeHintMissedError` when a size was wrong."""
    turns = _Turns(cancel)
    seen: set[Digest] = set()
    early: list[bool] = []
    for layer, _, _ in jobs:
        early.append(layer.digest is not None and layer.digest not in seen)
        if layer.digest is not None:
            seen.add(layer.digest)

    def run(index: int) -> CopiedLayer:
        layer, plan, diff_id = jobs[index]
        try:
            if not early[index]:
                turns.wait(index)
            copy = _LayerCopy(copier, layer, plan, diff_id, cancel, budget, index)
            # Two layers are copied at a time, each using a core, but for the last one, which
            # ends alone: it hashes in a thread of its own.
            copy.background_hash = index == len(jobs) - 1
            # A layer copied from a file frees the destination for the next one once its
            # place there is fixed (an archive entry reserved), not when it is all written.
            copy.placed = lambda: turns.done(index)
            copy.sized = sized
            if early[index]:
                copy.turn = lambda: turns.wait(index)
            return copy.run(compute_diff_id=compute_diff_ids)
        finally:
            turns.done(index)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, i) for i in range(len(jobs))]
        try:
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is not None:
                    raise _first_error(futures)
            return [future.result() for future in futures]
        except BaseException:
            cancel.set()
            for future in futures:
                future.cancel()
            raise


def copy_config(copier: Copier, info: BlobInfo, data: bytes) -> None:
    """Write a (verified) config blob unless the destination has it."""
    copy_small_blob(copier, info, data, what="config", is_config=True)
    if info.digest is not None:
        copier.mark_config_written(info.digest)


def copy_small_blob(copier: Copier, info: BlobInfo, data: bytes, *, what: str, is_config: bool) -> None:
    """Write a small blob held in memory (`data` matches `info`) unless the destination has it."""
    reused = copier.dest.try_reusing_blob(info)
    progress = copier.reporter.blob(what, info.digest, info.size)
    if reused is None:
        copier.dest.put_blob(io.BytesIO(data), info, is_config=is_config)
        progress.advance(len(data))
    progress.finish("done")


class _LayerCopy:
    """One layer through the pipeline of the module docstring; `run()` once."""

    def __init__(
        self,
        copier: Copier,
        layer: BlobInfo,
        plan: LayerPlan,
        diff_id: Digest | None,
        cancel: threading.Event,
        budget: BufferBudget | None = None,
        index: int = 0,
    ) -> None:
        self.copier = copier
        #: The copy's buffer budget and this layer's place in it (None: no bound).
        self.budget = budget
        self.index = index
        self.layer = layer
        self.plan = plan
        self.diff_id = diff_id
        self.cancel = cancel
        self.operation: Compression | None = None
        self.put_info = layer
        self.tap: _DiffIDTap | None = None
        self.ahead: ReadAheadReader | None = None
        self.chunked: ZstdChunkedWriter | None = None
        self.encryptor: EncryptingReader | None = None
        #: Called once the pipeline is built, before the first byte is written (see
        #: `_copy_in_order`): waits for this layer's turn at the destination.
        self.turn: Callable[[], None] | None = None
        #: A layer copied from a local file is hashed in a thread of its own.
        self.background_hash = False
        #: Called once a layer copied from a local file has its place at the destination
        #: (see `FileBlobDestination.put_blob_from_file`), or an inflated layer its reserved
        #: entry (`SizedLayerDestination.put_layer_sized`).
        self.placed: Callable[[], None] | None = None
        #: The destination reserves inflated layers' entries from their sizes (`sized` of
        #: `_copy_in_order`); `size_hint`: this layer's expected size, when it does.
        self.sized = False
        self.size_hint: int | None = None

    def run(self, *, compute_diff_id: bool) -> CopiedLayer:
        """Copy the layer (or reuse it at the destination); see the module docstring."""
        lease = None
        try:
            if self.cancel.is_set():
                raise CopyCancelledError("copy cancelled")
            reused = self._reuse(compute_diff_id)
            if reused is not None:
                return reused
            if self.budget is None:
                return self._copy(compute_diff_id)
            plan = self.plan
            transforms = plan.operation is not None or plan.crypto is not None or (plan.changeable and not plan.known)
            reserve = TRANSFORM_RESERVE if transforms else LAYER_RESERVE
            lease = self.budget.admit(self.index, self.cancel, reserve=reserve)
            if lease is None:
                raise CopyCancelledError("copy cancelled")
            with using_lease(lease):
                return self._copy(compute_diff_id)
        finally:
            if lease is not None:
                lease.close()  # also gives back what a failed reader did not
            elif self.budget is not None:
                self.budget.skip(self.index)

    def _reuse(self, compute_diff_id: bool) -> CopiedLayer | None:
        layer, plan = self.layer, self.plan
        if layer.digest is None:
            raise ToolkitError("a layer without a digest cannot be copied")
        # === reuse: as c/image, a blob the destination already has is used as it is even
        # if another compression was asked for, unless --dest-force-compress-format says
        # only that compression may be used; never when a layer is (de|en)crypted.
        force = self.copier.options.force_compression_format
        reusable = not plan.changes if force else plan.crypto is None
        if reusable and (plan.known or not plan.changeable) and not compute_diff_id:
            reused = self.copier.dest.try_reusing_blob(layer)
            if reused is not None:
                self.copier.reporter.blob("blob", layer.digest, layer.size).finish("skipped: already exists")
                return CopiedLayer(replace(layer, digest=reused.digest, size=reused.size, compression=None), None)
        return None

    def _copy(self, compute_diff_id: bool) -> CopiedLayer:
        local = self._copy_local_file(compute_diff_id)
        if local is not None:
            return local
        layer, plan = self.layer, self.plan
        assert layer.digest is not None  # checked by run()
        progress = self.copier.reporter.blob("blob", layer.digest, layer.size)
        # === source
        stream, _ = self.copier.source.get_blob(layer)
        plan_transforms = plan.changes or (plan.changeable and not plan.known)
        image_source = self.copier.source
        if plan_transforms and isinstance(image_source, ImageSourceBase) and image_source.receives_blobs_over_network:
            # A layer (de|en)coded or (de|en)crypted on the way is received (and verified) in
            # a thread of its own, so the transforming thread, the slowest stage, only
            # transforms (measured: registry -> docker-archive 4% slower without).
            stream = ReadAheadReader(stream, chunk_size=BUFFER_SIZE, depth=4, by_read=True)
        try:
            # The bar counts the bytes read from the source, against the size it announced
            # (the blob as the registry stores it), as skopeo counts: not what is written.
            source: Readable = _ProgressReader(stream, progress)
            # === decrypt
            if plan.decrypt is not None:
                source = plan.decrypt.reader(source)
                self.put_info = BlobInfo(digest=None, size=-1, media_type=layer.media_type)
            # === zstd:chunked TOC (checked on every read of a layer that names one; an
            # encrypted layer's TOC, if any, describes its plaintext)
            encrypted = plan.decrypt is None and mime.is_encrypted_layer_type(layer.media_type)
            if not encrypted and toc_annotations(layer.annotations) is not None:
                source = TOCVerifier(source, layer.annotations, what=f"layer {layer.digest}")
            out: Readable = source
            if plan.changeable:
                # === detect compression
                compression, out = peek_compression(source)
                self.operation = target_compression(self.copier, compression, chunked_source=_is_chunked(layer))
                # === diffID
                if compute_diff_id:
                    out = self.tap = _DiffIDTap(out, compression)
                # === (de)compress
                out = self._compression_step(out, source, compression)
                if self._reserves_by_size(compression):
                    self.size_hint = _gzip_size_hint(self.copier.source, layer)
            # === encrypt
            if plan.encrypt is not None:
                out = self._encryption_step(plan.encrypt, out)
            # === progress
            reader = _ProgressReader(out, None, self.cancel)
            if self.turn is not None:
                # Read ahead (bounded) while the previous layer is being written, within
                # this layer's reserve: the budget's free room goes to the layer being
                # written (its decoding overlaps its writing only with room for 2 chunks).
                lease = current_lease()
                if lease is not None:
                    lease.extras = False
                for ahead in (self.ahead, stream):
                    if isinstance(ahead, ReadAheadReader):
                        ahead.start()
                self.turn()
                if lease is not None:
                    lease.extras = True
            # === write
            stored = self._write(reader, source)
        finally:
            if self.ahead is not None:
                self.ahead.close()  # stops the thread before the source is closed under it
            stream.close()
        progress.finish("done")
        return self._result(stored)

    def _reserves_by_size(self, compression: Compression) -> bool:
        """True for a gzip layer inflated, neither encrypted nor decrypted, with its diffID
        known, when the destination reserves entries by size (`sized`)."""
        inflated = compression is Compression.GZIP and self.operation is Compression.NONE
        return self.sized and inflated and self.put_info.digest is not None and self.plan.crypto is None

    def _result(self, stored: BlobInfo) -> CopiedLayer:
        """The copied layer, stored at the destination as `stored`."""
        layer = self.layer
        new_info = BlobInfo(
            digest=stored.digest,
            size=stored.size,
            media_type=layer.media_type,
            urls=layer.urls,
            annotations=self._annotations(),
            compression=self.operation,
            crypto_operation=self.plan.crypto,
        )
        return CopiedLayer(new_info, self.tap.diff_id() if self.tap is not None else None)

    def _copy_local_file(self, compute_diff_id: bool) -> CopiedLayer | None:
        """=== local file: copy the layer as a file range (see the module docstring), or
        None when a step of the stream pipeline is needed or either end cannot."""
        layer, plan = self.layer, self.plan
        source, dest = self.copier.source, self.copier.dest
        if plan.changes or compute_diff_id or toc_annotations(layer.annotations) is not None:
            return None
        if not isinstance(source, LocalBlobSource) or not isinstance(dest, FileBlobDestination):
            return None
        assert layer.digest is not None  # checked by run()
        blob = source.get_local_blob(layer)
        if blob is None:
            return None
        try:
            if plan.changeable:
                # === detect compression: from the first bytes, as the stream pipeline does;
                # a layer that must be (re)compressed takes the stream pipeline.
                compression = detect_compression(blob.head(SNIFF_SIZE))
                if target_compression(self.copier, compression, chunked_source=_is_chunked(layer)) is not None:
                    return None
            progress = self.copier.reporter.blob("blob", layer.digest, layer.size)
            cancel = self.cancel

            def advance(n: int) -> None:
                progress.advance(n)
                if cancel.is_set():
                    raise CopyCancelledError("copy cancelled")

            if self.turn is not None:
                self.turn()
            stored = dest.put_blob_from_file(
                blob, layer, progress=advance, background_hash=self.background_hash, placed=self.placed
            )
        finally:
            blob.close()
        progress.finish("done")
        return self._result(stored)  # nothing was transformed: the source's annotations

    def _annotations(self) -> dict[str, str]:
        annotations = dict(self.layer.annotations)
        if self.plan.decrypt is not None:
            from toolkit.crypt import is_encryption_annotation  # imported already: the plan decrypts

            annotations = {k: v for k, v in annotations.items() if not is_encryption_annotation(k)}
        if self.operation is not None or self.plan.encrypt is not None:
            # A recompressed layer's old TOC describes other bytes (c/image drops it too);
            # an encrypted layer's TOC would describe its plaintext in the clear.
            annotations = {k: v for k, v in annotations.items() if not is_chunked_annotation(k)}
        if self.chunked is not None:
            annotations.update(self.chunked.annotations())
        if self.plan.encrypt is not None and self.encryptor is not None:
            annotations.update(self.plan.encrypt.annotations(self.encryptor))
        return annotations

    def _encryption_step(self, encryption: LayerEncryption, out: Readable) -> Readable:
        out = self.encryptor = encryption.reader(out)
        if self.ahead is None:
            # Encrypt in a thread, overlapping the destination's hashing and writing.
            out = self.ahead = ReadAheadReader(out)
        self.put_info = BlobInfo(digest=None, size=-1, media_type=self.layer.media_type)
        return out

    def _compression_step(self, out: Readable, stream: Readable, compression: Compression) -> Readable:
        operation = self.operation
        if operation is None:
            return out
        options = self.copier.options
        if compression is not Compression.NONE:
            out = decompressing_reader(out, compression, budget=options.dest_ctx.max_decompressed_size)
        if operation is Compression.ZSTD and options.zstd_chunked and self.plan.encrypt is None:
            out = self.chunked = ZstdChunkedWriter(out, level=options.compression_level)
        elif operation is not Compression.NONE:
            out = compressing_reader(out, operation, level=options.compression_level)
        # (De)compress in a thread, overlapping the destination's hashing and writing. When
        # two layers inflate at once (`sized`), in 256 KiB chunks: with 1 MiB ones glibc keeps
        # the freed chunks of both threads' arenas (measured: peak RSS +5 MiB, 1 GiB image).
        out = self.ahead = ReadAheadReader(out, chunk_size=BUFFER_SIZE if self.sized else CHUNK_SIZE)
        # The destination must not see EOF before the source bytes are verified.
        out = _DrainThenEOF(out, stream)
        expected = self.diff_id if operation is Compression.NONE and self.plan.encrypt is None else None
        self.put_info = BlobInfo(digest=expected, size=-1, media_type=self.layer.media_type, compression=operation)
        return out

    def _write(self, reader: _ProgressReader, stream: Readable) -> BlobInfo:
        dest = self.copier.dest
        try:
            if self.size_hint is not None and isinstance(dest, SizedLayerDestination):
                stored = dest.put_layer_sized(
                    reader, self.put_info, self.size_hint, placed=self.placed  # type: ignore[arg-type]
                )
            else:
                stored = dest.put_blob(reader, self.put_info)  # type: ignore[arg-type]
        except CompressionError as exc:
            # A corrupted blob usually shows first as bad compressed data; when the
            # source's own digest check fails, that is the error to report.
            _raise_if_source_mismatch(stream, exc)
            raise ToolkitError(f"copying blob {self.layer.digest}: {exc}") from exc
        _drain(stream)
        return stored


def _gzip_size_hint(source: object, layer: BlobInfo) -> int | None:
    """The uncompressed size a local gzip layer announces (its last member's ISIZE, the
    size modulo 4 GiB), or None when the source has no local file for it or the figure
    cannot be the size (smaller than deflate allows for the compressed size: it wrapped
    around 4 GiB, or is a later member's). Untrusted: only a place to reserve; the bytes
    written are counted against it (`SizeHintMissedError`) and verified as always."""
    if not isinstance(source, LocalBlobSource):
        return None
    try:
        blob = source.get_local_blob(layer)
    except ToolkitError:
        return None
    if blob is None:
        return None
    try:
        if blob.size < _GZIP_MIN_SIZE:
            return None
        tail = os.pread(blob.file.fileno(), 4, blob.offset + blob.size - 4)
    except OSError:
        return None
    finally:
        blob.close()
    if len(tail) != 4:
        return None
    hint = int.from_bytes(tail, "little")
    # Stored (incompressible) deflate blocks add 5 bytes per 64 KiB, the gzip frame 18.
    return hint if hint + hint // 8192 + 64 >= blob.size else None


#: A gzip member's header and trailer: a shorter blob has no trailer to read.
_GZIP_MIN_SIZE: Final = 18


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


def _first_error(futures: list[concurrent.futures.Future[CopiedLayer]]) -> BaseException:
    """The error of a failed layer copy, preferring a real failure over a cancellation."""
    errors = [f.exception() for f in futures if f.done() and not f.cancelled()]
    real = [e for e in errors if e is not None and not isinstance(e, CopyCancelledError)]
    found = real[0] if real else next(e for e in errors if e is not None)
    assert found is not None
    return found


def _drain(stream: Readable) -> None:
    for _ in iter_chunks(stream):
        pass


def _raise_if_source_mismatch(stream: Readable, cause: BaseException) -> None:
    """Read `stream` (a verifying source stream) to its end; raise its digest or size
    mismatch error, if any, from `cause`. Other errors while draining are ignored."""
    try:
        _drain(stream)
    except (DigestMismatchError, SizeMismatchError) as mismatch:
        raise mismatch from cause
    except ToolkitError as other:
        if _is_decryption_error(other):
            raise other from cause
        return
    except (OSError, ValueError):
        return


def _is_decryption_error(exc: BaseException) -> bool:
    """True for a decrypted layer's HMAC (or key) failure. Only a copy that decrypts can
    raise one, and it has imported `toolkit.crypt`: a plain copy does not import it here."""
    errors = sys.modules.get("toolkit.crypt.errors")
    return errors is not None and isinstance(exc, errors.LayerDecryptionError)


def _close_inner(inner: Readable) -> None:
    close = getattr(inner, "close", None)
    if callable(close):
        close()


class _DrainThenEOF:
    """Yields `inner`; at its EOF, reads `source` to its end (verifying it) before EOF."""

    def __init__(self, inner: Readable, source: Readable) -> None:
        self._inner = inner
        self._source = source

    def read(self, n: int = -1, /) -> bytes:
        data = self._inner.read(n)
        if not data:
            _drain(self._source)
        return data

    def readinto(self, buffer: Any) -> int:
        got = readinto_from(self._inner, memoryview(buffer).cast("B"))
        if not got:
            _drain(self._source)
        return got

    @property
    def copies_on_readinto(self) -> bool:
        return not native_readinto(self._inner)

    def close(self) -> None:
        _close_inner(self._inner)


@pass_through
class _ProgressReader:
    """Counts bytes for the reporter (`progress`, if any); stops the copy (raises) once
    `cancel` is set, so that Ctrl-C or a failed sibling layer does not wait for every
    layer to finish."""

    def __init__(
        self, inner: Readable, progress: BlobProgress | None, cancel: threading.Event | None = None
    ) -> None:
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
        if data and self._progress is not None:
            self._progress.advance(len(data))
        return data

    @property
    def copies_on_readinto(self) -> bool:
        return not native_readinto(self._inner)

    def readinto(self, buffer: Any) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise CopyCancelledError("copy cancelled")
        got = readinto_from(self._inner, memoryview(buffer).cast("B"))
        if got and self._progress is not None:
            self._progress.advance(got)
        return got

    def close(self) -> None:
        _close_inner(self._inner)
