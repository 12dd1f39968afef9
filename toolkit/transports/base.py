"""The three transport interfaces (after containers/image `types/types.go`).

Contract shared by every transport:
- An `ImageReference` is immutable and made only by `Transport.parse_reference`; its
  `string_within_transport()` round-trips through `parse_reference`.
- `ImageSource` and `ImageDestination` are context managers. Leaving a destination's
  `with` block without `commit()` aborts: the destination is left exactly as it was.
- Every value read from a source is untrusted until verified: `get_blob` returns a
  `BlobStream` that checks size and digest at EOF (see `toolkit.digest.VerifyingReader`);
  manifests are returned as the exact bytes stored or served.
- Errors are `ToolkitError`s; a missing image is `ImageNotFoundError` (exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Self

from toolkit._protocol import Protocol, runtime_checkable
from toolkit._record import record
from toolkit.digest import Digest
from toolkit.errors import ToolkitError
from toolkit.types import BlobInfo, LayerCompression, SystemContext

if TYPE_CHECKING:  # annotations only: a command on a local layout never loads the reference grammar
    from toolkit.manifest.formats import Descriptor
    from toolkit.reference import NamedReference

__all__ = [
    "Transport",
    "ImageReference",
    "ImageSource",
    "ImageDestination",
    "BlobStream",
    "DestinationCapabilities",
    "ImageSourceBase",
    "ImageDestinationBase",
    "BlobMountHint",
    "TopLevelManifestSink",
    "TagLister",
    "PathReference",
    "ReferrersSource",
    "ReferrersDestination",
    "TagListingTransport",
    "LocalBlobFile",
    "LocalBlobSource",
    "FileRangeReader",
    "FileBlobDestination",
    "SizeHintMissedError",
    "SizedLayerDestination",
]


@runtime_checkable
class BlobStream(Protocol):
    """A readable blob. `read` raises `DigestMismatchError`/`SizeMismatchError` at EOF
    when the bytes do not match what was announced."""

    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """A named transport (`dir`, `oci`, `docker`, ...), registered by entry point."""

    @property
    def name(self) -> str: ...

    def parse_reference(self, reference: str) -> ImageReference:
        """Parse the part after `name:`; raise `InvalidImageNameError` on bad syntax."""
        ...

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """Raise `PolicyError` if `scope` is not a valid policy.json scope for this transport."""
        ...


class ImageReference(Protocol):
    """An image location within a transport."""

    @property
    def transport(self) -> Transport: ...

    def string_within_transport(self) -> str: ...

    def docker_reference(self) -> NamedReference | None:
        """The docker reference this image is known as, if any (for signatures/policy)."""
        ...

    def policy_configuration_identity(self) -> str: ...

    def policy_configuration_namespaces(self) -> list[str]: ...

    def new_image_source(self, ctx: SystemContext) -> ImageSource: ...

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination: ...

    def delete_image(self, ctx: SystemContext) -> None: ...


class ImageSource(Protocol):
    """Read side of an image. Use as a context manager."""

    @property
    def reference(self) -> ImageReference: ...

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        """The exact manifest bytes and their MIME type ("" if unknown).

        With `instance_digest`, the manifest of that list instance; the bytes MUST hash to it.
        """
        ...

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        """A verifying stream of the blob and its size (-1 if unknown)."""
        ...

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        """Signatures in the containers/image blob format (see `toolkit.signature`)."""
        ...

    def layer_infos_for_copy(self, instance_digest: Digest | None = None) -> list[BlobInfo] | None:
        """Layer infos to use instead of the manifest's, or None to use the manifest's."""
        ...

    @property
    def has_thread_safe_get_blob(self) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> ImageSource: ...

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@record(kw_only=True)
class DestinationCapabilities:
    """What a destination accepts; consulted by the copy engine before writing.

    `supported_manifest_mime_types`: None means any type; otherwise in order of preference.
    """

    supported_manifest_mime_types: tuple[str, ...] | None = None
    supports_signatures: bool = False
    signatures_unsupported_reason: str = ""
    desired_layer_compression: LayerCompression = LayerCompression.PRESERVE
    accepts_foreign_layer_urls: bool = False
    must_match_runtime_os: bool = False
    ignores_embedded_docker_reference: bool = False
    has_thread_safe_put_blob: bool = False
    supports_manifest_lists: bool = True
    must_know_blob_size: bool = False
    #: True if the destination cannot hold an image whose manifest mentions a compressed
    #: layer under an uncompressed media type (informational).
    accepts_uncompressed_layers: bool = True


class ImageDestination(Protocol):
    """Write side of an image. Use as a context manager; nothing is visible before `commit()`."""

    @property
    def reference(self) -> ImageReference: ...

    @property
    def capabilities(self) -> DestinationCapabilities: ...

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        """If the destination already has `info`'s blob, return its info (no copy needed)."""
        ...

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        """Store a blob. `info.digest` may be None (computed here); `info.size` may be -1.

        The stream is consumed to EOF. Returns the stored blob's digest and size. The
        stream raising (e.g. a digest mismatch) aborts this blob and leaves no trace of it.
        """
        ...

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: Digest | None = None) -> None: ...

    def put_signatures(self, signatures: Sequence[bytes], instance_digest: Digest | None = None) -> None: ...

    def commit(self) -> None:
        """Make everything written visible, atomically where the format allows."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> ImageDestination: ...

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


# --- optional capabilities -------------------------------------------------------------------
#
# What only some transports can do is declared here as small protocols and tested with
# `isinstance` (c/image adapts optional interfaces the same way), never probed by attribute
# name: a method that happens to share a name is not a capability.


@runtime_checkable
class BlobMountHint(Protocol):
    """A destination that can reuse blobs from where the source keeps them (docker://:
    cross-repository mounts). Called once, before any blob is written."""

    def set_reuse_source(self, source: NamedReference | None) -> None: ...


@record
class LocalBlobFile:
    """A blob's stored bytes as `size` bytes of an open regular file from `offset` on.

    The bytes are untrusted: nothing about them was verified (the one who copies them
    hashes them). `file` is owned by whoever got the object: `close()` closes it. Read it
    only with positional reads (`os.preadv`), which move no file position, so one file may
    serve several readers.
    """

    file: BinaryIO
    offset: int
    size: int
    #: Names the blob's location in messages ("blob", "oci-archive:/x.tar: blob").
    what: str = "blob"

    def head(self, n: int) -> bytes:
        """The first (at most `n`) bytes of the blob; `ToolkitError` if the file cannot be read."""
        try:
            return os.pread(self.file.fileno(), min(n, self.size), self.offset)
        except OSError as exc:
            raise ToolkitError(f"reading {self.what}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self.file.close()


@runtime_checkable
class FileRangeReader(Protocol):
    """A reader whose bytes are a range of a regular file it reads with positional reads
    (a member of a tar archive): `file_range()` is (descriptor, offset), or None when not
    (then read it as a stream). The descriptor stays the reader's owner's."""

    def file_range(self) -> tuple[int, int] | None: ...


@runtime_checkable
class LocalBlobSource(Protocol):
    """A source whose blobs are (ranges of) local regular files, so that a destination that
    writes local files can copy them with no stream in between (`FileBlobDestination`)."""

    def get_local_blob(self, info: BlobInfo) -> LocalBlobFile | None:
        """The stored bytes of `info.digest` as a local file range, or None when this blob
        is not one (then use `get_blob`). Raises what `get_blob` raises when opening (a
        missing blob; `SizeMismatchError` when the stored size differs from `info.size`)."""
        ...


@runtime_checkable
class FileBlobDestination(Protocol):
    """A destination that can store a blob straight from a `LocalBlobFile`."""

    def put_blob_from_file(
        self,
        blob: LocalBlobFile,
        info: BlobInfo,
        *,
        progress: Callable[[int], None],
        background_hash: bool,
        placed: Callable[[], None] | None = None,
    ) -> BlobInfo:
        """Store `blob`'s bytes as the blob `info` (`info.digest` is required), as `put_blob`
        would: the bytes are hashed as they are written (the bytes written, not a second
        read of the source) and MUST hash to `info.digest` and number `info.size` (when
        known) and `blob.size`, else `DigestMismatchError` / `SizeMismatchError` and no trace
        of the blob is left. `progress(n)` is called after every chunk written, with its
        size; whatever it raises aborts the blob the same way. `background_hash`: hash in a
        thread of its own, overlapping the copy (worth it when fewer blobs than cores are
        copied at once). `placed()`, if given, is called once (unless this raises first)
        when the blob's place at the destination is fixed: a destination that stores blobs
        in order (an archive file) calls it before the bytes are written and may then take
        the next blob meanwhile; one without an order calls it at once; one that cannot
        (a pipe) once the blob is complete. Does not close `blob`. Returns the stored blob's
        info."""
        ...


class SizeHintMissedError(ToolkitError):
    """A layer stored at a place reserved from a size hint (`SizedLayerDestination`) had
    another size: the hint was wrong (it is not an error of the image). The copier rewinds
    the destination and copies the layers again without hints."""


@runtime_checkable
class SizedLayerDestination(Protocol):
    """A destination that stores blobs in order (an archive file) and can reserve a layer's
    place from its (expected, unverified) size, so that the next layer is written while
    this one still is; and rewind to a checkpoint when a size turned out wrong."""

    @property
    def reserves_sized_layers(self) -> bool:
        """True when `put_layer_sized` and `layer_checkpoint` work (a seekable file)."""
        ...

    def put_layer_sized(
        self, stream: BinaryIO, info: BlobInfo, size: int, *, placed: Callable[[], None] | None = None
    ) -> BlobInfo:
        """Store the layer `info` (its digest required; `info.size` unknown) from `stream`,
        as `put_blob` would (the same bytes at the destination, the digest verified as they
        are written), in a place reserved for `size` bytes. `placed()` is called once that
        place is fixed, before the bytes are written. `SizeHintMissedError` when the stream
        holds another number of bytes (nothing beyond the reserved place is ever written);
        the destination is then unusable until `layer_rewind`."""
        ...

    def layer_checkpoint(self) -> object:
        """A token for `layer_rewind`: the destination's state now."""
        ...

    def layer_rewind(self, token: object) -> None:
        """Forget every blob stored since `layer_checkpoint` returned `token` (no writer of
        one may still run), and make the destination usable again."""
        ...


@runtime_checkable
class TopLevelManifestSink(Protocol):
    """A destination that also records the list an instance was chosen from (c/image's
    `unparsedToplevel` argument of `Commit`): containers-storage keeps it so the image can be
    found by the list's digest. Called before `commit()`, only when one instance of a list
    is copied as a single image; `raw` is the list's exact bytes."""

    def set_top_level_manifest(self, raw: bytes, mime_type: str) -> None: ...


@runtime_checkable
class TagLister(Protocol):
    """A reference whose repository can list its tags (`inspect`'s `RepoTags`)."""

    def list_tags(self, ctx: SystemContext) -> list[str]: ...


@runtime_checkable
class TagListingTransport(Protocol):
    """A transport `list-tags` works with (skopeo: docker, docker-archive)."""

    def list_tags_at(self, reference: str, ctx: SystemContext) -> tuple[str | None, list[str]]:
        """The tags at `reference` (the part after `name:`): (the repository name, or None
        where the output has none, and the tags in the transport's order). Raises
        `ToolkitError` for a bad reference or a failed listing."""
        ...


@runtime_checkable
class PathReference(Protocol):
    """A reference to a local path: `resolved_path` is absolute and symlink-free."""

    @property
    def resolved_path(self) -> str: ...


@runtime_checkable
class ReferrersSource(Protocol):
    """A source that can find what refers to a manifest (OCI 1.1 `subject`; cosign tags)."""

    def referrers(self, subject: Digest) -> list[Descriptor]:
        """Descriptors of the manifests whose `subject` is `subject` ([] if none). The list
        is untrusted: the copy engine fetches and verifies each manifest. Raises
        `ToolkitError` for a malformed or unbounded listing."""
        ...

    def digest_tags(self, subject: Digest) -> list[tuple[str, Descriptor]]:
        """cosign's tags for `subject` that exist (`sha256-<hex>.sig`, `.att`, `.sbom`), as
        (tag, descriptor of the manifest it names)."""
        ...


@runtime_checkable
class ReferrersDestination(Protocol):
    """A destination that can keep referrers so that they are found again."""

    def put_referrer(self, raw: bytes, mime_type: str, subject: Digest, descriptor: Descriptor) -> None:
        """Store the manifest `raw` (its blobs are written already) and record it as a
        referrer of `subject`; `descriptor` is its entry in a referrers list."""
        ...

    def put_tagged_manifest(self, raw: bytes, mime_type: str, tag: str) -> None:
        """Store the manifest `raw` (its blobs are written already) under `tag`, beside the
        image (cosign's `sha256-<hex>.sig` tags)."""
        ...


class ImageSourceBase:
    """Mixin with the context-manager plumbing and defaults for sources."""

    has_thread_safe_get_blob: bool = True
    #: Blob streams come over the network (their reads wait for a peer): a copy that decodes
    #: a layer receives it in a thread of its own, so the decoder's thread only decodes.
    receives_blobs_over_network: bool = False

    def layer_infos_for_copy(self, instance_digest: Digest | None = None) -> list[BlobInfo] | None:
        return None

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        return []

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ImageDestinationBase:
    """Mixin with the context-manager plumbing for destinations.

    Subclasses implement `_abort()` (undo everything not committed) and set
    `self._committed = True` in `commit()`.
    """

    _committed: bool = False

    def _abort(self) -> None:
        return None

    def close(self) -> None:
        if not self._committed:
            self._abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
