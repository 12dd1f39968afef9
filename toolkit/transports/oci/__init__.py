"""The `oci:` transport: an OCI image layout directory (containers/image `oci/layout`).

`oci:PATH[:NAME]` or, for a source, `oci:PATH:@N`. Layout: `oci-layout`, `index.json`,
`blobs/<alg>/<hex>` (or the shared blob directory `<dir>/<alg>/<hex>` with
`--{src,dest}-shared-blob-dir`). Reading, resolution and the index merge rules live in
`transports/_oci_layout.py` (shared with `oci-archive:`).

Beyond containers/image:
- Every file of a layout is opened without following symlinks (in `blobs/` and below too)
  and must be a regular file; a FIFO or a link to `/dev/zero` fails at once.
- Blobs are written to a temp file in `blobs/<alg>/`, fsynced and renamed; a blob whose
  stream fails leaves nothing. `index.json` is only written at `commit()`, atomically
  (temp + fsync + `os.replace`), under an exclusive `flock` on the layout directory and after
  re-reading the index, so concurrent copies into one layout never lose each other's tags.
- `delete_image` (c/image `oci_delete.go`) runs under the same lock and rewrites the index
  before removing blobs, so a crash leaves orphan blobs, never a dangling entry.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final

from toolkit._lazy import DebugLogger
from toolkit._record import record
from toolkit.digest import Digest
from toolkit.errors import (
    ArchiveError,
    DestinationError,
    ImageNotFoundError,
    InvalidImageNameError,
    ToolkitError,
    safe_text,
)
from toolkit.limits import MAX_INDEX_JSON_SIZE
from toolkit.manifest import mime
from toolkit.manifest.formats import parse_list, parse_manifest
from toolkit.safefile import make_dirs, refuse_dangling_link
from toolkit.transports._fs import (
    AtomicFile,
    BlobCopy,
    FileBlobsMixin,
    atomic_write_bytes,
    copy_hashing,
    remove_stale_temps,
    wrap_os_error,
)
from toolkit.transports._oci_layout import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_BYTES,
    LAYOUT_FILE,
    MAX_LAYOUT_FILE_SIZE,
    IndexEntry,
    LayoutDestinationBase,
    LayoutImageSource,
    LayoutIndex,
    LayoutReferenceBase,
    check_layout_file,
    load_index,
    new_index,
    parse_index,
    parse_layout_reference,
    read_small_file,
    read_verified_manifest,
    resolve_position,
    serialize_index,
)
from toolkit.transports._path_scope import validate_path_scope
from toolkit.types import BlobInfo, SystemContext

__all__ = ["TRANSPORT", "OciTransport", "OciReference", "OciImageDestination", "DirectoryStore"]

log = DebugLogger(__name__)  # debug lines only: logging is not imported for them

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: How deep `delete_image` follows indexes inside indexes (a hostile layout may loop).
_MAX_INDEX_DEPTH: Final = 8


@record
class OciTransport:
    """The `oci` transport."""

    name: str = "oci"

    def parse_reference(self, reference: str) -> OciReference:
        """`PATH[:NAME]` or `PATH:@N`; raises `InvalidImageNameError`."""
        parts = parse_layout_reference(reference, allow_source_index=True)
        return OciReference(parts.path, parts.resolved_path, parts.image, parts.source_index)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


TRANSPORT = OciTransport()


@record
class OciReference(LayoutReferenceBase):
    """An `oci:` image location (see `LayoutReferenceBase`)."""

    @property
    def transport(self) -> OciTransport:
        return TRANSPORT

    def _store(self, ctx: SystemContext) -> DirectoryStore:
        return DirectoryStore(Path(self.resolved_path), ctx.oci_shared_blob_dir, where=str(self))

    def new_image_source(self, ctx: SystemContext) -> LayoutImageSource:
        """Raises `ImageNotFoundError` if the layout or the image is missing."""
        return LayoutImageSource(self, self._store(ctx), image=self.image, source_index=self.source_index)

    def new_image_destination(self, ctx: SystemContext) -> OciImageDestination:
        return OciImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        """Remove the image's index entry and the blobs no other entry uses (see module doc)."""
        _delete_image(self, self._store(ctx))

    def __str__(self) -> str:
        return f"oci:{self.string_within_transport()}"


# --- the directory as a blob store ---------------------------------------------------------


def _open_beneath(base: Path, parts: Sequence[str], what: str) -> tuple[BinaryIO, int] | None:
    """Open `base/parts...` for reading, following no symlink below `base`.

    Returns the stream and its size, None if something is missing; raises `ArchiveError`
    for a symlink or a non-regular file (FIFO, device, directory).
    """
    shown = safe_text(str(base.joinpath(*parts)))
    try:
        dir_fd = os.open(base, _DIR_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise wrap_os_error(exc, f"{what} {shown}") from exc
    try:
        for part in parts[:-1]:
            fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = fd
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(parts[-1], os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ArchiveError(f"{what} {shown}: not a regular file") from exc
        raise wrap_os_error(exc, f"{what} {shown}") from exc
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArchiveError(f"{what} {shown}: not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb", buffering=0), st.st_size


class DirectoryStore:
    """A layout directory as a `BlobStore`. Blobs come from `shared_blob_dir/<alg>/<hex>`
    when a shared blob directory is configured, else from `<layout>/blobs/<alg>/<hex>`."""

    def __init__(self, layout_dir: Path, shared_blob_dir: Path | None, *, where: str) -> None:
        self.layout_dir = layout_dir
        self.shared_blob_dir = shared_blob_dir
        self.where = where

    def blob_path(self, digest: Digest, *, local: bool = False) -> Path:
        """Where `digest` is stored (`local`: in the layout's own `blobs/` even if shared)."""
        if self.shared_blob_dir is not None and not local:
            return self.shared_blob_dir / digest.algorithm / digest.hex
        return self.layout_dir / BLOBS_DIR / digest.algorithm / digest.hex

    def open_file(self, name: str) -> tuple[BinaryIO, int] | None:
        return _open_beneath(self.layout_dir, [name], f"{self.where}: {name}")

    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        if self.shared_blob_dir is not None:
            opened = _open_beneath(self.shared_blob_dir, [digest.algorithm, digest.hex], "blob")
        else:
            opened = _open_beneath(self.layout_dir, [BLOBS_DIR, digest.algorithm, digest.hex], "blob")
        if opened is None:
            path = safe_text(str(self.blob_path(digest)))
            raise ToolkitError(f"{self.where}: blob {digest} does not exist ({path})")
        return opened


def _read_for_update(store: DirectoryStore) -> LayoutIndex:
    """The index to merge into: the existing one (validated, with its oci-layout) or a new one.

    Raises `DestinationError` if the directory holds something that is not a layout we may
    modify (a bad oci-layout version, a malformed index.json).
    """
    try:
        layout = read_small_file(store, LAYOUT_FILE, MAX_LAYOUT_FILE_SIZE)
        if layout is not None:
            check_layout_file(layout, store.where)
        raw = read_small_file(store, INDEX_FILE, MAX_INDEX_JSON_SIZE)
        if raw is None:
            return new_index()
        if layout is None:
            raise ArchiveError(f"{store.where}: index.json exists but {LAYOUT_FILE} does not")
        return parse_index(raw, store.where)
    except ToolkitError as exc:
        raise DestinationError(f"refusing to modify {store.where}: {exc}") from exc


@contextlib.contextmanager
def _index_lock(layout_dir: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on the layout directory itself (between threads too: each
    call opens its own file description). Locking the directory, not a sidecar lock file,
    leaves no trace in the layout: a failed copy leaves it byte-identical."""
    try:
        fd = os.open(layout_dir, _DIR_FLAGS | os.O_NOFOLLOW)
    except OSError as exc:
        raise wrap_os_error(exc, f"locking {safe_text(str(layout_dir))}") from exc
    try:
        import fcntl  # writers only: `inspect oci:` never loads it (a C module, ~0.5 M to load)

        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure_real_dir(path: Path, *, parents: bool = False) -> None:
    """Create directory `path` if missing; refuse a symlink or a non-directory there."""
    try:
        make_dirs(path, 0o755, parents=parents)
        st = os.lstat(path)
    except OSError as exc:
        raise wrap_os_error(exc, f"creating {safe_text(str(path))}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise DestinationError(f"{safe_text(str(path))} exists and is not a directory")


# --- destination -------------------------------------------------------------------------------


class OciImageDestination(FileBlobsMixin, LayoutDestinationBase):
    """Writes into an OCI layout directory (created, with its parents' last component, on
    first write). Nothing becomes visible through `index.json` before `commit()`. An aborted
    copy removes the blobs it created that no index entry uses (under the index lock), and
    the layout directory itself if the copy created it: the destination is as before."""

    def __init__(self, ref: OciReference, ctx: SystemContext) -> None:
        if ref.source_index is not None:
            raise InvalidImageNameError(
                f"Destination reference must not contain a manifest index @{ref.source_index}"
            )
        super().__init__(ref, ctx, ref.image)
        refuse_dangling_link(ref.path, "oci")
        self._dir = Path(ref.resolved_path)
        self._store = DirectoryStore(self._dir, ctx.oci_shared_blob_dir, where=str(ref))
        self._shared = ctx.oci_shared_blob_dir
        self._blob_root = self._shared if self._shared is not None else self._dir / BLOBS_DIR
        self._stored: set[Digest] = set()
        self._created: set[Digest] = set()
        self._stored_lock = threading.Lock()
        self._committed = False
        self._dir_existed = os.path.lexists(self._dir)
        if self._dir_existed:
            if not self._dir.is_dir() or self._dir.is_symlink():
                raise DestinationError(f"{ref}: {safe_text(ref.path)} exists and is not a directory")
            # Fail early (before any blob is copied) on a layout we would refuse at commit.
            # Under the lock: a concurrent commit writes oci-layout, then index.json.
            with _index_lock(self._dir):
                _read_for_update(self._store)

    @property
    def reference(self) -> OciReference:
        ref: OciReference = self._reference
        return ref

    def _alg_dir(self, algorithm: str) -> Path:
        if self._shared is None:
            _ensure_real_dir(self._dir / BLOBS_DIR, parents=True)
        else:
            _ensure_real_dir(self._shared, parents=True)
        alg_dir = self._blob_root / algorithm
        _ensure_real_dir(alg_dir)
        return alg_dir

    def _remember(self, digest: Digest) -> None:
        with self._stored_lock:
            self._stored.add(digest)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """The blob is reused if a regular file of the right size (when known) has its name."""
        if info.digest is None:
            return None
        try:
            st = os.lstat(self._store.blob_path(info.digest))
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or (info.size >= 0 and st.st_size != info.size):
            return None
        self._remember(info.digest)
        return BlobInfo(
            digest=info.digest, size=st.st_size, media_type=info.media_type, urls=info.urls,
            annotations=info.annotations, compression=info.compression,
        )

    def _store_blob(self, stream: BinaryIO, info: BlobInfo) -> tuple[Digest, int]:
        return self._store_with(info, lambda write: copy_hashing(stream, write, info))

    def _put_with(self, info: BlobInfo, copy: BlobCopy) -> BlobInfo:
        """`FileBlobsMixin`: the blob `copy` writes, stored as `put_blob` stores a stream."""
        return self._stored_info(info, *self._store_with(info, copy))

    def _store_with(self, info: BlobInfo, copy: BlobCopy) -> tuple[Digest, int]:
        """Store the blob `copy(write)` writes (and hashes: it returns digest and size) in a temp
        file, renamed to its digest once `copy` returned; nothing is left if it raises."""
        algorithm = info.digest.algorithm if info.digest is not None else "sha256"
        alg_dir = self._alg_dir(algorithm)
        # The final name is known only once the bytes are hashed; AtomicFile renames at exit.
        tmp = AtomicFile(alg_dir / "put-blob")
        with tmp as f:
            digest, size = copy(f.write)
            tmp.target = alg_dir / digest.hex
            existed = os.path.lexists(tmp.target)
        self._remember(digest)
        if not existed and self._shared is None:
            with self._stored_lock:
                self._created.add(digest)
        return digest, size

    def _store_bytes(self, digest: Digest, data: bytes) -> None:
        target = self._alg_dir(digest.algorithm) / digest.hex
        existed = os.path.lexists(target)
        atomic_write_bytes(target, data)
        self._remember(digest)
        if not existed and self._shared is None:
            with self._stored_lock:
                self._created.add(digest)

    def _abort(self) -> None:
        """Undo an uncommitted copy: remove the blobs it created that nothing references.

        Best effort and never raises: a failure here must not hide the original error.
        """
        try:
            if not self._created and self._dir_existed:
                return
            if not self._dir.is_dir():
                return
            with _index_lock(self._dir):
                used: Counter[Digest] = Counter()
                raw = read_small_file(self._store, INDEX_FILE, MAX_INDEX_JSON_SIZE)
                if raw is not None:
                    for entry in parse_index(raw, self._store.where).entries:
                        _count_blobs(self._store, entry, used, 0)
                for digest in self._created:
                    if not used[digest]:
                        with contextlib.suppress(OSError):
                            self._store.blob_path(digest, local=True).unlink()
                if not self._dir_existed and raw is None:
                    # We created the layout and nothing was committed into it meanwhile.
                    for sub in sorted(self._dir.glob(f"{BLOBS_DIR}/*"), reverse=True):
                        with contextlib.suppress(OSError):
                            sub.rmdir()
                    with contextlib.suppress(OSError):
                        (self._dir / BLOBS_DIR).rmdir()
            if not self._dir_existed:
                with contextlib.suppress(OSError):
                    self._dir.rmdir()
        except (ToolkitError, OSError) as exc:
            log.debug("cleanup after an aborted copy to %s failed: %s", self._dir, exc)

    def commit(self) -> None:
        """Merge our entry into index.json (re-read under the lock) and replace it atomically.

        Raises `DestinationError` if a blob of this image vanished since it was written (a
        concurrent `delete_image`), leaving index.json unchanged.
        """
        _ensure_real_dir(self._dir / BLOBS_DIR, parents=True)
        with _index_lock(self._dir):
            index = _read_for_update(self._store)
            for digest in sorted(self._stored):
                if not os.path.isfile(self._store.blob_path(digest)):
                    raise DestinationError(
                        f"{self.reference}: blob {digest} disappeared before commit "
                        "(deleted concurrently?); nothing was committed"
                    )
            if not os.path.lexists(self._dir / LAYOUT_FILE):
                atomic_write_bytes(self._dir / LAYOUT_FILE, LAYOUT_BYTES)
            index = self._merged_index(index)
            atomic_write_bytes(self._dir / INDEX_FILE, serialize_index(index))
        self._committed = True
        # A successful copy also removes the blob temp files of copies that were killed
        # (once per copy: a shared blob directory can be large).
        for algorithm in sorted({d.algorithm for d in self._stored}):
            remove_stale_temps(self._blob_root / algorithm / "put-blob")


# --- delete ------------------------------------------------------------------------------------


def _count_blobs(store: DirectoryStore, entry: IndexEntry, counts: Counter[Digest], depth: int) -> None:
    """Count the blobs `entry` needs, itself included (c/image `countBlobsForDescriptor`).

    Every manifest read is verified against its descriptor. Raises `ToolkitError` for an
    unsupported media type (c/image's message) or indexes nested too deep.
    """
    counts[entry.digest] += 1
    if entry.media_type == mime.OCI_MANIFEST:
        raw = read_verified_manifest(store, entry.digest, entry.size)
        manifest = parse_manifest(raw, mime.OCI_MANIFEST)
        config = manifest.config_info().digest
        if config is not None:
            counts[config] += 1
        for layer in manifest.layer_infos():
            if layer.digest is not None:
                counts[layer.digest] += 1
    elif entry.media_type == mime.OCI_INDEX:
        if depth >= _MAX_INDEX_DEPTH:
            raise ToolkitError(f"{store.where}: indexes nested more than {_MAX_INDEX_DEPTH} levels deep")
        raw = read_verified_manifest(store, entry.digest, entry.size)
        for d in parse_list(raw, mime.OCI_INDEX).manifests:
            child = IndexEntry(d.media_type, d.digest, d.size, "", {})
            _count_blobs(store, child, counts, depth + 1)
    else:
        raise ToolkitError(f'{store.where}: unsupported mediaType in index: "{safe_text(entry.media_type)}"')


def _delete_image(ref: OciReference, store: DirectoryStore) -> None:
    layout_dir = store.layout_dir
    if not layout_dir.is_dir():
        raise ImageNotFoundError(f"{ref}: no OCI layout here")
    with _index_lock(layout_dir):
        index = load_index(store)
        position = resolve_position(index, ref.image, ref.source_index, store.where)
        doomed: Counter[Digest] = Counter()
        _count_blobs(store, index.entries[position], doomed, 0)
        used: Counter[Digest] = Counter()
        for entry in index.entries:
            _count_blobs(store, entry, used, 0)
        unused = sorted(d for d, n in used.items() if n - doomed[d] == 0)
        remaining = index.entries[:position] + index.entries[position + 1 :]
        # Index first: a crash after this line leaves orphans, never a dangling entry.
        atomic_write_bytes(layout_dir / INDEX_FILE, serialize_index(LayoutIndex(index.raw, remaining)))
        # Only the layout's own blobs/: other layouts' use of a shared blob directory is
        # unknown (as in c/image).
        for digest in unused:
            path = store.blob_path(digest, local=True)
            log.debug("deleting blob %s", path)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise wrap_os_error(exc, f"deleting {safe_text(str(path))}") from exc
