"""The `tarball:` transport: an image made up from layer files (containers/image `tarball/`).

`tarball:file1[:file2...]` (source only): each file is one layer, gzip/zstd-compressed or
a plain tar; `-` is standard input (read once, spooled to an unlinked temp file in
`ctx.tmpdir`). The OCI config and manifest are synthesised as c/image does, byte for byte
(field order, `created` = newest file mtime in the local time zone, one history entry per
file with `/bin/sh -c #(nop) ADD file:<diffID hex> in /` and comment
`imported from tarball`, `runtime.GOARCH` naming), so skopo and skopeo compute the same
digests for the same gzip or plain files.

One deliberate difference: c/image only recognises gzip, so it describes a zstd file as an
uncompressed layer whose diffID is the compressed digest (an image no runtime can
verify). skopo decompresses zstd too and uses `application/vnd.oci.image.layer.v1.tar+zstd`
with the true diffID; for zstd inputs the digests therefore differ from skopeo's.

Every file is hashed once when the source is opened (a first pass, decompressing under
`ctx.max_decompressed_size`), then served through a `VerifyingReader`, so a file changed
in between is detected.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final, NoReturn, cast

from toolkit.compression import CompressionError, decompressing_reader, peek_compression
from toolkit.digest import CHUNK_SIZE, Digest, HashingReader, ReadIntoFromRead, VerifyingReader
from toolkit.errors import (
    ArchiveError,
    ImageNotFoundError,
    InvalidImageNameError,
    ManifestError,
    NotSupportedError,
    PolicyError,
    ToolkitError,
    safe_text,
)
from toolkit.manifest import mime
from toolkit.manifest.gojson import GoStruct, GoTime, marshal, quote
from toolkit.manifest.platform import current_host
from toolkit.reference import NamedReference
from toolkit.transports._docker_tar import spool_to_temp
from toolkit.transports._fs import wrap_os_error
from toolkit.transports.base import BlobStream, ImageSourceBase
from toolkit.types import BlobInfo, Compression, SystemContext

__all__ = ["TRANSPORT", "TarballTransport", "TarballReference", "TarballImageSource", "go_arch"]

_NAME: Final = "tarball"
_SEPARATOR: Final = ":"
_COMMENT: Final = "imported from tarball"


def go_arch() -> str:
    """This machine's architecture as Go's `runtime.GOARCH` names it (`manifest.platform`)."""
    return current_host().goarch


def _go_os() -> str:
    """This machine's OS as Go's `runtime.GOOS` names it (`manifest.platform`)."""
    return current_host().goos


@dataclass(frozen=True, slots=True)
class TarballTransport:
    """The `tarball` transport (source only)."""

    name: str = _NAME

    def parse_reference(self, reference: str) -> TarballReference:
        """Split at `:`; every file except `-` must be openable now (as c/image checks)."""
        filenames = tuple(reference.split(_SEPARATOR))
        for filename in filenames:
            if filename == "-":
                continue
            try:
                fd = os.open(filename, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError as exc:
                raise InvalidImageNameError(
                    f"error opening {quote(safe_text(filename))}: {exc.strerror or exc}"
                ) from exc
            os.close(fd)
        return TarballReference(filenames)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        if scope != "":
            raise PolicyError('tarball: does not support any scopes except the default "" one')


TRANSPORT = TarballTransport()


@dataclass(frozen=True, slots=True)
class TarballReference:
    """The layer files of a `tarball:` image, in order."""

    filenames: tuple[str, ...]

    @property
    def transport(self) -> TarballTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return _SEPARATOR.join(self.filenames)

    def docker_reference(self) -> NamedReference | None:
        return None

    def policy_configuration_identity(self) -> str:
        return ""

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def new_image_source(self, ctx: SystemContext) -> TarballImageSource:
        return TarballImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> NoReturn:
        raise NotSupportedError('"tarball:" locations can only be read from, not written to')

    def delete_image(self, ctx: SystemContext) -> None:
        """Remove the layer files, as c/image does (never `-`, which is stdin)."""
        for filename in self.filenames:
            if filename == "-":
                continue
            try:
                os.remove(filename)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise wrap_os_error(exc, f"error removing {quote(safe_text(filename))}") from exc

    def __str__(self) -> str:
        return f"{_NAME}:{self.string_within_transport()}"


@dataclass(frozen=True, slots=True)
class _Blob:
    path: str | None  # None: the spooled stdin copy
    size: int


class TarballImageSource(ImageSourceBase):
    """The synthesised image. Construction reads and hashes every file (see module doc).

    Raises `ImageNotFoundError` for a vanished file, `ArchiveError` for a file that is not
    a regular file, `CompressionError`/`SizeLimitError` for corrupt or oversized data.
    """

    has_thread_safe_get_blob = True

    def __init__(self, ref: TarballReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        self._stdin: BinaryIO | None = None
        self._stdin_size = 0
        self._blobs: dict[Digest, _Blob] = {}
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _spool_stdin(self) -> None:
        self._stdin, self._stdin_size = spool_to_temp(sys.stdin.buffer, self._ctx, "buffering stdin")

    @contextlib.contextmanager
    def _open(self, filename: str) -> Iterator[BinaryIO]:
        if filename == "-":
            assert self._stdin is not None
            yield cast(BinaryIO, _PreadReader(self._stdin.fileno(), self._stdin_size))
            return
        try:
            fd = os.open(filename, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError as exc:
            raise ImageNotFoundError(f"opening {quote(safe_text(filename))}: no such file") from exc
        except OSError as exc:
            raise wrap_os_error(exc, f"opening {quote(safe_text(filename))}") from exc
        f = os.fdopen(fd, "rb")
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ArchiveError(f"{quote(safe_text(filename))}: not a regular file")
            os.set_blocking(fd, True)
            yield f
        finally:
            f.close()

    def _build(self) -> None:
        if "-" in self._ref.filenames:
            self._spool_stdin()
        diff_ids: list[str] = []
        history: list[GoStruct] = []
        layers: list[GoStruct] = []
        newest: tuple[int, GoTime] | None = None
        for filename in self._ref.filenames:
            if filename == "-":
                now = datetime.datetime.now().timestamp()
                mtime_ns = int(now * 1_000_000_000)
            else:
                try:
                    mtime_ns = os.stat(filename).st_mtime_ns
                except OSError as exc:
                    raise wrap_os_error(exc, f"error reading size of {quote(safe_text(filename))}") from exc
            blob_digest, size, diff_id, kind = self._hash_file(filename)
            media_type = mime.layer_variant(mime.OCI_LAYER, kind, oci=True)
            assert media_type is not None  # _hash_file gives NONE, GZIP or ZSTD: all OCI layer types
            self._blobs[blob_digest] = _Blob(None if filename == "-" else filename, size)
            diff_ids.append(str(diff_id))
            when = GoTime.from_unix(0, mtime_ns)
            if newest is None or mtime_ns > newest[0]:
                newest = (mtime_ns, when)
            history.append(
                GoStruct(
                    [
                        ("created", when),
                        ("created_by", f"/bin/sh -c #(nop) ADD file:{diff_id.hex} in /"),
                        ("comment", _COMMENT),
                    ]
                )
            )
            layers.append(GoStruct([("mediaType", media_type), ("digest", str(blob_digest)), ("size", size)]))
        created = newest[1] if newest is not None else GoTime()
        # imgspecv1.Image field order; `config` is an empty struct, always written.
        self._config = marshal(
            GoStruct(
                [
                    ("created", created),
                    ("architecture", go_arch()),
                    ("os", _go_os()),
                    ("config", GoStruct()),
                    ("rootfs", GoStruct([("type", "layers"), ("diff_ids", diff_ids)])),
                    ("history", history),
                ]
            )
        )
        self._config_digest = Digest.from_bytes(self._config)
        self._manifest = marshal(
            GoStruct(
                [
                    ("schemaVersion", 2),
                    (
                        "config",
                        GoStruct(
                            [
                                ("mediaType", mime.OCI_CONFIG),
                                ("digest", str(self._config_digest)),
                                ("size", len(self._config)),
                            ]
                        ),
                    ),
                    ("layers", layers),
                ]
            )
        )

    def _hash_file(self, filename: str) -> tuple[Digest, int, Digest, Compression]:
        """(blob digest, blob size, diffID, compression) of one file, in a single pass."""
        with self._open(filename) as f:
            raw = HashingReader(f)
            kind, prefixed = peek_compression(raw)
            if kind not in (Compression.GZIP, Compression.ZSTD):
                kind = Compression.NONE  # as c/image: anything else is taken as a plain tar
                while raw.read(CHUNK_SIZE):
                    pass
                return raw.digest(), raw.size, raw.digest(), kind
            diff = hashlib.sha256()
            try:
                plain = decompressing_reader(prefixed, kind, budget=self._ctx.max_decompressed_size)
                while chunk := plain.read(CHUNK_SIZE):
                    diff.update(chunk)
            except CompressionError as exc:
                raise ArchiveError(f"error reading {quote(safe_text(filename))}: {exc}") from exc
            while raw.read(CHUNK_SIZE):  # anything the decoder left unread still counts
                pass
            return raw.digest(), raw.size, Digest("sha256", diff.hexdigest()), kind

    @property
    def reference(self) -> TarballReference:
        return self._ref

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise ManifestError('manifest lists are not supported by the "tarball" transport')
        return self._manifest, mime.OCI_MANIFEST

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest == self._config_digest:
            return VerifyingReader(io.BytesIO(self._config), self._config_digest, len(self._config)), len(
                self._config
            )
        blob = self._blobs.get(info.digest) if info.digest is not None else None
        if blob is None or info.digest is None:
            raise ImageNotFoundError(f"no blob with digest {quote(str(info.digest))} found")
        if blob.path is None:
            assert self._stdin is not None
            stream: BinaryIO = cast(BinaryIO, _PreadReader(self._stdin.fileno(), self._stdin_size))
        else:
            stream = cast(BinaryIO, _ClosingStream(self._open(blob.path)))
        return VerifyingReader(stream, info.digest, blob.size, f"layer {safe_text(blob.path or '-')}"), blob.size

    def close(self) -> None:
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None


class _ClosingStream(ReadIntoFromRead, io.RawIOBase):
    """A stream over a context-managed file: entering now, exiting on `close()`."""

    def __init__(self, cm: contextlib.AbstractContextManager[BinaryIO]) -> None:
        super().__init__()
        self._cm = cm
        self._f = cm.__enter__()

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        try:
            return self._f.read(-1 if n is None else n)
        except OSError as exc:
            raise ToolkitError(f"reading a tarball layer: {exc.strerror or exc}") from exc


    def close(self) -> None:
        if not self.closed:
            self._cm.__exit__(None, None, None)
        super().close()


class _PreadReader(ReadIntoFromRead, io.RawIOBase):
    """Reads the first `size` bytes of `fd` with positional reads (independent cursors, so
    several readers of the spooled stdin copy can coexist)."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__()
        self._fd = fd
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        remaining = self._size - self._pos
        n = remaining if n is None or n < 0 else min(n, remaining)
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

