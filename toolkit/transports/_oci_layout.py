"""OCI image layout logic shared by the `oci:` and `oci-archive:` transports.

After containers/image `oci/layout` and `oci/internal/oci_util.go`; the facts (reference
syntax, index resolution, index merge rules, error texts) are c/image's, the safety is ours:

- References are `path[:image]` split at the FIRST colon; `image` must match the OCI
  `org.opencontainers.image.ref.name` grammar (`component(/component)*`); `oci:` sources also
  accept `path:@N` (a 0-based position in `index.json`).
- A layout is read through a `BlobStore` (a directory, or a tar index for `oci-archive:`),
  so resolution and verification are written once. Everything read from a store is
  untrusted: `index.json` is parsed strictly (at most 4 MiB, duplicate keys, type
  confusion and non-canonical key spellings rejected, every digest validated), `oci-layout`
  must say `imageLayoutVersion` "1.0.0", the manifest blob is checked against the index
  descriptor's digest AND size (c/image checks neither), blobs are served through
  `VerifyingReader`.
- The index merge (`add_manifest`) is c/image's `addManifest`, applied to the entries as
  read so that fields skopo does not model survive a re-tag unchanged.
- `LayoutImageSource` is the one image source of both transports; `LayoutDestinationBase`
  holds what both destinations share (capabilities, hashing `put_blob`, `put_manifest`,
  signature refusal).

Errors: a missing image or layout is `ImageNotFoundError` (exit 2); a malformed or hostile
layout is `ArchiveError` (or `SizeLimitError`); a content mismatch is `DigestMismatchError` /
`SizeMismatchError`; bad reference syntax is `InvalidImageNameError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, Final, Self

from toolkit._lazy import DebugLogger
from toolkit._protocol import Protocol
from toolkit._record import record
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import (
    ArchiveError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidDigestError,
    InvalidImageNameError,
    NotSupportedError,
    SizeLimitError,
    SizeMismatchError,
    ToolkitError,
    safe_text,
)
from toolkit.gocompat import atoi_index
from toolkit.limits import MAX_INDEX_JSON_SIZE, MAX_MANIFEST_SIZE, read_limited
from toolkit.manifest import mime
from toolkit.manifest.digests import guess_mime_type, manifest_digest, matches_digest
from toolkit.manifest.formats import Descriptor, parse_list
from toolkit.manifest.referrers import cosign_tags, referrer_descriptor, referrers_tag, subject_of
from toolkit.manifest.strictjson import (
    check_keys,
    expect_object,
    get_int,
    get_list,
    get_str,
    get_str_map,
    loads_strict,
)
from toolkit.transports._fs import local_blob_file
from toolkit.transports._path_scope import PathReferenceMixin, resolve_existing_path
from toolkit.transports.base import (
    BlobStream,
    DestinationCapabilities,
    ImageDestinationBase,
    ImageSourceBase,
    LocalBlobFile,
)
from toolkit.types import BlobInfo, LayerCompression, SystemContext

__all__ = [
    "REF_NAME_ANNOTATION",
    "LAYOUT_FILE",
    "INDEX_FILE",
    "BLOBS_DIR",
    "LAYOUT_VERSION",
    "LAYOUT_BYTES",
    "SIGNATURES_UNSUPPORTED",
    "LayoutRefParts",
    "parse_layout_reference",
    "validate_image_name",
    "LayoutReferenceBase",
    "IndexEntry",
    "LayoutIndex",
    "new_index",
    "parse_index",
    "serialize_index",
    "check_layout_file",
    "add_manifest",
    "blob_member_name",
    "BlobStore",
    "load_index",
    "read_small_file",
    "MAX_LAYOUT_FILE_SIZE",
    "resolve_entry",
    "resolve_position",
    "make_descriptor",
    "read_verified_manifest",
    "LayoutImageSource",
    "LayoutDestinationBase",
]

log = DebugLogger(__name__)  # debug lines only: logging is not imported for them

REF_NAME_ANNOTATION: Final = "org.opencontainers.image.ref.name"
LAYOUT_FILE: Final = "oci-layout"
INDEX_FILE: Final = "index.json"
BLOBS_DIR: Final = "blobs"
LAYOUT_VERSION: Final = "1.0.0"
LAYOUT_BYTES: Final = b'{"imageLayoutVersion":"1.0.0"}'
#: oci-layout is a tiny document; anything large is hostile.
MAX_LAYOUT_FILE_SIZE: Final = 64 << 10
SIGNATURES_UNSUPPORTED: Final = "Pushing signatures for OCI images is not supported"

# c/image oci/internal/oci_util.go refRegexp (image-spec ref.name grammar).
# The ref.name grammar of image-spec: `component(/component)*`, a component being
# `[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*`. Checked without a regex (compiling one
# cost more than the rest of reading a layout's index): every ASCII letter and digit maps
# to "a", so a component is "a"-runs with one separator between each two.
_ALNUM_AS_A: Final = str.maketrans(
    dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "a")
)
_SEPARATORS: Final = frozenset({"-", ".", "_", ":", "@", "+", "--"})


def _is_ref_name(image: str) -> bool:
    """True if `image` matches the ref.name grammar above."""
    for component in image.translate(_ALNUM_AS_A).split("/"):
        between = component.split("a")
        # Starts and ends with an alphanumeric; only separators (or nothing) in between.
        if len(between) < 2 or between[0] or between[-1]:
            return False
        if any(piece and piece not in _SEPARATORS for piece in between):
            return False
    return True

# Media types an entry may have to be selected by ref name (c/image getManifestDescriptor).
_NAMED_TYPES: Final = frozenset({mime.OCI_MANIFEST, mime.OCI_INDEX, mime.DOCKER_V2S2, mime.DOCKER_V2LIST})
_INDEX_KEYS: Final = frozenset(
    {"schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"}
)
_DESCRIPTOR_KEYS: Final = frozenset(
    {"mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType"}
)


# --- references -----------------------------------------------------------------------------


def validate_image_name(image: str) -> None:
    """c/image `ValidateImageName`: "" or the ref.name grammar; else `InvalidImageNameError`."""
    if image and not _is_ref_name(image):
        raise InvalidImageNameError(f"Invalid image {safe_text(image)}")


@record
class LayoutRefParts:
    """The pieces of a `path[:image]` / `path:@N` reference (already validated)."""

    path: str
    resolved_path: str
    image: str
    source_index: int | None


def parse_layout_reference(reference: str, *, allow_source_index: bool) -> LayoutRefParts:
    """Parse the part after `oci:` / `oci-archive:` (c/image `ParseReferenceIntoElements`).

    The path ends at the first ':' (so a path can never contain one); the rest is the image
    name, or `@N` when `allow_source_index`. An empty path is refused (c/image would take the
    current directory; a guess we do not make). The path's parent must exist.
    Raises `InvalidImageNameError`.
    """
    path, _, image = reference.partition(":")
    if not path:
        raise InvalidImageNameError("an empty path is not a valid image location")
    source_index: int | None = None
    if allow_source_index and image.startswith("@"):
        # c/image's oci words for a non-number: "Invalid source index @x: not an integer: ..."
        source_index = atoi_index(image[1:], detail="not an integer: ")
        image = ""
    else:
        validate_image_name(image)
    return LayoutRefParts(path, resolve_existing_path(path), image, source_index)


@record
class LayoutReferenceBase(PathReferenceMixin):
    """What `oci:` and `oci-archive:` references share; subclasses add the transport and the
    source/destination constructors.

    `image` is the ref name ("" for none), `source_index` the `@N` position (None for none);
    never both. `resolved_path` is absolute and symlink-free (policy identity; the image
    name is deliberately not part of it, as in c/image).
    """

    path: str
    resolved_path: str
    image: str = ""
    source_index: int | None = None

    def string_within_transport(self) -> str:
        if self.source_index is not None:
            return f"{self.path}:@{self.source_index}"
        return f"{self.path}:{self.image}"



# --- index.json --------------------------------------------------------------------------------


@record
class IndexEntry:
    """One validated `manifests[]` descriptor of index.json, with the JSON object as read
    (`raw`) so that it can be written back unchanged."""

    media_type: str
    digest: Digest
    size: int
    ref_name: str
    raw: Mapping[str, Any]


@record
class LayoutIndex:
    """A parsed index.json: the top-level object as read (`raw`, for write-back) and its
    validated entries."""

    raw: Mapping[str, Any]
    entries: tuple[IndexEntry, ...]


def new_index() -> LayoutIndex:
    """An empty index for a new layout."""
    return LayoutIndex({"schemaVersion": 2, "mediaType": mime.OCI_INDEX, "manifests": []}, ())


def _entry_from_object(obj: Any, what: str) -> IndexEntry:
    entry = expect_object(obj, what=what, error_cls=ArchiveError)
    check_keys(entry, _DESCRIPTOR_KEYS, what=what, error_cls=ArchiveError)
    media_type = get_str(entry, "mediaType", what=what, error_cls=ArchiveError)
    try:
        digest = Digest.parse(entry.get("digest"))
    except InvalidDigestError as exc:
        raise ArchiveError(f"{what}: {exc}") from None
    size = get_int(entry, "size", what=what, error_cls=ArchiveError)
    annotations = get_str_map(entry, "annotations", what=what, error_cls=ArchiveError) or {}
    return IndexEntry(media_type, digest, size, annotations.get(REF_NAME_ANNOTATION, ""), entry)


def parse_index(raw: bytes, where: str) -> LayoutIndex:
    """Parse untrusted index.json bytes strictly (see the module docstring).

    Raises `SizeLimitError` beyond 4 MiB and `ArchiveError` for anything malformed,
    including an invalid digest in any entry (validated before it can reach a path).
    """
    what = f"{where}: index.json"
    doc = expect_object(
        loads_strict(raw, what=what, limit=MAX_INDEX_JSON_SIZE, error_cls=ArchiveError),
        what=what,
        error_cls=ArchiveError,
    )
    check_keys(doc, _INDEX_KEYS, what=what, error_cls=ArchiveError)
    version = get_int(doc, "schemaVersion", what=what, default=-1, minimum=None, error_cls=ArchiveError)
    if version != 2:
        raise ArchiveError(f"{what}: unsupported schemaVersion {version if version != -1 else '(missing)'}")
    items = get_list(doc, "manifests", what=what, error_cls=ArchiveError) or []
    entries = tuple(_entry_from_object(item, f"{what}: manifests[{i}]") for i, item in enumerate(items))
    return LayoutIndex(doc, entries)


def serialize_index(index: LayoutIndex) -> bytes:
    """index.json bytes: the top-level object as read, with `manifests` from the entries.

    Compact JSON like Go's encoder (index.json is not digested, so byte equality with
    c/image is not needed; key order of what we read is preserved).
    """
    import json  # written layouts only: reading one parses with toolkit.manifest.jsonscan

    doc = dict(index.raw)
    doc["manifests"] = [dict(e.raw) for e in index.entries]
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def check_layout_file(raw: bytes, where: str) -> None:
    """`oci-layout` must be a JSON object with `imageLayoutVersion` "1.0.0"; else `ArchiveError`."""
    what = f"{where}: oci-layout"
    doc = expect_object(
        loads_strict(raw, what=what, limit=MAX_LAYOUT_FILE_SIZE, error_cls=ArchiveError),
        what=what,
        error_cls=ArchiveError,
    )
    version = get_str(doc, "imageLayoutVersion", what=what, error_cls=ArchiveError)
    if version != LAYOUT_VERSION:
        import json  # an error message only

        raise ArchiveError(
            f"{what}: unsupported imageLayoutVersion {json.dumps(version)[:80]} (expected {LAYOUT_VERSION})"
        )


def make_descriptor(media_type: str, digest: Digest, size: int, ref_name: str) -> IndexEntry:
    """A new index entry in Go's `imgspecv1.Descriptor` field order."""
    raw: dict[str, Any] = {"mediaType": media_type, "digest": str(digest), "size": size}
    if ref_name:
        raw["annotations"] = {REF_NAME_ANNOTATION: ref_name}
    return IndexEntry(media_type, digest, size, ref_name, raw)


def _without_ref_name(entry: IndexEntry) -> IndexEntry:
    raw = dict(entry.raw)
    annotations = dict(raw.get("annotations") or {})
    annotations.pop(REF_NAME_ANNOTATION, None)
    if annotations:
        raw["annotations"] = annotations
    else:
        # Go deletes the key from the map and `omitempty` then drops the empty map.
        raw.pop("annotations", None)
    return IndexEntry(entry.media_type, entry.digest, entry.size, "", raw)


def add_manifest(index: LayoutIndex, desc: IndexEntry) -> LayoutIndex:
    """c/image `addManifest`: the index with `desc` added.

    - If `desc` has a ref name, the FIRST other entry carrying that name loses it (the entry
      itself stays, unnamed);
    - then the first unnamed entry with the same digest is replaced by `desc`;
    - otherwise `desc` is appended.
    """
    entries = list(index.entries)
    if desc.ref_name:
        for i, entry in enumerate(entries):
            if entry.ref_name == desc.ref_name:
                entries[i] = _without_ref_name(entry)
                break
    for i, entry in enumerate(entries):
        if entry.digest == desc.digest and not entry.ref_name:
            entries[i] = desc
            return LayoutIndex(index.raw, tuple(entries))
    entries.append(desc)
    return LayoutIndex(index.raw, tuple(entries))


# --- reading a layout through a blob store --------------------------------------------------


def blob_member_name(digest: Digest) -> str:
    """`blobs/<alg>/<hex>`, the layout-relative name of a blob (safe: `Digest` is validated)."""
    return f"{BLOBS_DIR}/{digest.algorithm}/{digest.hex}"


class BlobStore(Protocol):
    """Read access to the files of one OCI layout (a directory or a tar archive).

    Implementations refuse anything that is not a regular file ("not a regular file",
    `ArchiveError`) and never follow links out of the layout.
    """

    #: Where the layout is, for messages ("oci:/path", "oci-archive:/x.tar").
    where: str

    def open_file(self, name: str) -> tuple[BinaryIO, int] | None:
        """A top-level file (`index.json`, `oci-layout`) and its size, or None if missing."""
        ...

    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        """The stored (unverified) bytes of a blob and their size.

        Raises `ToolkitError` if missing (`ArchiveError` for a member of an archive).
        """
        ...


def read_small_file(store: BlobStore, name: str, limit: int) -> bytes | None:
    """A top-level file of the layout, at most `limit` bytes (`SizeLimitError`), or None if missing."""
    opened = store.open_file(name)
    if opened is None:
        return None
    stream, size = opened
    with stream:
        if size > limit:
            raise SizeLimitError(f"{store.where}: {name}: exceeded maximum allowed size of {limit} bytes")
        return read_limited(stream, limit, f"{store.where}: {name}")


def load_index(store: BlobStore) -> LayoutIndex:
    """Read and validate `index.json` and `oci-layout` of the layout in `store`.

    Raises `ImageNotFoundError` if there is no index.json, `ArchiveError` for a missing or
    unsupported oci-layout or a malformed index.
    """
    raw = read_small_file(store, INDEX_FILE, MAX_INDEX_JSON_SIZE)
    if raw is None:
        raise ImageNotFoundError(f"{store.where}: no OCI layout here (index.json does not exist)")
    layout = read_small_file(store, LAYOUT_FILE, MAX_LAYOUT_FILE_SIZE)
    if layout is None:
        raise ArchiveError(f"{store.where}: not an OCI layout: {LAYOUT_FILE} does not exist")
    check_layout_file(layout, store.where)
    return parse_index(raw, store.where)


def resolve_entry(index: LayoutIndex, image: str, source_index: int | None, where: str) -> IndexEntry:
    """The index entry an `oci:` reference designates; see `resolve_position`."""
    return index.entries[resolve_position(index, image, source_index, where)]


def resolve_position(index: LayoutIndex, image: str, source_index: int | None, where: str) -> int:
    """The position in index.json of the entry a reference designates (c/image `getManifestDescriptor`).

    `@N` -> the N-th entry; a name -> the first entry whose ref name matches and whose media
    type is an OCI/Docker manifest or index; neither -> the only entry. Raises
    `ImageNotFoundError` when nothing matches, `ToolkitError` when the choice is ambiguous or
    the match has an unsupported media type.
    """
    entries = index.entries
    if source_index is not None:
        if source_index >= len(entries):
            raise ImageNotFoundError(
                f"{where}: index {source_index} is too large, only {len(entries)} entries available"
            )
        return source_index
    if image:
        unsupported: list[str] = []
        for position, entry in enumerate(entries):
            if entry.ref_name == image:
                if entry.media_type in _NAMED_TYPES:
                    return position
                unsupported.append(entry.media_type)
        import json  # error messages only

        if unsupported:
            raise ToolkitError(
                f"{where}: reference {json.dumps(image)} matches unsupported manifest MIME types "
                f"{safe_text(json.dumps(unsupported))}"
            )
        raise ImageNotFoundError(f"{where}: no descriptor found for reference {json.dumps(image)}")
    if not entries:
        raise ImageNotFoundError(f"{where}: no image in the OCI layout (index.json lists no manifests)")
    if len(entries) != 1:
        raise ToolkitError(f"{where}: more than one image in oci, choose an image")
    return 0


def read_verified_manifest(store: BlobStore, digest: Digest, size: int | None) -> bytes:
    """The manifest blob `digest`, read with the 4 MiB limit and checked against the
    digest (c/image `manifest.Digest` rules) and, when known, the descriptor size."""
    what = f"{store.where}: manifest {digest}"
    if size is not None and size > MAX_MANIFEST_SIZE:
        raise SizeLimitError(f"{what}: exceeded maximum allowed size of {MAX_MANIFEST_SIZE} bytes")
    stream, _stored_size = store.open_blob(digest)
    with stream:
        raw = read_limited(stream, MAX_MANIFEST_SIZE, what)
    if size is not None and len(raw) != size:
        raise SizeMismatchError(f"{what}: size {len(raw)} does not match the descriptor size {size}")
    if not matches_digest(raw, digest):
        raise DigestMismatchError(
            f"{what}: content does not match the digest (got {manifest_digest(raw, digest.algorithm)})"
        )
    return raw


class LayoutImageSource(ImageSourceBase):
    """An image in an OCI layout, read through a `BlobStore` (both transports use this).

    The index is read and the image resolved when the source is made, so a missing or
    ambiguous image fails early (as in c/image). Every manifest returned was verified
    against its descriptor; every blob is a `VerifyingReader`. `on_close` releases the store.
    `get_blob` is thread-safe (both stores open an independent reader per call).
    """

    def __init__(
        self,
        reference: Any,
        store: BlobStore,
        *,
        image: str,
        source_index: int | None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._reference = reference
        self._store = store
        self._on_close = on_close
        self._index = load_index(store)
        self._entry = resolve_entry(self._index, image, source_index, store.where)
        self._known: dict[Digest, tuple[str, int]] | None = None
        self._subjects: list[tuple[Descriptor, Digest]] | None = None

    def __enter__(self) -> Self:
        # The mixin's __enter__ is typed to the mixin; keep the concrete type for callers.
        return self

    @property
    def reference(self) -> Any:
        return self._reference

    @property
    def top_descriptor(self) -> IndexEntry:
        """The index.json entry of the resolved image."""
        return self._entry

    def _known_descriptors(self) -> dict[Digest, tuple[str, int]]:
        """Media type and size of every manifest the layout describes: index.json entries,
        and the instances of the resolved image if it is an index."""
        if self._known is None:
            known = {e.digest: (e.media_type, e.size) for e in self._index.entries}
            raw, mime_type = self.get_manifest()
            if mime.is_list_type(mime_type):
                # Best effort: a malformed list fails later, where the copy engine parses it.
                with contextlib.suppress(ToolkitError):
                    for d in parse_list(raw, mime_type).manifests:
                        known.setdefault(d.digest, (d.media_type, d.size))
            self._known = known
        return self._known

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        """The resolved manifest (or the list instance `instance_digest`), verified, and its
        media type from a descriptor (else guessed from the bytes)."""
        if instance_digest is None:
            raw = read_verified_manifest(self._store, self._entry.digest, self._entry.size)
            return raw, self._entry.media_type or guess_mime_type(raw)
        media_type, size = self._known_descriptors().get(instance_digest, ("", -1))
        raw = read_verified_manifest(self._store, instance_digest, size if size >= 0 else None)
        return raw, media_type or guess_mime_type(raw)

    # --- referrers (ReferrersSource) ---------------------------------------------------------

    def referrers(self, subject: Digest) -> list[Descriptor]:
        """Manifests of this layout that name `subject`: the index.json entries whose manifest
        has that `subject` (how skopo and oras keep referrers in a layout), and the entries of
        a referrers index tagged `referrers_tag(subject)` (how regctl keeps them).

        Entries that are not OCI manifests or indexes, or do not parse, are not referrers.
        """
        found: dict[Digest, Descriptor] = {}
        tag = referrers_tag(subject)
        for entry in self._index.entries:
            if entry.ref_name == tag and entry.media_type == mime.OCI_INDEX:
                raw = read_verified_manifest(self._store, entry.digest, entry.size)
                for d in parse_list(raw, mime.OCI_INDEX).manifests:
                    found.setdefault(d.digest, d)
        for descriptor, named in self._entry_subjects():
            if named == subject:
                found.setdefault(descriptor.digest, descriptor)
        return list(found.values())

    def _entry_subjects(self) -> list[tuple[Descriptor, Digest]]:
        """Each OCI manifest / index entry of index.json that names a subject, as a
        referrers-list descriptor, with that subject (read once per source)."""
        if self._subjects is None:
            subjects: list[tuple[Descriptor, Digest]] = []
            for entry in self._index.entries:
                if entry.media_type not in (mime.OCI_MANIFEST, mime.OCI_INDEX):
                    continue
                try:
                    raw = read_verified_manifest(self._store, entry.digest, entry.size)
                    named = subject_of(raw, entry.media_type)
                    if named is not None:
                        subjects.append((referrer_descriptor(raw, entry.media_type, entry.digest), named))
                except ToolkitError as exc:
                    log.debug("%s: entry %s is not a referrer: %s", self._store.where, entry.digest, exc)
            self._subjects = subjects
        return self._subjects

    def digest_tags(self, subject: Digest) -> list[tuple[str, Descriptor]]:
        """index.json entries named with cosign's tags for `subject`."""
        wanted = set(cosign_tags(subject))
        return [
            (entry.ref_name, Descriptor(media_type=entry.media_type, digest=entry.digest, size=entry.size))
            for entry in self._index.entries
            if entry.ref_name in wanted
        ]

    def _open_blob(self, info: BlobInfo) -> tuple[Digest, BinaryIO, int]:
        """The stored (unverified) bytes of `info.digest` and their size; raises
        `SizeMismatchError` at once if the stored size differs from `info.size`."""
        if info.digest is None:
            raise ToolkitError(f"{self._store.where}: a blob without a digest cannot be read")
        stream, size = self._store.open_blob(info.digest)
        if info.size >= 0 and info.size != size:
            stream.close()
            raise SizeMismatchError(
                f"{self._store.where}: blob {info.digest} has {size} bytes, expected {info.size}"
            )
        return info.digest, stream, size

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        """A verifying stream of the blob `info.digest` (foreign `urls` are never fetched).

        Raises `SizeMismatchError` at once if the stored size differs from `info.size`.
        """
        digest, stream, size = self._open_blob(info)
        return VerifyingReader(stream, digest, size, what="blob"), size

    def get_local_blob(self, info: BlobInfo) -> LocalBlobFile | None:
        """`LocalBlobSource`: the blob's file in a layout directory (None for a member of an
        archive: then `get_blob`). Raises as `get_blob` does."""
        _, stream, size = self._open_blob(info)
        local = local_blob_file(stream, size)
        if local is None:
            stream.close()
        return local

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


# --- writing ---------------------------------------------------------------------------------


class LayoutDestinationBase(ImageDestinationBase):
    """Shared behaviour of the `oci:` and `oci-archive:` destinations.

    Subclasses provide `_store_blob(stream, info) -> (digest, size)` (must leave no trace of a
    blob whose stream raises), `_store_bytes(digest, data)` and `commit()`; after
    `put_manifest(instance_digest=None)` the top-level descriptor is in `self._top`.
    """

    def __init__(self, reference: Any, ctx: SystemContext, image: str) -> None:
        self._reference = reference
        self._image = image
        self._top: IndexEntry | None = None
        #: Referrers and cosign-tagged manifests, added to index.json at commit.
        self._extra: list[IndexEntry] = []
        self._capabilities = DestinationCapabilities(
            supported_manifest_mime_types=(mime.OCI_MANIFEST, mime.OCI_INDEX),
            supports_signatures=False,
            signatures_unsupported_reason=SIGNATURES_UNSUPPORTED,
            desired_layer_compression=(
                LayerCompression.PRESERVE if ctx.oci_accept_uncompressed_layers else LayerCompression.COMPRESS
            ),
            accepts_foreign_layer_urls=True,
            must_match_runtime_os=False,
            ignores_embedded_docker_reference=False,
            has_thread_safe_put_blob=self._thread_safe_put_blob(),
            supports_manifest_lists=True,
        )

    def _thread_safe_put_blob(self) -> bool:
        return True

    def __enter__(self) -> Self:
        return self

    @property
    def reference(self) -> Any:
        return self._reference

    @property
    def capabilities(self) -> DestinationCapabilities:
        return self._capabilities

    def _store_blob(self, stream: BinaryIO, info: BlobInfo) -> tuple[Digest, int]:
        raise NotImplementedError

    def _store_bytes(self, digest: Digest, data: bytes) -> None:
        raise NotImplementedError

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        """Store a blob; see `ImageDestination.put_blob`. The bytes are hashed while written
        and must match `info.digest`/`info.size` when given."""
        digest, size = self._store_blob(stream, info)
        return self._stored_info(info, digest, size)

    @staticmethod
    def _stored_info(info: BlobInfo, digest: Digest, size: int) -> BlobInfo:
        """What `put_blob` returns for the blob `info` stored as `digest`, `size`."""
        return BlobInfo(
            digest=digest,
            size=size,
            media_type=info.media_type,
            urls=info.urls,
            annotations=info.annotations,
            compression=info.compression,
        )

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: Digest | None = None) -> None:
        """Store the manifest bytes as a blob; the top-level one (no `instance_digest`) also
        becomes the index entry written at commit (media type: `mime_type`, else guessed).

        Raises `DigestMismatchError` if `raw` does not match `instance_digest` (c/image does
        not check; a blob whose name lies about its content would poison the layout).
        """
        if instance_digest is not None and not matches_digest(raw, instance_digest):
            raise DigestMismatchError(f"manifest does not match the instance digest {instance_digest}")
        digest = instance_digest if instance_digest is not None else manifest_digest(raw)
        self._store_bytes(digest, raw)
        if instance_digest is not None:
            return
        media_type = mime_type or guess_mime_type(raw)
        self._top = make_descriptor(media_type, digest, len(raw), self._image)

    def put_referrer(self, raw: bytes, mime_type: str, subject: Digest, descriptor: Descriptor) -> None:
        """Store a referrer's manifest; at commit it becomes an index.json entry without a
        ref name (its `artifactType` and annotations as in a referrers list), which is how
        `referrers()` finds it again (oras and skopo; regctl's tag index is read too)."""
        digest = manifest_digest(raw)
        self.put_manifest(raw, mime_type, digest)
        entry: dict[str, Any] = {"mediaType": mime_type, "digest": str(digest), "size": len(raw)}
        annotations = {k: v for k, v in descriptor.annotations.items() if k != REF_NAME_ANNOTATION}
        if annotations:
            entry["annotations"] = annotations
        if descriptor.artifact_type:
            entry["artifactType"] = descriptor.artifact_type
        self._extra.append(IndexEntry(mime_type, digest, len(raw), "", entry))

    def put_tagged_manifest(self, raw: bytes, mime_type: str, tag: str) -> None:
        """Store a manifest under `tag` (an index.json entry named `tag`, at commit)."""
        validate_image_name(tag)
        digest = manifest_digest(raw)
        self.put_manifest(raw, mime_type, digest)
        self._extra.append(make_descriptor(mime_type, digest, len(raw), tag))

    def _merged_index(self, index: LayoutIndex) -> LayoutIndex:
        """`index` with what this copy wrote: the top entry, then referrers and tagged manifests."""
        for entry in ([self._top] if self._top is not None else []) + self._extra:
            index = add_manifest(index, entry)
        return index

    def put_signatures(self, signatures: Sequence[bytes], instance_digest: Digest | None = None) -> None:
        """Refuses any signature (c/image's message); an empty list is fine."""
        if signatures:
            raise NotSupportedError(SIGNATURES_UNSUPPORTED)

