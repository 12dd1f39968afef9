"""`transports/_fs.py`: failures while writing must be one-line errors and leave nothing."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import pytest

import toolkit.transports._fs as fs
from toolkit.errors import ToolkitError


class _DiskFull(io.FileIO):
    def write(self, data: Any, /) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class _FullWritebackFileIO(fs._WritebackFileIO, _DiskFull):
    """`_WritebackFileIO` over a file system that is full (its `super().write` fails)."""


@pytest.mark.parametrize("size", [10, 5 << 20])  # buffered until commit; written at once
def test_atomic_file_disk_full_is_a_toolkit_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(fs, "_WritebackFileIO", _FullWritebackFileIO)
    target = tmp_path / "blob"
    with pytest.raises(ToolkitError, match="No space left on device") as info, fs.AtomicFile(target) as f:
        f.write(b"x" * size)
    assert not isinstance(info.value, OSError)
    assert str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_discard_after_failed_write_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fs, "_WritebackFileIO", _FullWritebackFileIO)
    atomic = fs.AtomicFile(tmp_path / "out")
    f = atomic.__enter__()
    f.write(b"buffered, flushed by close()")
    atomic.discard()  # close() fails to flush: still no exception, no temp file
    assert list(tmp_path.iterdir()) == []
