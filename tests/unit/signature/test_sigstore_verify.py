"""`sigstoreSigned` verification against the cosign-made fixtures of containers/image
(tests/fixtures/sigstore, see its README and the shared FIXTURES.md), the combinations of
containers/image's policy_eval_sigstore_test.go, and the sigstore rows of the bad-input corpus
(security.md row 16, corpus 28)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from helpers.sigstore_fixtures import (
    COSIGN_IDENTITY,
    FULCIO_EMAIL,
    FULCIO_IDENTITY,
    FULCIO_ISSUER,
    KEY_REKOR_IDENTITY,
    PKI_EMAIL,
    PKI_HOSTNAME,
    PKI_IDENTITY,
)
from helpers.sigstore_fixtures import fixture_bytes as data
from toolkit.errors import InvalidSignatureError, PolicyError, SignatureError, ToolkitError
from toolkit.reference import parse_normalized_named
from toolkit.signature import Sigstore, SimpleSigning
from toolkit.signature.sigstore import (
    SIGSTORE_CERTIFICATE_ANNOTATION,
    SIGSTORE_CHAIN_ANNOTATION,
    SIGSTORE_SET_ANNOTATION,
    SIGSTORE_SIGNATURE_ANNOTATION,
    SIGSTORE_SIGNATURE_MIME_TYPE,
    FulcioTrustRoot,
    PKITrustRoot,
    SigstoreTrustRoot,
    sign_image_manifest,
    sigstore_from_blob,
    sigstore_from_components,
    sigstore_to_blob,
    verify_sigstore,
    verify_sigstore_signatures,
)
from toolkit.signature.sigstore_keys import decrypt_private_key, generate_key_pair


def sig(path: str) -> Sigstore:
    return sigstore_from_blob(data(path))


def match_repository(image: str) -> Callable[[str], bool]:
    """prmMatchRepository: the signed reference names the image's repository (cosign signs repos)."""
    wanted = parse_normalized_named(image).name

    def check(signed: str) -> bool:
        try:
            return parse_normalized_named(signed).name == wanted
        except ToolkitError:
            return False

    return check


def match_exact(image: str) -> Callable[[str], bool]:
    """prmMatchExact: both references have a tag or digest and are identical."""
    intended = parse_normalized_named(image)

    def check(signed: str) -> bool:
        try:
            ref = parse_normalized_named(signed)
        except ToolkitError:
            return False
        return not ref.is_name_only() and not intended.is_name_only() and str(ref) == str(intended)

    return check


def keys(*names: str) -> SigstoreTrustRoot:
    return SigstoreTrustRoot.from_config(key_pems=[data(n) for n in names])


def keys_rekor(key_names: list[str], rekor_names: list[str]) -> SigstoreTrustRoot:
    return SigstoreTrustRoot.from_config(
        key_pems=[data(n) for n in key_names], rekor_key_pems=[data(n) for n in rekor_names]
    )


def fulcio(
    rekor_names: tuple[str, ...] = ("rekor.pub",),
    *,
    ca: bytes | None = None,
    issuer: str = FULCIO_ISSUER,
    email: str = FULCIO_EMAIL,
) -> SigstoreTrustRoot:
    root = FulcioTrustRoot.from_pem(ca or data("fulcio_v1.crt.pem"), oidc_issuer=issuer, subject_email=email)
    rekor = SigstoreTrustRoot.from_config(key_pems=[data("cosign.pub")], rekor_key_pems=[data(n) for n in rekor_names])
    return SigstoreTrustRoot(fulcio=root, rekor_public_keys=rekor.rekor_public_keys)


def pki(*, intermediates: bool = True, email: str = PKI_EMAIL, hostname: str = PKI_HOSTNAME) -> SigstoreTrustRoot:
    return SigstoreTrustRoot(
        pki=PKITrustRoot.from_pem(
            data("pki_root_crts.pem"),
            data("pki_intermediate_crts.pem") if intermediates else None,
            subject_email=email,
            subject_hostname=hostname,
        )
    )


def accept(signature: Sigstore, root: SigstoreTrustRoot, image_dir: str, identity: Callable[[str], bool]) -> str:
    payload = verify_sigstore(
        signature, root, untrusted_manifest=data(f"{image_dir}/manifest.json"), identity_matches=identity
    )
    return payload.docker_reference


def reject(
    signature: Sigstore,
    root: SigstoreTrustRoot,
    manifest: bytes,
    identity: Callable[[str], bool],
    match: str,
    error: type[ToolkitError] = SignatureError,
) -> None:
    with pytest.raises(error, match=match):
        verify_sigstore(signature, root, untrusted_manifest=manifest, identity_matches=identity)


def without(signature: Sigstore, key: str) -> Sigstore:
    annotations = dict(signature.untrusted_annotations)
    del annotations[key]
    return sigstore_from_components(signature.untrusted_mime_type, signature.untrusted_payload, annotations)


def replaced(signature: Sigstore, key: str, value: str) -> Sigstore:
    annotations = dict(signature.untrusted_annotations)
    annotations[key] = value
    return sigstore_from_components(signature.untrusted_mime_type, signature.untrusted_payload, annotations)


ANY = match_repository(COSIGN_IDENTITY)
VALID = "dir-img-cosign-valid"

# --- key-based -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names", [("cosign.pub",), ("cosign.pub", "cosign2.pub"), ("cosign2.pub", "cosign.pub")], ids=str
)
def test_key_valid_fixture_is_accepted(names: tuple[str, ...]) -> None:
    assert accept(sig(f"{VALID}/signature-1"), keys(*names), VALID, ANY) == COSIGN_IDENTITY


def test_key_valid_fixture_other_key_is_refused() -> None:
    reject(
        sig(f"{VALID}/signature-1"),
        keys("cosign2.pub"),
        data(f"{VALID}/manifest.json"),
        ANY,
        "cryptographic signature verification failed",
        InvalidSignatureError,
    )


def test_unknown_key_signature_is_refused() -> None:
    reject(
        sig("unknown-cosign-key.signature"),
        keys("cosign.pub"),
        data(f"{VALID}/manifest.json"),
        ANY,
        "cryptographic signature verification failed",
        InvalidSignatureError,
    )


def test_identity_not_accepted() -> None:
    reject(
        sig(f"{VALID}/signature-1"),
        keys("cosign.pub"),
        data(f"{VALID}/manifest.json"),
        match_exact("this/does-not:match"),
        f'Signature for identity "{COSIGN_IDENTITY}" is not accepted',
    )


def test_valid_with_tag_exact_match() -> None:
    d = "dir-img-cosign-valid-with-tag"
    image = "192.168.64.2:5000/skopeo-signed:tag"
    assert accept(sig(f"{d}/signature-1"), keys("cosign.pub"), d, match_exact(image)) == image
    reject(
        sig(f"{d}/signature-1"),
        keys("cosign.pub"),
        data(f"{d}/manifest.json"),
        match_exact("192.168.64.2:5000/skopeo-signed:othertag"),
        "is not accepted",
    )
    # A cosign-made signature (repository only) fails matchExact.
    reject(
        sig(f"{VALID}/signature-1"),
        keys("cosign.pub"),
        data(f"{VALID}/manifest.json"),
        match_exact(COSIGN_IDENTITY),
        "is not accepted",
    )


def test_modified_manifest_is_refused() -> None:
    d = "dir-img-cosign-modified-manifest"
    reject(
        sig(f"{d}/signature-1"),
        keys("cosign.pub"),
        data(f"{d}/manifest.json"),
        ANY,
        r"Signature for digest sha256:634a8f35\w+ does not match",
    )


def test_manifest_digest_error_is_refused() -> None:
    d = "dir-img-cosign-manifest-digest-error"
    reject(
        sig(f"{d}/signature-1"),
        keys("cosign.pub"),
        data(f"{d}/manifest.json"),
        ANY,
        "computing the image manifest digest",
    )


def test_no_manifest_is_refused() -> None:
    # The image has no manifest: whatever the caller passes instead cannot match.
    reject(sig("dir-img-cosign-no-manifest/signature-1"), keys("cosign.pub"), b"", ANY, "does not match")


def test_two_valid_signatures() -> None:
    d = "dir-img-cosign-valid-2"
    sigs = [sig(f"{d}/signature-1"), sig(f"{d}/signature-2")]
    payload = verify_sigstore_signatures(
        sigs, keys("cosign.pub"), untrusted_manifest=data(f"{d}/manifest.json"), identity_matches=ANY
    )
    assert payload.docker_reference == COSIGN_IDENTITY
    with pytest.raises(SignatureError, match="None of the signatures were accepted, reasons: .*; "):
        verify_sigstore_signatures(
            sigs,
            keys("cosign.pub"),
            untrusted_manifest=data(f"{d}/manifest.json"),
            identity_matches=match_exact("this/does-not:match"),
        )


def test_mixed_one_bad_one_good_is_accepted() -> None:
    d = "dir-img-cosign-mixed"
    first, second = sig(f"{d}/signature-1"), sig(f"{d}/signature-2")
    reject(first, keys("cosign.pub"), data(f"{d}/manifest.json"), ANY, "verification failed", InvalidSignatureError)
    payload = verify_sigstore_signatures(
        [first, second], keys("cosign.pub"), untrusted_manifest=data(f"{d}/manifest.json"), identity_matches=ANY
    )
    assert payload.docker_reference == COSIGN_IDENTITY


def test_other_attachment_is_not_a_signature() -> None:
    d = "dir-img-cosign-other-attachment"
    attachment = sig(f"{d}/signature-1")
    assert attachment.untrusted_mime_type == "text/plain"
    with pytest.raises(
        SignatureError, match=r"no signature exists \(0 non-sigstore signatures, 1 sigstore non-signature"
    ):
        verify_sigstore_signatures(
            [attachment], keys("cosign.pub"), untrusted_manifest=data(f"{d}/manifest.json"), identity_matches=ANY
        )
    with pytest.raises(InvalidSignatureError, match="MIME type"):
        verify_sigstore(
            attachment, keys("cosign.pub"), untrusted_manifest=data(f"{d}/manifest.json"), identity_matches=ANY
        )


def test_no_signatures_and_only_simple_signing() -> None:
    with pytest.raises(SignatureError, match="^A signature was required, but no signature exists$"):
        verify_sigstore_signatures([], keys("cosign.pub"), untrusted_manifest=b"{}", identity_matches=ANY)
    with pytest.raises(SignatureError, match=r"\(1 non-sigstore signatures, 0 sigstore"):
        verify_sigstore_signatures(
            [SimpleSigning(b"\xa3x")], keys("cosign.pub"), untrusted_manifest=b"{}", identity_matches=ANY
        )


def test_single_rejection_is_reported_as_is() -> None:
    with pytest.raises(InvalidSignatureError, match="cryptographic signature verification failed"):
        verify_sigstore_signatures(
            [sig("unknown-cosign-key.signature")],
            keys("cosign.pub"),
            untrusted_manifest=data(f"{VALID}/manifest.json"),
            identity_matches=ANY,
        )


# --- key + Rekor ---------------------------------------------------------------------------------------------------

KR = "dir-img-cosign-key-rekor-valid"
KR_ANY = match_repository(KEY_REKOR_IDENTITY)


@pytest.mark.parametrize("key_names", [["cosign2.pub"], ["cosign2.pub", "cosign.pub"], ["cosign.pub", "cosign2.pub"]])
@pytest.mark.parametrize("rekor_names", [["rekor.pub"], ["rekor.pub", "cosign.pub"], ["cosign.pub", "rekor.pub"]])
def test_key_rekor_valid(key_names: list[str], rekor_names: list[str]) -> None:
    assert accept(sig(f"{KR}/signature-1"), keys_rekor(key_names, rekor_names), KR, KR_ANY) == KEY_REKOR_IDENTITY


def test_key_rekor_also_verifies_without_rekor_requirement() -> None:
    assert accept(sig(f"{KR}/signature-1"), keys("cosign2.pub"), KR, KR_ANY) == KEY_REKOR_IDENTITY


def test_key_rekor_missing_set() -> None:
    reject(
        without(sig(f"{KR}/signature-1"), SIGSTORE_SET_ANNOTATION),
        keys_rekor(["cosign2.pub"], ["rekor.pub"]),
        data(f"{KR}/manifest.json"),
        KR_ANY,
        "missing dev.sigstore.cosign/bundle annotation",
        InvalidSignatureError,
    )


def test_key_rekor_invalid_set() -> None:
    reject(
        replaced(sig(f"{KR}/signature-1"), SIGSTORE_SET_ANNOTATION, "this is not a valid SET"),
        keys_rekor(["cosign2.pub"], ["rekor.pub"]),
        data(f"{KR}/manifest.json"),
        KR_ANY,
        "No public key verified against the RekorSET",
        InvalidSignatureError,
    )


@pytest.mark.parametrize("key_names", [["cosign2.pub"], ["cosign2.pub", "cosign.pub"], ["cosign.pub", "cosign2.pub"]])
def test_key_rekor_wrong_rekor_key(key_names: list[str]) -> None:
    reject(
        sig(f"{KR}/signature-1"),
        keys_rekor(key_names, ["cosign.pub"]),
        data(f"{KR}/manifest.json"),
        KR_ANY,
        "cryptographic signature verification of Rekor SET failed",
        InvalidSignatureError,
    )


def test_key_rekor_set_for_another_signature() -> None:
    # cosign.pub's signature carrying the SET of cosign2.pub's signature.
    foreign_set = sig(f"{KR}/signature-1").untrusted_annotations[SIGSTORE_SET_ANNOTATION]
    reject(
        replaced(sig(f"{VALID}/signature-1"), SIGSTORE_SET_ANNOTATION, foreign_set),
        keys_rekor(["cosign.pub", "cosign2.pub"], ["rekor.pub"]),
        data(f"{VALID}/manifest.json"),
        ANY,
        "does not match",
        InvalidSignatureError,
    )


# --- Fulcio + Rekor ------------------------------------------------------------------------------------------------

FR = "dir-img-cosign-fulcio-rekor-valid"
FR_ANY = match_repository(FULCIO_IDENTITY)


@pytest.mark.parametrize("rekor_names", [("rekor.pub",), ("rekor.pub", "cosign.pub"), ("cosign.pub", "rekor.pub")])
def test_fulcio_rekor_valid(rekor_names: tuple[str, ...]) -> None:
    # The leaf certificate expired in 2023: it is judged at the SET's integrated time.
    assert accept(sig(f"{FR}/signature-1"), fulcio(rekor_names), FR, FR_ANY) == FULCIO_IDENTITY


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (SIGSTORE_SET_ANNOTATION, "missing dev.sigstore.cosign/bundle annotation"),
        (SIGSTORE_CERTIFICATE_ANNOTATION, "missing dev.sigstore.cosign/certificate annotation"),
        (SIGSTORE_CHAIN_ANNOTATION, "signed by unknown authority"),
        (SIGSTORE_SIGNATURE_ANNOTATION, "missing dev.cosignproject.cosign/signature annotation"),
    ],
)
def test_fulcio_missing_annotations(annotation: str, message: str) -> None:
    reject(
        without(sig(f"{FR}/signature-1"), annotation),
        fulcio(),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        message,
        InvalidSignatureError,
    )


def test_fulcio_trusting_the_intermediate_directly() -> None:
    signature = sig(f"{FR}/signature-1")
    chain = signature.untrusted_annotations[SIGSTORE_CHAIN_ANNOTATION].encode()
    assert accept(without(signature, SIGSTORE_CHAIN_ANNOTATION), fulcio(ca=chain), FR, FR_ANY) == FULCIO_IDENTITY


def test_fulcio_invalid_certificate() -> None:
    reject(
        replaced(sig(f"{FR}/signature-1"), SIGSTORE_CERTIFICATE_ANNOTATION, "this is not a valid certificate"),
        fulcio(),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        "does not match|PEM",
        InvalidSignatureError,
    )


def test_fulcio_wrong_email() -> None:
    reject(
        sig(f"{FR}/signature-1"),
        fulcio(email="this-does-not-match@example.com"),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        r"Required email \"this-does-not-match@example.com\" not found \(got \['mitr@redhat.com'\]\)",
        InvalidSignatureError,
    )


def test_fulcio_wrong_issuer() -> None:
    reject(
        sig(f"{FR}/signature-1"),
        fulcio(issuer="https://accounts.google.com"),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        'Unexpected Fulcio OIDC issuer "https://github.com/login/oauth"',
        InvalidSignatureError,
    )


def test_fulcio_wrong_rekor_key_and_bad_set() -> None:
    reject(
        sig(f"{FR}/signature-1"),
        fulcio(("cosign.pub",)),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        "cryptographic signature verification of Rekor SET failed",
        InvalidSignatureError,
    )
    reject(
        replaced(sig(f"{FR}/signature-1"), SIGSTORE_SET_ANNOTATION, "this is not a valid SET"),
        fulcio(),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        "Rekor SET",
        InvalidSignatureError,
    )


def test_fulcio_other_ca() -> None:
    reject(
        sig(f"{FR}/signature-1"),
        fulcio(ca=data("pki_root_crts.pem")),
        data(f"{FR}/manifest.json"),
        FR_ANY,
        "signed by unknown authority",
        InvalidSignatureError,
    )


# --- PKI --------------------------------------------------------------------------------------------------------------

PK = "dir-img-cosign-pki-valid"
PK_ANY = match_repository(PKI_IDENTITY)


def test_pki_valid() -> None:
    assert accept(sig(f"{PK}/signature-1"), pki(), PK, PK_ANY) == PKI_IDENTITY
    assert accept(sig(f"{PK}/signature-1"), pki(hostname=""), PK, PK_ANY) == PKI_IDENTITY
    assert accept(sig(f"{PK}/signature-1"), pki(email=""), PK, PK_ANY) == PKI_IDENTITY
    assert accept(sig(f"{PK}/signature-1"), pki(intermediates=False), PK, PK_ANY) == PKI_IDENTITY


def test_pki_missing_certificate() -> None:
    reject(
        without(sig(f"{PK}/signature-1"), SIGSTORE_CERTIFICATE_ANNOTATION),
        pki(),
        data(f"{PK}/manifest.json"),
        PK_ANY,
        "missing dev.sigstore.cosign/certificate annotation",
        InvalidSignatureError,
    )


def test_pki_missing_chain() -> None:
    stripped = without(sig(f"{PK}/signature-1"), SIGSTORE_CHAIN_ANNOTATION)
    assert accept(stripped, pki(), PK, PK_ANY) == PKI_IDENTITY  # the policy's intermediates suffice
    reject(
        stripped,
        pki(intermediates=False),
        data(f"{PK}/manifest.json"),
        PK_ANY,
        "signed by unknown authority",
        InvalidSignatureError,
    )


def test_pki_wrong_subject() -> None:
    reject(
        sig(f"{PK}/signature-1"),
        pki(email="someone@example.com"),
        data(f"{PK}/manifest.json"),
        PK_ANY,
        'Required email "someone@example.com" not found',
        InvalidSignatureError,
    )
    reject(
        sig(f"{PK}/signature-1"),
        pki(hostname="other.example.com"),
        data(f"{PK}/manifest.json"),
        PK_ANY,
        "Unexpected subject hostname",
        InvalidSignatureError,
    )


def test_pki_other_roots() -> None:
    reject(
        sig(f"{PK}/signature-1"),
        SigstoreTrustRoot(pki=PKITrustRoot.from_pem(data("fulcio_v1.crt.pem"), subject_email=PKI_EMAIL)),
        data(f"{PK}/manifest.json"),
        PK_ANY,
        "signed by unknown authority",
        InvalidSignatureError,
    )


# --- trust root preparation ---------------------------------------------------------------------------------------


def test_trust_root_combinations() -> None:
    fulcio_root = FulcioTrustRoot.from_pem(
        data("fulcio_v1.crt.pem"), oidc_issuer=FULCIO_ISSUER, subject_email=FULCIO_EMAIL
    )
    pki_root = PKITrustRoot.from_pem(data("pki_root_crts.pem"), subject_email=PKI_EMAIL)
    rekor = keys_rekor(["cosign.pub"], ["rekor.pub"]).rekor_public_keys
    cosign = keys("cosign.pub").public_keys
    with pytest.raises(PolicyError, match="A public key, Fulcio, or PKI must be specified"):
        SigstoreTrustRoot()
    with pytest.raises(PolicyError, match="More than one"):
        SigstoreTrustRoot(public_keys=cosign, fulcio=fulcio_root, rekor_public_keys=rekor)
    with pytest.raises(PolicyError, match="More than one"):
        SigstoreTrustRoot(fulcio=fulcio_root, pki=pki_root, rekor_public_keys=rekor)
    with pytest.raises(PolicyError, match="Fulcio CA specified without a Rekor public key"):
        SigstoreTrustRoot(fulcio=fulcio_root)
    with pytest.raises(PolicyError, match="PKI specified with a Rekor public key"):
        SigstoreTrustRoot(pki=pki_root, rekor_public_keys=rekor)
    with pytest.raises(PolicyError, match="Fulcio use set up without subject email"):
        FulcioTrustRoot.from_pem(data("fulcio_v1.crt.pem"), oidc_issuer=FULCIO_ISSUER, subject_email="")
    with pytest.raises(PolicyError, match="without OIDC issuer"):
        FulcioTrustRoot.from_pem(data("fulcio_v1.crt.pem"), oidc_issuer="", subject_email=FULCIO_EMAIL)
    with pytest.raises(PolicyError, match="without subject email or subject hostname"):
        PKITrustRoot.from_pem(data("pki_root_crts.pem"))


@pytest.mark.parametrize("bad", ["image.signature", "fulcio_v1.crt.pem"])
def test_bad_key_data_is_a_policy_error(bad: str) -> None:
    with pytest.raises(PolicyError, match="parsing public key 2"):
        SigstoreTrustRoot.from_config(key_pems=[data("cosign.pub"), data(bad)])
    with pytest.raises(PolicyError, match="no public keys"):
        SigstoreTrustRoot.from_config(key_pems=[])


def test_rekor_key_must_be_ecdsa() -> None:
    with pytest.raises(PolicyError, match="Rekor public key 1 is not using ECDSA"):
        keys_rekor(["cosign.pub"], ["some-rsa-key.pub"])
    with pytest.raises(PolicyError, match="parsing Rekor public key 2"):
        keys_rekor(["cosign.pub"], ["rekor.pub", "image.signature"])


def test_ca_data_without_certificates_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="error loading Fulcio CA certificates"):
        FulcioTrustRoot.from_pem(data("image.signature"), oidc_issuer=FULCIO_ISSUER, subject_email=FULCIO_EMAIL)
    with pytest.raises(PolicyError, match="error loading PKI CA Roots"):
        PKITrustRoot.from_pem(data("cosign.pub"), subject_email=PKI_EMAIL)
    with pytest.raises(PolicyError, match="loading trusted intermediate certificates"):
        PKITrustRoot.from_pem(data("pki_root_crts.pem"), data("cosign.pub"), subject_email=PKI_EMAIL)


# --- round trip with a skopo-generated key -------------------------------------------------------------------------


def test_generate_sign_verify_round_trip() -> None:
    pair = generate_key_pair(b"pw")
    key = decrypt_private_key(pair.private_key_pem, b"pw")
    manifest = data(f"{VALID}/manifest.json")
    ref = parse_normalized_named("registry.example:5000/ns/app:v1")
    signature = sign_image_manifest(key, manifest, ref, timestamp=1700000000)
    assert signature.untrusted_mime_type == SIGSTORE_SIGNATURE_MIME_TYPE
    assert set(signature.untrusted_annotations) == {SIGSTORE_SIGNATURE_ANNOTATION}
    stored = sigstore_to_blob(signature)
    assert stored.startswith(
        b'\x00sigstore-json\n{"mimeType":"application/vnd.dev.cosign.simplesigning.v1+json","payload":"'
    )
    assert b'"annotations":{"dev.cosignproject.cosign/signature":"' in stored
    reread = sigstore_from_blob(stored)
    assert reread == signature
    root = SigstoreTrustRoot.from_config(key_pems=[pair.public_key_pem])
    payload = verify_sigstore(
        reread, root, untrusted_manifest=manifest, identity_matches=match_exact("registry.example:5000/ns/app:v1")
    )
    assert payload.docker_reference == "registry.example:5000/ns/app:v1"
    assert payload.timestamp == 1700000000
    reject(reread, root, manifest, match_exact("registry.example:5000/ns/app:v2"), "is not accepted")
    reject(reread, keys("cosign.pub"), manifest, ANY, "verification failed", InvalidSignatureError)


def test_name_only_reference_cannot_be_signed() -> None:
    key = decrypt_private_key(generate_key_pair(b"").private_key_pem, b"")
    with pytest.raises(SignatureError, match="neither a tag nor a digest"):
        sign_image_manifest(key, b"{}", parse_normalized_named("example.com/repo"))


def test_fixture_blobs_round_trip_byte_for_byte() -> None:
    for d in (VALID, KR, FR, PK, "dir-img-cosign-valid-with-tag"):
        blob = data(f"{d}/signature-1")
        assert sigstore_to_blob(sigstore_from_blob(blob)) == blob


# --- bad-input corpus (security.md row 16, corpus 28) ---------------------------------------------------------


def test_corpus_missing_signature_annotation() -> None:
    reject(
        without(sig(f"{VALID}/signature-1"), SIGSTORE_SIGNATURE_ANNOTATION),
        keys("cosign.pub"),
        data(f"{VALID}/manifest.json"),
        ANY,
        "missing dev.cosignproject.cosign/signature annotation",
        InvalidSignatureError,
    )


@pytest.mark.parametrize("bad", ["!!!not base64!!!", "MEQCIH9", "é"])
def test_corpus_bad_base64(bad: str) -> None:
    reject(
        replaced(sig(f"{VALID}/signature-1"), SIGSTORE_SIGNATURE_ANNOTATION, bad),
        keys("cosign.pub"),
        data(f"{VALID}/manifest.json"),
        ANY,
        "base64 decoding",
        InvalidSignatureError,
    )


def test_corpus_invalid_signature_bytes() -> None:
    reject(
        replaced(
            sig(f"{VALID}/signature-1"), SIGSTORE_SIGNATURE_ANNOTATION, base64.b64encode(b"invalid signature").decode()
        ),
        keys("cosign.pub"),
        data(f"{VALID}/manifest.json"),
        ANY,
        "cryptographic signature verification failed",
        InvalidSignatureError,
    )


def test_corpus_payload_digest_differs_from_manifest() -> None:
    reject(sig(f"{VALID}/signature-1"), keys("cosign.pub"), data(f"{PK}/manifest.json"), ANY, "does not match")


def test_corpus_duplicate_keys_in_signed_payload() -> None:
    pair = generate_key_pair(b"")
    key = decrypt_private_key(pair.private_key_pem, b"")
    manifest = data(f"{VALID}/manifest.json")
    digest = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
    payload = (
        b'{"critical":{"identity":{"docker-reference":"evil/x"},"identity":{"docker-reference":"a/b"},'
        b'"image":{"docker-manifest-digest":"' + digest.encode() + b'"},"type":"cosign container image signature"},'
        b'"optional":null}'
    )
    signature = sigstore_from_components(
        SIGSTORE_SIGNATURE_MIME_TYPE,
        payload,
        {SIGSTORE_SIGNATURE_ANNOTATION: base64.b64encode(key.sign(payload)).decode()},
    )
    root = SigstoreTrustRoot.from_config(key_pems=[pair.public_key_pem])
    reject(signature, root, manifest, lambda _ref: True, "(?i)duplicate", InvalidSignatureError)


def test_corpus_oversized_payload() -> None:
    with pytest.raises(SignatureError, match="maximum allowed size"):
        sigstore_from_components(SIGSTORE_SIGNATURE_MIME_TYPE, b"x" * ((4 << 20) + 1), {})


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not a sigstore signature"),
        (data("image.signature"), "not a sigstore signature"),
        (b"\x00sigstore-json\n[]", "JSON object expected"),
        (b'\x00sigstore-json\n{"payload":"!!"}', "not valid base64"),
        (b'\x00sigstore-json\n{"annotations":{"a":1}}', "object of strings"),
        (b'\x00sigstore-json\n{"mimeType":"a","mimeType":"b"}', "(?i)duplicate"),
    ],
)
def test_corpus_malformed_storage_blobs(blob: bytes, message: str) -> None:
    with pytest.raises(InvalidSignatureError, match=message):
        sigstore_from_blob(blob)


def test_storage_blob_escapes_like_go() -> None:
    signature = sigstore_from_components("m<t>", b"p", {"b": "x&y\n", "a": "1"})
    assert sigstore_to_blob(signature) == (
        b'\x00sigstore-json\n{"mimeType":"m\\u003ct\\u003e","payload":"cA==","annotations":{"a":"1","b":"x\\u0026y\\n"}}'
    )
    assert sigstore_to_blob(sigstore_from_components("m", b"", None)).endswith(b'"annotations":null}')
