"""Bad-input corpus, SIF files (cases 43-48; issue 20, beyond security.md §4).

Every hostile file is built by `helpers.sif` (a real squashfs from `mksquashfs`, fields
patched afterwards) and copied into the guarded `dir:` destination: one clean error line,
destination unchanged, no temp file left (the squashfs copy goes to `--tmpdir`, which must
be empty afterwards too).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from corpus_guard import Guard

from helpers.sif import (
    DEFFILE,
    DESC_LENGTH,
    DESC_OFFSET,
    DESC_PADDED,
    DESC_PARTTYPE,
    HDR_DESC_OFFSET,
    HDR_FREE,
    HDR_MAGIC,
    HDR_TOTAL,
    HDR_VERSION,
    PART_SYSTEM,
    build_sif,
    deffile,
    mksquashfs,
    partition,
    patch,
    rename_entry,
    write_sif,
)

pytestmark = pytest.mark.usefixtures("sif_tools")

FILES: dict[str, bytes | str] = {"etc/hello": b"hello\n", "bin/": b""}


def q(value: int) -> bytes:
    return struct.pack("<q", value)


def check_sif(guard: Guard, tmp_path: Path, path: Path, match: str) -> str:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    line = guard.check(guard.copy("--tmpdir", tmpdir, f"sif:{path}", timeout=60), match=match)
    assert os.listdir(tmpdir) == []
    return line


def patched(tmp_path: Path, name: str, changes: list[tuple[str, int, bytes]]) -> Path:
    """A good SIF file (deffile = descriptor 0, partition = descriptor 1) with fields patched;
    descriptor offsets are given as ("d0"/"d1", field offset), header fields as ("h", offset)."""
    path = build_sif(tmp_path, FILES, deffile_text=DEFFILE, name=f"{name}.sif")
    for where, offset, data in changes:
        base = {"h": 0, "d0": 4096, "d1": 4096 + 585}[where]
        patch(path, base + offset, data)
    return path


def test_case_43_header_defects(guard: Guard, tmp_path: Path) -> None:
    cases = {
        "magic": ([("h", HDR_MAGIC, b"NOT_MAGIC")], "loading SIF file: invalid SIF magic$"),
        "version": ([("h", HDR_VERSION, b"99")], "loading SIF file: incompatible SIF version$"),
        "count": ([("h", HDR_TOTAL, q(1 << 62))], "descriptor count .* out of range"),
        "free": ([("h", HDR_FREE, q(-1))], "free descriptor count"),
        "table-past-eof": ([("h", HDR_DESC_OFFSET, q(1 << 40))], "descriptor table .* lies outside the file"),
    }
    for name, (changes, match) in cases.items():
        check_sif(guard, tmp_path, patched(tmp_path, name, changes), match)
    short = tmp_path / "short.sif"
    short.write_bytes(b"#!/usr/bin/env run-singularity\n")
    check_sif(guard, tmp_path, short, "loading SIF file: reading global header: unexpected EOF$")
    os.mkfifo(tmp_path / "fifo.sif")  # never opened for reading blocks: refused at once
    check_sif(guard, tmp_path, tmp_path / "fifo.sif", "not a regular file")


def test_case_44_object_bounds(guard: Guard, tmp_path: Path) -> None:
    cases = {
        "size-past-eof": ([("d1", DESC_LENGTH, q(1 << 40))], "extends past the end of the file"),
        "offset-past-eof": ([("d1", DESC_OFFSET, q(1 << 50))], "extends past the end of the file"),
        "negative-size": ([("d1", DESC_LENGTH, q(-1))], "negative offset or size"),
        "in-the-header": ([("d1", DESC_OFFSET, q(0))], "outside the data section"),
        "overlap": ([("d0", DESC_LENGTH, q(4096)), ("d0", DESC_PADDED, q(4096))], "objects 1 and 2 overlap"),
    }
    for name, (changes, match) in cases.items():
        check_sif(guard, tmp_path, patched(tmp_path, name, changes), f"loading SIF file: invalid SIF file: .*{match}")


def test_case_45_no_usable_root_filesystem(guard: Guard, tmp_path: Path) -> None:
    lookup = "converting rootfs from SquashFS to Tarball: looking up rootfs from SIF file: "
    cases = {
        "not-primary": ([("d1", DESC_PARTTYPE, struct.pack("<i", PART_SYSTEM))], lookup + "object not found$"),
        "no-objects": ([("h", HDR_FREE, q(48))], lookup + "no objects in image$"),
    }
    for name, (changes, match) in cases.items():
        check_sif(guard, tmp_path, patched(tmp_path, name, changes), match)
    squashfs = (tmp_path / "not-primary.sif.sqfs").read_bytes()
    two = write_sif(tmp_path / "two.sif", [partition(squashfs), partition(squashfs)]).path
    check_sif(guard, tmp_path, two, lookup + "multiple objects found$")
    elf = write_sif(tmp_path / "elf.sif", [partition(b"\x7fELF" + bytes(8188))]).path
    check_sif(guard, tmp_path, elf, "not a squashfs filesystem")
    corrupt = bytearray(squashfs)
    corrupt[40:96] = os.urandom(56)
    bad = write_sif(tmp_path / "corrupt.sif", [partition(bytes(corrupt))]).path
    check_sif(guard, tmp_path, bad, "converting rootfs from SquashFS to Tarball: ")


def test_case_46_squashfs_names_that_climb(guard: Guard, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "zz").mkdir(parents=True)
    (root / "zz" / "QQ").write_bytes(b"would land outside\n")
    squashfs = mksquashfs(root, tmp_path / "names.sqfs", uncompressed_metadata=True)
    for i, (old, new) in enumerate([(b"QQ", b".."), (b"zz", b".."), (b"QQ", b"a/"), (b"zz", b"a/")]):
        path = write_sif(tmp_path / f"names{i}.sif", [deffile(DEFFILE), partition(rename_entry(squashfs, old, new))])
        check_sif(guard, tmp_path, path.path, "converting rootfs from SquashFS to Tarball: ")


def test_case_47_podman_paths_that_redirect_the_script(guard: Guard, tmp_path: Path) -> None:
    for name, files in (("link", {"podman": "-> /etc"}), ("file", {"podman": b"x"}),
                        ("dir", {"podman/runscript/": b""})):
        path = build_sif(tmp_path, {**FILES, **files}, deffile_text=DEFFILE, name=f"{name}.sif")
        check_sif(guard, tmp_path, path, "/podman")
    assert not Path("/etc/runscript").exists()


def test_case_48_hostile_definition_files(guard: Guard, tmp_path: Path) -> None:
    long_line = build_sif(tmp_path, FILES, deffile_text=b"%runscript\n" + b"x" * (1 << 17), name="long.sif")
    check_sif(guard, tmp_path, long_line, "bufio.Scanner: token too long$")
    huge = build_sif(tmp_path, FILES, deffile_text=b"\n" * ((16 << 20) + 1), name="huge.sif")
    check_sif(guard, tmp_path, huge, "definition file object: .* exceed the limit")
