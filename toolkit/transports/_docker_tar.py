"""The `docker save` archive format (containers/image `docker/internal/tarfile`: types.go,
reader.go, src.go, writer.go), shared by the `docker-archive:` and `docker-daemon:` transports.

Pure parts (bytes in, bytes out):
- `parse_tar_manifest(raw)` validates an untrusted `manifest.json` strictly (1 MiB limit,
  duplicate keys, non-canonical key spellings, types) and raises `ArchiveError` /
  `SizeLimitError`, never anything else.
- `choose_manifest_item` selects an image the way c/image `ChooseManifestItem` does (with
  one hardening: a tag matching images at two different indexes is refused as ambiguous).
- `generated_schema2_manifest` reproduces, byte for byte, the manifest c/image `src.go`
  synthesises for an archived image, so both tools compute the same manifest digest.
- `legacy_layers` / `marshal_manifest_json` / `marshal_repositories` reproduce c/image
  `writer.go` byte for byte (layer IDs from chain IDs, v1 `json` files, `repositories`).

I/O parts, on top of `_tar.TarIndex` / `_tar.TarStreamWriter` (never extracting anything):
- `ArchiveReader` + `ArchiveImage`: the read side (c/image `tarfile.Reader` + `Source`).
- `ArchiveWriter`: the write side (c/image `tarfile.Writer` + `Destination`).
- `archive_tags(path)`: what `skopeo list-tags docker-archive:` lists.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, cast

from toolkit.compression import (
    SNIFF_SIZE,
    CompressionError,
    Readable,
    decompressing_reader,
    detect_compression,
    peek_compression,
)
from toolkit.digest import CHUNK_SIZE, SUPPORTED_ALGORITHMS, Digest, HashingReader, VerifyingReader, verified_digest
from toolkit.errors import (
    ArchiveError,
    DestinationError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidDigestError,
    InvalidReferenceError,
    ManifestError,
    NotSupportedError,
    SizeLimitError,
    SizeMismatchError,
    safe_text,
)
from toolkit.limits import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, MAX_TAR_MANIFEST_SIZE, read_limited
from toolkit.manifest import mime
from toolkit.manifest.gojson import GoStruct, RawJSON, marshal, quote
from toolkit.manifest.strictjson import check_keys, loads_strict
from toolkit.reference import NamedReference, parse_normalized_named
from toolkit.streams import iter_chunks
from toolkit.transports._fs import FileRegionWriter, copy_local_blob, wrap_os_error
from toolkit.transports._tar import MemberNotFoundError, TarIndex, TarStreamWriter, clean_member_name
from toolkit.transports._tar.reader import spool_limit
from toolkit.transports.base import (
    BlobStream,
    DestinationCapabilities,
    ImageDestinationBase,
    ImageSourceBase,
    LocalBlobFile,
    SizeHintMissedError,
)
from toolkit.types import BlobInfo, Compression, LayerCompression, SystemContext

__all__ = [
    "MANIFEST_FILE",
    "REPOSITORIES_FILE",
    "LEGACY_LAYER_FILE",
    "LEGACY_VERSION_FILE",
    "LEGACY_CONFIG_FILE",
    "ManifestItem",
    "parse_tar_manifest",
    "choose_manifest_item",
    "archive_tags_of",
    "parse_config_diff_ids",
    "generated_schema2_manifest",
    "Schema2Summary",
    "parse_schema2_for_archive",
    "LegacyLayer",
    "legacy_layers",
    "config_file_name",
    "layer_file_name",
    "repo_tag_string",
    "marshal_manifest_json",
    "marshal_repositories",
    "ArchiveReader",
    "ArchiveImage",
    "ArchiveWriter",
    "archive_tags",
    "spool_budget",
    "spool_to_temp",
    "archive_capabilities",
    "ArchiveImageSource",
    "ArchiveImageDestination",
]

MANIFEST_FILE: Final = "manifest.json"
REPOSITORIES_FILE: Final = "repositories"
LEGACY_LAYER_FILE: Final = "layer.tar"
LEGACY_VERSION_FILE: Final = "VERSION"
LEGACY_CONFIG_FILE: Final = "json"

_ITEM_FIELDS: Final = frozenset({"Config", "RepoTags", "Layers", "Parent", "LayerSources"})
# Attributes of the image config copied into the top legacy layer's `json` (writer.go).
_TOP_LAYER_ATTRS: Final = ("architecture", "config", "container", "container_config", "created",
                           "docker_version", "os")


@dataclass(frozen=True, slots=True)
class ManifestItem:
    """One image of an archive's `manifest.json`. Names are untrusted archive member paths."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]
    parent: str = ""


def _str_list(obj: Mapping[str, Any], key: str, what: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:  # Go decodes null (docker writes `"RepoTags":null`) as an empty slice
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArchiveError(f'{what}: field "{key}" must be an array of strings')
    return tuple(value)


def parse_tar_manifest(raw: bytes) -> list[ManifestItem]:
    """Parse an archive's `manifest.json` (untrusted, at most 1 MiB).

    Raises `SizeLimitError` when too large and `ArchiveError` for invalid JSON, duplicate
    keys, a non-canonical key spelling (`"config"`: Go would read it, we refuse the
    ambiguity), or a wrong type.
    """
    what = "decoding tar manifest.json"
    doc = loads_strict(raw, what=what, limit=MAX_TAR_MANIFEST_SIZE, error_cls=ArchiveError)
    if not isinstance(doc, list):
        raise ArchiveError(f"{what}: expected a JSON array of images")
    items: list[ManifestItem] = []
    for index, entry in enumerate(doc):
        item_what = f"{what}: item @{index}"
        if not isinstance(entry, dict):
            raise ArchiveError(f"{item_what}: expected a JSON object")
        check_keys(entry, _ITEM_FIELDS, what=item_what, error_cls=ArchiveError)
        config = entry.get("Config")
        if not isinstance(config, str):
            raise ArchiveError(f'{item_what}: field "Config" must be a string')
        parent = entry.get("Parent")
        if parent is not None and not isinstance(parent, str):
            raise ArchiveError(f'{item_what}: field "Parent" must be a string')
        sources = entry.get("LayerSources")
        if sources is not None and not isinstance(sources, dict):
            raise ArchiveError(f'{item_what}: field "LayerSources" must be an object')
        items.append(
            ManifestItem(
                config=config,
                repo_tags=_str_list(entry, "RepoTags", item_what),
                layers=_str_list(entry, "Layers", item_what),
                parent=parent or "",
            )
        )
    return items


def _parse_repo_tag(tag: str, index: int) -> NamedReference:
    try:
        return parse_normalized_named(tag)
    except (InvalidReferenceError, InvalidDigestError) as exc:
        raise ArchiveError(f"Invalid tag {quote(safe_text(tag))} in manifest.json item @{index}: {exc}") from exc


def choose_manifest_item(
    items: Sequence[ManifestItem], ref: NamedReference | None, index: int | None
) -> tuple[int, ManifestItem, int]:
    """Select the image for (`ref`, `index`) (at most one of them set).

    Returns (image index, item, index of the matching RepoTag or -1). Raises
    `ImageNotFoundError` for an unknown tag or an out-of-range index, `ArchiveError` when
    neither is given and the archive does not hold exactly one image, or when `ref`
    matches RepoTags of two different images (c/image would silently take the first).
    """
    if ref is not None:
        wanted = str(ref)
        found: tuple[int, ManifestItem, int] | None = None
        for i, item in enumerate(items):
            for tag_index, tag in enumerate(item.repo_tags):
                if str(_parse_repo_tag(tag, i)) != wanted:
                    continue
                if found is None:
                    found = (i, item, tag_index)
                elif found[0] != i:
                    raise ArchiveError(
                        f"Tag {quote(wanted)} is ambiguous: it names images @{found[0]} and @{i} in the archive"
                    )
        if found is None:
            raise ImageNotFoundError(f"Tag {quote(wanted)} not found")
        return found
    if index is not None:
        if index >= len(items):
            raise ImageNotFoundError(
                f"Invalid source index @{index}, only {len(items)} manifest items available"
            )
        return index, items[index], -1
    if len(items) != 1:
        raise ArchiveError(
            f"Unexpected tar manifest.json: expected 1 item, got {len(items)}"
            + (" (more than one image in the archive: specify a reference or @N)" if items else "")
        )
    return 0, items[0], -1


def archive_tags_of(items: Sequence[ManifestItem]) -> list[str]:
    """What `skopeo list-tags docker-archive:` prints: each image's RepoTags as written in
    the archive (short forms are not expanded), `@N` for an untagged image.

    Raises `ArchiveError` for a RepoTag that is not a valid tagged reference (as c/image
    `Reader.List`).
    """
    out: list[str] = []
    for i, item in enumerate(items):
        if not item.repo_tags:
            out.append(f"@{i}")
            continue
        for tag in item.repo_tags:
            parsed = _parse_repo_tag(tag, i)
            if parsed.tag is None:
                raise ArchiveError(f"Invalid tag {safe_text(tag)} ({parsed}): does not contain a tag")
            # c/image re-resolves each tag and prints the first RepoTag matching it.
            _, chosen, tag_index = choose_manifest_item(items, parsed, None)
            out.append(chosen.repo_tags[tag_index])
    return out


def parse_config_diff_ids(config: bytes, name: str) -> list[Digest]:
    """The `rootfs.diff_ids` of an (untrusted) image config read from an archive.

    Raises `ArchiveError` if the config is not strict JSON, has no `rootfs`, or holds an
    invalid digest.
    """
    what = f"decoding tar config {quote(safe_text(name))}"
    doc = loads_strict(config, what=what, limit=len(config), error_cls=ArchiveError)
    if not isinstance(doc, dict):
        raise ArchiveError(f"{what}: expected a JSON object")
    check_keys(doc, frozenset({"rootfs"}), what=what, error_cls=ArchiveError)
    rootfs = doc.get("rootfs")
    if rootfs is None:
        raise ArchiveError(f"Invalid image config (rootFS is not set): {quote(safe_text(name))}")
    if not isinstance(rootfs, dict):
        raise ArchiveError(f'{what}: field "rootfs" must be an object')
    check_keys(rootfs, frozenset({"type", "diff_ids"}), what=what, error_cls=ArchiveError)
    diff_ids = rootfs.get("diff_ids")
    if diff_ids is None:
        return []
    if not isinstance(diff_ids, list):
        raise ArchiveError(f'{what}: field "diff_ids" must be an array')
    try:
        return [Digest.parse(d) for d in diff_ids]
    except InvalidDigestError as exc:
        raise ArchiveError(f"{what}: {exc}") from exc


def _descriptor(media_type: str, size: int, digest: Digest) -> GoStruct:
    # manifest.Schema2Descriptor field order: mediaType, size, digest (urls omitempty).
    return GoStruct([("mediaType", media_type), ("size", size), ("digest", str(digest))])


def generated_schema2_manifest(
    config_digest: Digest, config_size: int, layers: Sequence[tuple[Digest, int]]
) -> bytes:
    """The schema2 manifest c/image generates for an archived image.

    `layers` are (diffID, uncompressed size) pairs. As in c/image the layer media type is
    `...rootfs.diff.tar.gzip` although the blobs served are uncompressed: that is what
    skopeo computes, and matching it keeps manifest digests equal between the tools.
    """
    return marshal(
        GoStruct(
            [
                ("schemaVersion", 2),
                ("mediaType", mime.DOCKER_V2S2),
                ("config", _descriptor(mime.DOCKER_CONFIG, config_size, config_digest)),
                ("layers", [_descriptor(mime.DOCKER_LAYER_GZIP, size, d) for d, size in layers]),
            ]
        )
    )


@dataclass(frozen=True, slots=True)
class Schema2Summary:
    """What a docker-archive destination needs from a schema2 manifest."""

    config_digest: Digest
    layer_digests: tuple[Digest, ...]


def parse_schema2_for_archive(raw: bytes) -> Schema2Summary:
    """Parse the (trusted-shape, still validated) schema2 manifest given to a destination.

    Raises `ArchiveError("Unsupported manifest type, need a Docker schema 2 manifest")` for
    anything else, and for invalid digests.
    """
    what = "parsing manifest"
    try:
        doc = loads_strict(raw, what=what, limit=MAX_MANIFEST_SIZE, error_cls=ManifestError)
    except ManifestError as exc:
        raise ArchiveError(str(exc)) from exc
    unsupported = ArchiveError("Unsupported manifest type, need a Docker schema 2 manifest")
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2 or doc.get("mediaType") != mime.DOCKER_V2S2:
        raise unsupported
    config = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise unsupported
    try:
        return Schema2Summary(
            config_digest=Digest.parse(config.get("digest")),
            layer_digests=tuple(Digest.parse(layer.get("digest")) for layer in layers),
        )
    except InvalidDigestError as exc:
        raise ArchiveError(f"{what}: {exc}") from exc


# --- writer.go -----------------------------------------------------------------------------------


def config_file_name(digest: Digest) -> str:
    """c/image `configPath`: `<hex>.json` (the digest is validated, so the name is safe)."""
    return f"{digest.hex}.json"


def layer_file_name(digest: Digest) -> str:
    """c/image `physicalLayerPath`: `<hex>.tar`, in the root of the archive."""
    return f"{digest.hex}.tar"


def repo_tag_string(ref: NamedReference) -> str:
    """A RepoTags entry as c/image writes it: the fully qualified `name:tag`."""
    if ref.tag is None:
        raise ArchiveError(f"internal error: reference {ref} has no tag")
    return f"{ref.name}:{ref.tag}"


def _top_level_raw_values(config: bytes) -> dict[str, bytes]:
    """The raw bytes of each top-level value of a JSON object (Go: map[string]*RawMessage).

    Later duplicates win, as in Go. Raises `ArchiveError` if `config` is not a JSON object.
    """
    text = config.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder()
    out: dict[str, bytes] = {}
    ws = " \t\n\r"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    try:
        i = skip(0)
        if text[i] != "{":
            raise ValueError("not an object")
        i = skip(i + 1)
        if text[i] == "}":
            return out
        while True:
            if text[i] != '"':
                raise ValueError("expected a key")
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            i = skip(i)
            if text[i] != ":":
                raise ValueError("expected ':'")
            i = skip(i + 1)
            _, end = decoder.raw_decode(text, i)
            out[key] = text[i:end].encode("utf-8", "surrogateescape")
            i = skip(end)
            if text[i] == "}":
                return out
            if text[i] != ",":
                raise ValueError("expected ','")
            i = skip(i + 1)
    except (ValueError, IndexError, RecursionError) as exc:
        raise ArchiveError(f"unmarshaling config: {exc}") from None


@dataclass(frozen=True, slots=True)
class LegacyLayer:
    """A legacy (v1) layer directory: `<layer_id>/layer.tar` -> `../<file>`, VERSION, json."""

    layer_id: str
    layer_file: str
    json: bytes


def legacy_layers(layer_digests: Sequence[Digest], config: bytes) -> list[LegacyLayer]:
    """c/image `writeLegacyMetadataLocked`: one legacy layer per manifest layer.

    The chain ID is docker's `CreateChainID`; the layer ID is sha256 of the layer's v1
    JSON with a temporary `layer_id` (the chain ID) added; the top layer copies seven
    attributes of the image config (missing ones become `null`, as in Go).
    """
    out: list[LegacyLayer] = []
    chain_id: str | None = None
    last_id = ""
    top_values: dict[str, bytes] | None = None
    for i, digest in enumerate(layer_digests):
        layer_config: dict[str, Any] = {}
        if last_id:
            layer_config["parent"] = last_id
        if i == len(layer_digests) - 1:
            if top_values is None:
                top_values = _top_level_raw_values(config)
            for attr in _TOP_LAYER_ATTRS:
                raw = top_values.get(attr)
                layer_config[attr] = RawJSON(raw) if raw is not None else None
        if chain_id is None:
            chain_id = str(digest)
        else:
            chain_id = "sha256:" + hashlib.sha256(f"{chain_id} {digest}".encode()).hexdigest()
        layer_config["layer_id"] = chain_id
        layer_id = hashlib.sha256(marshal(layer_config)).hexdigest()
        del layer_config["layer_id"]
        layer_config["id"] = layer_id
        out.append(LegacyLayer(layer_id=layer_id, layer_file=layer_file_name(digest), json=marshal(layer_config)))
        last_id = layer_id
    return out


def marshal_manifest_json(items: Sequence[ManifestItem]) -> bytes:
    """`manifest.json` as c/image writes it (Parent omitted when empty)."""
    out = []
    for item in items:
        entry = GoStruct([("Config", item.config), ("RepoTags", list(item.repo_tags)), ("Layers", list(item.layers))])
        entry.add("Parent", item.parent, omitempty=True)
        out.append(entry)
    return marshal(out)


def marshal_repositories(repositories: Mapping[str, Mapping[str, str]]) -> bytes:
    """The legacy `repositories` file: {name: {tag: top layer ID}} (Go map: sorted keys)."""
    return marshal({name: dict(tags) for name, tags in repositories.items()})


# --- reading an archive --------------------------------------------------------------------------


def _tmpdir(ctx: SystemContext) -> str:
    return str(ctx.tmpdir) if ctx.tmpdir is not None else tempfile.gettempdir()


def spool_budget(ctx: SystemContext, directory: str) -> int:
    """How many bytes may be spooled to `directory`: the user's --max-decompressed-size (or
    the default decompression budget), and never more than the free space there less a
    margin (`_tar.reader.spool_limit`)."""
    return spool_limit(directory, ctx.max_decompressed_size)[0]


def spool_to_temp(stream: Readable, ctx: SystemContext, what: str) -> tuple[BinaryIO, int]:
    """Copy `stream` into an unnamed temp file in `ctx.tmpdir` (gone when closed, even after
    a crash), at most `spool_budget` bytes (`SizeLimitError` beyond). Returns the file,
    positioned at 0, and the byte count. Raises `ToolkitError`s only."""
    directory = _tmpdir(ctx)
    budget, reason = spool_limit(directory, ctx.max_decompressed_size)
    try:
        tmp = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise wrap_os_error(exc, f"creating a temporary file in {safe_text(directory)}") from exc
    total = 0
    try:
        while chunk := stream.read(CHUNK_SIZE):
            total += len(chunk)
            if total > budget:
                raise SizeLimitError(
                    f"{what} to a temporary file in {safe_text(directory)}: exceeded maximum allowed size of "
                    f"{budget} bytes ({reason})"
                )
            tmp.write(chunk)
        tmp.flush()
        tmp.seek(0)
    except OSError as exc:
        tmp.close()
        raise wrap_os_error(exc, f"{what}: writing temporary data") from exc
    except BaseException:
        tmp.close()
        raise
    return cast(BinaryIO, tmp), total


class ArchiveReader:
    """An opened `docker save` archive (c/image `tarfile.Reader`). Use as a context manager.

    The archive is untrusted. Only members of the archive itself are ever read: names from
    `manifest.json` are looked up in the tar index (`_tar.TarIndex`), never on the host. A
    plain seekable file is read in place; a compressed file or a stream (pipe,
    `/dev/stdin`, a daemon's `image save` body) is decompressed/spooled into an unnamed temp
    file in `ctx.tmpdir` under a budget (`SizeLimitError`; nothing is left behind).
    Thread-safe for reading once constructed.
    """

    def __init__(self, index: TarIndex, ctx: SystemContext, what: str) -> None:
        self._index = index
        self._ctx = ctx
        try:
            raw = self.read_component(MANIFEST_FILE, MAX_TAR_MANIFEST_SIZE)
            self.items = parse_tar_manifest(raw)
        except BaseException:
            index.close()
            raise

    @classmethod
    def from_path(cls, path: str, ctx: SystemContext) -> ArchiveReader:
        """Open the archive at `path` (a file, a FIFO or a character device such as
        `/dev/stdin`). Raises `ImageNotFoundError` if it does not exist, `ArchiveError` /
        `SizeLimitError` / `CompressionError` for bad content."""
        what = f"docker-archive {safe_text(path)}"
        if not os.path.exists(path):
            raise ImageNotFoundError(f"opening file {quote(safe_text(path))}: no such file or directory")
        index = TarIndex.open(path, tmpdir=ctx.tmpdir, budget=ctx.max_decompressed_size)
        return cls(index, ctx, what)

    @classmethod
    def from_stream(cls, stream: Readable, ctx: SystemContext, what: str) -> ArchiveReader:
        """Spool `stream` (compressed or not) to a temp file and open that.

        The caller keeps ownership of `stream`."""
        index = TarIndex.from_stream(stream, tmpdir=ctx.tmpdir, budget=ctx.max_decompressed_size)
        return cls(index, ctx, what)

    def read_component(self, name: str, limit: int) -> bytes:
        """The whole member `name` (at most `limit` bytes; `SizeLimitError` beyond)."""
        what = f"loading tar component {quote(safe_text(name))}"
        try:
            member = self._index.open_member(name)
        except MemberNotFoundError as exc:
            raise ArchiveError(f"{what}: {exc}") from exc
        with member:
            return read_limited(cast(BinaryIO, member), limit, what)

    def open_image(self, ref: NamedReference | None, index: int | None) -> ArchiveImage:
        """Select and load one image (see `choose_manifest_item`)."""
        _, item, _ = choose_manifest_item(self.items, ref, index)
        return ArchiveImage(self, item)

    def open_layer(self, name: str) -> tuple[Readable, int, bool]:
        """A stream of the layer file `name`, decompressed if it is compressed (under the
        budget), the stored size, and whether it was compressed."""
        try:
            member = self._index.open_member(name)
        except MemberNotFoundError as exc:
            raise ArchiveError(f"loading tar component {quote(safe_text(name))}: {exc}") from exc
        kind, prefixed = peek_compression(member)
        if kind is Compression.NONE:
            return prefixed, member.size, False
        return decompressing_reader(prefixed, kind, budget=self._ctx.max_decompressed_size), member.size, True

    def close(self) -> None:
        self._index.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _LayerFile:
    name: str
    size: int


class ArchiveImage:
    """One image of an archive, as c/image `tarfile.Source` presents it.

    `manifest` is the generated schema2 manifest; `get_blob` serves the config and the
    layers by diffID (decompressing compressed layer files), each through a
    `VerifyingReader`. Raises at construction: `ArchiveError` for inconsistent metadata
    (layer count, a layer file used for two diffIDs, a missing member).
    """

    def __init__(self, archive: ArchiveReader, item: ManifestItem) -> None:
        self._archive = archive
        self.item = item
        self.config = archive.read_component(item.config, MAX_CONFIG_SIZE)
        self.config_digest = Digest.from_bytes(self.config)
        self.diff_ids = parse_config_diff_ids(self.config, item.config)
        if len(item.layers) != len(self.diff_ids):
            raise ArchiveError(
                f"Inconsistent layer count: {len(item.layers)} in manifest, {len(self.diff_ids)} in config"
            )
        self._layers: dict[Digest, _LayerFile] = {}
        used: set[str] = set()
        for diff_id, name in zip(self.diff_ids, item.layers, strict=True):
            if diff_id in self._layers:
                # The same layer twice in one image happens (docker save links them).
                continue
            clean = clean_member_name(name) or name
            if clean in used:
                raise ArchiveError(f"Layer tarfile {quote(safe_text(clean))} used for two different DiffID values")
            used.add(clean)
            self._layers[diff_id] = _LayerFile(clean, self._uncompressed_size(clean))
        self.manifest = generated_schema2_manifest(
            self.config_digest, len(self.config), [(d, self._layers[d].size) for d in self.diff_ids]
        )

    def _uncompressed_size(self, name: str) -> int:
        stream, size, compressed = self._archive.open_layer(name)
        if not compressed:
            return size
        # As c/image: a compressed layer file is decompressed once to learn its size, which
        # the generated manifest must state.
        total = 0
        try:
            while chunk := stream.read(CHUNK_SIZE):
                total += len(chunk)
        except CompressionError as exc:
            raise ArchiveError(f"auto-decompressing {quote(safe_text(name))} to determine its size: {exc}") from exc
        return total

    def get_blob(self, digest: Digest) -> tuple[VerifyingReader, int]:
        """A verifying stream of the config or of a layer (by diffID) and its size.

        Raises `ImageNotFoundError` for an unknown digest. Reading raises
        `DigestMismatchError`/`SizeMismatchError` if the archive's bytes do not match.
        """
        if digest == self.config_digest:
            return VerifyingReader(io.BytesIO(self.config), digest, len(self.config), "config"), len(self.config)
        layer = self._layers.get(digest)
        if layer is None:
            raise ImageNotFoundError(f"Unknown blob {digest}")
        stream, _, _ = self._archive.open_layer(layer.name)
        what = f"layer {safe_text(layer.name)}"
        return VerifyingReader(cast(BinaryIO, stream), digest, layer.size, what), layer.size


# --- writing an archive --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Written:
    digest: Digest
    size: int
    name: str


class ArchiveWriter:
    """Writes a `docker save` archive to a stream, like c/image `tarfile.Writer` + `Destination`.

    - `put_blob` streams each blob straight into the tar (`_tar.TarStreamWriter`) and
      returns the digest and size of the bytes stored. Layers are stored as they come:
      uncompressed layers as `<diffID hex>.tar`, compressed ones (gzip/zstd, when the copy
      engine keeps them) as `<compressed digest hex>.tar`. `docker load` and c/image's
      reader both detect and decompress compressed layer files and check them against
      the config's diffIDs; the names are not part of the format.
    - Unknown size or unknown digest on a seekable output: the entry is streamed and its
      header patched afterwards (`add_file_unknown_size`; for an unknown digest the name
      too, from a placeholder of the same length), no temp space used. Unknown size or
      digest on a pipe: the blob is first spooled to an unnamed temp file in `ctx.tmpdir`
      (bounded by `spool_budget`), like c/image.
    - `add_image(manifest)` writes c/image's legacy layer directories and records the image;
      `finish()` writes `manifest.json`, `repositories` and the end of the archive.
    Any failure (including a digest mismatch) makes the writer unusable: the output is
    incomplete and the caller discards it (temp file) or, for a stream, the consumer sees
    a truncated archive.
    """

    def __init__(self, out: BinaryIO, *, seekable: bool, ctx: SystemContext) -> None:
        self._out = out
        self._tar = TarStreamWriter(out)
        self._can_patch = seekable and self._tar.can_patch_sizes
        self._ctx = ctx
        self._lock = threading.Lock()
        self._blobs: dict[Digest, _Written] = {}
        self._configs: dict[Digest, bytes] = {}
        self._legacy: set[str] = set()
        self._repositories: dict[str, dict[str, str]] = {}
        self._items: list[ManifestItem] = []
        self._by_config: dict[Digest, int] = {}
        self._finished = False
        self._broken = False
        self._missed = False

    @property
    def reserves_sized_layers(self) -> bool:
        """True when `put_layer_sized`, `checkpoint` and `rewind` work (a seekable output)."""
        return self._can_patch and callable(getattr(self._out, "truncate", None))

    def try_reusing_blob(self, digest: Digest) -> BlobInfo | None:
        """The stored blob's info if `digest` was already written to this archive.

        Does not wait for a blob being written (`put_blob` holds the lock for a whole blob):
        the next layer's copy asks while the current one streams. One dict lookup is atomic."""
        found = self._blobs.get(digest)
        return BlobInfo(digest=found.digest, size=found.size) if found else None

    def put_blob(self, stream: Readable, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        """Store one blob (see the class docstring). `info.digest`, if given, MUST match
        the bytes (`DigestMismatchError` otherwise); `info.size` may be -1."""
        with self._lock:
            self._check_usable()
            if info.digest is not None and info.digest in self._blobs:
                found = self._blobs[info.digest]
                return BlobInfo(digest=found.digest, size=found.size)
            try:
                return self._put_config(stream, info) if is_config else self._put_layer(stream, info)
            except BaseException:
                self._broken = True
                raise

    def put_layer_from_file(
        self,
        blob: LocalBlobFile,
        info: BlobInfo,
        *,
        progress: Callable[[int], None],
        background_hash: bool,
        placed: Callable[[], None] | None = None,
    ) -> BlobInfo:
        """Store the layer `info` (digest required) from `blob`, as `put_blob` stores a
        stream of it: the entry is written while `copy_local_blob` hashes its bytes, and a
        mismatch breaks the writer (the archive is incomplete: the caller discards it).

        Into a regular file the entry is reserved (header written, its data's place kept)
        and the data written there with positional writes outside the writer's lock, so
        that the next layer's entry can be written meanwhile: `placed()` is called once the
        entry's place is fixed (at once for a layer already stored). On a pipe the entry is
        written in the stream, under the lock, and `placed()` called once it is complete."""
        digest = info.digest
        if digest is None:
            raise ArchiveError("a layer copied from a local file needs its digest")
        name = layer_file_name(digest)

        def copy(write: Callable[[Any], object]) -> int:
            return copy_local_blob(blob, write, info, progress=progress, background=background_hash)[1]

        with self._lock:
            stored = self._stored_already(digest, placed)
            if stored is not None:
                return stored
            try:
                kind = detect_compression(blob.head(SNIFF_SIZE))
                if not self._can_patch:
                    self._tar.add_file_written_by(name, blob.size, copy)
                    self._blobs[digest] = _Written(digest, blob.size, name)
                    if placed is not None:
                        placed()
                    return BlobInfo(digest=digest, size=blob.size, compression=kind)
                offset = self._tar.reserve_file(name, blob.size)
                # Known from now on (a later layer with this digest reuses it): if the copy
                # below fails, the writer is broken and the archive discarded anyway.
                self._blobs[digest] = _Written(digest, blob.size, name)
            except BaseException:
                self._broken = True
                raise
        if placed is not None:
            placed()
        region = FileRegionWriter(self._out.fileno(), offset, blob.size, f"layer {digest} to the archive")
        try:
            written = copy(region.write)
            if written != blob.size:  # copy_local_blob copies exactly blob.size bytes or raises
                raise SizeMismatchError(f"layer {digest}: got {written} bytes, expected {blob.size}")
        except BaseException:
            with self._lock:
                self._broken = True
            raise
        return BlobInfo(digest=digest, size=blob.size, compression=kind)

    def put_layer_sized(
        self, stream: Readable, info: BlobInfo, size: int, *, placed: Callable[[], None] | None = None
    ) -> BlobInfo:
        """Store the layer `info` (digest required) from `stream`, in an entry reserved for
        `size` bytes: the entry `put_blob` writes for it (`add_file_unknown_size`), byte for
        byte, when the stream holds `size` bytes. The data is written with positional writes
        outside the writer's lock, so that the next layer's entry can be written meanwhile;
        `placed()` is called once the entry is reserved (at once for a layer already stored).
        The digest is verified as the data is written (a mismatch raises before the stream
        ends, as in `put_blob`). `SizeHintMissedError` when the stream holds more bytes
        (raised before any byte beyond the entry is written) or fewer. Every failure breaks
        the writer (see `layer_rewind`). Needs a seekable output."""
        digest = info.digest
        if digest is None or not self._can_patch or size < 0:
            raise ArchiveError("internal error: a layer in a reserved entry needs its digest and a seekable archive")
        kind, prefixed = peek_compression(stream)
        name = layer_file_name(digest)
        with self._lock:
            stored = self._stored_already(digest, placed)
            if stored is not None:
                return stored
            try:
                offset = self._tar.reserve_file(name, size, patchable=True)
                self._blobs[digest] = _Written(digest, size, name)
            except BaseException:
                self._broken = True
                raise
        if placed is not None:
            placed()
        region = FileRegionWriter(self._out.fileno(), offset, size, f"layer {digest} to the archive")
        # The source's verifying reader, passed through unchanged, checks this digest already.
        verifier = None if verified_digest(prefixed) == digest else VerifyingReader(
            cast(BinaryIO, prefixed), digest, None, "layer"
        )
        try:
            for chunk in iter_chunks(verifier if verifier is not None else prefixed):
                if region.written + len(chunk) > size:
                    raise SizeHintMissedError(f"layer {digest}: more than the {size} bytes expected")
                region.write(chunk)
            if region.written != size:
                raise SizeHintMissedError(f"layer {digest}: {region.written} bytes, not the {size} expected")
        except BaseException as exc:
            with self._lock:
                self._broken = True
                # Every later layer then fails with this error too (not "unusable"), so the
                # copier knows to rewind and copy again without hints.
                self._missed = self._missed or isinstance(exc, SizeHintMissedError)
            raise
        finally:
            if verifier is not None:
                verifier.stop()
        return BlobInfo(digest=digest, size=size, compression=kind)

    def checkpoint(self) -> tuple[int, dict[Digest, _Written], dict[Digest, bytes]]:
        """The writer's state now, for `rewind` (needs a seekable output)."""
        with self._lock:
            self._check_usable()
            return self._tar.position(), dict(self._blobs), dict(self._configs)

    def rewind(self, state: tuple[int, dict[Digest, _Written], dict[Digest, bytes]]) -> None:
        """Drop every blob stored since `checkpoint()` returned `state` (the archive is
        truncated there) and make the writer usable again. No reserved entry may still be
        written by anyone."""
        offset, blobs, configs = state
        with self._lock:
            if self._finished:
                raise ArchiveError("docker-archive writer is finished")
            self._tar.rewind(offset)
            self._blobs = dict(blobs)
            self._configs = dict(configs)
            self._broken = False
            self._missed = False

    def _stored_already(self, digest: Digest, placed: Callable[[], None] | None) -> BlobInfo | None:
        """Under the lock: the info of `digest` if it is stored already (then `placed()` is
        called: its place is fixed); `_check_usable` first."""
        self._check_usable()
        found = self._blobs.get(digest)
        if found is None:
            return None
        if placed is not None:
            placed()
        return BlobInfo(digest=found.digest, size=found.size)

    def _check_usable(self) -> None:
        if self._missed:
            raise SizeHintMissedError("an earlier layer was not of its expected size")
        if self._finished or self._broken:
            raise ArchiveError("docker-archive writer is finished or unusable after an earlier error")

    def _put_config(self, stream: Readable, info: BlobInfo) -> BlobInfo:
        data = read_limited(cast(BinaryIO, stream), MAX_CONFIG_SIZE, "reading Config file stream")
        digest = info.digest or Digest.from_bytes(data)
        _check_digest(digest, hashlib.new(digest.algorithm, data).hexdigest(), "config")
        if info.size >= 0 and info.size != len(data):
            raise SizeMismatchError(f"config {digest}: got {len(data)} bytes, expected {info.size}")
        name = config_file_name(digest)
        self._tar.add_bytes(name, data)
        self._configs[digest] = data
        self._blobs[digest] = _Written(digest, len(data), name)
        return BlobInfo(digest=digest, size=len(data))

    def _put_layer(self, stream: Readable, info: BlobInfo) -> BlobInfo:
        kind, prefixed = peek_compression(stream)
        if info.digest is not None and (info.size >= 0 or self._can_patch):
            digest = info.digest
            name = layer_file_name(digest)
            if verified_digest(prefixed) == digest:
                # The source's own verifying reader, passed through unchanged, checks this
                # digest and size: it raises instead of ending, so the entry is never
                # completed with bad bytes, and nothing is hashed twice.
                checked: Readable = prefixed
            else:
                # Verified while streaming: a mismatch raises before the entry is complete.
                checked = VerifyingReader(cast(BinaryIO, prefixed), digest, info.size, "layer")
            try:
                if info.size >= 0:
                    self._tar.add_file(name, checked, info.size)
                    size = info.size
                else:
                    size = self._tar.add_file_unknown_size(name, checked)
                if isinstance(checked, VerifyingReader) and not checked.verified:
                    checked.drain()
            finally:
                if isinstance(checked, VerifyingReader):
                    checked.stop()
        elif self._can_patch:
            # Digest unknown (a layer compressed on the fly): stream it under a placeholder
            # name of the final name's length, hashing (in a thread of its own, overlapping
            # the compression and the writes), then patch name and size in place.
            algorithm = "sha256"
            hashing = HashingReader(cast(BinaryIO, prefixed), algorithm, background=True)
            placeholder = layer_file_name(Digest(algorithm, "0" * SUPPORTED_ALGORITHMS[algorithm]))
            found: _Written | None = None

            def final_name(length: int) -> str | None:
                nonlocal found
                if info.size >= 0 and length != info.size:
                    raise SizeMismatchError(f"layer {hashing.digest()}: got {length} bytes, expected {info.size}")
                found = self._blobs.get(hashing.digest())
                return None if found is not None else layer_file_name(hashing.digest())

            try:
                size = self._tar.add_file_unknown_size(placeholder, hashing, rename=final_name)
            finally:
                hashing.stop()
            if found is not None:  # already in the archive: the entry was dropped
                return BlobInfo(digest=found.digest, size=found.size)
            digest = hashing.digest()
            name = layer_file_name(digest)
        else:
            spooled, size = spool_to_temp(prefixed, self._ctx, "spooling a layer of unknown size")
            with spooled:
                hasher = hashlib.new(info.digest.algorithm if info.digest else "sha256")
                while chunk := spooled.read(CHUNK_SIZE):
                    hasher.update(chunk)
                digest = Digest(hasher.name, hasher.hexdigest())
                if info.digest is not None:
                    _check_digest(info.digest, digest.hex, "layer")
                if info.size >= 0 and size != info.size:
                    raise SizeMismatchError(f"layer {digest}: got {size} bytes, expected {info.size}")
                if digest in self._blobs:
                    found = self._blobs[digest]
                    return BlobInfo(digest=found.digest, size=found.size)
                name = layer_file_name(digest)
                spooled.seek(0)
                self._tar.add_file(name, spooled, size)
        self._blobs[digest] = _Written(digest, size, name)
        return BlobInfo(digest=digest, size=size, compression=kind)

    def add_image(self, manifest: bytes, repo_tags: Sequence[NamedReference]) -> None:
        """Record one image from its schema2 `manifest` (whose config and layers MUST have
        been stored with `put_blob`) under `repo_tags` (tagged references)."""
        summary = parse_schema2_for_archive(manifest)
        with self._lock:
            self._check_usable()
            config = self._configs.get(summary.config_digest)
            if config is None:
                raise ArchiveError(f"internal error: config {summary.config_digest} was not written to the archive")
            for digest in summary.layer_digests:
                if digest not in self._blobs:
                    raise ArchiveError(f"internal error: layer {digest} was not written to the archive")
            tags = [repo_tag_string(t) for t in repo_tags]
            legacy = legacy_layers(summary.layer_digests, config)
            try:
                for layer in legacy:
                    if layer.layer_id in self._legacy:
                        continue
                    # c/image writes the link with mode 0 (tar.FileInfoHeader of ModeSymlink).
                    self._tar.add_symlink(f"{layer.layer_id}/{LEGACY_LAYER_FILE}", f"../{layer.layer_file}", mode=0)
                    self._tar.add_bytes(f"{layer.layer_id}/{LEGACY_VERSION_FILE}", b"1.0")
                    self._tar.add_bytes(f"{layer.layer_id}/{LEGACY_CONFIG_FILE}", layer.json)
                    self._legacy.add(layer.layer_id)
            except BaseException:
                self._broken = True
                raise
            if legacy:
                for ref in repo_tags:
                    if ref.tag is not None:
                        self._repositories.setdefault(ref.name, {})[ref.tag] = legacy[-1].layer_id
            layers = tuple(layer_file_name(d) for d in summary.layer_digests)
            index = self._by_config.get(summary.config_digest)
            if index is None:
                index = len(self._items)
                self._by_config[summary.config_digest] = index
                self._items.append(ManifestItem(config_file_name(summary.config_digest), (), layers))
            item = self._items[index]
            if item.layers != layers:
                raise ArchiveError("Internal error: Trying to reuse ManifestItem values with different layers")
            known = list(item.repo_tags)
            known.extend(t for t in dict.fromkeys(tags) if t not in known)
            self._items[index] = ManifestItem(item.config, tuple(known), item.layers)

    def finish(self) -> None:
        """Write `manifest.json`, `repositories` and the end-of-archive marker."""
        with self._lock:
            if self._finished:
                return
            self._check_usable()
            try:
                self._tar.add_bytes(MANIFEST_FILE, marshal_manifest_json(self._items))
                self._tar.add_bytes(REPOSITORIES_FILE, marshal_repositories(self._repositories))
                self._tar.close()
            except BaseException:
                self._broken = True
                raise
            self._finished = True


def _check_digest(expected: Digest, actual_hex: str, what: str) -> None:
    if expected.hex != actual_hex:
        raise DigestMismatchError(
            f"Digest did not match for {what}, expected {expected}, got {expected.algorithm}:{actual_hex}"
        )


def archive_tags(path: str, ctx: SystemContext | None = None) -> list[str]:
    """`skopeo list-tags docker-archive:PATH`: every image's RepoTags, `@N` when untagged.

    Raises what `ArchiveReader.from_path` raises, and `ArchiveError` for invalid RepoTags.
    """
    with ArchiveReader.from_path(path, ctx or SystemContext()) as reader:
        return archive_tags_of(reader.items)


# --- shared source and destination for transports that speak this format ------------------------


def archive_capabilities(
    *, desired_layer_compression: LayerCompression, must_match_runtime_os: bool = False
) -> DestinationCapabilities:
    """What a docker-archive-format destination accepts: one schema2 image, no signatures."""
    return DestinationCapabilities(
        supported_manifest_mime_types=(mime.DOCKER_V2S2,),
        supports_signatures=False,
        signatures_unsupported_reason="Storing signatures for docker tar files is not supported",
        desired_layer_compression=desired_layer_compression,
        accepts_foreign_layer_urls=False,
        must_match_runtime_os=must_match_runtime_os,
        ignores_embedded_docker_reference=False,
        has_thread_safe_put_blob=False,
        supports_manifest_lists=False,
    )


class ArchiveImageSource(ImageSourceBase):
    """An image source over one image of an opened `ArchiveReader` (docker-archive:,
    docker-daemon:). Subclasses provide `reference`. Blobs can be read from several threads."""

    has_thread_safe_get_blob = True

    def __init__(self, archive: ArchiveReader, image: ArchiveImage, transport_name: str) -> None:
        self._archive = archive
        self._image = image
        self._transport_name = transport_name

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise ManifestError(f'Manifest lists are not supported by "{self._transport_name}:"')
        return self._image.manifest, mime.DOCKER_V2S2

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest is None:
            raise ManifestError(f"{self._transport_name}: a blob without a digest cannot be read")
        return self._image.get_blob(info.digest)

    def close(self) -> None:
        self._archive.close()


class ArchiveImageDestination(ImageDestinationBase):
    """The blob, manifest and signature side of a docker-archive-format destination.

    Subclasses create `self._writer` (an `ArchiveWriter`), set `self._repo_tags`, and
    implement `reference`, `capabilities`, `commit()` (after `_finish_archive()`) and
    `_abort()`.
    """

    _writer: ArchiveWriter
    _repo_tags: list[NamedReference]
    _manifest_written: bool = False

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        return self._writer.try_reusing_blob(info.digest)

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        return self._writer.put_blob(stream, info, is_config=is_config)

    def put_blob_from_file(
        self,
        blob: LocalBlobFile,
        info: BlobInfo,
        *,
        progress: Callable[[int], None],
        background_hash: bool,
        placed: Callable[[], None] | None = None,
    ) -> BlobInfo:
        """`FileBlobDestination`: a layer's entry written straight from `blob` (see
        `ArchiveWriter.put_layer_from_file`)."""
        return self._writer.put_layer_from_file(
            blob, info, progress=progress, background_hash=background_hash, placed=placed
        )

    @property
    def reserves_sized_layers(self) -> bool:
        """`SizedLayerDestination`: into a regular file, not a pipe."""
        return self._writer.reserves_sized_layers

    def put_layer_sized(
        self, stream: BinaryIO, info: BlobInfo, size: int, *, placed: Callable[[], None] | None = None
    ) -> BlobInfo:
        """`SizedLayerDestination` (see `ArchiveWriter.put_layer_sized`)."""
        return self._writer.put_layer_sized(stream, info, size, placed=placed)

    def layer_checkpoint(self) -> object:
        return self._writer.checkpoint()

    def layer_rewind(self, token: object) -> None:
        self._writer.rewind(cast("tuple[int, dict[Digest, _Written], dict[Digest, bytes]]", token))

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: Digest | None = None) -> None:
        if instance_digest is not None:
            raise NotSupportedError("Manifest lists are not supported for docker tar files")
        self._writer.add_image(raw, self._repo_tags)
        self._manifest_written = True

    def put_signatures(self, signatures: Sequence[bytes], instance_digest: Digest | None = None) -> None:
        if instance_digest is not None:
            raise NotSupportedError("Manifest lists are not supported for docker tar files")
        if signatures:
            raise NotSupportedError("Storing signatures for docker tar files is not supported")

    def _finish_archive(self, what: str) -> None:
        """Write manifest.json and the end of the tar; refuse if no image was added."""
        if not self._manifest_written:
            raise DestinationError(f"{what}: commit without a manifest; nothing was written")
        self._writer.finish()
