"""A throwaway certificate authority and server certificates, made with `cryptography`.

EC P-256 keys keep generation fast (milliseconds). The server certificate names both
`127.0.0.1` and `localhost`, so clients may use either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from helpers.certs import build_certificate, distinguished_name, ec_key, key_usage, pem, pem_key

__all__ = ["CertificateAuthority", "ServerCert", "make_ca", "make_server_cert"]


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA: its certificate and key, in memory and as PEM files in `directory`.

    `cert_dir` holds only `ca.crt`, usable as skopeo's `--*-cert-dir` / a certs.d entry.
    """

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    directory: Path
    cert_path: Path
    cert_dir: Path

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return pem(self.cert)


@dataclass(frozen=True)
class ServerCert:
    """A server certificate and key signed by a `CertificateAuthority`, as PEM files."""

    cert_path: Path
    key_path: Path


def make_ca(directory: Path, common_name: str = "skopo test CA") -> CertificateAuthority:
    """Create a CA under `directory` (made if needed) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec_key()
    cert = build_certificate(
        subject=distinguished_name(common_name),
        public_key=key.public_key(),
        signer=key,
        ca=True,
        path_length=0,
        usage=key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
        extensions=[(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)],
    )
    cert_path = directory / "ca.pem"
    cert_path.write_bytes(pem(cert))
    (directory / "ca.key").write_bytes(pem_key(key))
    cert_dir = directory / "cert-dir"
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / "ca.crt").write_bytes(pem(cert))
    return CertificateAuthority(
        cert=cert, key=key, directory=directory, cert_path=cert_path, cert_dir=cert_dir
    )


def make_server_cert(
    ca: CertificateAuthority,
    directory: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    stem: str = "server",
) -> ServerCert:
    """Issue a server certificate for the given names; write `<stem>.crt` and `<stem>.key`."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec_key()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    cert = build_certificate(
        subject=distinguished_name(dns_names[0] if dns_names else ip_addresses[0]),
        public_key=key.public_key(),
        signer=ca.key,
        issuer=ca.cert.subject,
        ca=False,
        extensions=[
            (x509.SubjectAlternativeName(sans), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False),
        ],
    )
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(pem(cert))
    key_path.write_bytes(pem_key(key))
    key_path.chmod(0o600)
    return ServerCert(cert_path=cert_path, key_path=key_path)
