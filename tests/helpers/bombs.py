"""Decompression bombs for the archive safety tests."""

from __future__ import annotations

import gzip
import tarfile
import zlib
from pathlib import Path

__all__ = ["gzip_bomb"]


def gzip_bomb(path: Path, total: int) -> int:
    """Write a gzip file expanding to a tar header plus `total` zero bytes; return its size.

    The header is GNU format, so `total` may exceed the 8 GiB limit of an octal size field.
    """
    header = tarfile.TarInfo("bomb")
    header.size = total
    chunk = 64 << 20
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = member.compress(bytes(chunk)) + member.flush()
    with open(path, "wb") as f:
        f.write(gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT), mtime=0))
        for _ in range(total // chunk):
            f.write(zeros)  # concatenated gzip members are one valid gzip stream
    return path.stat().st_size
