"""A small PEM reader with Go's `encoding/pem.Decode` semantics (stdlib only).

The sigstore formats are defined by Go code, so the edge cases follow Go: a block starts
at a line `-----BEGIN TYPE-----`, may carry `Key: value` headers, ends at
`-----END TYPE-----` with the same TYPE, and its body is base64 with whitespace ignored.
A malformed block is skipped and the search continues after its BEGIN line, as Go does.
`rest` after a block starts after the END line and its line ending.

Contract: inputs are untrusted bytes of any length; nothing here raises except on
programming errors. Callers turn `None` results into their own clean errors.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["PemBlock", "go_b64decode", "pem_decode", "pem_decode_all", "pem_encode"]

_BEGIN: Final = b"-----BEGIN "
_END: Final = b"-----END "
_DASHES: Final = b"-----"
_WS: Final = re.compile(rb"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class PemBlock:
    """One decoded PEM block: its TYPE, its headers and the DER (or other) bytes it carries."""

    type: str
    headers: tuple[tuple[str, str], ...]
    data: bytes


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    """The line starting at `pos` (without trailing spaces, tabs and CR) and the next position."""
    end = data.find(b"\n", pos)
    if end < 0:
        line, nxt = data[pos:], len(data)
    else:
        line, nxt = data[pos:end], end + 1
    return line.rstrip(b" \t\r"), nxt


def pem_decode(data: bytes) -> tuple[PemBlock | None, bytes]:
    """Decode the first valid PEM block in `data`; return it (or None) and the bytes after it."""
    search = 0
    while True:
        start = data.find(_BEGIN, search)
        if start < 0:
            return None, data
        # Go requires BEGIN at the start of the data or of a line.
        if start > 0 and data[start - 1 : start] != b"\n":
            search = start + len(_BEGIN)
            continue
        line, pos = _line(data, start)
        if not line.endswith(_DASHES) or len(line) < len(_BEGIN) + len(_DASHES):
            search = start + len(_BEGIN)
            continue
        type_bytes = line[len(_BEGIN) : -len(_DASHES)]
        block = _decode_body(data, pos, type_bytes)
        if block is None:
            search = start + len(_BEGIN)
            continue
        return block

    # unreachable


def _decode_body(data: bytes, pos: int, type_bytes: bytes) -> tuple[PemBlock, bytes] | None:
    headers: list[tuple[str, str]] = []
    # Headers: "Key: value" lines, ended by a blank line (only if there are headers).
    probe = pos
    while True:
        line, nxt = _line(data, probe)
        if b":" not in line or line.startswith(_END):
            break
        key, _, value = line.partition(b":")
        try:
            headers.append((key.strip().decode("utf-8"), value.strip().decode("utf-8")))
        except UnicodeDecodeError:
            return None
        probe = nxt
    if headers:
        pos = probe
    end_marker = _END + type_bytes + _DASHES
    end = data.find(b"\n" + end_marker, pos - 1 if pos > 0 else 0)
    if end < 0:
        # The END line may directly follow BEGIN when the body is empty.
        if data[pos:].startswith(end_marker):
            end = pos - 1
        else:
            return None
    body = data[pos : max(end, pos)]
    after_end = end + 1 + len(end_marker)
    # The END line may carry trailing spaces/tabs only.
    tail, rest_pos = _line(data, after_end)
    if tail:
        return None
    try:
        der = base64.b64decode(_WS.sub(b"", body), validate=True)
        type_text = type_bytes.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return PemBlock(type=type_text, headers=tuple(headers), data=der), data[rest_pos:]


def pem_decode_all(data: bytes) -> list[PemBlock]:
    """Every valid PEM block in `data`, in order."""
    out: list[PemBlock] = []
    rest = data
    while True:
        block, rest = pem_decode(rest)
        if block is None:
            return out
        out.append(block)


def pem_encode(block_type: str, data: bytes) -> bytes:
    """Go's `pem.EncodeToMemory` for a block without headers (64-character lines)."""
    b64 = base64.b64encode(data)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {block_type}-----\n".encode()
    tail = f"-----END {block_type}-----\n".encode()
    return head + b"".join(line + b"\n" for line in lines) + tail


def go_b64decode(text: str | bytes) -> bytes:
    """Go's `base64.StdEncoding.DecodeString`: padded standard alphabet; CR and LF are ignored.

    Raises `ValueError` (binascii.Error) on anything else.
    """
    data = text.encode("ascii", errors="strict") if isinstance(text, str) else text
    return base64.b64decode(data.replace(b"\r", b"").replace(b"\n", b""), validate=True)
