"""`skopo copy`'s compression flags: names and levels, with skopeo's messages (the
algorithm registry of toolkit/compression.py behind them)."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.cli.commands.copy import _parse_compression
from toolkit.cli.flags import FlagValues, dest_flags
from toolkit.errors import InvalidInputError, NotSupportedError
from toolkit.types import Compression, LayerCompression


def parse(**values: Any) -> tuple[LayerCompression | None, Compression | None, int | None]:
    flags = dest_flags()
    return _parse_compression(FlagValues({k.replace("-", "_"): v for k, v in values.items()}, flags))


def test_defaults_ask_for_nothing() -> None:
    assert parse() == (None, None, None)


@pytest.mark.parametrize(
    ("name", "expected"), [("gzip", Compression.GZIP), ("zstd", Compression.ZSTD), ("zstd:chunked", Compression.ZSTD)]
)
def test_writable_formats(name: str, expected: Compression) -> None:
    assert parse(dest_compress=True, dest_compress_format=name) == (LayerCompression.COMPRESS, expected, None)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("bzip2", NotSupportedError,
         "compression using bzip2 required, but none of the known manifest formats support it"),
        ("xz", NotSupportedError, "compression using xz required, but none of the known manifest formats support it"),
        ("none", InvalidInputError, 'unknown compression algorithm "none"'),
        ("GZIP", InvalidInputError, 'unknown compression algorithm "GZIP"'),
        ("lz4\x1b[31m", InvalidInputError, r'unknown compression algorithm "lz4\x1b[31m"'),
    ],
)
def test_refused_formats(name: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        parse(dest_compress_format=name)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("fmt", "level", "ok"),
    [
        (None, 1, True), (None, 9, True), (None, 0, False), (None, 10, False),
        ("gzip", 9, True), ("gzip", 10, False),
        ("zstd", 1, True), ("zstd", 20, True), ("zstd", 21, False), ("zstd", 0, False), ("zstd", -3, False),
    ],
)
def test_levels(fmt: str | None, level: int, ok: bool) -> None:
    if ok:
        assert parse(dest_compress_format=fmt, dest_compress_level=level)[2] == level
        return
    name, high = ("zstd", 20) if fmt == "zstd" else ("gzip", 9)
    with pytest.raises(InvalidInputError) as info:
        parse(dest_compress_format=fmt, dest_compress_level=level)
    assert str(info.value) == f"--dest-compress-level for {name} must be between 1 and {high}"


def test_compress_and_decompress_conflict() -> None:
    with pytest.raises(InvalidInputError, match="Cannot compress and decompress at the same time"):
        parse(dest_compress=True, dest_decompress=True)
    assert parse(dest_decompress=True)[0] is LayerCompression.DECOMPRESS
