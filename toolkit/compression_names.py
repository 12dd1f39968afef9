"""The compression algorithms skopo knows by name, and the levels each can be written at.

The one table of names `toolkit.compression.ALGORITHMS` is built from, in a module of its
own so that what only needs the names (the CLI's help texts) does not import the codecs
(isal, zstandard, bz2, lzma) and the stream machinery on every start. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["LEVELS"]

#: Name (as `--dest-compress-format` takes it and c/image registers it) -> the explicit
#: levels a writer accepts; empty for an algorithm skopo reads but cannot write. zstd 21-22
#: ("ultra") need 64-128 MiB windows on both ends and hundreds of MiB while compressing, so
#: they are refused to keep memory bounded.
LEVELS: Final[Mapping[str, range]] = MappingProxyType({
    "gzip": range(1, 10),
    "zstd": range(1, 21),
    # zstd bytes plus a table of contents (toolkit.zstd_chunked writes it).
    "zstd:chunked": range(1, 21),
    "bzip2": range(0),
    "xz": range(0),
})
