"""The `docker-archive:` transport: a `docker save` tar file (containers/image `docker/archive/`).

Reference syntax: `path`, `path:docker-reference` or `path:@N` (c/image `ParseReference`):
the path ends at the first `:`; a reference must be a tagged name (a name alone gets
`:latest`), a digest is refused; `@N` is a 0-based image index, for sources only.

The format itself lives in `transports/_docker_tar.py` (shared with `docker-daemon:`).
Beyond containers/image:
- the source never reads a host file named by the archive, refuses ambiguous archives
  (duplicate member names, a tag naming two images) and bounds decompression and spooling;
- a regular-file destination is written to a temp file next to it and renamed into place at
  `commit()` (fsync'ed); leaving without `commit()` leaves no file behind. A FIFO, character
  device, or `-` (stdout) is written as a stream: a failure then leaves the reader with a
  truncated archive, which nothing can undo.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from toolkit.errors import (
    DestinationError,
    InvalidDigestError,
    InvalidImageNameError,
    InvalidReferenceError,
    NotSupportedError,
    PolicyError,
    safe_text,
)
from toolkit.gocompat import atoi_index
from toolkit.reference import NamedReference, parse_normalized_named, tag_name_only
from toolkit.safefile import open_special_for_writing, refuse_dangling_link
from toolkit.transports._docker_tar import (
    ArchiveImageDestination,
    ArchiveImageSource,
    ArchiveReader,
    ArchiveWriter,
    archive_capabilities,
    archive_tags,
)
from toolkit.transports._fs import AtomicFile, wrap_os_error
from toolkit.transports.base import (
    DestinationCapabilities,
)
from toolkit.types import LayerCompression, SystemContext

__all__ = [
    "TRANSPORT",
    "DockerArchiveTransport",
    "DockerArchiveReference",
    "DockerArchiveImageSource",
    "DockerArchiveImageDestination",
    "archive_tags",
]

log = logging.getLogger(__name__)
#: Writing to a terminal is refused: the archive would only scramble the screen.
_TERMINAL = "refusing to write an archive to a terminal; redirect stdout"

_NAME = "docker-archive"


@dataclass(frozen=True, slots=True)
class DockerArchiveTransport:
    """The `docker-archive` transport."""

    name: str = _NAME

    def parse_reference(self, reference: str) -> DockerArchiveReference:
        """Parse `path[:ref]` or `path:@N`; raise `InvalidImageNameError` with c/image's texts."""
        if not reference:
            raise InvalidImageNameError(
                f"docker-archive reference {reference} isn't of the form <path>[:<reference>]"
            )
        path, sep, rest = reference.partition(":")
        if not path:
            raise InvalidImageNameError(
                f"docker-archive reference {safe_text(reference)} isn't of the form <path>[:<reference>]"
            )
        if not sep:
            return DockerArchiveReference(path, None, None)
        if rest.startswith("@"):
            return DockerArchiveReference(path, None, atoi_index(rest[1:]))
        try:
            ref = tag_name_only(parse_normalized_named(rest))
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise InvalidImageNameError(f"docker-archive parsing reference: {exc}") from exc
        if ref.tag is None:
            raise InvalidImageNameError(f"reference does not include a tag: {ref}")
        if ref.digest is not None:
            raise InvalidImageNameError(f"docker-archive doesn't support digest references: {ref}")
        return DockerArchiveReference(path, ref, None)

    def list_tags_at(self, reference: str, ctx: SystemContext) -> tuple[str | None, list[str]]:
        """`list-tags docker-archive:PATH`: the RepoTags of each image (`@N` if untagged);
        skopeo prints no repository for an archive."""
        return None, archive_tags(reference.split(":", 1)[0], ctx)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """Only the default "" scope exists for docker-archive (as in c/image)."""
        if scope != "":
            raise PolicyError('docker-archive: does not support any scopes except the default "" one')


TRANSPORT = DockerArchiveTransport()


@dataclass(frozen=True, slots=True)
class DockerArchiveReference:
    """`path` plus either a tagged `ref` or a 0-based `source_index` (or neither)."""

    path: str
    ref: NamedReference | None
    source_index: int | None

    @property
    def transport(self) -> DockerArchiveTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        if self.ref is not None:
            return f"{self.path}:{self.ref}"
        if self.source_index is not None:
            return f"{self.path}:@{self.source_index}"
        return self.path

    def docker_reference(self) -> NamedReference | None:
        return self.ref

    def policy_configuration_identity(self) -> str:
        return ""

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def new_image_source(self, ctx: SystemContext) -> DockerArchiveImageSource:
        return DockerArchiveImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> DockerArchiveImageDestination:
        return DockerArchiveImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        raise NotSupportedError("Deleting images not implemented for docker-archive: images")

    def __str__(self) -> str:
        return f"{_NAME}:{self.string_within_transport()}"


class DockerArchiveImageSource(ArchiveImageSource):
    """Reads one image of an archive (selected by reference, `@N`, or the only one).

    Everything is validated at construction (see `ArchiveReader`, `ArchiveImage`): a
    missing file or image raises `ImageNotFoundError`, a malformed or hostile archive
    `ArchiveError`/`SizeLimitError`. Blobs can be read from several threads at once.
    """

    def __init__(self, ref: DockerArchiveReference, ctx: SystemContext) -> None:
        self._ref = ref
        archive = ArchiveReader.from_path(ref.path, ctx)
        try:
            image = archive.open_image(ref.ref, ref.source_index)
        except BaseException:
            archive.close()
            raise
        super().__init__(archive, image, "docker-archive")

    @property
    def reference(self) -> DockerArchiveReference:
        return self._ref


_CAPABILITIES = archive_capabilities(desired_layer_compression=LayerCompression.DECOMPRESS)


def _additional_tags(ctx: SystemContext) -> list[NamedReference]:
    out = []
    for text in ctx.docker_archive_additional_tags:
        try:
            ref = parse_normalized_named(text)
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise InvalidImageNameError(f"additional tag {safe_text(text)!r}: {exc}") from exc
        if ref.tag is None or ref.digest is not None:
            raise InvalidImageNameError(f"additional tag '{safe_text(text)}' must be a tagged reference")
        out.append(ref)
    return out


class DockerArchiveImageDestination(ArchiveImageDestination):
    """Writes one image into a new archive (see the module docstring for the file modes).

    Opening refuses a non-empty regular file (`DestinationError("docker-archive doesn't
    support modifying existing images")`), a directory, and an `@N` reference.
    """

    def __init__(self, ref: DockerArchiveReference, ctx: SystemContext) -> None:
        if ref.source_index is not None:
            raise InvalidImageNameError(f"Destination reference must not contain a manifest index @{ref.source_index}")
        self._ref = ref
        self._repo_tags = ([ref.ref] if ref.ref is not None else []) + _additional_tags(ctx)
        self._atomic: AtomicFile | None = None
        self._stream: BinaryIO | None = None
        out, seekable = self._open_target(ref.path)
        self._out = out
        self._writer = ArchiveWriter(out, seekable=seekable, ctx=ctx)

    def _open_target(self, path: str) -> tuple[BinaryIO, bool]:
        if path == "-":
            if os.isatty(1):
                raise DestinationError(_TERMINAL)
            # stdout, as a stream; our own copy of the descriptor, so closing is harmless.
            self._stream = os.fdopen(os.dup(1), "wb")
            return self._stream, False
        try:
            st: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise wrap_os_error(exc, f"error opening file {safe_text(path)!r}") from exc
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise DestinationError(f"error opening file {safe_text(path)!r}: is a directory")
        # A pipe, a character device or /dev/stdout: write straight into it.
        fd = open_special_for_writing(path, "docker-archive")
        if fd is not None:
            if os.isatty(fd):  # /dev/stdout, /dev/tty: binary on a screen helps nobody
                os.close(fd)
                raise DestinationError(_TERMINAL)
            self._stream = os.fdopen(fd, "wb")
            return self._stream, False
        if st is not None and st.st_size != 0:
            raise DestinationError("docker-archive doesn't support modifying existing images")
        # A new or empty regular file: build it next to the target (through a link, the file
        # it points to), publish at commit. A link to nothing is refused: it may have been
        # planted, and following it would create its target anywhere.
        refuse_dangling_link(path, "docker-archive")
        self._atomic = AtomicFile(Path(os.path.realpath(path)), 0o644, clean_stale=True)
        return self._atomic.__enter__(), True

    @property
    def reference(self) -> DockerArchiveReference:
        return self._ref

    @property
    def capabilities(self) -> DestinationCapabilities:
        return _CAPABILITIES

    def commit(self) -> None:
        if self._committed:
            return
        self._finish_archive("docker-archive")
        if self._atomic is not None:
            self._atomic.commit()
        elif self._stream is not None:
            try:
                self._stream.close()
            except OSError as exc:
                raise wrap_os_error(exc, f"writing {safe_text(self._ref.path)}") from exc
        self._committed = True

    def _abort(self) -> None:
        if self._atomic is not None:
            self._atomic.discard()
        if self._stream is not None and not self._stream.closed:
            try:
                self._stream.close()
            except OSError:
                log.debug("closing %s after a failure", self._ref.path, exc_info=True)
