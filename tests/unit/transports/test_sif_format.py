"""SIF header/descriptor parsing (`sif/_format.py`) and the definition-file rules (`sif/_deffile.py`).

Pure tests: the SIF files are written by `helpers.sif` with made-up partition bytes (no
squashfs needed), then single fields are patched to make each defect.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.sif import (
    DEFFILE,
    DESC_LENGTH,
    DESC_OFFSET,
    DESC_PADDED,
    DESC_PARTTYPE,
    DESC_USED,
    HDR_DATA_OFFSET,
    HDR_DATA_SIZE,
    HDR_DESC_OFFSET,
    HDR_DESC_SIZE,
    HDR_FREE,
    HDR_MAGIC,
    HDR_TOTAL,
    HDR_VERSION,
    PART_SYSTEM,
    TEST_TIME,
    TEST_UUID,
    SifLayout,
    deffile,
    partition,
    patch,
    write_sif,
)
from toolkit.errors import ArchiveError
from toolkit.transports.sif._deffile import INJECTED_SCRIPT_PATH, command_from_deffile
from toolkit.transports.sif._format import DATA_DEFFILE, DATA_PARTITION, PART_PRIMSYS, SIFImage, go_arch, load

FAKE_SQUASHFS = b"hsqs" + bytes(4092)


def q(value: int) -> bytes:
    return struct.pack("<q", value)


@pytest.fixture
def sif(tmp_path: Path) -> SifLayout:
    """A deffile (descriptor 0) and a primary partition (descriptor 1)."""
    return write_sif(tmp_path / "a.sif", [deffile(DEFFILE), partition(FAKE_SQUASHFS)])


def load_path(path: Path) -> SIFImage:
    fd = os.open(path, os.O_RDONLY)
    try:
        return load(fd)
    finally:
        os.close(fd)


def test_header_and_descriptors_are_read(sif: SifLayout) -> None:
    image = load_path(sif.path)
    header = image.header
    assert (header.arch, header.id, header.modified_at) == ("amd64", TEST_UUID, TEST_TIME)
    assert (header.descriptors_total, header.descriptors_free) == (48, 46)
    assert [d.data_type for d in image.descriptors] == [DATA_DEFFILE, DATA_PARTITION]
    part = image.primary_partition()
    assert part.offset == sif.objects[1] and part.offset % 4096 == 0 and part.size == len(FAKE_SQUASHFS)
    assert part.partition_metadata == (1, PART_PRIMSYS, b"02\x00")
    definition = image.definition_file()
    assert definition is not None and definition.size == len(DEFFILE)


def test_architecture_codes() -> None:
    assert [go_arch(c + b"\x00") for c in (b"01", b"02", b"04", b"12", b"13")] == [
        "386", "amd64", "arm64", "riscv64", "loong64"
    ]
    assert go_arch(b"00\x00") == go_arch(b"99\x00") == go_arch(b"02\x01") == "unknown"


def _defects(sif: SifLayout) -> Iterator[tuple[str, int, bytes, str]]:
    """(what, offset, bytes, expected message) for one patched field each."""
    part = sif.descriptors[1]
    end = sif.path.stat().st_size
    yield "magic", HDR_MAGIC, b"SIF_MAGIX", "^invalid SIF magic$"
    yield "version", HDR_VERSION, b"02", "^incompatible SIF version$"
    yield "descriptor count", HDR_TOTAL, q(-1), "descriptor count -1 is out of range"
    yield "huge descriptor count", HDR_TOTAL, q(1 << 40), "out of range"
    yield "free count", HDR_FREE, q(49), "free descriptor count 49 is out of range"
    yield "table too small", HDR_DESC_SIZE, q(585 * 47), "too small for 48 descriptors"
    yield "table in the header", HDR_DESC_OFFSET, q(64), "descriptor table .* lies outside the file"
    yield "table past EOF", HDR_DESC_OFFSET, q(end - 100), "descriptor table .* lies outside the file"
    yield "data section past EOF", HDR_DATA_SIZE, q(end), "data section"
    yield "data section over the table", HDR_DATA_OFFSET, q(5000), "data section"
    yield "object past EOF", part + DESC_LENGTH, q(len(FAKE_SQUASHFS) + 1), "extends past the end of the file"
    yield "huge object", part + DESC_LENGTH, q((1 << 63) - 1), "extends past the end of the file"
    yield "negative size", part + DESC_LENGTH, q(-4096), "negative offset or size"
    yield "negative offset", part + DESC_OFFSET, q(-1), "negative offset or size"
    yield "object in the table", part + DESC_OFFSET, q(4096), "outside the data section"
    yield "padding smaller than size", part + DESC_PADDED, q(1), "padded size"
    yield "overlapping objects", part + DESC_OFFSET, q(sif.objects[0] + 10), "objects 1 and 2 overlap"


def test_every_bound_is_checked(sif: SifLayout) -> None:
    original = sif.path.read_bytes()
    for what, offset, data, message in _defects(sif):
        sif.path.write_bytes(original)
        patch(sif.path, offset, data)
        with pytest.raises(ArchiveError, match=message):
            load_path(sif.path)
        assert what


def test_short_files(tmp_path: Path, sif: SifLayout) -> None:
    data = sif.path.read_bytes()
    cases = ((0, "reading global header: unexpected EOF"), (127, "reading global header"),
             (4096 + 585, "descriptor table"), (sif.objects[1] + 10, "the data section .* end of the file"))
    for size, message in cases:
        short = tmp_path / f"short-{size}.sif"
        short.write_bytes(data[:size])
        with pytest.raises(ArchiveError, match=message):
            load_path(short)


def test_unused_slots_are_never_checked(sif: SifLayout) -> None:
    # Garbage in an unused slot (used flag 0) is ignored, as sif ignores it.
    patch(sif.path, sif.descriptors[5] + DESC_OFFSET, q(-5) + q(1 << 62))
    load_path(sif.path)
    # The same garbage in a used slot is refused.
    patch(sif.path, sif.descriptors[5] + DESC_USED, b"\x01")
    with pytest.raises(ArchiveError, match="negative offset or size"):
        load_path(sif.path)


def test_partition_selection_errors(tmp_path: Path, sif: SifLayout) -> None:
    patch(sif.path, sif.descriptors[1] + DESC_PARTTYPE, struct.pack("<i", PART_SYSTEM))
    with pytest.raises(ArchiveError, match="^looking up rootfs from SIF file: object not found$"):
        load_path(sif.path).primary_partition()
    patch(sif.path, HDR_FREE, q(48))
    with pytest.raises(ArchiveError, match="^looking up rootfs from SIF file: no objects in image$"):
        load_path(sif.path).primary_partition()
    two = write_sif(tmp_path / "two.sif", [partition(FAKE_SQUASHFS), partition(FAKE_SQUASHFS)])
    with pytest.raises(ArchiveError, match="^looking up rootfs from SIF file: multiple objects found$"):
        load_path(two.path).primary_partition()


def test_definition_file_lookup_as_c_image(tmp_path: Path) -> None:
    none = write_sif(tmp_path / "none.sif", [partition(FAKE_SQUASHFS)])
    assert load_path(none.path).definition_file() is None
    # Two definition files: c/image's lookup fails, which it takes as "none".
    two = write_sif(tmp_path / "two.sif", [deffile(b"a"), deffile(b"b"), partition(FAKE_SQUASHFS)])
    assert load_path(two.path).definition_file() is None


# ------------------------------------------------------------------ definition file


def test_deffile_script_as_c_image() -> None:
    result = command_from_deffile(DEFFILE)
    assert result.command == INJECTED_SCRIPT_PATH == "/podman/runscript"
    # %environment: non-empty, non-comment lines; %runscript: every line (the empty one too).
    assert result.script == (
        b'#!/bin/bash\nexport GREETING=hello\nexport ANSWER=42\necho "$GREETING" "$@"\n\nexit 0\n'
    )


@pytest.mark.parametrize(
    ("text", "script"),
    [
        (None, None),
        (b"", None),
        (b"Bootstrap: docker\n%labels\n a b\n", None),
        (b"%environment\n\n  # only a comment\n", None),
        # CRLF lines, a last line without a newline, Unicode white space (NBSP, U+3000) trimmed.
        (b"%runscript\r\n  echo hi\r\n\xc2\xa0echo  there\xe3\x80\x80", b"#!/bin/bash\n\necho hi\necho  there\n"),
        # Any other %section ends the current one; section names must be alone on their line.
        (b"%environment\nA=1\n%post\nB=2\n%environment x\nC=3\n", b"#!/bin/bash\nA=1\n\n"),
        # An empty %runscript line is kept: it makes a script.
        (b"%runscript\n\n", b"#!/bin/bash\n\n\n"),
        # Invalid UTF-8 is kept as it is.
        (b"%environment\n\xff\xfe x\n", b"#!/bin/bash\n\xff\xfe x\n\n"),
    ],
)
def test_deffile_parsing_edges(text: bytes | None, script: bytes | None) -> None:
    result = command_from_deffile(text)
    assert result.script == script
    assert result.command == ("bash" if script is None else INJECTED_SCRIPT_PATH)


def test_deffile_line_limit_as_go_scanner() -> None:
    command_from_deffile(b"%runscript\n" + b"x" * (64 * 1024 - 1) + b"\n")
    message = r"^reading lines from SIF definition file object: bufio.Scanner: token too long$"
    with pytest.raises(ArchiveError, match=message):
        command_from_deffile(b"%runscript\n" + b"x" * (64 * 1024) + b"\n")
