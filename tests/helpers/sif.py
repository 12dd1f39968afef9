"""Build SIF (Singularity/Apptainer) files for tests, from the format description alone.

The SIF format (sylabs/sif v2): a 128-byte global header at offset 0, a table of 585-byte
descriptors, then the data objects. Integers are little-endian; structures are packed.

Header: launch script (32 bytes, NUL-padded), `SIF_MAGIC\\0`, version `01\\0`, primary
architecture code (two ASCII digits and a NUL: `02` amd64, `04` arm64, `00` unknown), UUID
(16 raw bytes), created / modified (int64 Unix seconds), descriptors free / total, descriptor
table offset / size, data section offset / size (int64 each).

Descriptor: data type (int32; `0x4001` definition file, `0x4004` partition), used (1 byte),
object ID, group ID (`0xf0000000 | group`), linked ID (uint32), offset, size, size with the
alignment padding before it, created, modified, uid, gid (int64), name (128), extra (384;
for a partition: filesystem type int32 (1 squashfs), partition type int32 (2 primary
system), architecture code 3 bytes).

- `mksquashfs(root, out, pseudo=(), uncompressed_metadata=False)`: a deterministic squashfs
  of a directory (Debian `squashfs-tools`), with optional pseudo definitions (device nodes
  and FIFOs without root: `"dev/null c 666 0 0 1 3"`).
- `partition(data)`, `deffile(text)`, `SifObject(...)`: the objects of a file.
- `write_sif(path, objects, ...) -> SifLayout`: writes the file; the layout gives the file
  offsets of every descriptor and object, so hostile tests can patch single fields
  (`patch`, with the `HDR_*` / `DESC_*` field offsets).
- `rename_entry(squashfs, old, new)`: a squashfs whose directory entry `old` is called `new`
  (same length; needs `uncompressed_metadata=True`), for names no tool would write (`..`, `a/`).
- `build_sif(tmp, files, deffile_text=None)`: the common case in one call.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "DATA_DEFFILE",
    "DATA_PARTITION",
    "FS_SQUASH",
    "FS_RAW",
    "PART_SYSTEM",
    "PART_PRIMSYS",
    "TEST_UUID",
    "TEST_TIME",
    "HDR_MAGIC",
    "HDR_VERSION",
    "HDR_ARCH",
    "HDR_MODIFIED",
    "HDR_FREE",
    "HDR_TOTAL",
    "HDR_DESC_OFFSET",
    "HDR_DESC_SIZE",
    "HDR_DATA_OFFSET",
    "HDR_DATA_SIZE",
    "DESC_SIZE",
    "DESC_TYPE",
    "DESC_USED",
    "DESC_OFFSET",
    "DESC_LENGTH",
    "DESC_PADDED",
    "DESC_FSTYPE",
    "DESC_PARTTYPE",
    "SifObject",
    "SifLayout",
    "partition",
    "deffile",
    "write_sif",
    "patch",
    "mksquashfs",
    "rename_entry",
    "build_sif",
    "DEFFILE",
]

DATA_DEFFILE: Final = 0x4001
DATA_PARTITION: Final = 0x4004
FS_SQUASH: Final = 1
FS_RAW: Final = 4
PART_SYSTEM: Final = 1
PART_PRIMSYS: Final = 2
TEST_UUID: Final = uuid.UUID("0c4e6a1e-3d2b-4f5a-9e8d-7c6b5a493827")
TEST_TIME: Final = 1_700_000_000

# Field offsets in the header.
HDR_MAGIC: Final = 32
HDR_VERSION: Final = 42
HDR_ARCH: Final = 45
HDR_MODIFIED: Final = 72
HDR_FREE: Final = 80
HDR_TOTAL: Final = 88
HDR_DESC_OFFSET: Final = 96
HDR_DESC_SIZE: Final = 104
HDR_DATA_OFFSET: Final = 112
HDR_DATA_SIZE: Final = 120
# Field offsets in a descriptor.
DESC_SIZE: Final = 585
DESC_TYPE: Final = 0
DESC_USED: Final = 4
DESC_OFFSET: Final = 17
DESC_LENGTH: Final = 25
DESC_PADDED: Final = 33
DESC_FSTYPE: Final = 201
DESC_PARTTYPE: Final = 205

_HEADER_SIZE: Final = 128
_GROUP_MASK: Final = 0xF0000000

#: A definition file with both sections c/image uses, and sections it ignores.
DEFFILE: Final = (
    b"Bootstrap: docker\nFrom: alpine\n\n"
    b"%environment\n    export GREETING=hello\n    # a comment\n\n    export ANSWER=42\n"
    b"%runscript\n    echo \"$GREETING\" \"$@\"\n\n    exit 0\n"
    b"%labels\n    Author someone\n"
)


def _le(fmt: str, *values: object) -> bytes:
    return struct.pack("<" + fmt, *values)


@dataclass
class SifObject:
    """One data object. `align`: the object starts at a multiple of it (partitions: 4096)."""

    data_type: int
    data: bytes
    extra: bytes = b""
    align: int = 1
    used: bool = True
    group: int = 1
    name: bytes = b""


def partition(
    data: bytes, *, fs_type: int = FS_SQUASH, part_type: int = PART_PRIMSYS, arch: bytes = b"02"
) -> SifObject:
    """A partition object (by default the primary system partition, squashfs, amd64)."""
    return SifObject(DATA_PARTITION, data, _le("ii", fs_type, part_type) + arch + b"\x00", align=4096)


def deffile(text: bytes) -> SifObject:
    """A definition file object (not aligned, as sif writes it)."""
    return SifObject(DATA_DEFFILE, text)


@dataclass
class SifLayout:
    """Where things are in a written file (file offsets)."""

    path: Path
    descriptors: list[int] = field(default_factory=list)
    objects: list[int] = field(default_factory=list)

    def descriptor_field(self, index: int, field_offset: int) -> int:
        return self.descriptors[index] + field_offset


def write_sif(
    path: Path,
    objects: Sequence[SifObject],
    *,
    arch: bytes = b"02",
    sif_id: uuid.UUID = TEST_UUID,
    created: int = TEST_TIME,
    modified: int = TEST_TIME,
    slots: int = 48,
    descriptors_offset: int = 4096,
    launch: bytes = b"#!/usr/bin/env run-singularity\n",
) -> SifLayout:
    """Write a SIF file holding `objects` in order; return its layout."""
    data_offset = descriptors_offset + slots * DESC_SIZE
    layout = SifLayout(path)
    data = bytearray()
    descriptors = bytearray()
    cursor = data_offset
    for number, obj in enumerate(objects, start=1):
        start = -(-cursor // obj.align) * obj.align
        gap = start - cursor
        data += bytes(gap) + obj.data
        descriptors += (
            _le("i", obj.data_type)
            + bytes([1 if obj.used else 0])
            + _le("III", number, _GROUP_MASK | obj.group, 0)
            + _le("qqqqqqq", start, len(obj.data), gap + len(obj.data), created, modified, 0, 0)
            + obj.name.ljust(128, b"\x00")
            + obj.extra.ljust(384, b"\x00")
        )
        layout.objects.append(start)
        cursor = start + len(obj.data)
    layout.descriptors = [descriptors_offset + i * DESC_SIZE for i in range(slots)]
    descriptors += bytes((slots - len(objects)) * DESC_SIZE)
    used = sum(1 for o in objects if o.used)
    header = (
        launch.ljust(32, b"\x00")
        + b"SIF_MAGIC\x00"
        + b"01\x00"
        + arch + b"\x00"
        + sif_id.bytes
        + _le("qq", created, modified)
        + _le("qqqqqq", slots - used, slots, descriptors_offset, slots * DESC_SIZE, data_offset, cursor - data_offset)
    )
    assert len(header) == _HEADER_SIZE
    path.write_bytes(header + bytes(descriptors_offset - _HEADER_SIZE) + descriptors + data)
    return layout


def patch(path: Path, offset: int, data: bytes) -> None:
    """Overwrite `len(data)` bytes of `path` at `offset`."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def mksquashfs(
    root: Path, out: Path, *, pseudo: Sequence[str] = (), uncompressed_metadata: bool = False
) -> bytes:
    """A squashfs of `root` (owned by root, all times 0: the same bytes every run); returns them."""
    binary = shutil.which("mksquashfs")
    assert binary is not None, "mksquashfs (squashfs-tools) is needed"
    argv = [binary, str(root), str(out), "-noappend", "-all-root", "-mkfs-time", "0", "-all-time", "0",
            "-no-xattrs", "-quiet", "-no-progress", "-processors", "1"]
    for definition in pseudo:
        argv += ["-p", definition]
    if uncompressed_metadata:
        argv += ["-noI", "-noId", "-noD", "-noF", "-noX"]
    subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    return out.read_bytes()


def rename_entry(squashfs: bytes, old: bytes, new: bytes) -> bytes:
    """`squashfs` with the one occurrence of the name `old` replaced by `new` (same length)."""
    assert len(old) == len(new)
    assert squashfs.count(old) == 1, f"{old!r} must occur exactly once in the image"
    return squashfs.replace(old, new)


def _populate(root: Path, files: Mapping[str, bytes | str]) -> None:
    """Files (bytes), symlinks ("-> target" strings) and directories (names ending in /)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            os.symlink(content.removeprefix("-> "), target)
        else:
            target.write_bytes(content)


def build_sif(
    tmp: Path,
    files: Mapping[str, bytes | str],
    *,
    deffile_text: bytes | None = None,
    name: str = "image.sif",
    pseudo: Sequence[str] = (),
    arch: bytes = b"02",
    modified: int = TEST_TIME,
) -> Path:
    """A SIF file with a squashfs of `files` as primary partition (and a definition file)."""
    root = tmp / f"{name}.root"
    _populate(root, files)
    squashfs = mksquashfs(root, tmp / f"{name}.sqfs", pseudo=pseudo)
    objects = ([deffile(deffile_text)] if deffile_text is not None else []) + [partition(squashfs, arch=arch)]
    return write_sif(tmp / name, objects, arch=arch, modified=modified).path
