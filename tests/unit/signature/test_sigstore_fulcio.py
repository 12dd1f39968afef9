"""Fulcio + Rekor (and pki) verification with a CA, leaf certificates and a Rekor key made
by the test: the good case is accepted, every kind of bad one is refused with its reason."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from helpers.certs import CertAndKey, build_certificate, distinguished_name, ec_key, key_usage
from toolkit.errors import InvalidSignatureError
from toolkit.manifest import manifest_digest
from toolkit.signature import Sigstore
from toolkit.signature.fulcio import (
    OID_FULCIO_ISSUER_V1,
    OID_FULCIO_ISSUER_V2,
    FulcioTrustRoot,
    PKITrustRoot,
    verify_chain,
    verify_hostname,
)
from toolkit.signature.sigstore import (
    SIGSTORE_CERTIFICATE_ANNOTATION,
    SIGSTORE_CHAIN_ANNOTATION,
    SIGSTORE_SET_ANNOTATION,
    SIGSTORE_SIGNATURE_ANNOTATION,
    SIGSTORE_SIGNATURE_MIME_TYPE,
    SigstoreTrustRoot,
    sigstore_from_components,
    verify_sigstore,
)
from toolkit.signature.sigstore_payload import make_payload

ISSUER = "https://oauth.example.test"
EMAIL = "signer@example.com"
IDENTITY = "registry.example.test/ns/app:v1"
MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
    b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'
    + b"1" * 64
    + b'","size":2},"layers":[]}'
)
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return distinguished_name(cn, organization="test")


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


CA = CertAndKey  # a CA certificate and its key
Leaf = CertAndKey  # a Fulcio-style signing certificate and its key


def make_ca(
    cn: str,
    issuer: CA | None = None,
    *,
    ca: bool = True,
    path_length: int | None = None,
    not_before: datetime = T0 - timedelta(days=365),
    not_after: datetime = T0 + timedelta(days=3650),
    key_cert_sign: bool = True,
    permitted_emails: list[str] | None = None,
    eku: list[ObjectIdentifier] | None = None,
) -> CA:
    key = ec_key(ec.SECP384R1())
    extensions: list[tuple[x509.ExtensionType, bool]] = []
    if permitted_emails is not None:
        constraints = x509.NameConstraints(
            permitted_subtrees=[x509.RFC822Name(e) for e in permitted_emails], excluded_subtrees=None
        )
        extensions.append((constraints, True))
    if eku is not None:
        extensions.append((x509.ExtendedKeyUsage(eku), False))
    cert = build_certificate(
        subject=_name(cn),
        public_key=key.public_key(),
        signer=issuer.key if issuer else key,
        issuer=issuer.cert.subject if issuer else None,
        not_before=not_before,
        not_after=not_after,
        ca=ca,
        path_length=path_length,
        usage=key_usage(key_cert_sign=key_cert_sign, crl_sign=key_cert_sign),
        extensions=extensions,
        hash_algorithm=hashes.SHA384(),
    )
    return CA(key=key, cert=cert)


def make_leaf(
    issuer: CA,
    *,
    email: str | None = EMAIL,
    dns: list[str] | None = None,
    ips: list[str] | None = None,
    issuer_v1: str | None = ISSUER,
    issuer_v2: str | None = ISSUER,
    eku: list[ObjectIdentifier] | None = None,
    not_before: datetime = T0,
    lifetime: timedelta = timedelta(minutes=10),
    extra_critical: bool = False,
) -> Leaf:
    key = ec_key()
    names: list[x509.GeneralName] = []
    if email:
        names.append(x509.RFC822Name(email))
    names += [x509.DNSName(d) for d in dns or []]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips or []]
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.CODE_SIGNING]), False)
    ]
    if names:
        # Fulcio certificates have an empty subject, so the SAN is critical.
        extensions.append((x509.SubjectAlternativeName(names), True))
    if issuer_v1 is not None:
        extensions.append((x509.UnrecognizedExtension(OID_FULCIO_ISSUER_V1, issuer_v1.encode()), False))
    if issuer_v2 is not None:
        extensions.append((x509.UnrecognizedExtension(OID_FULCIO_ISSUER_V2, _der_utf8(issuer_v2)), False))
    if extra_critical:
        extensions.append((x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), True))
    cert = build_certificate(
        subject=x509.Name([]),
        public_key=key.public_key(),
        signer=issuer.key,
        issuer=issuer.cert.subject,
        not_before=not_before,
        not_after=not_before + lifetime,
        usage=key_usage(digital_signature=True),
        extensions=extensions,
    )
    return Leaf(key=key, cert=cert)


@dataclass
class World:
    """A root, an intermediate, a Rekor key, and a way to make signed images."""

    root: CA = field(default_factory=lambda: make_ca("root"))
    rekor: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        self.intermediate = make_ca("intermediate", self.root)

    def trust(
        self,
        *,
        issuer: str = ISSUER,
        email: str = EMAIL,
        rekor: ec.EllipticCurvePrivateKey | None = None,
        ca: bytes | None = None,
    ) -> SigstoreTrustRoot:
        return SigstoreTrustRoot(
            fulcio=FulcioTrustRoot.from_pem(ca or self.root.pem, oidc_issuer=issuer, subject_email=email),
            rekor_public_keys=((rekor or self.rekor).public_key(),),
        )

    def sign(
        self,
        leaf: Leaf | None = None,
        *,
        integrated: datetime = T0 + timedelta(minutes=1),
        chain: bytes | None = None,
        set_key: ec.EllipticCurvePrivateKey | None = None,
        body_overrides: dict[str, Any] | None = None,
        tamper_set: bool = False,
    ) -> Sigstore:
        leaf = leaf or make_leaf(self.intermediate)
        payload = make_payload(manifest_digest(MANIFEST), IDENTITY, timestamp=int(T0.timestamp()))
        signature = leaf.key.sign(payload, ec.ECDSA(hashes.SHA256()))
        body: dict[str, Any] = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(leaf.pem).decode()},
                },
            },
        }
        for path, value in (body_overrides or {}).items():
            target = body
            *parents, last = path.split(".")
            for p in parents:
                target = target[p]
            target[last] = value
        set_payload = {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "integratedTime": int(integrated.timestamp()),
            "logIndex": 42,
            "logID": "c0ffee",
        }
        # For ASCII strings and integers, sorted compact JSON is the RFC 8785 form.
        canonical = json.dumps(set_payload, sort_keys=True, separators=(",", ":")).encode()
        set_signature = (set_key or self.rekor).sign(
            hashlib.sha256(canonical).digest(), ec.ECDSA(Prehashed(hashes.SHA256()))
        )
        if tamper_set:
            set_payload["logIndex"] = 43
        bundle = json.dumps({"SignedEntryTimestamp": base64.b64encode(set_signature).decode(), "Payload": set_payload})
        annotations = {
            SIGSTORE_SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(),
            SIGSTORE_CERTIFICATE_ANNOTATION: leaf.pem.decode(),
            SIGSTORE_CHAIN_ANNOTATION: (chain if chain is not None else self.intermediate.pem + self.root.pem).decode(),
            SIGSTORE_SET_ANNOTATION: bundle,
        }
        return sigstore_from_components(SIGSTORE_SIGNATURE_MIME_TYPE, payload, annotations)


def verify(sig: Sigstore, trust: SigstoreTrustRoot) -> str:
    return verify_sigstore(
        sig, trust, untrusted_manifest=MANIFEST, identity_matches=lambda r: r == IDENTITY
    ).docker_reference


def refused(sig: Sigstore, trust: SigstoreTrustRoot, match: str) -> None:
    with pytest.raises(InvalidSignatureError, match=match):
        verify(sig, trust)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_good_signature_is_accepted(world: World) -> None:
    assert verify(world.sign(), world.trust()) == IDENTITY


def test_intermediate_trusted_directly_without_chain(world: World) -> None:
    sig = world.sign(chain=b"")
    refused(sig, world.trust(), "signed by unknown authority")
    assert verify(sig, world.trust(ca=world.intermediate.pem)) == IDENTITY


def test_issuer_v1_only_and_v2_only_are_accepted(world: World) -> None:
    assert verify(world.sign(make_leaf(world.intermediate, issuer_v2=None)), world.trust()) == IDENTITY
    assert verify(world.sign(make_leaf(world.intermediate, issuer_v1=None)), world.trust()) == IDENTITY


def test_wrong_issuer(world: World) -> None:
    refused(world.sign(), world.trust(issuer="https://other.example"), f'Unexpected Fulcio OIDC issuer "{ISSUER}"')


def test_inconsistent_issuer_extensions(world: World) -> None:
    leaf = make_leaf(world.intermediate, issuer_v1=ISSUER, issuer_v2="https://evil.example")
    refused(world.sign(leaf), world.trust(), "inconsistent OIDC issuer extension values")


def test_missing_issuer_extension(world: World) -> None:
    refused(
        world.sign(make_leaf(world.intermediate, issuer_v1=None, issuer_v2=None)),
        world.trust(),
        "missing the issuer extension",
    )


def test_wrong_email(world: World) -> None:
    refused(world.sign(), world.trust(email="other@example.com"), 'Required email "other@example.com" not found')
    refused(world.sign(make_leaf(world.intermediate, email=None, dns=["example.com"])), world.trust(), "Required email")


def test_expired_certificate_at_integrated_time(world: World) -> None:
    refused(
        world.sign(integrated=T0 + timedelta(hours=1)), world.trust(), "certificate has expired or is not yet valid"
    )
    refused(world.sign(integrated=T0 - timedelta(minutes=1)), world.trust(), "is before")


def test_expired_intermediate_at_integrated_time(world: World) -> None:
    old = make_ca("old-intermediate", world.root, not_after=T0 - timedelta(days=1))
    sig = world.sign(make_leaf(old), chain=old.pem + world.root.pem)
    refused(sig, world.trust(), "certificate has expired")


def test_bad_set_signature(world: World) -> None:
    refused(world.sign(tamper_set=True), world.trust(), "cryptographic signature verification of Rekor SET failed")
    other = ec.generate_private_key(ec.SECP256R1())
    refused(world.sign(set_key=other), world.trust(), "cryptographic signature verification of Rekor SET failed")
    refused(world.sign(), world.trust(rekor=other), "cryptographic signature verification of Rekor SET failed")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"spec.data.hash.value": "00" * 32}, "payload in Rekor SET does not match"),
        ({"spec.data.hash.value": "zz"}, 'Invalid "data.hash.value"'),
        ({"spec.data.hash.algorithm": "sha512"}, 'Unexpected "data.hash.algorithm"'),
        ({"spec.signature.content": base64.b64encode(b"other").decode()}, "signature in Rekor SET does not match"),
        ({"spec.signature.publicKey.content": base64.b64encode(b"not pem").decode()}, "not in PEM format"),
        ({"apiVersion": "0.0.2"}, "unsupported Rekor SET Payload hashedrekord version"),
        ({"kind": "intoto"}, "invalid kind value"),
        ({"spec.data": None}, 'Missing "data" field'),
        ({"spec.signature": None}, 'Missing "signature" field'),
    ],
)
def test_set_body_mismatches(world: World, overrides: dict[str, Any], message: str) -> None:
    refused(world.sign(body_overrides=overrides), world.trust(), message)


def test_set_for_another_certificate(world: World) -> None:
    other = make_leaf(world.intermediate)
    good = world.sign()
    foreign = world.sign(other)
    annotations = dict(good.untrusted_annotations)
    annotations[SIGSTORE_SET_ANNOTATION] = foreign.untrusted_annotations[SIGSTORE_SET_ANNOTATION]
    mixed = sigstore_from_components(good.untrusted_mime_type, good.untrusted_payload, annotations)
    refused(mixed, world.trust(), "publicKey in Rekor SET does not match")


def test_certificate_from_another_ca(world: World) -> None:
    # Same names, different keys: an attacker's CA and its own chain annotation.
    evil_root = make_ca("root")
    evil_intermediate = make_ca("intermediate", evil_root)
    sig = world.sign(make_leaf(evil_intermediate), chain=evil_intermediate.pem + evil_root.pem)
    refused(sig, world.trust(), "signed by unknown authority")


def test_root_in_chain_annotation_is_never_trusted(world: World) -> None:
    evil_root = make_ca("evil-root")
    sig = world.sign(make_leaf(evil_root), chain=evil_root.pem)
    refused(sig, world.trust(), "signed by unknown authority")


def test_leaf_without_code_signing_usage(world: World) -> None:
    leaf = make_leaf(world.intermediate, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    refused(world.sign(leaf), world.trust(), "incompatible key usage")


def test_intermediate_restricting_usage(world: World) -> None:
    restricted = make_ca("tls-only", world.root, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    refused(
        world.sign(make_leaf(restricted), chain=restricted.pem + world.root.pem),
        world.trust(),
        "incompatible key usage",
    )


def test_intermediate_that_is_not_a_ca(world: World) -> None:
    not_ca = make_ca("not-a-ca", world.root, ca=False, key_cert_sign=False)
    refused(
        world.sign(make_leaf(not_ca), chain=not_ca.pem + world.root.pem),
        world.trust(),
        "not authorized to sign other certificates",
    )


def test_path_length_constraint(world: World) -> None:
    limited = make_ca("limited", world.root, path_length=0)
    below = make_ca("below", limited)
    sig = world.sign(make_leaf(below), chain=below.pem + limited.pem + world.root.pem)
    refused(sig, world.trust(), "path length")


def test_name_constraints(world: World) -> None:
    constrained = make_ca("constrained", world.root, permitted_emails=["example.org"])
    sig = world.sign(make_leaf(constrained), chain=constrained.pem + world.root.pem)
    refused(sig, world.trust(), "not permitted by a name constraint")
    allowed = make_ca("allowed", world.root, permitted_emails=["example.com"])
    assert verify(world.sign(make_leaf(allowed), chain=allowed.pem + world.root.pem), world.trust()) == IDENTITY


def test_unknown_critical_extension(world: World) -> None:
    refused(
        world.sign(make_leaf(world.intermediate, extra_critical=True)), world.trust(), "unhandled critical extension"
    )


def test_multiple_leaf_certificates_refused(world: World) -> None:
    good = world.sign()
    annotations = dict(good.untrusted_annotations)
    annotations[SIGSTORE_CERTIFICATE_ANNOTATION] += world.intermediate.pem.decode()
    sig = sigstore_from_components(good.untrusted_mime_type, good.untrusted_payload, annotations)
    # The Rekor check sees it first (as in containers/image): one PEM block only.
    refused(sig, world.trust(), "has trailing data")


def test_chain_of_garbage_is_refused(world: World) -> None:
    refused(
        world.sign(chain=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        world.trust(),
        "loading certificate chain",
    )


def test_chain_bounded(world: World) -> None:
    many = world.intermediate.pem * 40 + world.root.pem
    refused(world.sign(chain=many), world.trust(), "more than 32 certificates")


# --- pki with generated certificates --------------------------------------------------------------------------


def _pki_sig(leaf: Leaf, chain: bytes) -> Sigstore:
    payload = make_payload(manifest_digest(MANIFEST), IDENTITY, timestamp=1)
    signature = leaf.key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return sigstore_from_components(
        SIGSTORE_SIGNATURE_MIME_TYPE,
        payload,
        {
            SIGSTORE_SIGNATURE_ANNOTATION: base64.b64encode(signature).decode(),
            SIGSTORE_CERTIFICATE_ANNOTATION: leaf.pem.decode(),
            SIGSTORE_CHAIN_ANNOTATION: chain.decode(),
        },
    )


def test_pki_generated(world: World) -> None:
    now = datetime.now(UTC)
    root = make_ca("pki-root", not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    inter = make_ca("pki-inter", root, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
    leaf = make_leaf(
        inter,
        dns=["build.example.com", "*.ci.example.com"],
        ips=["10.0.0.7"],
        not_before=now - timedelta(hours=1),
        lifetime=timedelta(days=2),
    )
    sig = _pki_sig(leaf, inter.pem + root.pem)

    def trust(**kw: str) -> SigstoreTrustRoot:
        return SigstoreTrustRoot(pki=PKITrustRoot.from_pem(root.pem, **kw))  # type: ignore[arg-type]

    for host in ("build.example.com", "BUILD.example.com", "runner1.ci.example.com", "10.0.0.7", "[10.0.0.7]"):
        assert verify(sig, trust(subject_hostname=host)) == IDENTITY, host
    for host in ("example.com", "a.b.ci.example.com", "10.0.0.8", "ci.example.com"):
        refused(sig, trust(subject_hostname=host), "Unexpected subject hostname")
    assert verify(sig, trust(subject_email=EMAIL, subject_hostname="build.example.com")) == IDENTITY
    refused(sig, trust(subject_email="x@example.com"), "Required email")
    refused(_pki_sig(leaf, b""), trust(subject_email=EMAIL), "signed by unknown authority")
    refused(
        sig,
        SigstoreTrustRoot(pki=PKITrustRoot.from_pem(world.root.pem, subject_email=EMAIL)),
        "signed by unknown authority",
    )
    # Expired now (pki judges at the current time).
    old_leaf = make_leaf(inter, not_before=now - timedelta(days=3), lifetime=timedelta(days=1))
    refused(_pki_sig(old_leaf, inter.pem + root.pem), trust(subject_email=EMAIL), "certificate has expired")


def test_verify_chain_returns_the_path(world: World) -> None:
    leaf = make_leaf(world.intermediate)
    chain = verify_chain(
        leaf.cert, intermediates=[world.intermediate.cert], roots=[world.root.cert], at=T0 + timedelta(minutes=1)
    )
    assert chain == [leaf.cert, world.intermediate.cert, world.root.cert]


def test_verify_hostname_rejects_bad_patterns(world: World) -> None:
    leaf = make_leaf(world.intermediate, dns=["*.*.example.com", "exa*mple.com"])
    for host in ("a.b.example.com", "example.com"):
        with pytest.raises(InvalidSignatureError):
            verify_hostname(leaf.cert, host)
