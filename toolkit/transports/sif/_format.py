"""The SIF container format (sylabs/sif v2 `pkg/sif`): global header and descriptors, read only.

Layout (all integers little-endian, structures packed):

- the global header, 128 bytes at offset 0: launch script (32), magic `SIF_MAGIC\\0` (10),
  version `01\\0` (3), primary architecture code (3, two ASCII digits and a NUL), image UUID
  (16), created / modified times (int64 Unix seconds), descriptors free / total, descriptor
  table offset / size, data section offset / size (int64 each);
- `DescriptorsTotal` descriptors of 585 bytes at `DescriptorsOffset`: data type (int32), used
  flag (1), object ID, group ID, linked ID (uint32), data offset, size, size with padding,
  created / modified times, uid, gid (int64), name (128), type-specific extra (384; for a
  partition: filesystem type int32, partition type int32, architecture code 3 bytes).

The file is untrusted. sif itself checks only the magic, the version and that the table can
be read; `load` also checks every offset and size against the file, as the issue asks and as
a careful reader must: the table lies after the header and inside the file, every used
object lies inside the file and inside the data section, and no two used objects overlap.
Unused slots are ignored, as sif ignores them. `SIFImage.primary_partition` and
`definition_file` select descriptors as c/image `sif/load.go` does with sif's
`GetDescriptor` (same "no objects in image" / "object not found" / "multiple objects found").

Every error is an `ArchiveError` ("invalid SIF file: ..."), except a file that cannot be
opened or read (`ImageNotFoundError` for a missing one, else `ToolkitError`). The callers
prefix c/image's "loading SIF file: ".
"""

from __future__ import annotations

import itertools
import os
import struct
import uuid
from dataclasses import dataclass
from typing import Final

from toolkit.errors import ArchiveError

__all__ = [
    "HEADER_SIZE",
    "DESCRIPTOR_SIZE",
    "DATA_DEFFILE",
    "DATA_PARTITION",
    "FS_SQUASH",
    "FS_ENCRYPTED_SQUASH",
    "PART_PRIMSYS",
    "MAX_DESCRIPTORS",
    "SIFHeader",
    "SIFDescriptor",
    "SIFImage",
    "load",
    "go_arch",
]

HEADER_SIZE: Final = 128
DESCRIPTOR_SIZE: Final = 585
_HEADER: Final = struct.Struct("<32s10s3s3s16sqqqqqqqq")
_DESCRIPTOR: Final = struct.Struct("<iBIIIqqqqqqq128s384s")
_PARTITION_EXTRA: Final = struct.Struct("<ii3s")
_MAGIC: Final = b"SIF_MAGIC\x00"
_VERSION: Final = b"01\x00"

# Data types (sif.go `DataType`).
DATA_DEFFILE: Final = 0x4001
DATA_PARTITION: Final = 0x4004
# Partition filesystem and partition types (sif.go `FSType`, `PartType`).
FS_SQUASH: Final = 1
FS_ENCRYPTED_SQUASH: Final = 5
PART_PRIMSYS: Final = 2

#: More descriptor slots than this are refused. sif writes 48 by default and has no limit,
#: but a hostile count would only make us read a huge table.
MAX_DESCRIPTORS: Final = 1 << 16
#: Bytes of the descriptor table read per `pread`.
_TABLE_CHUNK: Final = DESCRIPTOR_SIZE * 1024

# sif `arch.go`: header codes -> Go architecture names; anything else is "unknown".
_ARCH: Final = {
    b"01\x00": "386",
    b"02\x00": "amd64",
    b"03\x00": "arm",
    b"04\x00": "arm64",
    b"05\x00": "ppc64",
    b"06\x00": "ppc64le",
    b"07\x00": "mips",
    b"08\x00": "mipsle",
    b"09\x00": "mips64",
    b"10\x00": "mips64le",
    b"11\x00": "s390x",
    b"12\x00": "riscv64",
    b"13\x00": "loong64",
}


def go_arch(code: bytes) -> str:
    """The Go architecture name of a SIF architecture code (sif `archType.GoArch`)."""
    return _ARCH.get(code, "unknown")


def _invalid(detail: str) -> ArchiveError:
    return ArchiveError(f"invalid SIF file: {detail}")


@dataclass(frozen=True, slots=True)
class SIFHeader:
    """The global header, as recorded (numbers unchecked until `load` checks them)."""

    arch_code: bytes
    id: uuid.UUID
    created_at: int
    modified_at: int
    descriptors_free: int
    descriptors_total: int
    descriptors_offset: int
    descriptors_size: int
    data_offset: int
    data_size: int

    @property
    def arch(self) -> str:
        """sif `PrimaryArch()`: the Go name of the header's architecture, or "unknown"."""
        return go_arch(self.arch_code)


@dataclass(frozen=True, slots=True)
class SIFDescriptor:
    """One used descriptor. `offset`/`size` locate its data and were checked against the file."""

    index: int
    data_type: int
    id: int
    group_id: int
    linked_id: int
    offset: int
    size: int
    size_with_padding: int
    modified_at: int
    name: bytes
    extra: bytes

    @property
    def partition_metadata(self) -> tuple[int, int, bytes]:
        """(filesystem type, partition type, architecture code) of a partition's extra field."""
        fs_type, part_type, arch = _PARTITION_EXTRA.unpack_from(self.extra)
        return fs_type, part_type, arch


def _check_object(d: SIFDescriptor, header: SIFHeader, file_size: int) -> None:
    what = f"object {d.id} (descriptor {d.index})"
    if d.offset < 0 or d.size < 0:
        raise _invalid(f"{what} has a negative offset or size")
    end = d.offset + d.size
    if end > file_size:
        raise _invalid(
            f"{what} (offset {d.offset}, {d.size} bytes) extends past the end of the file ({file_size} bytes)"
        )
    if d.offset < header.data_offset or end > header.data_offset + header.data_size:
        raise _invalid(
            f"{what} (offset {d.offset}, {d.size} bytes) lies outside the data section "
            f"(offset {header.data_offset}, {header.data_size} bytes)"
        )
    if d.size_with_padding < d.size:
        raise _invalid(f"{what} has a padded size ({d.size_with_padding}) smaller than its size ({d.size})")


def _check_overlaps(descriptors: list[SIFDescriptor]) -> None:
    spans = sorted((d for d in descriptors if d.size > 0), key=lambda d: (d.offset, d.index))
    for before, after in itertools.pairwise(spans):
        if after.offset < before.offset + before.size:
            raise _invalid(f"the data of objects {before.id} and {after.id} overlap")


@dataclass(frozen=True, slots=True)
class SIFImage:
    """A loaded SIF file: the header and its used descriptors (all bounds checked)."""

    header: SIFHeader
    descriptors: tuple[SIFDescriptor, ...]
    file_size: int

    def _select(self, want: str, matches: list[SIFDescriptor]) -> SIFDescriptor:
        # sif GetDescriptor: the header's counts decide "no objects", before any match.
        if self.header.descriptors_free == self.header.descriptors_total:
            raise ArchiveError(f"looking up {want} from SIF file: no objects in image")
        if not matches:
            raise ArchiveError(f"looking up {want} from SIF file: object not found")
        if len(matches) > 1:
            raise ArchiveError(f"looking up {want} from SIF file: multiple objects found")
        return matches[0]

    def primary_partition(self) -> SIFDescriptor:
        """The one partition descriptor of type `PartPrimSys` (its filesystem type is not
        checked here, as c/image does not check it). Raises `ArchiveError`."""
        return self._select(
            "rootfs",
            [
                d
                for d in self.descriptors
                if d.data_type == DATA_PARTITION and d.partition_metadata[1] == PART_PRIMSYS
            ],
        )

    def definition_file(self) -> SIFDescriptor | None:
        """The definition file object, or None when there is none or more than one (as c/image:
        any lookup error means "no definition file")."""
        try:
            return self._select("definition file", [d for d in self.descriptors if d.data_type == DATA_DEFFILE])
        except ArchiveError:
            return None


def _pread_exact(fd: int, size: int, offset: int, what: str) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = os.pread(fd, size - got, offset + got)
        if not chunk:
            raise ArchiveError(f"reading {what}: unexpected EOF")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def load(fd: int) -> SIFImage:
    """Parse and check the SIF file open at `fd` (regular file, read with `pread`).

    Raises `ArchiveError` for anything malformed (see the module doc); `OSError` from reads
    propagates for the caller to wrap.
    """
    file_size = os.fstat(fd).st_size
    if file_size < HEADER_SIZE:
        raise ArchiveError("reading global header: unexpected EOF")
    raw = _pread_exact(fd, HEADER_SIZE, 0, "global header")
    (_launch, magic, version, arch, raw_id, created, modified, free, total, d_off, d_size, data_off, data_size) = (
        _HEADER.unpack(raw)
    )
    if magic != _MAGIC:
        raise ArchiveError("invalid SIF magic")
    if version != _VERSION:
        raise ArchiveError("incompatible SIF version")
    header = SIFHeader(
        arch_code=arch,
        id=uuid.UUID(bytes=raw_id),
        created_at=created,
        modified_at=modified,
        descriptors_free=free,
        descriptors_total=total,
        descriptors_offset=d_off,
        descriptors_size=d_size,
        data_offset=data_off,
        data_size=data_size,
    )
    if not 0 <= total <= MAX_DESCRIPTORS:
        raise _invalid(f"descriptor count {total} is out of range (0 to {MAX_DESCRIPTORS})")
    if not 0 <= free <= total:
        raise _invalid(f"free descriptor count {free} is out of range (0 to {total})")
    table = total * DESCRIPTOR_SIZE
    if d_size < table:
        raise _invalid(f"the descriptor table ({d_size} bytes) is too small for {total} descriptors")
    if d_off < HEADER_SIZE or d_off + d_size > file_size:
        raise _invalid(
            f"the descriptor table (offset {d_off}, {d_size} bytes) lies outside the file "
            f"after the header ({file_size} bytes)"
        )
    if data_off < d_off + d_size or data_size < 0 or data_off + data_size > file_size:
        raise _invalid(
            f"the data section (offset {data_off}, {data_size} bytes) does not lie between the descriptor "
            f"table and the end of the file ({file_size} bytes)"
        )
    descriptors: list[SIFDescriptor] = []
    for start in range(0, table, _TABLE_CHUNK):
        block = _pread_exact(fd, min(_TABLE_CHUNK, table - start), d_off + start, "descriptors")
        for pos in range(0, len(block), DESCRIPTOR_SIZE):
            fields = _DESCRIPTOR.unpack_from(block, pos)
            if not fields[1]:  # unused slot (Go reads the bool as "any non-zero byte")
                continue
            (dtype, _used, obj_id, group, link, off, size, padded, _ctime, mtime, _uid, _gid, name, extra) = fields
            d = SIFDescriptor(
                index=(start + pos) // DESCRIPTOR_SIZE,
                data_type=dtype,
                id=obj_id,
                group_id=group,
                linked_id=link,
                offset=off,
                size=size,
                size_with_padding=padded,
                modified_at=mtime,
                name=name.split(b"\x00", 1)[0],
                extra=extra,
            )
            _check_object(d, header, file_size)
            descriptors.append(d)
    _check_overlaps(descriptors)
    return SIFImage(header=header, descriptors=tuple(descriptors), file_size=file_size)
