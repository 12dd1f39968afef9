"""Reading an OpenPGP signed message WITHOUT verifying it (no cryptography at all).

containers/image `gpgUntrustedSignatureContents` reads a simple-signing signature with Go's
`x/crypto/openpgp.ReadMessage` and no keys, to show what a signature *claims* before anyone
trusts it (`skopo untrusted-signature-dump-without-verification`). This module walks the
packets the same way:

- packet headers in the old and the new format (1-, 2-, 4-byte, indeterminate and partial
  body lengths); a first byte without its high bit is "tag byte does not have MSB set";
- before the message proper, packets of other types (markers, keys, stray signatures) are
  skipped, as are unknown tags; encrypted messages are refused (nothing here decrypts);
- a compressed data packet (ZIP, ZLIB, BZip2) is opened and its packets read in turn (at
  most 32 levels deep, as Go); the output of all decompression is capped at
  `MAX_SIGNATURE_SIZE` (Go has no cap: a compression bomb stops here);
- a one-pass signature packet (version 3, a hash Go knows, a binary or text signature)
  names the key ID; it must be the last one (Go refuses nested signatures);
- the first literal data packet holds the content. Whatever follows it (the signature
  packet) is not checked, as Go's reader records but does not return that error.

`untrusted_signature_contents(blob)` returns `(content, key_id)`, the key ID as 16
uppercase hex digits, or raises `InvalidSignatureError` with Go's `openpgp:` messages
(`The input is not a signature` when no one-pass signature packet precedes the content).
Every byte of the input and of the result is untrusted. Standard library only.
"""

from __future__ import annotations

import bz2
import zlib
from typing import Final

from toolkit.errors import InvalidSignatureError
from toolkit.limits import MAX_SIGNATURE_SIZE

__all__ = ["untrusted_signature_contents"]

_TAG_SYMMETRIC_KEY_ENCRYPTED: Final = 3
_TAG_ONE_PASS_SIGNATURE: Final = 4
_TAG_COMPRESSED: Final = 8
_TAG_SYMMETRICALLY_ENCRYPTED: Final = 9
_TAG_LITERAL_DATA: Final = 11
_TAG_SYMMETRICALLY_ENCRYPTED_MDC: Final = 18
_TAG_ENCRYPTED_KEY: Final = 1
_ENCRYPTED_TAGS: Final = frozenset(
    {_TAG_ENCRYPTED_KEY, _TAG_SYMMETRIC_KEY_ENCRYPTED, _TAG_SYMMETRICALLY_ENCRYPTED, _TAG_SYMMETRICALLY_ENCRYPTED_MDC}
)
#: OpenPGP hash IDs Go's `s2k.HashIdToHash` maps (MD5, SHA-1, RIPEMD-160, SHA-2).
_KNOWN_HASHES: Final = frozenset({1, 2, 3, 8, 9, 10, 11})
#: ... and of those, the ones a Go binary has linked in (`crypto.Hash.Available`).
_AVAILABLE_HASHES: Final = frozenset({1, 2, 8, 9, 10, 11})
_MAX_DEPTH: Final = 32


def _invalid(message: str) -> InvalidSignatureError:
    return InvalidSignatureError(f"openpgp: invalid data: {message}")


def _unsupported(message: str) -> InvalidSignatureError:
    return InvalidSignatureError(f"openpgp: unsupported feature: {message}")


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """Every (tag, body) of `data`, in order (Go `packet.Read` framing)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        first = data[pos]
        pos += 1
        if not first & 0x80:
            raise _invalid("tag byte does not have MSB set")
        if first & 0x40:  # new format
            tag = first & 0x3F
            body = bytearray()
            while True:
                if pos >= len(data):
                    raise InvalidSignatureError("unexpected EOF")
                octet = data[pos]
                pos += 1
                if octet < 192:
                    length, partial = octet, False
                elif octet < 224:
                    if pos >= len(data):
                        raise InvalidSignatureError("unexpected EOF")
                    length, partial = ((octet - 192) << 8) + data[pos] + 192, False
                    pos += 1
                elif octet < 255:
                    length, partial = 1 << (octet & 0x1F), True
                else:
                    if pos + 4 > len(data):
                        raise InvalidSignatureError("unexpected EOF")
                    length, partial = int.from_bytes(data[pos : pos + 4], "big"), False
                    pos += 4
                if pos + length > len(data):
                    raise InvalidSignatureError("unexpected EOF")
                body += data[pos : pos + length]
                pos += length
                if not partial:
                    break
            out.append((tag, bytes(body)))
            continue
        tag = (first & 0x3F) >> 2
        length_type = first & 3
        if length_type == 3:  # indeterminate: to the end of the data
            out.append((tag, data[pos:]))
            break
        size = 1 << length_type
        if pos + size > len(data):
            raise InvalidSignatureError("unexpected EOF")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
        if pos + length > len(data):
            raise InvalidSignatureError("unexpected EOF")
        out.append((tag, data[pos : pos + length]))
        pos += length
    return out


def _decompress(body: bytes) -> bytes:
    """A compressed data packet's content, at most `MAX_SIGNATURE_SIZE` bytes."""
    if not body:
        raise InvalidSignatureError("unexpected EOF")
    algorithm, data = body[0], body[1:]
    limit = MAX_SIGNATURE_SIZE + 1
    try:
        if algorithm in (1, 2):
            decompressor = zlib.decompressobj(-15 if algorithm == 1 else 15)
            out = decompressor.decompress(data, limit)
        elif algorithm == 3:
            bz = bz2.BZ2Decompressor()
            out = bz.decompress(data, max_length=limit)
        else:
            raise _unsupported(f"unknown compression algorithm: {algorithm}")
    except (zlib.error, OSError, EOFError) as exc:
        raise InvalidSignatureError(f"openpgp: decompressing: {exc}") from None
    if len(out) >= limit:
        raise InvalidSignatureError(f"the signed content exceeds the maximum of {MAX_SIGNATURE_SIZE} bytes")
    return out


def _one_pass_key_id(body: bytes) -> str:
    """Go `OnePassSignature.parse` and `hashForSignature`: the key ID, or Go's refusal."""
    if len(body) < 13:
        raise InvalidSignatureError("unexpected EOF")
    if body[0] != 3:
        raise _unsupported(f"one-pass-signature packet version {body[0]}")
    sig_type, hash_id = body[1], body[2]
    if hash_id not in _KNOWN_HASHES:
        raise _unsupported(f"hash function: {hash_id}")
    if not body[12]:
        raise _unsupported("nested signatures")
    if hash_id not in _AVAILABLE_HASHES:
        raise _unsupported(f"hash not available: {hash_id}")
    if sig_type not in (0, 1):
        raise _unsupported(f"unsupported signature type: {sig_type}")
    return body[4:12].hex().upper()


def _literal_content(body: bytes) -> bytes:
    """A literal data packet: format, file name, date, then the content."""
    if len(body) < 2 or len(body) < 2 + body[1] + 4:
        raise InvalidSignatureError("unexpected EOF")
    return body[2 + body[1] + 4 :]


def untrusted_signature_contents(untrusted_blob: bytes) -> tuple[bytes, str]:
    """The content and the claimed signing key ID of a signed message; nothing verified."""
    stack = [_packets(untrusted_blob)]
    started = False
    key_id: str | None = None
    while stack:
        if not stack[-1]:
            stack.pop()
            continue
        tag, body = stack[-1].pop(0)
        if not started:
            if tag in _ENCRYPTED_TAGS:
                raise InvalidSignatureError("openpgp: incorrect key")  # Go, for an encrypted message and no key
            if tag not in (_TAG_COMPRESSED, _TAG_LITERAL_DATA, _TAG_ONE_PASS_SIGNATURE):
                continue  # Go's ReadMessage skips what precedes the message
            started = True
        if tag == _TAG_COMPRESSED:
            if len(stack) >= _MAX_DEPTH:
                raise _unsupported("too many layers of packets")
            stack.append(_packets(_decompress(body)))
        elif tag == _TAG_ONE_PASS_SIGNATURE:
            key_id = _one_pass_key_id(body)
        elif tag == _TAG_LITERAL_DATA:
            if key_id is None:
                raise InvalidSignatureError("The input is not a signature")
            return _literal_content(body), key_id
    raise InvalidSignatureError("EOF")
