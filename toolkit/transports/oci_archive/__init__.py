"""The `oci-archive:` transport: an OCI image layout in a tar file (c/image `oci/archive`).

`oci-archive:PATH[:NAME]` (no `@N`: c/image's parser refuses it for this transport).

Beyond containers/image, which extracts the whole archive into a temp directory:
- The source never extracts anything. The tar is indexed in place
  (`transports/_tar.TarIndex`; a compressed file or a stream is decompressed and spooled
  to an unnamed temp file in `ctx.tmpdir`, under the decompression budget) and
  `index.json`, `oci-layout` and blobs are served from its members through the same
  resolution and verification code as `oci:` (`transports/_oci_layout.py`).
- The destination streams a tar (`TarStreamWriter`) into a hidden temp file beside the
  target and replaces the target with `os.replace` at `commit()`; a failed or aborted copy
  leaves the old file untouched and no temp file behind. Like c/image, the new archive
  holds only this image (`index.json` has one entry, named if a name was given).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from toolkit.digest import Digest, HashingReader
from toolkit.errors import (
    ArchiveError,
    DestinationError,
    DigestMismatchError,
    ImageNotFoundError,
    SizeMismatchError,
    ToolkitError,
    safe_text,
)
from toolkit.safefile import open_special_for_writing, refuse_dangling_link, write_all
from toolkit.transports._fs import AtomicFile, copy_hashing, copy_local_blob, wrap_os_error
from toolkit.transports._oci_layout import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_BYTES,
    LAYOUT_FILE,
    LayoutDestinationBase,
    LayoutImageSource,
    LayoutReferenceBase,
    blob_member_name,
    new_index,
    parse_layout_reference,
    serialize_index,
)
from toolkit.transports._path_scope import validate_path_scope
from toolkit.transports._tar import MemberNotFoundError, TarIndex, TarStreamWriter
from toolkit.transports.base import LocalBlobFile
from toolkit.types import BlobInfo, SystemContext

__all__ = ["TRANSPORT", "OciArchiveTransport", "OciArchiveReference", "OciArchiveDestination", "TarStore"]

log = logging.getLogger(__name__)

#: Entry mode of the files in archives we write (c/image tars a real directory: 0644).
_FILE_MODE = 0o644


@dataclass(frozen=True, slots=True)
class OciArchiveTransport:
    """The `oci-archive` transport."""

    name: str = "oci-archive"

    def parse_reference(self, reference: str) -> OciArchiveReference:
        """`PATH[:NAME]`; raises `InvalidImageNameError`."""
        parts = parse_layout_reference(reference, allow_source_index=False)
        return OciArchiveReference(parts.path, parts.resolved_path, parts.image)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


TRANSPORT = OciArchiveTransport()


@dataclass(frozen=True, slots=True)
class OciArchiveReference(LayoutReferenceBase):
    """An `oci-archive:` image location (see `LayoutReferenceBase`)."""

    @property
    def transport(self) -> OciArchiveTransport:
        return TRANSPORT

    def new_image_source(self, ctx: SystemContext) -> LayoutImageSource:
        """Index the archive and resolve the image.

        Raises `ImageNotFoundError` if the file or the image is missing; `ArchiveError`,
        `SizeLimitError` or a compression error for a bad archive.
        """
        store = TarStore.open(self, ctx)
        try:
            return LayoutImageSource(self, store, image=self.image, source_index=None, on_close=store.close)
        except BaseException:
            store.close()
            raise

    def new_image_destination(self, ctx: SystemContext) -> OciArchiveDestination:
        return OciArchiveDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        # c/image's text (it says oci: here too).
        raise ToolkitError("Deleting images not implemented for oci: images")

    def __str__(self) -> str:
        return f"oci-archive:{self.string_within_transport()}"


class TarStore:
    """An indexed archive as a `BlobStore`; members are read in place (thread-safe)."""

    def __init__(self, index: TarIndex, *, where: str) -> None:
        self._index = index
        self.where = where

    @classmethod
    def open(cls, ref: OciArchiveReference, ctx: SystemContext) -> TarStore:
        # The path as given, not the resolved one: `/dev/stdin` resolves to a pipe's
        # `/proc/PID/fd/pipe:[N]`, which cannot be opened.
        path = ref.path
        if not os.path.exists(path):
            raise ImageNotFoundError(f'archive file not found: "{safe_text(path)}"')
        index = TarIndex.open(path, tmpdir=ctx.tmpdir, budget=ctx.max_decompressed_size)
        return cls(index, where=str(ref))

    def open_file(self, name: str) -> tuple[BinaryIO, int] | None:
        if not self._index.has(name):
            return None
        reader = self._index.open_member(name)
        return cast(BinaryIO, reader), reader.size

    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        try:
            reader = self._index.open_member(blob_member_name(digest))
        except MemberNotFoundError as exc:
            raise ArchiveError(f"{self.where}: blob {digest} does not exist in the archive") from exc
        return cast(BinaryIO, reader), reader.size

    def close(self) -> None:
        self._index.close()


class OciArchiveDestination(LayoutDestinationBase):
    """Writes a new OCI archive at the reference's path (replacing any file there at commit).

    Blobs are streamed into the tar as they arrive, one at a time (`put_blob` is not
    thread-safe; concurrent calls are serialised). A blob of known digest goes straight in
    (seek-and-patch when its size is unknown); a blob of unknown digest is spooled to an
    unnamed temp file first, because its member name is its digest. A failing blob is cut
    back out of the temp archive, so the rest of the copy can go on.
    """

    def __init__(self, ref: OciArchiveReference, ctx: SystemContext) -> None:
        super().__init__(ref, ctx, ref.image)
        refuse_dangling_link(ref.path, "oci-archive")
        self._target = Path(ref.resolved_path)
        if self._target.is_dir():
            raise DestinationError(f"{ref}: {safe_text(ref.path)} is a directory, not an archive file")
        # A device, a FIFO or /dev/stdout is written in place at commit (a rename would
        # replace it by a regular file); the archive is built in an unnamed temp file first.
        self._special = open_special_for_writing(ref.path, "oci-archive")
        self._tmpdir = str(ctx.tmpdir) if ctx.tmpdir is not None else tempfile.gettempdir()
        self._atomic: AtomicFile | None = None
        self._file: BinaryIO | None = None
        self._writer: TarStreamWriter | None = None
        self._written: dict[Digest, int] = {}
        self._dirs: set[str] = set()
        self._lock = threading.Lock()
        self._committed = False

    def _thread_safe_put_blob(self) -> bool:
        return False

    @property
    def reference(self) -> OciArchiveReference:
        ref: OciArchiveReference = self._reference
        return ref

    # -- the temp archive

    def _out(self) -> tuple[BinaryIO, TarStreamWriter]:
        """The temp file and its writer, created on first use (in the target's directory)."""
        if self._file is None or self._writer is None:
            if self._special is not None:
                try:
                    self._file = cast(BinaryIO, tempfile.TemporaryFile(dir=self._tmpdir))  # noqa: SIM115 - closed at commit/abort
                except OSError as exc:
                    raise wrap_os_error(exc, f"creating a temporary file in {safe_text(self._tmpdir)}") from exc
            else:
                self._atomic = AtomicFile(self._target, clean_stale=True)
                self._file = self._atomic.__enter__()
            self._writer = TarStreamWriter(self._file)
        return self._file, self._writer

    def _add_entry(self, name: str, write: Callable[[TarStreamWriter], None]) -> None:
        """Run `write(writer)`; on any failure cut the partial entry out of the temp file
        (the writer is unusable after a failed entry, so a fresh one continues)."""
        f, writer = self._out()
        start = f.tell()
        try:
            write(writer)
        except BaseException:
            try:
                f.seek(start)
                f.truncate()
            except OSError as exc:
                raise wrap_os_error(exc, f"rolling back {safe_text(name)} in the temporary archive") from exc
            self._writer = TarStreamWriter(f)
            raise

    def _ensure_dirs(self, digest: Digest) -> None:
        """Directory entries for `blobs/` and `blobs/<alg>/`, as c/image's archives have."""
        for name in (f"{BLOBS_DIR}/", f"{BLOBS_DIR}/{digest.algorithm}/"):
            if name not in self._dirs:
                self._add_entry(name, functools.partial(TarStreamWriter.add_dir, name=name))
                self._dirs.add(name)

    # -- blobs

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """Only blobs already written to this archive are reused."""
        if info.digest is None:
            return None
        with self._lock:
            size = self._written.get(info.digest)
        if size is None or (info.size >= 0 and info.size != size):
            return None
        return BlobInfo(
            digest=info.digest, size=size, media_type=info.media_type, urls=info.urls,
            annotations=info.annotations, compression=info.compression,
        )

    def _store_blob(self, stream: BinaryIO, info: BlobInfo) -> tuple[Digest, int]:
        with self._lock:
            if info.digest is None:
                return self._store_spooled(stream, info)
            if info.digest in self._written:
                # Already in the archive: consume and check the stream, write nothing.
                return copy_hashing(stream, lambda _chunk: None, info)
            return self._store_streamed(stream, info.digest, info.size)

    def put_blob_from_file(
        self,
        blob: LocalBlobFile,
        info: BlobInfo,
        *,
        progress: Callable[[int], None],
        background_hash: bool,
        placed: Callable[[], None] | None = None,
    ) -> BlobInfo:
        """`FileBlobDestination`: the blob's entry written straight from `blob` by
        `copy_local_blob`, which hashes what it writes (the one hash of these bytes; the
        stream path hashes them again here). A failed entry is cut out of the temporary
        archive, as in `put_blob`. Entries are written one at a time: `placed` is called
        once this one is complete."""
        digest = info.digest
        if digest is None:
            raise ToolkitError("a blob copied from a local file needs its digest")

        def copy(write: Callable[[Any], object]) -> int:
            return copy_local_blob(blob, write, info, progress=progress, background=background_hash)[1]

        with self._lock:
            if digest not in self._written:
                self._ensure_dirs(digest)
                name = blob_member_name(digest)
                self._add_entry(name, lambda w: w.add_file_written_by(name, blob.size, copy, mode=_FILE_MODE))
                self._written[digest] = blob.size
            else:  # already in the archive: check the bytes, write nothing
                copy(lambda _chunk: None)
        if placed is not None:
            placed()
        return self._stored_info(info, digest, blob.size)

    def _store_streamed(self, stream: BinaryIO, digest: Digest, size: int) -> tuple[Digest, int]:
        self._ensure_dirs(digest)
        name = blob_member_name(digest)
        hashing = HashingReader(stream, digest.algorithm)

        def write(w: TarStreamWriter) -> None:
            if size >= 0:
                w.add_file(name, hashing, size, mode=_FILE_MODE)
            else:
                w.add_file_unknown_size(name, hashing, mode=_FILE_MODE)
            if hashing.digest() != digest:
                raise DigestMismatchError(f"Digest did not match, expected {digest}, got {hashing.digest()}")

        try:
            self._add_entry(name, write)
        except SizeMismatchError as exc:
            raise SizeMismatchError(f"Size mismatch when copying {digest}: {exc}") from exc
        self._written[digest] = hashing.size
        return digest, hashing.size

    def _store_spooled(self, stream: BinaryIO, info: BlobInfo) -> tuple[Digest, int]:
        directory = self._target.parent
        try:
            spool = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise wrap_os_error(exc, f"creating a temporary file in {safe_text(str(directory))}") from exc
        with spool:
            digest, size = copy_hashing(stream, spool.write, info)
            if digest not in self._written:
                spool.seek(0)
                self._store_streamed(spool, digest, size)
        return digest, size

    def _store_bytes(self, digest: Digest, data: bytes) -> None:
        with self._lock:
            if digest not in self._written:
                self._store_streamed(io.BytesIO(data), digest, len(data))

    # -- commit

    def commit(self) -> None:
        """Finish the archive (index.json with our one entry, oci-layout, end marker) and
        replace the target atomically."""
        with self._lock:
            index = new_index()
            index = self._merged_index(index)
            index_bytes = serialize_index(index)
            self._add_entry(INDEX_FILE, lambda w: w.add_bytes(INDEX_FILE, index_bytes, mode=_FILE_MODE))
            self._add_entry(LAYOUT_FILE, lambda w: w.add_bytes(LAYOUT_FILE, LAYOUT_BYTES, mode=_FILE_MODE))
            f, writer = self._out()
            writer.close()
            if self._special is not None:
                self._copy_to_special(f, self._special)
            else:
                assert self._atomic is not None
                self._atomic.commit()
            self._committed = True

    def _copy_to_special(self, f: BinaryIO, fd: int) -> None:
        """Write the finished temp archive into the device or pipe; errors are raised."""
        try:
            f.flush()
            f.seek(0)
            while chunk := f.read(1 << 20):
                write_all(fd, chunk)
        except OSError as exc:
            raise wrap_os_error(exc, f"writing {safe_text(self.reference.path)}") from exc
        finally:
            self._close_special()

    def _close_special(self) -> None:
        if self._special is not None:
            os.close(self._special)
            self._special = None
            if self._file is not None:
                self._file.close()

    def _abort(self) -> None:
        if self._atomic is not None:
            self._atomic.discard()
        self._close_special()
