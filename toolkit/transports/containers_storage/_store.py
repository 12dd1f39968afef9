"""The on-disk format of a containers/storage 1.43 store: paths, records, big data.

Layout (relative to the graph root, `DRIVER` = the graph driver's name):
`DRIVER-images/images.json` (+ `images.lock`), `DRIVER-images/IMAGEID/<big data file>`,
`DRIVER-layers/layers.json` (+ `layers.lock`), `DRIVER-layers/LAYERID.tar-split.gz`,
and the driver's own tree (`vfs/dir/LAYERID/`, `overlay/LAYERID/diff/`).

`images.json` and `layers.json` are JSON arrays written by Go's `json.Marshal` (compact,
struct field order, sorted map keys). This module reads them strictly: every record is
type-checked (a hostile or corrupt file is an `ArchiveError`, never a traceback; c/storage
itself would silently treat such a file as empty), every ID used in a path must be a safe
file name, digests of manifest big data must parse. Records keep their exact bytes: when
skopo rewrites `images.json` it writes untouched records byte for byte and the records it
changes in c/storage's field order.

`format_problems()` names record fields c/storage 1.43 does not know: a store written by a
newer c/storage, which skopo (and the 1.43 `containers-storage` command it writes layers
with) must not rewrite, or it would drop them.

Big data file names (c/storage `makeBigDataBaseName`): the key itself if every character is
one of `.0-9a-z`, else `=` + standard base64 of the key.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from toolkit.digest import Digest
from toolkit.errors import ArchiveError, InvalidDigestError, ToolkitError, safe_text
from toolkit.gocompat import INT64_MAX
from toolkit.manifest.gojson import GoStruct, RawJSON, marshal
from toolkit.safefile import make_dirs
from toolkit.transports._fs import AtomicFile, open_regular_file, remove_tree_quietly, wrap_os_error
from toolkit.transports.containers_storage._lockfile import LockFile

__all__ = [
    "StoreLocation",
    "Store",
    "ImageRecord",
    "LayerRecord",
    "ImageTable",
    "LayerTable",
    "big_data_file_name",
    "SUPPORTED_DRIVERS",
    "MAX_STORE_JSON_SIZE",
]

#: Drivers whose layer files skopo can read (overlay2 is c/storage's alias of overlay).
SUPPORTED_DRIVERS: Final = frozenset({"overlay", "overlay2", "vfs"})
#: Largest images.json / layers.json read (tens of thousands of records).
MAX_STORE_JSON_SIZE: Final = 256 << 20
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")

IMAGE_KEYS: Final = (
    "id",
    "digest",
    "names",
    "names-history",
    "layer",
    "mapped-layers",
    "metadata",
    "big-data-names",
    "big-data-sizes",
    "big-data-digests",
    "created",
    "flags",
)
LAYER_KEYS: Final = frozenset(
    {
        "id",
        "names",
        "parent",
        "metadata",
        "mountlabel",
        "created",
        "compressed-diff-digest",
        "compressed-size",
        "diff-digest",
        "diff-size",
        "compression",
        "uidset",
        "gidset",
        "flags",
        "uidmap",
        "gidmap",
        "big-data-names",
    }
)


def big_data_file_name(key: str) -> str:
    """c/storage `makeBigDataBaseName`."""
    if key and all(c == "." or "0" <= c <= "9" or "a" <= c <= "z" for c in key):
        return key
    return "=" + base64.b64encode(key.encode("utf-8", "surrogateescape")).decode("ascii")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """The store a reference names: what c/storage `GetStore` is given, completed.

    `driver` is never empty here (see `transports.containers_storage` for how a missing
    driver is chosen); `graph_root` and `run_root` are absolute.
    """

    driver: str
    graph_root: str
    run_root: str
    options: tuple[str, ...] = ()

    def cli_args(self) -> list[str]:
        """Global flags of the `containers-storage` command that open this very store."""
        args = ["--storage-driver", self.driver, "--graph", self.graph_root, "--run", self.run_root]
        for option in self.options:
            args += ["--storage-opt", option]
        return args


# ------------------------------------------------------------------------------ records


def _bad(where: str, problem: str) -> ArchiveError:
    return ArchiveError(f"{where}: {problem}")


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(where, f'"{key}" is not a string')
    return value


def _opt_str_list(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, f'"{key}" is not a list of strings')
    return tuple(value)


def _opt_int(obj: Mapping[str, Any], key: str, where: str, *, minimum: int = 0) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= INT64_MAX:
        raise _bad(where, f'"{key}" is not a valid integer')
    return value


def _opt_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(where, f'"{key}" is not an object')
    return value


def _safe_id(value: str, where: str, what: str) -> str:
    if not _SAFE_ID.fullmatch(value) or value in (".", ".."):
        raise _bad(where, f"{what} {safe_text(value, 80)!r} is not a valid ID")
    return value


def _opt_digest(text: str, where: str, what: str) -> Digest | None:
    if not text:
        return None
    try:
        return Digest.parse(text)
    except InvalidDigestError as exc:
        raise _bad(where, f"{what}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One `images.json` entry (validated). `fields` is the parsed object, `raw` its bytes."""

    id: str
    digest: str
    names: tuple[str, ...]
    names_history: tuple[str, ...]
    top_layer: str
    metadata: str
    big_data_names: tuple[str, ...]
    big_data_sizes: Mapping[str, int]
    big_data_digests: Mapping[str, str]
    created: str
    unknown_keys: tuple[str, ...]
    fields: dict[str, Any] = field(repr=False)
    raw: bytes = field(repr=False)

    @property
    def digests(self) -> tuple[str, ...]:
        """c/storage `recomputeDigests`: `digest`, then the digests of every big data item
        whose name starts with "manifest" (sorted by name here; Go's map order is random)."""
        out: list[str] = [self.digest] if self.digest else []
        for name in sorted(self.big_data_digests):
            if name.startswith("manifest") and self.big_data_digests[name] not in out:
                out.append(self.big_data_digests[name])
        return tuple(out)

    @classmethod
    def parse(cls, obj: Any, raw: bytes, where: str) -> ImageRecord:
        if not isinstance(obj, dict):
            raise _bad(where, "not an object")
        image_id = _safe_id(_opt_str(obj, "id", where), where, "image ID")
        digest = _opt_str(obj, "digest", where)
        _opt_digest(digest, where, "digest")
        sizes = _opt_map(obj, "big-data-sizes", where)
        for key in sizes:
            _opt_int(sizes, key, f"{where}: big-data-sizes", minimum=-1)
        digests = _opt_map(obj, "big-data-digests", where)
        for key, value in digests.items():
            if not isinstance(value, str):
                raise _bad(where, f"big-data-digests[{safe_text(key, 80)!r}] is not a string")
            if key.startswith("manifest"):
                _opt_digest(value, where, f"digest of big data item {safe_text(key, 80)!r}")
        _opt_map(obj, "flags", where)
        _opt_str_list(obj, "mapped-layers", where)
        top = _opt_str(obj, "layer", where)
        if top:
            _safe_id(top, where, "top layer ID")
        created = obj.get("created")
        if created is not None and not isinstance(created, str):
            raise _bad(where, '"created" is not a string')
        return cls(
            id=image_id,
            digest=digest,
            names=_opt_str_list(obj, "names", where),
            names_history=_opt_str_list(obj, "names-history", where),
            top_layer=top,
            metadata=_opt_str(obj, "metadata", where),
            big_data_names=_opt_str_list(obj, "big-data-names", where),
            big_data_sizes=sizes,
            big_data_digests=digests,
            created=created or "",
            unknown_keys=tuple(k for k in obj if k not in IMAGE_KEYS),
            fields=obj,
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """One `layers.json` entry (validated)."""

    id: str
    parent: str
    names: tuple[str, ...]
    compressed_digest: str
    compressed_size: int
    diff_digest: str
    diff_size: int
    incomplete: bool
    id_mapped: bool
    unknown_keys: tuple[str, ...]

    @classmethod
    def parse(cls, obj: Any, where: str) -> LayerRecord:
        if not isinstance(obj, dict):
            raise _bad(where, "not an object")
        layer_id = _safe_id(_opt_str(obj, "id", where), where, "layer ID")
        parent = _opt_str(obj, "parent", where)
        if parent:
            _safe_id(parent, where, "parent layer ID")
        flags = _opt_map(obj, "flags", where)
        for key in ("uidmap", "gidmap", "uidset", "gidset"):
            value = obj.get(key)
            if value is not None and not isinstance(value, list):
                raise _bad(where, f'"{key}" is not a list')
        _opt_str(obj, "metadata", where)
        _opt_str(obj, "mountlabel", where)
        _opt_int(obj, "compression", where)
        return cls(
            id=layer_id,
            parent=parent,
            names=_opt_str_list(obj, "names", where),
            compressed_digest=_opt_str(obj, "compressed-diff-digest", where),
            compressed_size=_opt_int(obj, "compressed-size", where, minimum=-1),
            diff_digest=_opt_str(obj, "diff-digest", where),
            diff_size=_opt_int(obj, "diff-size", where, minimum=-1),
            incomplete=flags.get("incomplete") is True,
            id_mapped=bool(obj.get("uidmap") or obj.get("gidmap")),
            unknown_keys=tuple(k for k in obj if k not in LAYER_KEYS),
        )


def _split_json_array(data: bytes, what: str) -> list[tuple[Any, bytes]]:
    """The elements of a JSON array with the exact bytes of each (`null`/empty = none)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{what}: not valid UTF-8") from exc
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    ws = " \t\r\n"
    i = 0
    n = len(text)

    def skip(j: int) -> int:
        while j < n and text[j] in ws:
            j += 1
        return j

    i = skip(i)
    if i == n or (text.startswith("null", i) and skip(i + 4) == n):
        return []
    if text[i] != "[":
        raise ArchiveError(f"{what}: not a JSON array")
    i = skip(i + 1)
    out: list[tuple[Any, bytes]] = []
    if i < n and text[i] == "]":
        i += 1
    else:
        while True:
            try:
                obj, end = decoder.raw_decode(text, i)
            except (ValueError, RecursionError) as exc:
                raise ArchiveError(f"{what}: invalid JSON: {safe_text(str(exc), 200)}") from exc
            out.append((obj, text[i:end].encode("utf-8")))
            i = skip(end)
            if i < n and text[i] == ",":
                i = skip(i + 1)
                continue
            if i < n and text[i] == "]":
                i += 1
                break
            raise ArchiveError(f"{what}: invalid JSON: expected , or ] at offset {i}")
    if skip(i) != n:
        raise ArchiveError(f"{what}: invalid JSON: data after the array")
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


@dataclass(slots=True)
class ImageTable:
    """The images of a store as loaded (in file order)."""

    records: list[ImageRecord]
    path: Path

    def by_id(self, image_id: str) -> ImageRecord | None:
        for record in self.records:
            if record.id == image_id:
                return record
        return None

    def by_name(self, name: str) -> ImageRecord | None:
        for record in self.records:
            if name in record.names:
                return record
        return None

    def lookup(self, text: str) -> ImageRecord | None:
        """c/storage `Store.Image`: an ID, a name, or an unambiguous ID prefix."""
        found = self.by_id(text) or self.by_name(text)
        if found is not None or not text:
            return found
        matches = [r for r in self.records if r.id.startswith(text)]
        return matches[0] if len(matches) == 1 else None

    def by_digest(self, digest: str) -> list[ImageRecord]:
        return [r for r in self.records if digest in r.digests]


@dataclass(slots=True)
class LayerTable:
    """The layers of a store as loaded; incomplete layers (being written or deleted by
    another process, or left by a killed one) are never offered for use."""

    records: list[LayerRecord]
    path: Path

    def get(self, layer_id: str) -> LayerRecord | None:
        for record in self.records:
            if record.id == layer_id and not record.incomplete:
                return record
        return None

    def by_diff_digest(self, digest: str) -> list[LayerRecord]:
        return [r for r in self.records if r.diff_digest == digest and not r.incomplete]

    def by_compressed_digest(self, digest: str) -> list[LayerRecord]:
        return [r for r in self.records if r.compressed_digest == digest and not r.incomplete]

    def chain(self, top: str, where: str) -> list[LayerRecord]:
        """The layers from the base to `top` (an empty `top` gives []); raises if one is missing."""
        out: list[LayerRecord] = []
        seen: set[str] = set()
        layer_id = top
        while layer_id:
            if layer_id in seen:
                raise ArchiveError(f"{where}: layer {safe_text(layer_id, 80)} is its own ancestor")
            seen.add(layer_id)
            record = self.get(layer_id)
            if record is None:
                raise ArchiveError(f"{where}: layer {safe_text(layer_id, 80)} is not known")
            out.append(record)
            layer_id = record.parent
        out.reverse()
        return out


# ------------------------------------------------------------------------------ encoding


def _go_float(value: float) -> str:
    """Go `encoding/json`'s float64 text ('f' format, 'e' below 1e-6 or from 1e21)."""
    if not math.isfinite(value):
        raise ToolkitError("a store record holds a non-finite number")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)  # shortest round-trip digits, as Go's -1 precision
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0] if exponent[:1] in "+-" else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    text = format(Decimal(repr(value)).normalize(), "f")
    return "-0" if text == "0" and math.copysign(1, value) < 0 else text


def _go_value(value: Any) -> Any:
    """A parsed JSON value ready for `gojson.marshal` (maps sorted, floats as Go prints them)."""
    if isinstance(value, float):
        return RawJSON(_go_float(value).encode("ascii"))
    if isinstance(value, dict):
        return {k: _go_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_value(v) for v in value]
    return value


def encode_image_fields(fields: Mapping[str, Any]) -> bytes:
    """One image record as c/storage 1.43 `json.Marshal` writes an `Image` (field order,
    omitempty); the caller guarantees only known keys are present."""
    out = GoStruct()
    out.add("id", fields.get("id") or "")
    for key in IMAGE_KEYS[1:10]:
        out.add(key, _go_value(fields.get(key)), omitempty=True)
    out.add("created", fields.get("created") or "0001-01-01T00:00:00Z")
    out.add("flags", _go_value(fields.get("flags")), omitempty=True)
    return marshal(out)


# ------------------------------------------------------------------------------ the store


class Store:
    """Paths and locked file access of one store (no state is cached between calls)."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        root = Path(location.graph_root)
        driver = location.driver
        self.graph_root = root
        self.images_dir = root / f"{driver}-images"
        self.layers_dir = root / f"{driver}-layers"
        self.images_lock = LockFile.get(self.images_dir / "images.lock")
        self.layers_lock = LockFile.get(self.layers_dir / "layers.lock")

    def describe(self) -> str:
        loc = self.location
        return f"[{loc.driver}@{loc.graph_root}+{loc.run_root}]"

    # -------------------------------------------------------------- presence and format

    def initialised(self) -> bool:
        """True if c/storage has created this store's image and layer directories."""
        return self.images_dir.is_dir() and self.layers_dir.is_dir()

    @contextlib.contextmanager
    def reading_images(self) -> Iterator[ImageTable]:
        """The image table under a shared `images.lock` (an empty table if the store has none)."""
        if not self.images_dir.is_dir():
            yield ImageTable([], self.images_dir / "images.json")
            return
        with self.images_lock.shared():
            yield self.load_images()

    @contextlib.contextmanager
    def reading_layers(self) -> Iterator[LayerTable]:
        """The layer table under a shared `layers.lock`."""
        if not self.layers_dir.is_dir():
            yield LayerTable([], self.layers_dir / "layers.json")
            return
        with self.layers_lock.shared():
            yield self.load_layers()

    def _read_json_file(self, path: Path) -> bytes:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise wrap_os_error(exc, f"reading {safe_text(str(path))}") from exc
        if st.st_size > MAX_STORE_JSON_SIZE:
            raise ArchiveError(f"{safe_text(str(path))}: larger than {MAX_STORE_JSON_SIZE} bytes")
        with open_regular_file(path, "store file") as f:
            data = f.read(MAX_STORE_JSON_SIZE + 1)
        if len(data) > MAX_STORE_JSON_SIZE:
            raise ArchiveError(f"{safe_text(str(path))}: larger than {MAX_STORE_JSON_SIZE} bytes")
        return data

    def load_images(self) -> ImageTable:
        """Parse `images.json` (the caller holds `images_lock`)."""
        path = self.images_dir / "images.json"
        what = safe_text(str(path))
        records = []
        seen: set[str] = set()
        for i, (obj, raw) in enumerate(_split_json_array(self._read_json_file(path), what)):
            record = ImageRecord.parse(obj, raw, f"{what}: image record {i}")
            if record.id in seen:
                raise ArchiveError(f"{what}: image ID {record.id} appears twice")
            seen.add(record.id)
            records.append(record)
        return ImageTable(records, path)

    def load_layers(self) -> LayerTable:
        """Parse `layers.json` (the caller holds `layers_lock`)."""
        path = self.layers_dir / "layers.json"
        what = safe_text(str(path))
        records = [
            LayerRecord.parse(obj, f"{what}: layer record {i}")
            for i, (obj, _raw) in enumerate(_split_json_array(self._read_json_file(path), what))
        ]
        return LayerTable(records, path)

    def format_problems(self, images: ImageTable, layers: LayerTable) -> list[str]:
        """What c/storage 1.43 does not know in this store (a newer format), one text per kind:
        unknown record fields, and volatile layers (kept in the run root since c/storage 1.4x)."""
        problems: list[str] = []
        volatile = Path(self.location.run_root) / f"{self.location.driver}-layers" / "volatile-layers.json"
        with contextlib.suppress(OSError):
            if volatile.read_bytes().strip() not in (b"", b"[]", b"null"):
                problems.append("volatile-layers.json")
        for record in images.records:
            for key in record.unknown_keys:
                problems.append(f'image field "{safe_text(key, 80)}"')
        for layer in layers.records:
            for key in layer.unknown_keys:
                problems.append(f'layer field "{safe_text(key, 80)}"')
        return sorted(set(problems))

    # -------------------------------------------------------------- big data

    def big_data_path(self, image_id: str, key: str) -> Path:
        return self.images_dir / image_id / big_data_file_name(key)

    def read_big_data(self, image: ImageRecord, key: str, limit: int) -> bytes | None:
        """The big data item `key` of `image`, or None if it has none (caller holds images_lock)."""
        if key not in image.big_data_names:
            return None
        path = self.big_data_path(image.id, key)
        what = f"big data {safe_text(key, 100)!r} of image {image.id}"
        try:
            f = open_regular_file(path, what)
        except ToolkitError:
            if not os.path.lexists(path):
                return None
            raise
        with f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ArchiveError(f"{what}: larger than {limit} bytes")
        return data

    # -------------------------------------------------------------- writing images

    def write_big_data(self, image_id: str, key: str, data: bytes) -> None:
        """Write one big data file atomically (mode 0600, as c/storage; caller holds images_lock)."""
        directory = self.images_dir / image_id
        try:
            make_dirs(directory, 0o700, parents=False)
        except OSError as exc:
            raise wrap_os_error(exc, f"creating {safe_text(str(directory))}") from exc
        with AtomicFile(self.big_data_path(image_id, key), mode=0o600, clean_stale=True) as f:
            f.write(data)

    def clear_image_dir(self, image_id: str) -> None:
        """Remove an image directory no record owns (left by a killed writer)."""
        remove_tree_quietly(self.images_dir / image_id)

    def write_images(self, table: ImageTable, changed: Mapping[str, dict[str, Any]], order: Sequence[str]) -> None:
        """Replace `images.json`: records in `order` (IDs); `changed` ones re-encoded, the
        others byte for byte. Then touch `images.lock` (caller holds it exclusively)."""
        parts: list[bytes] = []
        by_id = {r.id: r for r in table.records}
        for image_id in order:
            if image_id in changed:
                parts.append(encode_image_fields(changed[image_id]))
            else:
                parts.append(by_id[image_id].raw)
        data = b"[" + b",".join(parts) + b"]"
        try:
            make_dirs(self.images_dir, 0o700)
        except OSError as exc:
            raise wrap_os_error(exc, f"creating {safe_text(str(self.images_dir))}") from exc
        with AtomicFile(table.path, mode=0o600, clean_stale=True) as f:
            f.write(data)
        self.images_lock.touch()  # safefile: not a file (the lock's last-writer stamp)

    # -------------------------------------------------------------- layer files

    def tar_split_path(self, layer_id: str) -> Path:
        return self.layers_dir / f"{layer_id}.tar-split.gz"

    def layer_files_dir(self, layer_id: str) -> Path:
        """Where the driver keeps the files a layer's tar-split refers to."""
        driver = self.location.driver
        if driver == "vfs":
            return self.graph_root / "vfs" / "dir" / layer_id
        if driver in ("overlay", "overlay2"):
            return self.graph_root / driver / layer_id / "diff"
        raise ToolkitError(f'containers-storage: reading layers of driver "{safe_text(driver)}" is not supported')
