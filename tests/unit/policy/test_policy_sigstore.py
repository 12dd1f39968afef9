"""`sigstoreSigned` evaluation through `SignaturePolicyContext`: every cosign fixture of
containers/image (tests/fixtures/sigstore, see its README) under the matching policy, as in
containers/image `signature/policy_eval_sigstore_test.go`, with the image known by the
docker reference the fixture was signed for."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolkit.digest import Digest
from toolkit.errors import PolicyRejectedError
from toolkit.image import UnparsedImage
from toolkit.manifest import guess_mime_type
from toolkit.policy import SignaturePolicyContext, parse_policy
from toolkit.reference import NamedReference, parse_normalized_named

F = Path(__file__).resolve().parents[2] / "fixtures/sigstore"

COSIGN_IDENTITY = "192.168.64.2:5000/cosign-signed-single-sample"
KEY_REKOR_IDENTITY = "192.168.64.2:5000/cosign-signed/key-1"
FULCIO_IDENTITY = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"
PKI_IDENTITY = "localhost:5000/test"


@dataclass(frozen=True)
class _Transport:
    name: str = "docker"

    def validate_policy_configuration_scope(self, scope: str) -> None:
        return None


@dataclass
class _Ref:
    docker: NamedReference | None

    @property
    def transport(self) -> _Transport:
        return _Transport()

    def string_within_transport(self) -> str:
        return f"//{self.docker}" if self.docker is not None else "//none"

    def docker_reference(self) -> NamedReference | None:
        return self.docker

    def policy_configuration_identity(self) -> str:
        return str(self.docker)

    def policy_configuration_namespaces(self) -> list[str]:
        return []


class _Source:
    def __init__(self, ref: _Ref, directory: Path, signatures: list[bytes] | None) -> None:
        self.reference = ref
        self.directory = directory
        self.signatures = signatures

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        raw = (self.directory / "manifest.json").read_bytes()
        return raw, guess_mime_type(raw)

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        if self.signatures is not None:
            return self.signatures
        return [p.read_bytes() for p in sorted(self.directory.glob("signature-*"))]


def image(directory: str, identity: str | None, signatures: list[bytes] | None = None) -> UnparsedImage:
    ref = _Ref(parse_normalized_named(identity) if identity is not None else None)
    return UnparsedImage(_Source(ref, F / directory, signatures))  # type: ignore[arg-type]


def requirement(**fields: Any) -> dict[str, Any]:
    fields.setdefault("signedIdentity", {"type": "matchRepository"})
    return {"type": "sigstoreSigned", **fields}


def context(req: dict[str, Any]) -> SignaturePolicyContext:
    doc = {"default": [{"type": "reject"}], "transports": {"docker": {"": [req]}}}
    return SignaturePolicyContext(parse_policy(json.dumps(doc).encode(), source="test-policy.json"))


def b64(name: str) -> str:
    return base64.b64encode((F / name).read_bytes()).decode()


def allowed(req: dict[str, Any], img: UnparsedImage) -> None:
    context(req).is_running_image_allowed(img)


def refused(req: dict[str, Any], img: UnparsedImage, match: str) -> str:
    with pytest.raises(PolicyRejectedError, match=match) as info:
        context(req).is_running_image_allowed(img)
    return str(info.value)


KEY = requirement(keyPath=str(F / "cosign.pub"))
KEY_REKOR = requirement(keyPath=str(F / "cosign2.pub"), rekorPublicKeyPath=str(F / "rekor.pub"))
FULCIO = requirement(
    fulcio={"caPath": str(F / "fulcio_v1.crt.pem"), "oidcIssuer": "https://github.com/login/oauth",
            "subjectEmail": "mitr@redhat.com"},
    rekorPublicKeyPath=str(F / "rekor.pub"),
)
PKI = requirement(
    pki={"caRootsPath": str(F / "pki_root_crts.pem"), "caIntermediatesPath": str(F / "pki_intermediate_crts.pem"),
         "subjectEmail": "qiwan@redhat.com", "subjectHostname": "myhost.example.com"},
)


@pytest.mark.parametrize(
    "req",
    [
        KEY,
        requirement(keyPaths=[str(F / "cosign2.pub"), str(F / "cosign.pub")]),
        requirement(keyData=b64("cosign.pub")),
        requirement(keyDatas=[b64("cosign2.pub"), b64("cosign.pub")]),
        requirement(keyPath=str(F / "cosign.pub"), signedIdentity={"type": "exactRepository",
                                                                    "dockerRepository": COSIGN_IDENTITY}),
    ],
    ids=["keyPath", "keyPaths", "keyData", "keyDatas", "exactRepository"],
)
def test_key_valid(req: dict[str, Any]) -> None:
    allowed(req, image("dir-img-cosign-valid", COSIGN_IDENTITY))


def test_valid_2_mixed_and_tagged() -> None:
    allowed(KEY, image("dir-img-cosign-valid-2", COSIGN_IDENTITY))
    allowed(KEY, image("dir-img-cosign-mixed", COSIGN_IDENTITY))
    tagged = "192.168.64.2:5000/skopeo-signed:tag"
    allowed(requirement(keyPath=str(F / "cosign.pub"), signedIdentity={"type": "matchExact"}),
            image("dir-img-cosign-valid-with-tag", tagged))
    # the default signedIdentity (matchRepoDigestOrExact) accepts the exact tagged identity
    allowed({"type": "sigstoreSigned", "keyPath": str(F / "cosign.pub")},
            image("dir-img-cosign-valid-with-tag", tagged))


def test_key_rekor_fulcio_pki_valid() -> None:
    allowed(KEY_REKOR, image("dir-img-cosign-key-rekor-valid", KEY_REKOR_IDENTITY))
    allowed(requirement(keyPath=str(F / "cosign2.pub"), rekorPublicKeyData=b64("rekor.pub")),
            image("dir-img-cosign-key-rekor-valid", KEY_REKOR_IDENTITY))
    allowed(FULCIO, image("dir-img-cosign-fulcio-rekor-valid", FULCIO_IDENTITY))
    allowed(PKI, image("dir-img-cosign-pki-valid", PKI_IDENTITY))


def test_wrong_key_is_refused() -> None:
    message = refused(requirement(keyPath=str(F / "cosign2.pub")), image("dir-img-cosign-valid", COSIGN_IDENTITY),
                      "cryptographic signature verification failed")
    # skopeo's wording: the reason straight after the prefix, not a summary
    assert message.startswith("Source image rejected: ") and not message[23:].startswith("requirement")


def test_key_rekor_without_set_is_refused() -> None:
    refused(requirement(keyPath=str(F / "cosign.pub"), rekorPublicKeyPath=str(F / "rekor.pub")),
            image("dir-img-cosign-valid", COSIGN_IDENTITY), "missing dev.sigstore.cosign/bundle annotation")


def test_fulcio_wrong_email_and_issuer() -> None:
    for field, value, match in (("subjectEmail", "someone@example.com", 'Required email "someone@example.com"'),
                                ("oidcIssuer", "https://example.com", "Unexpected Fulcio OIDC issuer")):
        req = json.loads(json.dumps(FULCIO))
        req["fulcio"][field] = value
        refused(req, image("dir-img-cosign-fulcio-rekor-valid", FULCIO_IDENTITY), match)


def test_pki_wrong_hostname() -> None:
    req = json.loads(json.dumps(PKI))
    req["pki"]["subjectHostname"] = "other.example.com"
    refused(req, image("dir-img-cosign-pki-valid", PKI_IDENTITY), "Unexpected subject hostname")


def test_identity_refusals() -> None:
    refused(requirement(keyPath=str(F / "cosign.pub"), signedIdentity={"type": "exactRepository",
                                                                        "dockerRepository": "example.com/other"}),
            image("dir-img-cosign-valid", COSIGN_IDENTITY),
            f'Signature for identity "{COSIGN_IDENTITY}" is not accepted')
    # cosign signs the repository only: the default identity rule needs a tag or digest.
    refused({"type": "sigstoreSigned", "keyPath": str(F / "cosign.pub")},
            image("dir-img-cosign-valid", COSIGN_IDENTITY + ":latest"), "is not accepted")
    # an image without a docker identity gets a hint
    refused(KEY, image("dir-img-cosign-valid", None), "has no Docker reference identity")


def test_manifest_refusals() -> None:
    refused(KEY, image("dir-img-cosign-modified-manifest", COSIGN_IDENTITY), "Signature for digest .* does not match")
    refused(KEY, image("dir-img-cosign-manifest-digest-error", COSIGN_IDENTITY), "digest")


def test_no_signature() -> None:
    refused(KEY, image("dir-img-cosign-valid", COSIGN_IDENTITY, []),
            "A signature was required, but no signature exists")
    refused(KEY, image("dir-img-cosign-other-attachment", COSIGN_IDENTITY),
            r"no signature exists \(0 non-sigstore signatures, 1 sigstore non-signature attachments\)")
    gpg = (Path(__file__).resolve().parents[2] / "fixtures/signature/image.signature").read_bytes()
    refused(KEY, image("dir-img-cosign-valid", COSIGN_IDENTITY, [gpg]),
            r"\(1 non-sigstore signatures, 0 sigstore non-signature attachments\)")


def test_unknown_key_then_several_reasons() -> None:
    sigs = [(F / "unknown-cosign-key.signature").read_bytes(), b"\x00sigstore-json\n{bad"]
    message = refused(KEY, image("dir-img-cosign-valid", COSIGN_IDENTITY, sigs), "None of the signatures were accepted")
    assert "cryptographic signature verification failed" in message
    assert "signature 2:" in message


def test_missing_key_file_rejects() -> None:
    refused(requirement(keyPath=str(F / "does-not-exist.pub")), image("dir-img-cosign-valid", COSIGN_IDENTITY),
            "preparing the sigstore trust root: .*does-not-exist.pub")
    refused(requirement(keyPath=str(F / "image.signature")), image("dir-img-cosign-valid", COSIGN_IDENTITY),
            "preparing the sigstore trust root: parsing public key 1")
