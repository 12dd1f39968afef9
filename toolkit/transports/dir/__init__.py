"""The `dir:` transport: an image as a directory of files (containers/image `directory/`).

Layout (skopeo-compatible): `version` ("Directory Transport Version: 1.1\\n", 1.2 when a
non-sha256 digest is present), `manifest.json` (top-level manifest bytes), one file per
blob named `<hex>` (sha256) or `<alg>-<hex>`, `signature-N`; for list instances
`<hex>.manifest.json` and `<hex>.signature-N`.

Beyond containers/image, the destination is transactional: everything is written into a
hidden sibling staging directory and swapped into place at `commit()` (an atomic
`renameat2(RENAME_EXCHANGE)` where the kernel offers it). A failed or refused copy leaves
the destination exactly as it was. An existing non-empty directory that is not an image
directory (no `version` file, or files that are not image files) is refused, never wiped.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import re
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from toolkit._lazy import DebugLogger
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import (
    DestinationError,
    ImageNotFoundError,
    InvalidImageNameError,
    ToolkitError,
    safe_text,
)
from toolkit.limits import MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, MAX_SIGNATURES, read_limited
from toolkit.manifest import guess_mime_type
from toolkit.safefile import make_temp_dir, refuse_dangling_link
from toolkit.transports._fs import (
    AtomicFile,
    BlobCopy,
    FileBlobsMixin,
    copy_hashing,
    fsync_dir,
    local_blob_file,
    open_regular_file,
    remove_tree_quietly,
    temp_name,
    wrap_os_error,
)
from toolkit.transports._path_scope import PathReferenceMixin, resolve_existing_path, validate_path_scope
from toolkit.transports.base import (
    BlobStream,
    DestinationCapabilities,
    ImageDestinationBase,
    ImageSourceBase,
    LocalBlobFile,
)
from toolkit.types import BlobInfo, LayerCompression, SystemContext

__all__ = ["TRANSPORT", "DirTransport", "DirReference"]

log = DebugLogger(__name__)  # debug lines only: logging is not imported for them

VERSION_FILE = "version"
VERSION_1_1 = "Directory Transport Version: 1.1\n"
VERSION_1_2 = "Directory Transport Version: 1.2\n"
_KNOWN_VERSIONS = {VERSION_1_1, VERSION_1_2, "Directory Transport Version: 1.0\n"}
# Names that may appear in an image directory; anything else means "not ours".
_IMAGE_FILE = re.compile(
    r"version|manifest\.json|signature-\d+|(?:sha512-)?[0-9a-f]{64,128}"
    r"(?:\.manifest\.json|\.signature-\d+)?|(?:sha512-)?[0-9a-f]{64,128}\.tar"
)


def _blob_name(digest: Digest) -> str:
    return digest.hex if digest.algorithm == "sha256" else f"{digest.algorithm}-{digest.hex}"


def _manifest_name(instance: Digest | None) -> str:
    return "manifest.json" if instance is None else f"{_blob_name(instance)}.manifest.json"


def _signature_name(instance: Digest | None, index: int) -> str:
    # index is 0-based; files are 1-based as in containers/image.
    return f"signature-{index + 1}" if instance is None else f"{_blob_name(instance)}.signature-{index + 1}"


@dataclass(frozen=True, slots=True)
class DirTransport:
    """The `dir` transport."""

    name: str = "dir"

    def parse_reference(self, reference: str) -> DirReference:
        """`reference` is a path; it must not be empty."""
        if not reference:
            raise InvalidImageNameError("dir: an empty path is not a valid image location")
        return DirReference(reference, resolve_existing_path(reference))

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


TRANSPORT = DirTransport()


@dataclass(frozen=True, slots=True)
class DirReference(PathReferenceMixin):
    """A `dir:` image location; `resolved_path` is absolute and symlink-free."""

    path: str
    resolved_path: str

    @property
    def transport(self) -> DirTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return self.path

    def new_image_source(self, ctx: SystemContext) -> DirImageSource:
        return DirImageSource(self)

    def new_image_destination(self, ctx: SystemContext) -> DirImageDestination:
        return DirImageDestination(self)

    def delete_image(self, ctx: SystemContext) -> None:
        raise ToolkitError("Deleting images not implemented for dir: images")

    def __str__(self) -> str:
        return f"dir:{self.path}"


class DirImageSource(ImageSourceBase):
    """Reads an image directory. Every file is opened without following symlinks."""

    def __init__(self, ref: DirReference) -> None:
        self._ref = ref
        self._dir = Path(ref.resolved_path)
        if not self._dir.is_dir():
            raise ImageNotFoundError(f"dir:{safe_text(ref.path)}: no such image directory")

    @property
    def reference(self) -> DirReference:
        return self._ref

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        path = self._dir / _manifest_name(instance_digest)
        with open_regular_file(path, "manifest", missing_is_not_found=True) as f:
            raw = read_limited(f, MAX_MANIFEST_SIZE, f"manifest {safe_text(str(path))}")
        if instance_digest is not None and not instance_digest.matches(raw):
            raise ToolkitError(f"manifest {safe_text(str(path))} does not match digest {instance_digest}")
        return raw, guess_mime_type(raw)

    def _open_blob(self, info: BlobInfo) -> tuple[Digest, BinaryIO, int]:
        if info.digest is None:
            raise ToolkitError("dir: a blob without a digest cannot be read")
        path = self._dir / _blob_name(info.digest)
        f = open_regular_file(path, "blob", missing_is_not_found=False)
        return info.digest, f, os.fstat(f.fileno()).st_size

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        digest, f, size = self._open_blob(info)
        return VerifyingReader(f, digest, size, what="blob"), size

    def get_local_blob(self, info: BlobInfo) -> LocalBlobFile | None:
        """`LocalBlobSource`: the blob's file (always a regular file, see `get_blob`)."""
        _, f, size = self._open_blob(info)
        local = local_blob_file(f, size)
        if local is None:
            f.close()
        return local

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        signatures: list[bytes] = []
        for index in range(MAX_SIGNATURES + 1):
            path = self._dir / _signature_name(instance_digest, index)
            if not os.path.lexists(path):
                return signatures
            if index == MAX_SIGNATURES:
                raise ToolkitError(f"dir:{safe_text(self._ref.path)}: more than {MAX_SIGNATURES} signatures")
            with open_regular_file(path, "signature") as f:
                signatures.append(read_limited(f, MAX_SIGNATURE_SIZE, f"signature {safe_text(str(path))}"))
        return signatures


def _renameat2_exchange() -> Any:
    """libc's renameat2, if present (Linux), for an atomic directory exchange."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_paths(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths; False if the system cannot do it."""
    func = _renameat2_exchange()
    if func is None:
        return False
    rc = func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


_STALE_STAGING = re.compile(r"^\.(?P<name>.+)\.partial-[0-9a-f]{12}$")


def _lock_directory(path: Path) -> int | None:
    """An exclusive `flock` on directory `path`, held by the returned fd (None if unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # releases the flock


def _remove_stale_staging(target: Path) -> None:
    """Remove `.<name>.partial-<hex>` siblings of `target` left by a killed copy.

    Only directories of that exact name pattern, owned by this user, whose `flock` can be
    taken (the copy that made one holds its lock until commit/abort, and the kernel drops
    it when that process dies, even by SIGKILL): a live copy's staging area is never
    touched. Best effort: any error leaves the directory alone.
    """
    try:
        siblings = os.listdir(target.parent)
    except OSError:
        return
    for name in siblings:
        match = _STALE_STAGING.match(name)
        if match is None or match.group("name") != target.name:
            continue
        path = target.parent / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        fd = _lock_directory(path)
        if fd is None:
            continue  # a live copy holds it (or locking is unsupported)
        try:
            log.debug("removing stale staging directory %s", path)
            remove_tree_quietly(path)
        finally:
            _unlock(fd)


class DirImageDestination(FileBlobsMixin, ImageDestinationBase):
    """Writes an image directory through a staging directory swapped in at commit."""

    def __init__(self, ref: DirReference) -> None:
        self._ref = ref
        refuse_dangling_link(ref.path, "dir")
        self._target = Path(ref.resolved_path)
        self._existing = self._check_target()
        _remove_stale_staging(self._target)
        try:
            self._staging = make_temp_dir(self._target, "partial", 0o755)
        except OSError as exc:
            raise wrap_os_error(exc, f"creating a staging directory beside {safe_text(ref.path)}") from exc
        # Held until commit/abort: tells a later run that this staging directory is alive.
        self._staging_lock = _lock_directory(self._staging)
        self._uses_non_sha256 = False
        self._committed = False

    def _check_target(self) -> bool:
        """Refuse a target we must not replace; True if an image directory is there."""
        target = self._target
        if not os.path.lexists(target):
            return False
        if target.is_symlink() or not target.is_dir():
            raise DestinationError(f"dir:{safe_text(self._ref.path)} exists and is not a directory")
        try:
            names = os.listdir(target)
        except OSError as exc:
            raise wrap_os_error(exc, f"reading {safe_text(self._ref.path)}") from exc
        if not names:
            return True
        version_path = target / VERSION_FILE
        try:
            with open_regular_file(version_path, "version file") as f:
                version = f.read(256).decode("utf-8", "replace")
        except ToolkitError:
            version = ""
        if version not in _KNOWN_VERSIONS:
            raise DestinationError(
                f"dir:{safe_text(self._ref.path)} is not empty and is not a containers image directory, "
                "don't want to overwrite important data"
            )
        foreign = [n for n in names if not _IMAGE_FILE.fullmatch(n)]
        if foreign:
            raise DestinationError(
                f"dir:{safe_text(self._ref.path)} holds files that are not part of an image "
                f"({safe_text(foreign[0])}), don't want to overwrite important data"
            )
        return True

    @property
    def reference(self) -> DirReference:
        return self._ref

    @property
    def capabilities(self) -> DestinationCapabilities:
        return DestinationCapabilities(
            supported_manifest_mime_types=None,
            supports_signatures=True,
            desired_layer_compression=LayerCompression.PRESERVE,
            accepts_foreign_layer_urls=False,
            has_thread_safe_put_blob=True,
            supports_manifest_lists=True,
        )

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        name = _blob_name(info.digest)
        staged = self._staging / name
        with contextlib.suppress(OSError):
            st = os.lstat(staged)
            if st.st_size == info.size or info.size < 0:
                return BlobInfo(digest=info.digest, size=st.st_size, media_type=info.media_type)
        if self._existing:
            # The old image may already hold the blob: hard-link it into the staging area.
            old = self._target / name
            with contextlib.suppress(OSError):
                st = os.lstat(old)
                if os.path.isfile(old) and not os.path.islink(old) and (info.size < 0 or st.st_size == info.size):
                    os.link(old, staged)
                    return BlobInfo(digest=info.digest, size=st.st_size, media_type=info.media_type)
        return None

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        return self._put_with(info, lambda write: copy_hashing(stream, write, info))

    def _put_with(self, info: BlobInfo, copy: BlobCopy) -> BlobInfo:
        """Stage the blob `copy(write)` writes and hashes (returning digest and size) under its
        digest's name; nothing is left if `copy` raises (also `FileBlobsMixin`'s hook)."""
        tmp = AtomicFile(self._staging / f"blob-{os.getpid()}-{threading.get_ident()}")
        with tmp as f:
            digest, size = copy(f.write)
            tmp.target = self._staging / _blob_name(digest)
        if digest.algorithm != "sha256":
            self._uses_non_sha256 = True
        return BlobInfo(digest=digest, size=size, media_type=info.media_type)

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: Digest | None = None) -> None:
        with AtomicFile(self._staging / _manifest_name(instance_digest)) as f:
            f.write(raw)

    def put_signatures(self, signatures: Sequence[bytes], instance_digest: Digest | None = None) -> None:
        for index, signature in enumerate(signatures):
            with AtomicFile(self._staging / _signature_name(instance_digest, index)) as f:
                f.write(signature)

    def commit(self) -> None:
        version = VERSION_1_2 if self._uses_non_sha256 else VERSION_1_1
        with AtomicFile(self._staging / VERSION_FILE) as f:
            f.write(version.encode())
        fsync_dir(self._staging)
        target = self._target
        try:
            if not os.path.lexists(target):
                os.rename(self._staging, target)
            elif exchange_paths(self._staging, target):
                # The staging name now holds the old image.
                remove_tree_quietly(self._staging)
            else:
                old = temp_name(target, "old")
                os.rename(target, old)
                try:
                    os.rename(self._staging, target)
                except OSError:
                    os.rename(old, target)
                    raise
                remove_tree_quietly(old)
            fsync_dir(target.parent)
        except OSError as exc:
            raise wrap_os_error(exc, f"replacing dir:{safe_text(self._ref.path)}") from exc
        self._committed = True
        self._release_staging_lock()

    def _abort(self) -> None:
        remove_tree_quietly(self._staging)
        self._release_staging_lock()

    def _release_staging_lock(self) -> None:
        fd, self._staging_lock = self._staging_lock, None
        _unlock(fd)
