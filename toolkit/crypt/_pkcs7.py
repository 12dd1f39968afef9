"""PKCS#7 key wrapping (ocicrypt `keywrap/pkcs7`, Go's `pkcs7.Encrypt` / `Decrypt`).

`wrap(certificates, data)` writes a DER ContentInfo(EnvelopedData): one RecipientInfo per
(RSA) certificate, issuer and serial number copied from it, the 16-byte content key
encrypted with RSA PKCS#1 v1.5, the content with AES-128-GCM. The GCM parameters are
written as Go's pkcs7 writes them (the parameters SEQUENCE carried inside a *primitive*
tag 0x10, the nonce tagged [4] IMPLICIT), which is the only form Go's reader understands.

`unwrap(message, keys, certificates)` reads ContentInfo(EnvelopedData) with RSA PKCS#1 v1.5
or RSAES-OAEP recipients and AES-128/256-GCM (parameters in either form) or AES-128/192/
256-CBC content. A RecipientInfo is tried with a key when a certificate of that key names
it (issuer and serial, as ocicrypt requires), or, when no certificate of the key was given,
with every RecipientInfo. Returns the plaintext, or None when no key opens it. The message
is untrusted: malformed DER returns None, never raises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from toolkit.crypt._keys import PrivateKey

__all__ = ["wrap", "unwrap"]

log = logging.getLogger(__name__)

_OID_ENVELOPED: Final = "1.2.840.113549.1.7.3"
_OID_DATA: Final = "1.2.840.113549.1.7.1"
_OID_RSA: Final = "1.2.840.113549.1.1.1"
_OID_RSA_OAEP: Final = "1.2.840.113549.1.1.7"
_GCM: Final = {"2.16.840.1.101.3.4.1.6": 16, "2.16.840.1.101.3.4.1.26": 24, "2.16.840.1.101.3.4.1.46": 32}
_CBC: Final = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24, "2.16.840.1.101.3.4.1.42": 32}
_MAX_MESSAGE: Final = 1 << 20


# -------------------------------------------------------------------------------- DER


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _integer(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return _tlv(0x02, raw)


class _DER:
    """A cursor over DER bytes; every method raises ValueError on malformed input."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def peek_tag(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("unexpected end of DER")
        return self.data[self.pos]

    def read(self, tag: int | None = None) -> tuple[int, bytes, bytes]:
        """(tag, content, whole TLV) of the next element."""
        start = self.pos
        data = self.data
        if self.pos + 2 > len(data):
            raise ValueError("truncated DER")
        got = data[self.pos]
        if got & 0x1F == 0x1F:
            raise ValueError("multi-byte DER tags are not used here")
        first = data[self.pos + 1]
        self.pos += 2
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or count > 4 or self.pos + count > len(data):
                raise ValueError("bad DER length")
            size = int.from_bytes(data[self.pos : self.pos + count], "big")
            self.pos += count
        else:
            size = first
        if self.pos + size > len(data):
            raise ValueError("DER element runs past its container")
        content = data[self.pos : self.pos + size]
        self.pos += size
        if tag is not None and got != tag:
            raise ValueError(f"expected DER tag {tag:#x}, got {got:#x}")
        return got, content, data[start : self.pos]


def _read_oid(content: bytes) -> str:
    if not content:
        raise ValueError("empty OID")
    parts = [min(content[0] // 40, 2)]
    parts.append(content[0] - 40 * parts[0])
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


# ---------------------------------------------------------------------------- wrapping


def wrap(certificates: Sequence[x509.Certificate], data: bytes) -> bytes:
    """DER ContentInfo(EnvelopedData) of `data` for `certificates` (RSA, at least one)."""
    key = os.urandom(16)
    nonce = os.urandom(12)
    infos = []
    for cert in certificates:
        public = cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        issuer_serial = _tlv(0x30, cert.issuer.public_bytes() + _integer(cert.serial_number))
        infos.append(_tlv(0x30, _integer(0) + issuer_serial + _tlv(0x30, _oid(_OID_RSA))
                          + _tlv(0x04, public.encrypt(key, asym_padding.PKCS1v15()))))
    sealed = AESGCM(key).encrypt(nonce, data, None)
    # Go's pkcs7 quirks: asn1.RawValue{Tag: TagSequence, Bytes: params} -> primitive tag 0x10,
    # and the nonce field is tagged `asn1:"tag:4"` -> [4] IMPLICIT (0x84), not an OCTET STRING.
    params = _tlv(0x10, _tlv(0x30, _tlv(0x84, nonce) + _integer(16)))
    algorithm = _tlv(0x30, _oid("2.16.840.1.101.3.4.1.6") + params)
    content = _tlv(0x30, _oid(_OID_DATA) + algorithm + _tlv(0xA0, _tlv(0x04, sealed)))
    enveloped = _tlv(0x30, _integer(0) + _tlv(0x31, b"".join(sorted(infos))) + content)
    return _tlv(0x30, _oid(_OID_ENVELOPED) + _tlv(0xA0, enveloped))


# -------------------------------------------------------------------------- unwrapping


class _Recipient:
    def __init__(self, issuer_serial: bytes | None, oaep: bool, encrypted_key: bytes) -> None:
        self.issuer_serial = issuer_serial
        self.oaep = oaep
        self.encrypted_key = encrypted_key


def _parse(message: bytes) -> tuple[list[_Recipient], str, bytes, bytes]:
    """(recipients, content algorithm OID, its parameters' content, encrypted content)."""
    if len(message) > _MAX_MESSAGE:
        raise ValueError("too large")
    outer = _DER(message)
    _, info, _ = outer.read(0x30)
    info_der = _DER(info)
    if _read_oid(info_der.read(0x06)[1]) != _OID_ENVELOPED:
        raise ValueError("not EnvelopedData")
    _, explicit, _ = info_der.read(0xA0)
    _, env, _ = _DER(explicit).read(0x30)
    env_der = _DER(env)
    env_der.read(0x02)  # version
    if env_der.peek_tag() == 0xA0:
        env_der.read()  # originatorInfo
    _, recipient_set, _ = env_der.read(0x31)
    recipients = []
    rset = _DER(recipient_set)
    while rset.more():
        _, ri, _ = rset.read(0x30)
        rd = _DER(ri)
        rd.read(0x02)
        tag, _, whole = rd.read()
        issuer_serial = whole if tag == 0x30 else None
        _, alg, _ = rd.read(0x30)
        oid = _read_oid(_DER(alg).read(0x06)[1])
        if oid not in (_OID_RSA, _OID_RSA_OAEP):
            continue
        _, encrypted_key, _ = rd.read(0x04)
        recipients.append(_Recipient(issuer_serial, oid == _OID_RSA_OAEP, encrypted_key))
    _, eci, _ = env_der.read(0x30)
    ed = _DER(eci)
    ed.read(0x06)
    _, alg, _ = ed.read(0x30)
    ad = _DER(alg)
    content_oid = _read_oid(ad.read(0x06)[1])
    params = ad.read()[1] if ad.more() else b""
    tag, body, _ = ed.read()
    if tag == 0x80:
        encrypted = body
    elif tag == 0xA0:
        parts = []
        bd = _DER(body)
        while bd.more():
            parts.append(bd.read(0x04)[1])
        encrypted = b"".join(parts)
    else:
        raise ValueError("no encrypted content")
    return recipients, content_oid, params, encrypted


def _gcm_nonce(params: bytes) -> tuple[bytes, int]:
    der = _DER(params)
    if der.peek_tag() == 0x30:  # Go's form carries the whole SEQUENCE as the content
        der = _DER(der.read(0x30)[1])
    tag, nonce, _ = der.read()
    if tag not in (0x04, 0x84):  # OCTET STRING (RFC 5084), or Go's [4] IMPLICIT
        raise ValueError("bad GCM nonce")
    icv = 12
    if der.more():
        raw = der.read(0x02)[1]
        icv = int.from_bytes(raw, "big")
    return nonce, icv


def _decrypt_content(oid: str, params: bytes, key: bytes, encrypted: bytes) -> bytes | None:
    try:
        if oid in _GCM:
            if len(key) != _GCM[oid]:
                return None
            nonce, icv = _gcm_nonce(params)
            if icv != 16:
                return None
            return AESGCM(key).decrypt(nonce, encrypted, None)
        if oid in _CBC:
            if len(key) != _CBC[oid]:
                return None
            iv = _DER(params).read(0x04)[1]
            if len(iv) != 16 or len(encrypted) % 16:
                return None
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            return unpadder.update(decryptor.update(encrypted) + decryptor.finalize()) + unpadder.finalize()
    except (InvalidTag, ValueError):
        return None
    return None


def _issuer_serial(cert: x509.Certificate) -> bytes:
    return _tlv(0x30, cert.issuer.public_bytes() + _integer(cert.serial_number))


def _rsa_numbers(cert: x509.Certificate) -> rsa.RSAPublicNumbers | None:
    key = cert.public_key()
    return key.public_numbers() if isinstance(key, rsa.RSAPublicKey) else None


def unwrap(message: bytes, keys: Sequence[PrivateKey], certificates: Sequence[x509.Certificate]) -> bytes | None:
    """The plaintext of a PKCS#7 EnvelopedData for the first key that opens it, else None."""
    try:
        recipients, oid, params, encrypted = _parse(message)
    except ValueError as exc:
        log.debug("PKCS7: could not parse PKCS7 packet: %s", exc)
        return None
    for key in keys:
        if not isinstance(key, rsa.RSAPrivateKey):
            continue
        public = key.public_key().public_numbers()
        named = {_issuer_serial(c) for c in certificates if _rsa_numbers(c) == public}
        for recipient in recipients:
            if named and recipient.issuer_serial not in named:
                continue
            scheme = (asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
                      if recipient.oaep else asym_padding.PKCS1v15())
            try:
                content_key = key.decrypt(recipient.encrypted_key, scheme)
            except ValueError:
                continue
            plain = _decrypt_content(oid, params, content_key, encrypted)
            if plain is not None:
                return plain
    return None
