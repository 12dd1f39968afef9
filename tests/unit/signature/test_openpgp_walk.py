"""`signature.openpgp`: reading a signed message's content and key ID without verifying it,
on packets built here from RFC 4880 (the gpg-made ones are compared with skopeo in
tests/integration/test_hidden_commands.py)."""

from __future__ import annotations

import bz2
import zlib

import pytest

from toolkit.errors import InvalidSignatureError
from toolkit.limits import MAX_SIGNATURE_SIZE
from toolkit.signature.openpgp import untrusted_signature_contents

KEY_ID = bytes.fromhex("0123456789abcdef")


def old_packet(tag: int, body: bytes, *, indeterminate: bool = False) -> bytes:
    if indeterminate:
        return bytes([0x80 | tag << 2 | 3]) + body
    return bytes([0x80 | tag << 2 | 2]) + len(body).to_bytes(4, "big") + body


def new_packet(tag: int, body: bytes, *, partial: bool = False) -> bytes:
    head = bytes([0xC0 | tag])
    if partial:  # a 512-byte partial chunk, then the rest with a 4-byte length
        assert len(body) > 512
        return head + bytes([224 + 9]) + body[:512] + b"\xff" + (len(body) - 512).to_bytes(4, "big") + body[512:]
    if len(body) < 192:
        return head + bytes([len(body)]) + body
    if len(body) < 8384:
        n = len(body) - 192
        return head + bytes([(n >> 8) + 192, n & 0xFF]) + body
    return head + b"\xff" + len(body).to_bytes(4, "big") + body


def one_pass(*, version: int = 3, hash_id: int = 8, sig_type: int = 0, last: int = 1) -> bytes:
    return old_packet(4, bytes([version, sig_type, hash_id, 1]) + KEY_ID + bytes([last]))


def literal(content: bytes) -> bytes:
    return new_packet(11, b"b\x03abc" + b"\x00\x00\x00\x00" + content)


def trailer() -> bytes:
    return old_packet(2, b"\x04garbage signature, never checked")


@pytest.mark.parametrize("wrap", ["plain", "zip", "zlib", "bzip2", "nested", "indeterminate", "partial"])
def test_content_and_key_id(wrap: str) -> None:
    content = b'{"x": 1}' * 100
    inner = one_pass() + literal(content) + trailer()
    if wrap == "plain":
        blob = inner
    elif wrap == "zip":
        comp = zlib.compressobj(wbits=-15)
        blob = old_packet(8, b"\x01" + comp.compress(inner) + comp.flush())
    elif wrap == "zlib":
        blob = new_packet(8, b"\x02" + zlib.compress(inner))
    elif wrap == "bzip2":
        blob = new_packet(8, b"\x03" + bz2.compress(inner))
    elif wrap == "nested":
        blob = new_packet(8, b"\x02" + zlib.compress(new_packet(8, b"\x02" + zlib.compress(inner))))
    elif wrap == "indeterminate":
        blob = old_packet(8, b"\x02" + zlib.compress(inner), indeterminate=True)
    else:
        blob = one_pass() + new_packet(11, b"b\x00\x00\x00\x00\x00" + content, partial=True)
    # Packets before the message (a marker, a stray signature) are skipped, as Go does.
    blob = new_packet(10, b"PGP") + blob
    assert untrusted_signature_contents(blob) == (content, "0123456789ABCDEF")


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "^EOF$"),
        (b"hello", "tag byte does not have MSB set"),
        (literal(b"{}"), "The input is not a signature"),
        (one_pass(version=4) + literal(b"{}"), "one-pass-signature packet version 4"),
        (one_pass(hash_id=99) + literal(b"{}"), "hash function: 99"),
        (one_pass(hash_id=3) + literal(b"{}"), "hash not available"),
        (one_pass(sig_type=0x13) + literal(b"{}"), "unsupported signature type: 19"),
        (one_pass(last=0) + literal(b"{}"), "nested signatures"),
        (one_pass()[:-3], "unexpected EOF"),
        (old_packet(1, b"\x03" + b"\x00" * 20) + literal(b"{}"), "incorrect key"),
        (new_packet(8, b"\x07xx"), "unknown compression algorithm: 7"),
        (new_packet(8, b"\x02not zlib"), "decompressing"),
        (new_packet(8, b"\x02" + zlib.compress(b"\x00" * (MAX_SIGNATURE_SIZE + 10))), "exceeds the maximum"),
    ],
)
def test_refusals(blob: bytes, match: str) -> None:
    with pytest.raises(InvalidSignatureError, match=match):
        untrusted_signature_contents(blob)


def test_depth_is_bounded() -> None:
    blob = one_pass() + literal(b"{}")
    for _ in range(40):
        blob = new_packet(8, b"\x02" + zlib.compress(blob))
    with pytest.raises(InvalidSignatureError, match="too many layers of packets"):
        untrusted_signature_contents(blob)
