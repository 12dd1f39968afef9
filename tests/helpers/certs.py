"""X.509 certificates for tests, made with `cryptography`: one builder for all of them.

`helpers.tls` (the TLS registries' CA and server certificates), `helpers.token_issuer`
(the token signer) and the Fulcio tests (roots, intermediates, leaves) all build their
certificates with `build_certificate`, each adding the extensions its case needs.

- `build_certificate(subject=..., public_key=..., signer=...)`: self-signed unless `issuer`
  names the signer's subject; valid from a day ago for 30 days unless told otherwise;
  optional basic constraints, key usage (both critical, as CAs write them) and any other
  extensions.
- `key_usage(...)`: a `KeyUsage` with only the named bits set.
- `distinguished_name(cn, organization=...)`: a subject or issuer name.
- `CertAndKey`: a certificate with its private key, and its PEM.
- `ec_key()`, `pem(cert)`, `pem_key(key)`: small conveniences.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CertAndKey", "build_certificate", "distinguished_name", "ec_key", "key_usage", "pem", "pem_key"]

_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class CertAndKey:
    """A certificate and its private key."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        """The certificate as PEM."""
        return pem(self.cert)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """A fresh EC key (P-256 unless `curve`): generated in milliseconds."""
    return ec.generate_private_key(curve or ec.SECP256R1())


def distinguished_name(cn: str, *, organization: str | None = None) -> x509.Name:
    """`O=organization, CN=cn` (without O when `organization` is None)."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization is not None:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    """A `KeyUsage` extension with only these bits set."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build_certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    ca: bool | None = None,
    path_length: int | None = None,
    usage: x509.KeyUsage | None = None,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    """A certificate for `public_key`, signed by `signer` (self-signed when `issuer` is None).

    Validity: `not_before` (default: a day ago) to `not_after` (default: 30 days from now).
    `ca` not None adds critical basic constraints (`path_length` only for a CA); `usage`
    adds a critical key usage; `extensions` are `(extension, critical)` pairs, in order.
    Signed with SHA-256 unless `hash_algorithm`.
    """
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before if not_before is not None else now - _ONE_DAY)
        .not_valid_after(not_after if not_after is not None else now + 30 * _ONE_DAY)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True
        )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hash_algorithm or hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    """`cert` as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """`key` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
