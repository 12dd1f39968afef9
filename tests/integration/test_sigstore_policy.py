"""Every cosign fixture (tests/fixtures/sigstore, see its README) through a `sigstoreSigned`
policy with `skopo copy --policy P dir:FIXTURE dir:OUT`, with the same verdict as the library
(`toolkit.signature.sigstore.verify_sigstore_signatures`) gives for the same trust root.

The fixtures hold a manifest and signatures but no blobs: an accepted image shows as the
missing config blob after the gate, a refused one as the policy's reason, and the
destination is never touched. `dir:` images have no docker identity, so the policies name
the signed identity (`exactRepository`: cosign signs the repository only)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, write_dir
from helpers.sigstore_fixtures import (
    COSIGN_IDENTITY,
    FIXTURES,
    FULCIO_EMAIL,
    FULCIO_IDENTITY,
    FULCIO_ISSUER,
    KEY_REKOR_IDENTITY,
    PKI_EMAIL,
    PKI_HOSTNAME,
    PKI_IDENTITY,
    TAGGED_IDENTITY,
    fixture_bytes,
)
from helpers.trees import snapshot
from toolkit.errors import ToolkitError
from toolkit.reference import parse_normalized_named
from toolkit.signature import parse_signature_blob
from toolkit.signature.fulcio import FulcioTrustRoot, PKITrustRoot
from toolkit.signature.sigstore import SigstoreTrustRoot, verify_sigstore_signatures


def repo(name: str) -> dict[str, str]:
    return {"type": "exactRepository", "dockerRepository": name}


def exact(name: str) -> dict[str, str]:
    return {"type": "exactReference", "dockerReference": name}


@dataclass(frozen=True)
class Case:
    """A fixture, a policy requirement and the equivalent library trust root."""

    fixture: str
    requirement: dict[str, Any]
    trust_root: Callable[[], SigstoreTrustRoot]
    accepted: bool
    #: For refusals: a regex the skopo error line must match (besides the library's reason).
    match: str = ""


def keys(*names: str, rekor: str | None = None) -> Callable[[], SigstoreTrustRoot]:
    return lambda: SigstoreTrustRoot.from_config(
        key_pems=[fixture_bytes(n) for n in names],
        rekor_key_pems=[fixture_bytes(rekor)] if rekor else None,
    )


def fulcio_root(email: str = FULCIO_EMAIL, issuer: str = FULCIO_ISSUER) -> Callable[[], SigstoreTrustRoot]:
    def build() -> SigstoreTrustRoot:
        rekor = SigstoreTrustRoot.from_config(key_pems=[fixture_bytes("cosign.pub")],
                                              rekor_key_pems=[fixture_bytes("rekor.pub")])
        return SigstoreTrustRoot(
            fulcio=FulcioTrustRoot.from_pem(fixture_bytes("fulcio_v1.crt.pem"), oidc_issuer=issuer,
                                            subject_email=email),
            rekor_public_keys=rekor.rekor_public_keys,
        )

    return build


def pki_root(hostname: str = PKI_HOSTNAME) -> Callable[[], SigstoreTrustRoot]:
    return lambda: SigstoreTrustRoot(pki=PKITrustRoot.from_pem(
        fixture_bytes("pki_root_crts.pem"), fixture_bytes("pki_intermediate_crts.pem"),
        subject_email=PKI_EMAIL, subject_hostname=hostname))


def key_req(identity: dict[str, str], *names: str, rekor: str | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {"type": "sigstoreSigned", "signedIdentity": identity}
    if len(names) == 1:
        req["keyPath"] = str(FIXTURES / names[0])
    else:
        req["keyDatas"] = [base64.b64encode(fixture_bytes(n)).decode() for n in names]
    if rekor:
        req["rekorPublicKeyPath"] = str(FIXTURES / rekor)
    return req


def fulcio_req(email: str = FULCIO_EMAIL, issuer: str = FULCIO_ISSUER) -> dict[str, Any]:
    return {"type": "sigstoreSigned", "signedIdentity": repo(FULCIO_IDENTITY),
            "rekorPublicKeyPath": str(FIXTURES / "rekor.pub"),
            "fulcio": {"caPath": str(FIXTURES / "fulcio_v1.crt.pem"), "oidcIssuer": issuer, "subjectEmail": email}}


def pki_req(hostname: str = PKI_HOSTNAME) -> dict[str, Any]:
    return {"type": "sigstoreSigned", "signedIdentity": repo(PKI_IDENTITY),
            "pki": {"caRootsPath": str(FIXTURES / "pki_root_crts.pem"),
                    "caIntermediatesData": base64.b64encode(fixture_bytes("pki_intermediate_crts.pem")).decode(),
                    "subjectEmail": PKI_EMAIL, "subjectHostname": hostname}}


CASES = {
    # every fixture under its matching policy (README / policy_eval_sigstore_test.go)
    "valid": Case("dir-img-cosign-valid", key_req(repo(COSIGN_IDENTITY), "cosign.pub"), keys("cosign.pub"), True),
    "valid-2": Case("dir-img-cosign-valid-2", key_req(repo(COSIGN_IDENTITY), "cosign.pub"), keys("cosign.pub"), True),
    "valid-with-tag": Case("dir-img-cosign-valid-with-tag", key_req(exact(TAGGED_IDENTITY), "cosign.pub"),
                           keys("cosign.pub"), True),
    "mixed": Case("dir-img-cosign-mixed", key_req(repo(COSIGN_IDENTITY), "cosign2.pub", "cosign.pub"),
                  keys("cosign2.pub", "cosign.pub"), True),
    "key-rekor-valid": Case("dir-img-cosign-key-rekor-valid",
                            key_req(repo(KEY_REKOR_IDENTITY), "cosign2.pub", rekor="rekor.pub"),
                            keys("cosign2.pub", rekor="rekor.pub"), True),
    "fulcio-rekor-valid": Case("dir-img-cosign-fulcio-rekor-valid", fulcio_req(), fulcio_root(), True),
    "pki-valid": Case("dir-img-cosign-pki-valid", pki_req(), pki_root(), True),
    "other-attachment": Case("dir-img-cosign-other-attachment", key_req(repo(COSIGN_IDENTITY), "cosign.pub"),
                             keys("cosign.pub"), False, "sigstore non-signature attachments"),
    "manifest-digest-error": Case("dir-img-cosign-manifest-digest-error", key_req(repo(COSIGN_IDENTITY), "cosign.pub"),
                                  keys("cosign.pub"), False),
    "modified-manifest": Case("dir-img-cosign-modified-manifest", key_req(repo(COSIGN_IDENTITY), "cosign.pub"),
                              keys("cosign.pub"), False, "Signature for digest sha256:.* does not match"),
    # refusals of valid fixtures under the wrong policy
    "wrong-key": Case("dir-img-cosign-valid", key_req(repo(COSIGN_IDENTITY), "cosign2.pub"), keys("cosign2.pub"), False,
                      "cryptographic signature verification failed"),
    "wrong-identity": Case("dir-img-cosign-valid", key_req(repo("192.168.64.2:5000/other"), "cosign.pub"),
                           keys("cosign.pub"), False, f'Signature for identity "{COSIGN_IDENTITY}" is not accepted'),
    "key-without-set": Case("dir-img-cosign-valid", key_req(repo(COSIGN_IDENTITY), "cosign.pub", rekor="rekor.pub"),
                            keys("cosign.pub", rekor="rekor.pub"), False, "dev.sigstore.cosign/bundle"),
    "key-rekor-other-key": Case("dir-img-cosign-key-rekor-valid",
                                key_req(repo(KEY_REKOR_IDENTITY), "cosign.pub", rekor="rekor.pub"),
                                keys("cosign.pub", rekor="rekor.pub"), False, "RekorSET"),
    "fulcio-wrong-email": Case("dir-img-cosign-fulcio-rekor-valid", fulcio_req(email="x@example.com"),
                               fulcio_root(email="x@example.com"), False, 'Required email "x@example.com"'),
    "fulcio-wrong-issuer": Case("dir-img-cosign-fulcio-rekor-valid", fulcio_req(issuer="https://example.com"),
                                fulcio_root(issuer="https://example.com"), False, "Unexpected Fulcio OIDC issuer"),
    "pki-wrong-host": Case("dir-img-cosign-pki-valid", pki_req("other.example.com"), pki_root("other.example.com"),
                           False, "Unexpected subject hostname"),
    "fulcio-fixture-under-key": Case("dir-img-cosign-fulcio-rekor-valid", key_req(repo(FULCIO_IDENTITY), "cosign.pub"),
                                     keys("cosign.pub"), False, "cryptographic signature verification failed"),
}


def library_verdict(case: Case) -> str | None:
    """None if the library accepts the fixture under `case`'s trust root, else its reason."""
    directory = FIXTURES / case.fixture
    signatures = [parse_signature_blob(p.read_bytes()) for p in sorted(directory.glob("signature-*"))]
    wanted = case.requirement["signedIdentity"]

    def identity(signed: str) -> bool:
        ref = parse_normalized_named(signed)
        if wanted["type"] == "exactRepository":
            return ref.name == parse_normalized_named(wanted["dockerRepository"]).name
        return str(ref) == str(parse_normalized_named(wanted["dockerReference"]))

    try:
        verify_sigstore_signatures(signatures, case.trust_root(),
                                   untrusted_manifest=(directory / "manifest.json").read_bytes(),
                                   identity_matches=identity)
    except ToolkitError as exc:
        return str(exc)
    return None


def write_policy(tmp_path: Path, requirement: dict[str, Any]) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": [requirement]}}}))
    return path


def existing_destination(tmp_path: Path) -> tuple[Path, object]:
    dest = tmp_path / "dest"
    write_dir(build_image(seed=5, layer_count=1, layer_size=256), dest)
    return dest, snapshot(dest)


def test_every_fixture_is_covered() -> None:
    fixtures = {p.name for p in FIXTURES.glob("dir-img-cosign-*")}
    assert fixtures - {c.fixture for c in CASES.values()} == {"dir-img-cosign-no-manifest"}  # tested below


@pytest.mark.parametrize("name", list(CASES))
def test_fixture_through_sigstore_policy(run_skopo: SkopoRunner, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    verdict = library_verdict(case)
    assert (verdict is None) == case.accepted, verdict
    dest, before = existing_destination(tmp_path)
    result = run_skopo("--policy", write_policy(tmp_path, case.requirement), "copy", "-q",
                       f"dir:{FIXTURES / case.fixture}", f"dir:{dest}")
    line = assert_clean_error(result)
    if case.accepted:
        # Past the gate: the fixture has no blobs.
        assert "rejected" not in line and "blob" in line, describe_result(result)
    else:
        assert "Source image rejected" in line, describe_result(result)
        assert verdict is not None and verdict in line, describe_result(result)
        assert re.search(case.match, line), describe_result(result)
    assert snapshot(dest) == before


def test_no_manifest_fixture_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    dest, before = existing_destination(tmp_path)
    result = run_skopo("--policy", write_policy(tmp_path, key_req(repo(COSIGN_IDENTITY), "cosign.pub")), "copy", "-q",
                       f"dir:{FIXTURES / 'dir-img-cosign-no-manifest'}", f"dir:{dest}")
    assert_clean_error(result, match="manifest")
    assert snapshot(dest) == before


def test_default_identity_needs_an_image_identity(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """The default signedIdentity compares with the image's own name, which `dir:` lacks: a hint says so."""
    dest, before = existing_destination(tmp_path)
    req = {"type": "sigstoreSigned", "keyPath": str(FIXTURES / "cosign.pub")}
    result = run_skopo("--policy", write_policy(tmp_path, req), "copy", "-q",
                       f"dir:{FIXTURES / 'dir-img-cosign-valid'}", f"dir:{dest}")
    assert_clean_error(result, match="has no Docker reference identity to compare with")
    assert snapshot(dest) == before


def test_missing_key_file_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    dest, before = existing_destination(tmp_path)
    req = {"type": "sigstoreSigned", "keyPath": str(tmp_path / "absent.pub"), "signedIdentity": repo(COSIGN_IDENTITY)}
    result = run_skopo("--policy", write_policy(tmp_path, req), "copy", "-q",
                       f"dir:{FIXTURES / 'dir-img-cosign-valid'}", f"dir:{dest}")
    assert_clean_error(result, match="preparing the sigstore trust root: .*absent.pub")
    assert snapshot(dest) == before
