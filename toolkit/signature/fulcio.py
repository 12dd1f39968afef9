"""Certificate-based sigstore trust: Fulcio (keyless) and `pki` (a private CA).

Both follow containers/image (`signature/fulcio_cert.go`, `signature/pki_cert.go`):

- The signer's leaf certificate comes from the `dev.sigstore.cosign/certificate`
  annotation (exactly one PEM certificate); the `dev.sigstore.cosign/chain` annotation is
  a PEM chain whose certificates, except the last one (the root, never trusted from the
  signature), may serve as intermediates.
- Fulcio: the chain must lead to one of the policy's CA certificates and be valid at the
  Rekor SET's integrated time (the leaf lives ~10 minutes); the OIDC issuer comes from the
  Fulcio extensions 1.3.6.1.4.1.57264.1.1 (raw string) and 1.3.6.1.4.1.57264.1.8 (DER
  string), which must agree when both are present, and must equal `oidcIssuer`; the SAN
  e-mail addresses must contain `subjectEmail`.
- PKI: the chain leads to `caRoots` through the signature's and the policy's
  intermediates, valid now; `subjectEmail` must be a SAN e-mail and `subjectHostname` must
  match a SAN DNS name (Go's `VerifyHostname` rules; IP addresses against SAN IPs).

Chain validation is done here with `cryptography` primitives, mirroring Go's
`x509.Certificate.Verify`: every certificate valid at the given time; signatures checked
with the issuer's key (MD5/SHA-1 signatures refused); intermediates must be CAs (basic
constraints), must allow certificate signing when they carry a key usage extension (RFC
5280; Go does not check this), and their path-length limits hold; every certificate
carrying an extended key usage extension must allow code signing (or any); name
constraints on DNS names and e-mail addresses are enforced (other name-constraint types
make the chain fail closed); unknown critical extensions are refused. Chain building is
bounded (depth, signature checks, certificate counts) so hostile input cannot make it
expensive. Every refusal is an `InvalidSignatureError` stating the reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier

from toolkit.errors import InvalidInputError, InvalidSignatureError, PolicyError, safe_text
from toolkit.signature._pem import pem_decode_all
from toolkit.signature.sigstore_keys import PublicKey, check_public_key

__all__ = [
    "OID_FULCIO_ISSUER_V1",
    "OID_FULCIO_ISSUER_V2",
    "FulcioTrustRoot",
    "PKITrustRoot",
    "parse_ca_certificates",
    "parse_certificates",
    "parse_leaf_certificate",
    "fulcio_issuer",
    "verify_chain",
]

OID_FULCIO_ISSUER_V1: Final = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OID_FULCIO_ISSUER_V2: Final = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")

#: Bounds on hostile input.
MAX_CHAIN_CERTIFICATES: Final = 32
MAX_CHAIN_DEPTH: Final = 10
MAX_SIGNATURE_CHECKS: Final = 64

# Extensions Go's x509 parser understands (others, when critical, make a certificate unusable).
_HANDLED_CRITICAL: Final = frozenset(
    {
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.INHIBIT_ANY_POLICY,
    }
)
_WEAK_HASHES: Final = (hashes.MD5, hashes.SHA1)


# --- parsing --------------------------------------------------------------------------------------------------


def parse_certificates(untrusted_pem: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate of an untrusted PEM bundle; at least one; all must parse.

    Raises `InvalidSignatureError` naming `what` for a non-certificate block, an
    unparsable certificate, more than `MAX_CHAIN_CERTIFICATES`, or no PEM data.
    """
    blocks = pem_decode_all(untrusted_pem)
    if not blocks:
        raise InvalidSignatureError(f"{what}: no PEM certificate found")
    if len(blocks) > MAX_CHAIN_CERTIFICATES:
        raise InvalidSignatureError(f"{what}: more than {MAX_CHAIN_CERTIFICATES} certificates")
    out = []
    for block in blocks:
        if block.type != "CERTIFICATE":
            raise InvalidSignatureError(f'{what}: unexpected PEM block type "{safe_text(block.type, 80)}"')
        try:
            out.append(x509.load_der_x509_certificate(block.data))
        except ValueError as exc:
            raise InvalidSignatureError(f"{what}: {safe_text(str(exc), 200)}") from exc
    return out


def parse_leaf_certificate(untrusted_pem: bytes) -> x509.Certificate:
    """The single certificate of the certificate annotation (containers/image `parseLeafCertFromPEM`)."""
    certs = parse_certificates(untrusted_pem, "parsing leaf certificate")
    if len(certs) != 1:
        raise InvalidSignatureError("unexpected multiple certificates present in signature certificate data")
    return certs[0]


def parse_ca_certificates(pem_data: bytes, what: str) -> tuple[x509.Certificate, ...]:
    """Trusted CA certificates from policy data, like Go's `CertPool.AppendCertsFromPEM`.

    Blocks that are not certificates or do not parse are skipped; at least one certificate
    must load, else `PolicyError` ("error loading <what>").
    """
    out = []
    for block in pem_decode_all(pem_data):
        if block.type != "CERTIFICATE" or block.headers:
            continue
        try:
            out.append(x509.load_der_x509_certificate(block.data))
        except ValueError:
            continue
    if not out:
        raise PolicyError(f"error loading {what}")
    return tuple(out)


# --- chain verification -----------------------------------------------------------------------------------------


def _ext(cert: x509.Certificate, ext_type: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type)
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:  # duplicate or malformed extensions
        raise InvalidSignatureError(f"x509: invalid certificate extensions: {safe_text(str(exc), 200)}") from exc


def _check_extensions(cert: x509.Certificate) -> None:
    try:
        extensions = list(cert.extensions)
    except ValueError as exc:
        raise InvalidSignatureError(f"x509: invalid certificate extensions: {safe_text(str(exc), 200)}") from exc
    for ext in extensions:
        if ext.critical and ext.oid not in _HANDLED_CRITICAL:
            raise InvalidSignatureError(f"x509: unhandled critical extension {ext.oid.dotted_string}")


def _check_time(cert: x509.Certificate, at: datetime) -> None:
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if at < before:
        raise InvalidSignatureError(
            f"x509: certificate has expired or is not yet valid: current time {_fmt(at)} is before {_fmt(before)}"
        )
    if at > after:
        raise InvalidSignatureError(
            f"x509: certificate has expired or is not yet valid: current time {_fmt(at)} is after {_fmt(after)}"
        )


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(cert: x509.Certificate) -> str:
    try:
        return safe_text(cert.subject.rfc4514_string(), 200) or "(empty subject)"
    except ValueError:
        return "(unprintable subject)"


@dataclass
class _Budget:
    checks: int = MAX_SIGNATURE_CHECKS


def _issued_by(child: x509.Certificate, issuer: x509.Certificate, budget: _Budget) -> bool:
    if child.issuer != issuer.subject:
        return False
    if budget.checks <= 0:
        raise InvalidSignatureError("x509: too many candidate certificates while building the chain")
    budget.checks -= 1
    if isinstance(child.signature_hash_algorithm, _WEAK_HASHES):
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    ext = _ext(cert, x509.SubjectAlternativeName)
    return None if ext is None else ext.value  # type: ignore[return-value]


def _emails(cert: x509.Certificate) -> list[str]:
    san = _san(cert)
    if san is None:
        return []
    try:
        return [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    except (ValueError, UnicodeError):
        return []


def _dns_names(cert: x509.Certificate) -> list[str]:
    san = _san(cert)
    if san is None:
        return []
    try:
        return [str(v) for v in san.get_values_for_type(x509.DNSName)]
    except (ValueError, UnicodeError):
        return []


def _match_domain_constraint(domain: str, constraint: str) -> bool:
    """Go `matchDomainConstraint`: "" matches everything; ".x" only subdomains; "x" x and subdomains."""
    if not constraint:
        return True
    domain, constraint = domain.lower().rstrip("."), constraint.lower()
    if constraint.startswith("."):
        return domain.endswith(constraint) and len(domain) > len(constraint)
    return domain == constraint or domain.endswith("." + constraint)


def _match_email_constraint(email: str, constraint: str) -> bool:
    local, _, host = email.rpartition("@")
    if "@" in constraint:
        c_local, _, c_host = constraint.rpartition("@")
        return local == c_local and host.lower() == c_host.lower()
    return _match_domain_constraint(host, constraint)


def _check_name_constraints(ca: x509.Certificate, leaf: x509.Certificate) -> None:
    ext = _ext(ca, x509.NameConstraints)
    if ext is None:
        return
    constraints: x509.NameConstraints = ext.value  # type: ignore[assignment]
    permitted = list(constraints.permitted_subtrees or [])
    excluded = list(constraints.excluded_subtrees or [])
    for general in permitted + excluded:
        if not isinstance(general, x509.DNSName | x509.RFC822Name):
            raise InvalidSignatureError(
                f"x509: unsupported name constraint type {type(general).__name__} in {_describe(ca)}"
            )
    checks: list[tuple[type[x509.GeneralName], list[str], object]] = [
        (x509.DNSName, _dns_names(leaf), _match_domain_constraint),
        (x509.RFC822Name, _emails(leaf), _match_email_constraint),
    ]
    for kind, names, matcher in checks:
        allowed = [str(g.value) for g in permitted if isinstance(g, kind)]
        denied = [str(g.value) for g in excluded if isinstance(g, kind)]
        for name in names:
            if any(matcher(name, c) for c in denied):  # type: ignore[operator]
                raise InvalidSignatureError(f'x509: "{safe_text(name, 200)}" is excluded by a name constraint')
            if allowed and not any(matcher(name, c) for c in allowed):  # type: ignore[operator]
                raise InvalidSignatureError(f'x509: "{safe_text(name, 200)}" is not permitted by a name constraint')


def _check_ca(cert: x509.Certificate, at: datetime, intermediates_below: int, *, is_root: bool) -> None:
    _check_time(cert, at)
    _check_extensions(cert)
    bc_ext = _ext(cert, x509.BasicConstraints)
    bc: x509.BasicConstraints | None = None if bc_ext is None else bc_ext.value  # type: ignore[assignment]
    if not is_root:
        if bc is None or not bc.ca:
            raise InvalidSignatureError(f"x509: {_describe(cert)} is not authorized to sign other certificates")
        ku_ext = _ext(cert, x509.KeyUsage)
        if ku_ext is not None and not ku_ext.value.key_cert_sign:  # type: ignore[attr-defined]
            raise InvalidSignatureError(f"x509: {_describe(cert)} key usage does not allow certificate signing")
    if bc is not None and bc.path_length is not None and intermediates_below > bc.path_length:
        raise InvalidSignatureError("x509: too many intermediates for path length constraint")


def _check_usage(chain: Sequence[x509.Certificate]) -> None:
    for cert in chain:
        ext = _ext(cert, x509.ExtendedKeyUsage)
        if ext is None:
            continue
        usages = list(ext.value)  # type: ignore[call-overload]
        if not usages:
            continue
        if ExtendedKeyUsageOID.CODE_SIGNING in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
            continue
        raise InvalidSignatureError("x509: certificate specifies an incompatible key usage")


def verify_chain(
    leaf: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime,
) -> list[x509.Certificate]:
    """Build and check a chain leaf -> intermediates -> one of `roots`, valid at `at`.

    Returns the chain (leaf first). Raises `InvalidSignatureError` with the most specific
    reason found ("x509: certificate signed by unknown authority" when no path exists).
    See the module docstring for the rules.
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    _check_time(leaf, at)
    _check_extensions(leaf)
    if isinstance(leaf.signature_hash_algorithm, _WEAK_HASHES):
        raise InvalidSignatureError("x509: cannot verify signature: insecure algorithm")
    budget = _Budget()
    problems: list[str] = []

    def extend(chain: list[x509.Certificate]) -> list[x509.Certificate] | None:
        current = chain[-1]
        below = len(chain) - 1  # intermediates under the next certificate
        for root in roots:
            if not _issued_by(current, root, budget):
                continue
            try:
                _check_ca(root, at, below, is_root=True)
                for ca in [*chain[1:], root]:
                    _check_name_constraints(ca, leaf)
                _check_usage([*chain, root])
            except InvalidSignatureError as exc:
                problems.append(exc.message)
                continue
            return [*chain, root]
        if len(chain) >= MAX_CHAIN_DEPTH:
            return None
        for candidate in intermediates:
            if any(candidate == c for c in chain) or not _issued_by(current, candidate, budget):
                continue
            try:
                _check_ca(candidate, at, below, is_root=False)
            except InvalidSignatureError as exc:
                problems.append(exc.message)
                continue
            found = extend([*chain, candidate])
            if found is not None:
                return found
        return None

    found = extend([leaf])
    if found is None:
        if problems:
            raise InvalidSignatureError(problems[0])
        raise InvalidSignatureError("x509: certificate signed by unknown authority")
    return found


# --- Fulcio ---------------------------------------------------------------------------------------------------


def _der_string(value: bytes) -> str:
    """An ASN.1 DER string (UTF8/Printable/IA5/Numeric/T61) with no trailing data, as Go's asn1."""
    if len(value) < 2 or value[0] not in (0x0C, 0x12, 0x13, 0x14, 0x16):
        raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension")
    length = value[1]
    pos = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count or value[2] == 0:
            raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension")
        length = int.from_bytes(value[2 : 2 + count], "big")
        if length < 0x80:
            raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension: non-minimal length")
        pos = 2 + count
    if len(value) < pos + length:
        raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension")
    if len(value) > pos + length:
        raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension, trailing data")
    try:
        return value[pos:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignatureError("invalid ASN.1 in OIDC issuer v2 extension: invalid UTF-8") from None


def fulcio_issuer(cert: x509.Certificate) -> str:
    """The OIDC issuer Fulcio recorded in `cert` (containers/image `fulcioIssuerInCertificate`)."""
    v1: str | None = None
    v2: str | None = None
    try:
        extensions = list(cert.extensions)
    except ValueError as exc:
        raise InvalidSignatureError(f"invalid certificate extensions: {safe_text(str(exc), 200)}") from exc
    for ext in extensions:
        if ext.oid == OID_FULCIO_ISSUER_V1:
            if v1 is not None:
                raise InvalidSignatureError("Fulcio certificate has a duplicate OIDC issuer v1 extension")
            raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
            v1 = raw.decode("utf-8", errors="replace")
        elif ext.oid == OID_FULCIO_ISSUER_V2:
            if v2 is not None:
                raise InvalidSignatureError("Fulcio certificate has a duplicate OIDC issuer v2 extension")
            raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
            v2 = _der_string(raw)
    if v1 is not None and v2 is not None:
        if v1 != v2:
            raise InvalidSignatureError(
                f'inconsistent OIDC issuer extension values: v1 "{safe_text(v1, 200)}", v2 "{safe_text(v2, 200)}"'
            )
        return v1
    if v1 is not None:
        return v1
    if v2 is not None:
        return v2
    raise InvalidSignatureError("Fulcio certificate is missing the issuer extension")


def _chain_intermediates(untrusted_chain_pem: bytes | None) -> list[x509.Certificate]:
    """The signature's chain minus its last certificate (the root, which we never take from it)."""
    if not untrusted_chain_pem:
        return []
    try:
        chain = parse_certificates(untrusted_chain_pem, "loading certificate chain")
    except InvalidSignatureError as exc:
        raise InvalidSignatureError(f"loading certificate chain: {exc.message}") from exc
    return chain[:-1]


def _leaf_public_key(cert: x509.Certificate) -> PublicKey:
    try:
        return check_public_key(cert.public_key(), "certificate public key")
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidSignatureError(f"certificate public key: {safe_text(str(exc), 200)}") from exc
    except InvalidInputError as exc:
        raise InvalidSignatureError(exc.message) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class FulcioTrustRoot:
    """The `fulcio` part of a `sigstoreSigned` requirement (CA certificates, issuer, email)."""

    ca_certificates: tuple[x509.Certificate, ...]
    oidc_issuer: str
    subject_email: str

    def __post_init__(self) -> None:
        if not self.ca_certificates:
            raise PolicyError("Fulcio specified without CA certificates")
        if not self.oidc_issuer:
            raise PolicyError("Fulcio use set up without OIDC issuer")
        if not self.subject_email:
            raise PolicyError("Fulcio use set up without subject email")

    @classmethod
    def from_pem(cls, ca_pem: bytes, *, oidc_issuer: str, subject_email: str) -> FulcioTrustRoot:
        """From the PEM of `caPath`/`caData`; raises `PolicyError` if nothing loads."""
        return cls(
            ca_certificates=parse_ca_certificates(ca_pem, "Fulcio CA certificates"),
            oidc_issuer=oidc_issuer,
            subject_email=subject_email,
        )

    def verify_certificate(
        self, untrusted_certificate_pem: bytes, untrusted_chain_pem: bytes | None, *, at: datetime
    ) -> PublicKey:
        """Check a Fulcio leaf certificate at `at` (the Rekor integrated time); return its key.

        Raises `InvalidSignatureError`: unparsable, untrusted or expired chain, wrong issuer,
        e-mail not in the SAN.
        """
        leaf = parse_leaf_certificate(untrusted_certificate_pem)
        intermediates = _chain_intermediates(untrusted_chain_pem)
        try:
            verify_chain(leaf, intermediates=intermediates, roots=self.ca_certificates, at=at)
        except InvalidSignatureError as exc:
            raise InvalidSignatureError(f"verifying leaf certificate failed: {exc.message}") from exc
        issuer = fulcio_issuer(leaf)
        if issuer != self.oidc_issuer:
            raise InvalidSignatureError(f'Unexpected Fulcio OIDC issuer "{safe_text(issuer, 200)}"')
        emails = _emails(leaf)
        if self.subject_email not in emails:
            raise InvalidSignatureError(
                f'Required email "{safe_text(self.subject_email, 200)}" not found (got {safe_text(repr(emails), 300)})'
            )
        return _leaf_public_key(leaf)


# --- PKI ------------------------------------------------------------------------------------------------------


def _hostname_labels(name: str) -> list[str]:
    return name.rstrip(".").lower().split(".")


def _valid_hostname(name: str, *, pattern: bool) -> bool:
    """Go `validHostname`: letters, digits, '-', '_' (and one leading '*' label for patterns)."""
    if not name or name == ".":
        return False
    labels = name.rstrip(".").split(".")
    for i, label in enumerate(labels):
        if not label:
            return False
        if pattern and i == 0 and label == "*":
            continue
        for ch in label:
            if not (ch.isascii() and (ch.isalnum() or ch in "-_")):
                return False
    return True


def _match_hostname(pattern: str, host: str) -> bool:
    p_labels, h_labels = _hostname_labels(pattern), _hostname_labels(host)
    if len(p_labels) != len(h_labels) or not pattern or not host:
        return False
    return all((i == 0 and p == "*") or p == h for i, (p, h) in enumerate(zip(p_labels, h_labels, strict=True)))


def verify_hostname(cert: x509.Certificate, host: str) -> None:
    """Go's `Certificate.VerifyHostname` (SAN only; no CommonName fallback)."""
    candidate_ip = host[1:-1] if len(host) >= 3 and host[0] == "[" and host[-1] == "]" else host
    try:
        ip = ipaddress.ip_address(candidate_ip)
    except ValueError:
        ip = None
    san = _san(cert)
    if ip is not None:
        addresses = [] if san is None else san.get_values_for_type(x509.IPAddress)
        if any(a == ip for a in addresses):
            return
        raise InvalidSignatureError(f"certificate is not valid for IP address {safe_text(candidate_ip, 100)}")
    lowered = host.lower()
    valid_input = _valid_hostname(lowered, pattern=False)
    for name in _dns_names(cert):
        if valid_input and _valid_hostname(name, pattern=True):
            if _match_hostname(name, lowered):
                return
        elif name.rstrip(".").lower() == lowered.rstrip("."):
            return
    raise InvalidSignatureError(
        f"certificate is valid for {safe_text(', '.join(_dns_names(cert)) or 'no DNS names', 300)}, "
        f'not "{safe_text(host, 200)}"'
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PKITrustRoot:
    """The `pki` part of a `sigstoreSigned` requirement."""

    ca_roots: tuple[x509.Certificate, ...]
    ca_intermediates: tuple[x509.Certificate, ...] = field(default=())
    subject_email: str = ""
    subject_hostname: str = ""

    def __post_init__(self) -> None:
        if not self.ca_roots:
            raise PolicyError("PKI specified without CA roots")
        if not self.subject_email and not self.subject_hostname:
            raise PolicyError("PKI use set up without subject email or subject hostname")

    @classmethod
    def from_pem(
        cls,
        roots_pem: bytes,
        intermediates_pem: bytes | None = None,
        *,
        subject_email: str = "",
        subject_hostname: str = "",
    ) -> PKITrustRoot:
        """From the PEM of `caRootsPath`/`caRootsData` and `caIntermediatesPath`/`caIntermediatesData`.

        Raises `PolicyError` if no root loads or the intermediates do not all parse.
        """
        intermediates: tuple[x509.Certificate, ...] = ()
        if intermediates_pem is not None:
            try:
                intermediates = tuple(parse_certificates(intermediates_pem, "trusted intermediate certificates"))
            except InvalidSignatureError as exc:
                raise PolicyError(f"loading trusted intermediate certificates: {exc.message}") from exc
        return cls(
            ca_roots=parse_ca_certificates(roots_pem, "PKI CA Roots certificates"),
            ca_intermediates=intermediates,
            subject_email=subject_email,
            subject_hostname=subject_hostname,
        )

    def verify_certificate(
        self, untrusted_certificate_pem: bytes, untrusted_chain_pem: bytes | None, *, at: datetime | None = None
    ) -> PublicKey:
        """Check a PKI leaf certificate (valid at `at`, default now); return its public key."""
        leaf = parse_leaf_certificate(untrusted_certificate_pem)
        intermediates = [*self.ca_intermediates, *_chain_intermediates(untrusted_chain_pem)]
        moment = at if at is not None else datetime.now(UTC)
        try:
            verify_chain(leaf, intermediates=intermediates, roots=self.ca_roots, at=moment)
        except InvalidSignatureError as exc:
            raise InvalidSignatureError(f"verifying leaf certificate failed: {exc.message}") from exc
        if self.subject_email:
            emails = _emails(leaf)
            if self.subject_email not in emails:
                raise InvalidSignatureError(
                    f'Required email "{safe_text(self.subject_email, 200)}" not found '
                    f"(got {safe_text(repr(emails), 300)})"
                )
        if self.subject_hostname:
            try:
                verify_hostname(leaf, self.subject_hostname)
            except InvalidSignatureError as exc:
                raise InvalidSignatureError(f"Unexpected subject hostname: {exc.message}") from exc
        return _leaf_public_key(leaf)
