"""The SIF's squashfs root filesystem as one layer tar, streamed (never extracted).

c/image copies the partition to a temp dir, extracts it with `unsquashfs` under `fakeroot`,
adds `/podman/runscript`, and tars the tree (two compressed and two uncompressed copies on
disk at once). skopo instead:

1. copies the partition's bytes once into an unnamed temp file (`copy_file_range`: done by
   the kernel, a cheap clone on reflink filesystems since SIF partitions are 4096-aligned).
   This copy cannot be avoided: `sqfs2tar` reads a squashfs only from the start of a file
   and has no offset option. The file is `O_TMPFILE`-like (never has a name), so nothing is
   left behind even after SIGKILL. It lives in `--tmpdir`, else `$TMPDIR`, else `/var/tmp`
   (c/image's directory for big files);
2. runs `sqfs2tar -r . /dev/fd/N` (Debian's `squashfs-tools-ng`; no root, no fakeroot: it
   writes the tar from the squashfs metadata) and streams its stdout. Memory stays flat (a
   few 1 MiB chunks); the tar is never stored. The source runs it twice, once to learn the
   digest and size the manifest needs, once for the copy; sqfs2tar's output is a function of
   the squashfs bytes, and a `VerifyingReader` catches any difference;
3. checks every entry of that tar with skopo's own parser as it passes through, byte for
   byte, and appends `./podman/` and `./podman/runscript` when a definition file asks for
   them and the squashfs does not already have them (in c/image the squashfs copy of an
   existing file wins, because `unsquashfs -f` overwrites it).

What a hostile squashfs gets, compared with c/image (whose `unsquashfs` refuses names with
`/`, `.` or `..`, and whose GNU tar keeps devices and FIFOs and skips sockets):

- names that are `..`, `.` or hold `/`: refused. sqfs2tar fails on the first kind and skips
  the others with a warning, which is taken as a refusal; any tar entry whose name is
  absolute or climbs out with `..`, and any hard link whose target does, is refused too;
- device nodes, FIFOs, setuid bits, symlinks anywhere: kept as tar entries, as c/image keeps
  them (nothing is extracted here, so they are data);
- sockets: skipped, as c/image's tar skips them;
- `/podman` that is not a directory, or `/podman/runscript` that is a directory, when the
  script must be added: refused (c/image's `unsquashfs` fails on the first; on the second it
  keeps the script and drops the directory, which a stream cannot do);
- more than `ctx.max_decompressed_size` (default 64 GiB) of tar: `SizeLimitError`.

Every error is a `ToolkitError` starting with c/image's "converting rootfs from SquashFS to
Tarball: ". sqfs2tar's stderr is read by a thread (bounded: its first lines are kept for
the message), so it can never block on a full pipe; closing a stream kills the process.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, BinaryIO, Final, cast

from toolkit.compression import DEFAULT_DECOMPRESS_BUDGET
from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead
from toolkit.errors import ArchiveError, NotSupportedError, SizeLimitError, ToolkitError, safe_text
from toolkit.transports._fs import big_files_temp_dir, wrap_os_error
from toolkit.transports._tar import (
    BLOCK_SIZE,
    MemberType,
    TarHeader,
    TarStreamWriter,
    clean_member_name,
    iter_tar_stream,
)
from toolkit.transports.sif._deffile import INJECTED_SCRIPT_PATH
from toolkit.transports.sif._format import FS_ENCRYPTED_SQUASH, SIFDescriptor
from toolkit.types import SystemContext

__all__ = ["CONVERTING", "SQFS2TAR", "SquashfsLayer", "big_files_temp_dir"]

log = logging.getLogger(__name__)

#: c/image's prefix for every conversion error.
CONVERTING: Final = "converting rootfs from SquashFS to Tarball"
SQFS2TAR: Final = "sqfs2tar"
_SQUASHFS_MAGIC: Final = b"hsqs"
#: sqfs2tar 1.2's warning for a name it will not store (holds `/`, or is `.`/`..`).
_BAD_NAME_WARNING: Final = "Found a file named"
_STDERR_KEEP: Final = 4096
_MAX_TAR_TIME: Final = 0o77777777777
_COPY_STEP: Final = 1 << 30
_INJECTED_DIR: Final = "./podman/"
_INJECTED_FILE: Final = "." + INJECTED_SCRIPT_PATH


def _round_up(size: int) -> int:
    return -(-size // BLOCK_SIZE) * BLOCK_SIZE


def _copy_range(src: int, dst: int, offset: int, size: int) -> None:
    """Copy `size` bytes of `src` from `offset` to the start of `dst`, in the kernel if it can."""
    copied = 0
    use_kernel = True
    while copied < size:
        n = 0
        if use_kernel:
            try:
                n = os.copy_file_range(src, dst, min(size - copied, _COPY_STEP), offset + copied, copied)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                use_kernel = False
                continue
        else:
            data = os.pread(src, min(size - copied, CHUNK_SIZE), offset + copied)
            if data:
                n = os.pwrite(dst, data, copied)
        if n == 0:
            raise ArchiveError(f"{CONVERTING}: the SIF file ended inside its squashfs partition (changed while read?)")
        copied += n


class SquashfsLayer:
    """The primary partition of one SIF file, copied aside; `open()` streams it as a layer tar.

    `script` is the definition file's script to add at `/podman/runscript` (None: add
    nothing); `mtime` stamps the added entries (the SIF's modification time: the stream must be
    the same every time). Construction raises `NotSupportedError` when sqfs2tar is missing,
    `ArchiveError` when the partition is not a squashfs, `ToolkitError` for temp-file trouble.
    Thread-safe: every `open()` runs its own sqfs2tar.
    """

    def __init__(
        self, fd: int, partition: SIFDescriptor, script: bytes | None, mtime: int, ctx: SystemContext
    ) -> None:
        fs_type = partition.partition_metadata[0]
        if fs_type == FS_ENCRYPTED_SQUASH:
            raise NotSupportedError(f"{CONVERTING}: the root filesystem is an encrypted squashfs (not supported)")
        if os.pread(fd, len(_SQUASHFS_MAGIC), partition.offset) != _SQUASHFS_MAGIC:
            # c/image finds out later, from unsquashfs: "Can't find a valid SQUASHFS superblock".
            raise ArchiveError(f"{CONVERTING}: the root filesystem partition is not a squashfs filesystem")
        binary = shutil.which(SQFS2TAR)
        if binary is None:
            raise NotSupportedError(
                f'{CONVERTING}: "{SQFS2TAR}" was not found in $PATH (install the squashfs-tools-ng package)'
            )
        self._binary = binary
        self._script = script
        self._mtime = min(max(mtime, 0), _MAX_TAR_TIME)
        self._budget = ctx.max_decompressed_size if ctx.max_decompressed_size is not None else DEFAULT_DECOMPRESS_BUDGET
        self._copy = self._make_copy(fd, partition, big_files_temp_dir(ctx))

    @staticmethod
    def _make_copy(fd: int, partition: SIFDescriptor, directory: str) -> BinaryIO:
        try:
            st = os.statvfs(directory)
        except OSError as exc:
            raise wrap_os_error(exc, f"{CONVERTING}: temporary directory {safe_text(directory)}") from exc
        if st.f_bavail * st.f_frsize < partition.size:
            raise ToolkitError(
                f"{CONVERTING}: not enough free space in {safe_text(directory)} for a copy of the squashfs "
                f"partition ({partition.size} bytes); use --tmpdir"
            )
        try:
            tmp = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - kept until close()
        except OSError as exc:
            raise wrap_os_error(exc, f"{CONVERTING}: creating a temporary file in {safe_text(directory)}") from exc
        try:
            _copy_range(fd, tmp.fileno(), partition.offset, partition.size)
        except OSError as exc:
            tmp.close()
            raise wrap_os_error(exc, f"{CONVERTING}: copying the squashfs partition to {safe_text(directory)}") from exc
        except BaseException:
            tmp.close()
            raise
        return cast(BinaryIO, tmp)

    def open(self) -> BinaryIO:
        """A new stream of the layer tar (see the module doc); raises as it is read."""
        return cast(BinaryIO, _TarStream(self._binary, self._copy.fileno(), self._script, self._mtime, self._budget))

    def close(self) -> None:
        self._copy.close()


class _Tee:
    """Reads from `stream` and keeps what was read until `take()` (the pass-through)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._start = 0  # archive offset of the first pending byte
        self.pos = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._stream.read(n)
        if data:
            self._pending.append(data)
            self.pos += len(data)
        return data

    def take(self, upto: int | None = None) -> bytes:
        """The pending bytes (only those before archive offset `upto`); forgets all of them."""
        data = b"".join(self._pending)
        self._pending.clear()
        if upto is not None:
            data = data[: max(0, upto - self._start)]
        self._start = self.pos
        return data


class _Injection:
    """Watches the entries for `podman` and `podman/runscript`; builds what must be added."""

    def __init__(self, script: bytes | None, mtime: int) -> None:
        self._script = script
        self._mtime = mtime
        self._dir: MemberType | None = None
        self._file: MemberType | None = None

    def see(self, cleaned: str, kind: MemberType) -> None:
        if cleaned == "podman":
            self._dir = kind
        elif cleaned == "podman/runscript":
            self._file = kind

    def entries(self) -> bytes:
        if self._script is None:
            return b""
        if self._dir is not None and self._dir is not MemberType.DIRECTORY:
            kind = "regular file" if self._dir is MemberType.REGULAR else self._dir.value
            raise ArchiveError(
                f"{CONVERTING}: /podman in the image is a {kind}, not a directory, "
                f"so {INJECTED_SCRIPT_PATH} cannot be added"
            )
        if self._file is MemberType.DIRECTORY:
            raise ArchiveError(f"{CONVERTING}: {INJECTED_SCRIPT_PATH} in the image is a directory")
        out = io.BytesIO()
        writer = TarStreamWriter(out)
        if self._dir is None:
            writer.add_dir(_INJECTED_DIR, mode=0o755, mtime=self._mtime)
        if self._file is None:
            writer.add_bytes(_INJECTED_FILE, self._script, mode=0o755, mtime=self._mtime)
        return out.getvalue()


class _RefusedEntryError(ArchiveError):
    """An entry of sqfs2tar's output that skopo refuses (as opposed to output it cannot parse)."""


def _check_entry(hdr: TarHeader) -> str | None:
    """The entry's cleaned name (None for the root `./`); `_RefusedEntryError` if it could escape."""
    if hdr.name == "./" and hdr.type is MemberType.DIRECTORY:
        return None
    cleaned = clean_member_name(hdr.name)
    if cleaned is None:
        raise _RefusedEntryError(f"{CONVERTING}: invalid path in the image: {safe_text(hdr.name, 256)!r}")
    if hdr.type is MemberType.HARDLINK and clean_member_name(hdr.linkname) is None:
        raise _RefusedEntryError(
            f"{CONVERTING}: hard link {safe_text(hdr.name, 256)!r} points outside the image: "
            f"{safe_text(hdr.linkname, 256)!r}"
        )
    return cleaned


class _Stderr:
    """Drains a process's stderr in a thread: keeps the first lines, notes refused names."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self.bad_name = ""
        self._kept = 0
        self._thread = threading.Thread(target=self._run, args=(stream,), name="sqfs2tar-stderr", daemon=True)
        self._thread.start()

    def _run(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            while line := stream.readline(_STDERR_KEEP):
                text = line.decode("utf-8", "replace").strip()
                log.debug("sqfs2tar: %s", text)
                if text.startswith(_BAD_NAME_WARNING) and not self.bad_name:
                    # "Found a file named 'a/', skipping." -> 'a/'
                    self.bad_name = text.removeprefix(_BAD_NAME_WARNING).strip().removesuffix(", skipping.")
                if text and self._kept < _STDERR_KEEP:
                    self.lines.append(text)
                    self._kept += len(text)

    def join(self) -> None:
        self._thread.join()

    def summary(self) -> str:
        return safe_text(" ".join(self.lines), limit=_STDERR_KEEP)


class _TarStream(ReadIntoFromRead, io.RawIOBase):
    """One run of sqfs2tar, checked and passed through (see the module doc). Not thread-safe."""

    def __init__(self, binary: str, copy_fd: int, script: bytes | None, mtime: int, budget: int) -> None:
        super().__init__()
        argv = [binary, "--root-becomes", ".", f"/dev/fd/{copy_fd}"]
        log.debug("running %s", " ".join(argv))
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(copy_fd,),
                env={**os.environ, "LC_ALL": "C"},
                bufsize=CHUNK_SIZE,
            )
        except OSError as exc:
            raise wrap_os_error(exc, f"{CONVERTING}: running {SQFS2TAR}") from exc
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._stderr = _Stderr(self._proc.stderr)
        self._injection = _Injection(script, mtime)
        self._budget = budget
        self._produced = 0
        self._chunks: Iterator[bytes] | None = self._produce(self._proc.stdout)
        self._buf = b""
        self._off = 0
        self._error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        if n is None or n < 0:
            return self.readall()
        if self._error is not None:
            raise self._error
        while self._off >= len(self._buf):
            if self._chunks is None:
                return b""
            try:
                self._buf, self._off = next(self._chunks), 0
            except StopIteration:
                self._chunks = None
                return b""
            except BaseException as exc:
                self._error = exc
                self._chunks = None
                self._stop()
                raise
        out = self._buf[self._off : self._off + n]
        self._off += len(out)
        return out

    def _count(self, data: bytes) -> bytes:
        self._produced += len(data)
        if self._produced > self._budget:
            raise SizeLimitError(f"{CONVERTING}: the layer exceeds the limit of {self._budget} bytes")
        return data

    def _produce(self, stdout: IO[bytes]) -> Iterator[bytes]:
        tee = _Tee(stdout)
        end = 0  # where the last entry (with its padding) ends
        try:
            for hdr, member in iter_tar_stream(tee):
                cleaned = _check_entry(hdr)
                if cleaned is not None:
                    self._injection.see(cleaned, hdr.type)
                yield self._count(tee.take())
                while member.read(CHUNK_SIZE):
                    yield self._count(tee.take())
                end = hdr.data_offset + _round_up(hdr.size)
            # Whatever follows the end-of-archive blocks is not part of the archive.
            while stdout.read(CHUNK_SIZE):
                pass
        except _RefusedEntryError:
            self._stop()
            raise
        except ArchiveError as exc:
            self._raise_tool_error_first(exc)
        self._finish()
        yield self._count(tee.take(upto=end) + self._injection.entries() + bytes(2 * BLOCK_SIZE))

    def _stop(self) -> int:
        """Stop the process (if still running) and reap it; its exit status."""
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdout is not None
            proc.stdout.close()
        rc = proc.wait()
        self._stderr.join()
        return rc

    def _tool_error(self, rc: int) -> ToolkitError | None:
        if self._stderr.bad_name:
            return ArchiveError(
                f"{CONVERTING}: the squashfs filesystem holds an invalid file name (with a slash, "
                f"or . or ..): {safe_text(self._stderr.bad_name, 300)}"
            )
        if rc != 0:
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            return ArchiveError(f"{CONVERTING}: {SQFS2TAR} failed ({how}): {self._stderr.summary()}")
        return None

    def _raise_tool_error_first(self, exc: ArchiveError) -> None:
        """Our parser stopped on sqfs2tar's output: if sqfs2tar failed on its own, say why."""
        exited: int | None = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            exited = self._proc.wait(timeout=2)  # truncated output: it is usually exiting already
        rc = self._stop()
        tool = self._tool_error(rc) if exited is not None else None
        if tool is not None:
            raise tool from exc
        raise ArchiveError(f"{CONVERTING}: reading the output of {SQFS2TAR}: {exc.message}") from exc

    def _finish(self) -> None:
        rc = self._stop()
        error = self._tool_error(rc)
        if error is not None:
            raise error

    def close(self) -> None:
        if not self.closed:
            self._chunks = None
            self._stop()
        super().close()
