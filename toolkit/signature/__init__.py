"""Image signatures: the storage blob format, simple-signing payloads, GPG (layer 3).

The blob format is containers/image `internal/signature/signature.go` (skopeo-reference.md
§5.3), used by `dir:` (`signature-N`), lookaside files and containers-storage:

- a simple-signing signature is stored raw: its first byte is an OpenPGP packet tag
  (compressed data, one-pass signature or signature packet);
- any other format is `\\x00` + format name + `\\n` + data; known names are
  `simple-signing` and `sigstore-json` (data: JSON `{"mimeType", "payload" (base64),
  "annotations"}`).

`parse_signature_blob(blob)` returns a `SimpleSigning`, a `Sigstore` or an
`UnknownSignature` (a well-formed blob of a format skopo does not know); it raises
`SignatureError` for a blob that is not in the format at all. `serialize_signature` is its
inverse. Every field of a parsed signature is untrusted until a policy requirement has
verified it.

Submodules: `toolkit.signature.simple` (payloads, verification rules),
`toolkit.signature.gpg` (the only user of gpg / python-gnupg).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from toolkit.errors import SignatureError
from toolkit.limits import MAX_SIGNATURE_SIZE

__all__ = [
    "SIMPLE_SIGNING_FORMAT",
    "SIGSTORE_FORMAT",
    "SIGSTORE_PAYLOAD_MIME_TYPE",
    "Signature",
    "SimpleSigning",
    "Sigstore",
    "UnknownSignature",
    "parse_signature_blob",
    "serialize_signature",
]

SIMPLE_SIGNING_FORMAT: Final = "simple-signing"
SIGSTORE_FORMAT: Final = "sigstore-json"
SIGSTORE_PAYLOAD_MIME_TYPE: Final = "application/vnd.dev.cosign.simplesigning.v1+json"

# First bytes of an OpenPGP message as containers/image recognises them: compressed data
# (0xA0-0xA3, 0xC8), one-pass signature (0x90-0x92, 0xC4; c/image also lists 0x3D, a typo
# for 0x93 that we keep so both tools classify every blob the same way) and signature
# packets (0x88-0x8B, 0xC2).
_OPENPGP_FIRST_BYTES: Final = frozenset(
    {0xA0, 0xA1, 0xA2, 0xA3, 0xC8, 0x90, 0x91, 0x92, 0x3D, 0xC4, 0x88, 0x89, 0x8A, 0x8B, 0xC2}
)
_EMPTY: Mapping[str, str] = MappingProxyType({})
_SIGSTORE_PREFIX: Final = b"\x00" + SIGSTORE_FORMAT.encode() + b"\n"
#: A sigstore blob: a payload of at most 4 MiB after base64, annotations, the prefix
#: (the same bound as `toolkit.signature.sigstore.MAX_SIGSTORE_BLOB_SIZE` + prefix).
_MAX_SIGSTORE_BLOB: Final = 2 * MAX_SIGNATURE_SIZE + len(_SIGSTORE_PREFIX)


@dataclass(frozen=True, slots=True)
class SimpleSigning:
    """A GPG simple-signing signature: an OpenPGP signed message (untrusted bytes)."""

    untrusted_blob: bytes

    @property
    def format_name(self) -> str:
        return SIMPLE_SIGNING_FORMAT


@dataclass(frozen=True, slots=True)
class Sigstore:
    """A sigstore signature as stored outside a registry (untrusted values)."""

    untrusted_mime_type: str
    untrusted_payload: bytes
    untrusted_annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    @property
    def format_name(self) -> str:
        return SIGSTORE_FORMAT


@dataclass(frozen=True, slots=True)
class UnknownSignature:
    """A well-formed blob of a format skopo does not know; kept so it can be copied as is."""

    name: str
    data: bytes

    @property
    def format_name(self) -> str:
        return self.name


Signature = SimpleSigning | Sigstore | UnknownSignature


def parse_signature_blob(blob: bytes) -> Signature:
    """Classify an untrusted signature blob (see the module docstring).

    Raises `SignatureError` for an empty or oversized blob, an unknown first byte, a
    missing newline or a non-printable format name, or malformed sigstore JSON. A
    sigstore blob may hold a 4 MiB payload after base64 (`MAX_SIGSTORE_BLOB_SIZE`); other
    formats are capped at `MAX_SIGNATURE_SIZE`. Unknown fields of the sigstore JSON are
    ignored, as containers/image does.
    """
    blob = bytes(blob)
    if not blob:
        raise SignatureError("empty signature blob")
    limit = _MAX_SIGSTORE_BLOB if blob.startswith(_SIGSTORE_PREFIX) else MAX_SIGNATURE_SIZE
    if len(blob) > limit:
        raise SignatureError(f"signature blob exceeded maximum allowed size of {limit} bytes")
    first = blob[0]
    if first in _OPENPGP_FIRST_BYTES:
        return SimpleSigning(blob)
    if first != 0:
        raise SignatureError(f"unrecognized signature format, starting with binary {first:#x}")
    name_bytes, newline, data = blob[1:].partition(b"\n")
    if not newline:
        raise SignatureError("invalid signature format, missing newline")
    for b in name_bytes:
        if b < 32 or b >= 0x7F:
            raise SignatureError(f"invalid signature format, non-ASCII byte {b:#x}")
    name = name_bytes.decode("ascii")
    if name == SIMPLE_SIGNING_FORMAT:
        return SimpleSigning(data)
    if name == SIGSTORE_FORMAT:
        from toolkit.signature.sigstore import sigstore_from_blob_chunk  # cycle: sigstore imports this module

        return sigstore_from_blob_chunk(data)
    return UnknownSignature(name, data)


def serialize_signature(signature: Signature) -> bytes:
    """The storage blob of `signature` (inverse of `parse_signature_blob`); for sigstore the
    bytes containers/image writes (Go `json.Marshal`, via `sigstore.sigstore_to_blob`)."""
    if isinstance(signature, SimpleSigning):
        return signature.untrusted_blob
    if isinstance(signature, Sigstore):
        from toolkit.signature.sigstore import sigstore_to_blob  # cycle: sigstore imports this module

        return sigstore_to_blob(signature)
    return b"\x00" + signature.name.encode("ascii") + b"\n" + signature.data
