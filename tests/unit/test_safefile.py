"""`toolkit.safefile`: planted links at every name it creates, modes, special output files."""

from __future__ import annotations

import errno
import itertools
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit import safefile
from toolkit.errors import ToolkitError
from toolkit.transports._fs import AtomicFile

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


@pytest.fixture
def predictable_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make the random part of temp names predictable: `aaaa...`, then `bbbb...`, ..."""
    names = [c * 12 for c in "abcdef"]
    counter = itertools.count()
    monkeypatch.setattr(safefile, "_random_hex", lambda n: names[next(counter) % len(names)])
    yield names


def _plant(directory: Path, name: str, victim: Path) -> Path:
    link = directory / name
    link.symlink_to(victim)
    return link


@pytest.mark.parametrize("kind", ["write_atomic", "AtomicFile", "create_temp_file"])
def test_a_link_planted_at_the_next_temp_name_is_never_followed(
    tmp_path: Path, predictable_names: list[str], kind: str
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    dangling = tmp_path / "would-be-created"
    target = tmp_path / "out"
    # The first two names the writer will try: one to an existing file, one dangling.
    _plant(tmp_path, f".out.tmp-{predictable_names[0]}", victim)
    _plant(tmp_path, f".out.tmp-{predictable_names[1]}", dangling)
    if kind == "write_atomic":
        safefile.write_atomic(target, b"new")
    elif kind == "AtomicFile":
        with AtomicFile(target) as f:
            f.write(b"new")
    else:
        fd, path = safefile.create_temp_file(target)
        os.close(fd)
        assert path.name == f".out.tmp-{predictable_names[2]}"
        assert not path.is_symlink()
        path.rename(target)
        target.write_bytes(b"new")
    assert victim.read_bytes() == b"precious"
    assert not dangling.exists()
    assert target.read_bytes() == b"new" and not target.is_symlink()


def test_a_link_planted_at_the_staging_dir_name_is_skipped(tmp_path: Path, predictable_names: list[str]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _plant(tmp_path, f".img.partial-{predictable_names[0]}", outside)
    staging = safefile.make_temp_dir(tmp_path / "img", "partial", 0o755)
    assert staging.name == f".img.partial-{predictable_names[1]}"
    assert staging.is_dir() and not staging.is_symlink()
    assert list(outside.iterdir()) == []


def test_create_new_file_refuses_any_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    _plant(tmp_path, "key.private", victim)
    with pytest.raises(FileExistsError):
        safefile.create_new_file(tmp_path / "key.private", 0o600)
    assert not victim.exists()


def test_every_new_directory_gets_the_mode_and_files_the_exact_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / "a" / "b" / "c" / "auth.json"
        safefile.write_atomic(target, b"{}", mode=0o600, dir_mode=0o700)
    finally:
        os.umask(old)
    for directory in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["auth.json"]


def test_make_dirs_refuses_a_link_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError):
        safefile.make_dirs(tmp_path / "file" / "sub")
    _plant(tmp_path, "dangling", tmp_path / "nowhere")
    with pytest.raises(OSError):
        safefile.make_dirs(tmp_path / "dangling" / "sub")
    assert not (tmp_path / "nowhere").exists()


def test_write_atomic_leaves_nothing_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(safefile.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        safefile.write_atomic(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert target.read_bytes() == b"old"


# ------------------------------------------------------------ outputs that are not files


@needs_root
def test_a_character_device_is_written_in_place(tmp_path: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    safefile.write_output(null, b"sha256:x", what="digest file")
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


@needs_root
def test_a_full_device_is_an_error(tmp_path: Path) -> None:
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    with pytest.raises(ToolkitError, match="writing digest file .*full: No space left on device"):
        safefile.write_output(full, b"sha256:x", what="digest file")
    assert stat.S_ISCHR(full.lstat().st_mode)


def test_a_link_to_our_stdout_descriptor_is_written_in_place(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        link = _plant(tmp_path, "out", Path(f"/proc/self/fd/{write_end}"))
        safefile.write_output(link, b"sha256:abc", what="digest file")
        assert link.is_symlink()
        assert os.read(read_end, 100) == b"sha256:abc"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_descriptor_name_for_a_regular_file_writes_through_that_descriptor(tmp_path: Path) -> None:
    out = tmp_path / "redirected"
    with open(out, "wb", buffering=0) as f:  # the shell's `> redirected`
        f.write(b"before\n")
        safefile.write_output(Path(f"/proc/self/fd/{f.fileno()}"), b"digest", what="digest file")
        f.write(b"\nafter")  # the shared offset moved past the digest
    assert out.read_bytes() == b"before\ndigest\nafter"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["redirected"]


def test_a_fifo_is_written_in_place_and_one_without_reader_fails(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    safefile.write_output(fifo, b"sha256:abc", what="digest file")
    reader.join(10)
    assert got == [b"sha256:abc"]
    with pytest.raises(ToolkitError, match="no reader opened the pipe"):
        safefile.open_special_for_writing(str(fifo), "digest file", wait=0.2)


def test_a_link_to_a_regular_file_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = _plant(tmp_path, "out", victim)
    safefile.write_output(link, b"digest", what="digest file")
    assert victim.read_bytes() == b"precious"
    assert not link.is_symlink() and link.read_bytes() == b"digest"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolkitError, match="is a directory"):
        safefile.write_output(tmp_path, b"x", what="digest file")


def test_a_dangling_link_destination_is_refused(tmp_path: Path) -> None:
    _plant(tmp_path, "dest", tmp_path / "elsewhere")
    with pytest.raises(ToolkitError, match="symbolic link to a missing file"):
        safefile.refuse_dangling_link(str(tmp_path / "dest"), "dir")
