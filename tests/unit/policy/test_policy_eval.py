"""Policy evaluation: scope lookup order, every requirement type, and signedBy against
containers/image's dir-img-* fixtures (ported from policy_eval_signedby_test.go)."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from toolkit.digest import Digest
from toolkit.errors import PolicyRejectedError
from toolkit.image import UnparsedImage
from toolkit.manifest import guess_mime_type
from toolkit.policy import SignaturePolicyContext, parse_policy
from toolkit.reference import NamedReference, parse_normalized_named
from toolkit.transports import parse_image_name

F = Path(__file__).resolve().parents[2] / "fixtures/signature"
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


@dataclass(frozen=True)
class FakeTransport:
    name: str

    def validate_policy_configuration_scope(self, scope: str) -> None:
        return None


@dataclass
class FakeRef:
    """An image reference with a chosen transport name, policy identity and namespaces."""

    transport_name: str
    identity: str
    namespaces: list[str] = field(default_factory=list)
    docker: NamedReference | None = None

    @property
    def transport(self) -> FakeTransport:
        return FakeTransport(self.transport_name)

    def string_within_transport(self) -> str:
        return self.identity

    def docker_reference(self) -> NamedReference | None:
        return self.docker

    def policy_configuration_identity(self) -> str:
        return self.identity

    def policy_configuration_namespaces(self) -> list[str]:
        return list(self.namespaces)


class FakeSource:
    """An image source reading manifest.json and signature-N from a fixture directory."""

    def __init__(self, ref: FakeRef, directory: Path | None = None) -> None:
        self.reference = ref
        self.directory = directory

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        assert self.directory is not None
        raw = (self.directory / "manifest.json").read_bytes()
        return raw, guess_mime_type(raw)

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        if self.directory is None:
            return []
        out = []
        for i in range(1, 10):
            path = self.directory / f"signature-{i}"
            if not path.exists():
                break
            out.append(path.read_bytes())
        return out


def image(ref: FakeRef, directory: Path | None = None) -> UnparsedImage:
    return UnparsedImage(FakeSource(ref, directory))  # type: ignore[arg-type]


def context(doc: dict[str, Any]) -> SignaturePolicyContext:
    return SignaturePolicyContext(parse_policy(json.dumps(doc).encode(), source="test-policy.json"))


REJECT = [{"type": "reject"}]
ACCEPT = [{"type": "insecureAcceptAnything"}]


def test_scope_lookup_order() -> None:
    ref = FakeRef("docker", "example.com/ns/repo:tag", ["example.com/ns/repo", "example.com/ns", "example.com",
                                                         "*.com"])
    scopes = {
        "example.com/ns/repo:tag": REJECT,
        "example.com/ns/repo": REJECT,
        "example.com/ns": REJECT,
        "example.com": REJECT,
        "*.com": REJECT,
        "": REJECT,
    }
    order = list(scopes)
    for chosen in order:
        doc = {"default": REJECT, "transports": {"docker": {s: (ACCEPT if s == chosen else REJECT)
                                                            for s in order[order.index(chosen):]}}}
        ctx = context(doc)
        assert ctx.requirements_for(ref).description == f'transports["docker"]["{chosen}"]'
        ctx.is_running_image_allowed(image(ref))  # the most specific scope (ACCEPT) wins
    # Nothing for the transport: default.
    ctx = context({"default": ACCEPT, "transports": {"docker": {"other.com": REJECT}, "dir": {"": REJECT}}})
    assert ctx.requirements_for(ref).description == "default"
    ctx.is_running_image_allowed(image(ref))
    # Another transport's scopes never apply.
    ctx = context({"default": ACCEPT, "transports": {"oci": {"": REJECT}}})
    ctx.is_running_image_allowed(image(ref))


def test_reject_names_image_scope_and_reason() -> None:
    ctx = context({"default": ACCEPT, "transports": {"dir": {"/srv": REJECT}}})
    with pytest.raises(PolicyRejectedError) as info:
        ctx.is_running_image_allowed(image(FakeRef("dir", "/srv/img", ["/srv"])))
    message = str(info.value)
    assert "dir:/srv/img" in message
    assert 'scope transports["dir"]["/srv"]' in message
    assert "test-policy.json" in message
    assert "is rejected by policy" in message


def test_all_requirements_must_accept_and_each_reason_is_named() -> None:
    ctx = context({"default": [{"type": "insecureAcceptAnything"}, {"type": "reject"},
                               {"type": "sigstoreSigned", "keyPath": "/k"},
                               {"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}}]})
    with pytest.raises(PolicyRejectedError) as info:
        ctx.is_running_image_allowed(image(FakeRef("dir", "/x")))
    message = str(info.value)
    assert "requirement 2 (reject)" in message
    assert "requirement 3 (sigstoreSigned): A signature was required, but no signature exists" in message
    assert "requirement 4 (signedBaseLayer)" in message
    assert "requirement 1" not in message


def signed_by(key: str = "public-key.gpg", identity: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    req: dict[str, Any] = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(F / key)}
    if identity is not None:
        req["signedIdentity"] = identity
    req.update(extra)
    return req


LATEST = parse_normalized_named("testing/manifest:latest")
NOTLATEST = parse_normalized_named("testing/manifest:notlatest")


def run(req: dict[str, Any], fixture: str, docker: NamedReference | None = LATEST) -> None:
    ctx = context({"default": [req]})
    ctx.is_running_image_allowed(image(FakeRef("dir", str(F / fixture), docker=docker), F / fixture))


@needs_gpg
@pytest.mark.parametrize("fixture", ["dir-img-valid", "dir-img-valid-2", "dir-img-mixed"])
def test_signed_by_accepts(fixture: str) -> None:
    run(signed_by(), fixture)


@needs_gpg
def test_signed_by_subkey() -> None:
    run(signed_by("public-key-with-subkey.gpg"), "dir-img-valid-subkey")


@needs_gpg
@pytest.mark.parametrize(
    ("fixture", "docker", "message"),
    [
        ("dir-img-unsigned", LATEST, "A signature was required, but no signature exists"),
        ("dir-img-valid", NOTLATEST, 'Signature for identity "testing/manifest:latest" is not accepted'),
        ("dir-img-valid-2", NOTLATEST, "None of the signatures were accepted"),
        ("dir-img-modified-manifest", LATEST, "Signature for digest sha256:20bf21ed.* does not match"),
        ("dir-img-manifest-digest-error", LATEST, "schema1"),
        ("dir-img-valid", None, "has no Docker reference identity"),
    ],
)
def test_signed_by_rejects(fixture: str, docker: NamedReference | None, message: str) -> None:
    with pytest.raises(PolicyRejectedError, match=message):
        run(signed_by(), fixture, docker)


@needs_gpg
def test_signed_by_exact_reference_for_images_without_docker_identity() -> None:
    run(signed_by(identity={"type": "exactReference", "dockerReference": "testing/manifest:latest"}),
        "dir-img-valid", None)
    run(signed_by(identity={"type": "exactRepository", "dockerRepository": "testing/manifest"}), "dir-img-valid", None)
    with pytest.raises(PolicyRejectedError, match="is not accepted"):
        run(signed_by(identity={"type": "exactReference", "dockerReference": "testing/manifest:other"}),
            "dir-img-valid", None)


@needs_gpg
def test_signed_by_identity_types() -> None:
    run(signed_by(identity={"type": "matchExact"}), "dir-img-valid")
    run(signed_by(identity={"type": "matchRepository"}), "dir-img-valid", NOTLATEST)
    run(signed_by(identity={"type": "remapIdentity", "prefix": "mirror.example/testing",
                            "signedPrefix": "docker.io/testing"}),
        "dir-img-valid", parse_normalized_named("mirror.example/testing/manifest:latest"))


@needs_gpg
def test_signed_by_key_sources() -> None:
    data = base64.b64encode((F / "public-key.gpg").read_bytes()).decode()
    run({"type": "signedBy", "keyType": "GPGKeys", "keyData": data}, "dir-img-valid")
    run({"type": "signedBy", "keyType": "GPGKeys",
         "keyPaths": [str(F / "public-key-1.gpg"), str(F / "public-key.gpg")]}, "dir-img-valid")
    with pytest.raises(PolicyRejectedError, match="not among the trusted keys"):
        run(signed_by("public-key-with-subkey.gpg"), "dir-img-valid")
    with pytest.raises(PolicyRejectedError, match="reading the policy's public keys: .*no such file"):
        run({"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(F / "missing.gpg")}, "dir-img-valid")
    with pytest.raises(PolicyRejectedError, match="loading the policy's public keys: importing keys from keyData"):
        run({"type": "signedBy", "keyType": "GPGKeys", "keyData": base64.b64encode(b"nonsense").decode()},
            "dir-img-valid")


def test_unimplemented_key_types_reject() -> None:
    for key_type in ("signedByGPGKeys", "X509Certificates", "signedByX509CAs"):
        with pytest.raises(PolicyRejectedError, match=f'Unimplemented "keyType" value "{key_type}"'):
            run(signed_by(keyType=key_type), "dir-img-valid")


def test_sigstore_signatures_do_not_satisfy_signed_by() -> None:
    with pytest.raises(PolicyRejectedError, match="no simple-signing signature exists"):
        run(signed_by(), "dir-img-cosign-valid")


def test_real_dir_reference_uses_path_scopes(tmp_path: Path) -> None:
    target = tmp_path / "a" / "img"
    target.parent.mkdir()
    ref = parse_image_name(f"dir:{target}")
    ctx = context({"default": ACCEPT, "transports": {"dir": {str(tmp_path.resolve()): REJECT}}})
    assert ctx.requirements_for(ref).description == f'transports["dir"]["{tmp_path.resolve()}"]'
