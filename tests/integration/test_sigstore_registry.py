"""Sigstore signatures through real registries: a skopo-generated key signs with
`copy --sign-by-sigstore-private-key` into registry A (a `sha256-<hex>.sig` attachment),
the image goes A -> B (the attachment is carried) -> `dir:`, and a `sigstoreSigned` policy
accepts it at every step. The attachment's manifest, config, layers and annotations have
the layout of containers/image's (and cosign's) attachments, field by field, compared with
the cosign-made fixture tests/fixtures/sigstore/dir-img-cosign-valid. Refusals (wrong key,
wrong identity, a signature for another manifest) name the reason and leave the
destination untouched."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from helpers import RegistryFactory, RegistryServer, SkopoRunner, assert_clean_error, describe_result
from helpers.images import OCI_CONFIG, OCI_MANIFEST, build_image, write_dir
from helpers.registry import get_manifest
from helpers.sigstore_fixtures import COSIGN_SIGNATURE_ANNOTATION, COSIGN_SIGNATURE_MIME, FIXTURES
from helpers.trees import snapshot
from toolkit.signature import Sigstore, parse_signature_blob

FIXTURE = FIXTURES / "dir-img-cosign-valid/signature-1"
REPO = "team/app"


@dataclass
class Setup:
    run: SkopoRunner
    tmp: Path
    a: RegistryServer
    b: RegistryServer
    regd: Path
    key: Path
    pub: Path
    passphrase: Path
    src: Path

    def skopo(self, *args: Any) -> Any:
        return self.run("--registries.d", self.regd, *args)

    def policy(self, name: str, pub: Path | None = None, dir_identity: str | None = None,
               a_identity: dict[str, str] | None = None) -> Path:
        """Sigstore policy: A with the default identity rule, B remapped to A's name, dir: by exact reference."""
        key = str(pub or self.pub)

        def req(identity: dict[str, str] | None) -> list[dict[str, Any]]:
            r: dict[str, Any] = {"type": "sigstoreSigned", "keyPath": key}
            if identity is not None:
                r["signedIdentity"] = identity
            return [r]

        doc = {
            "default": [{"type": "reject"}],
            "transports": {
                "docker": {
                    self.a.host: req(a_identity),
                    self.b.host: req({"type": "remapIdentity", "prefix": self.b.host, "signedPrefix": self.a.host}),
                },
                "dir": {"": req({"type": "exactReference",
                                 "dockerReference": dir_identity or f"{self.a.host}/{REPO}:v1"})},
            },
        }
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(doc))
        return path


def registries_d(path: Path, hosts: dict[str, bool]) -> Path:
    path.mkdir(exist_ok=True)
    lines = ["docker:"]
    for host, attachments in hosts.items():
        lines += [f"  {host}:", f"    use-sigstore-attachments: {'true' if attachments else 'false'}"]
    (path / "sigstore.yaml").write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def setup(run_skopo: SkopoRunner, registry_factory: RegistryFactory, tmp_path: Path) -> Setup:
    a, b = registry_factory(), registry_factory()
    regd = registries_d(tmp_path / "registries.d", {a.host: True, b.host: True})
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse\n")
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "key", "--passphrase-file", passphrase)
    assert result.returncode == 0, describe_result(result)
    src = write_dir(build_image(seed=21, layer_count=2, layer_size=1024), tmp_path / "src")
    return Setup(run_skopo, tmp_path, a, b, regd, tmp_path / "key.private", tmp_path / "key.pub", passphrase, src)


def sign_into_a(s: Setup, tag: str = "v1", key: Path | None = None) -> None:
    result = s.skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                     "--sign-by-sigstore-private-key", key or s.key, "--sign-passphrase-file", s.passphrase,
                     f"dir:{s.src}", s.a.docker_ref(f"{REPO}:{tag}"))
    assert result.returncode == 0, describe_result(result)


def manifest_digest(registry: RegistryServer, ref: str) -> str:
    resp = get_manifest(registry, REPO, ref)
    assert resp.status_code == 200, resp.text
    return "sha256:" + hashlib.sha256(resp.content).hexdigest()


def attachment(registry: RegistryServer, digest: str) -> requests.Response:
    return get_manifest(registry, REPO, digest.replace(":", "-") + ".sig", accept=OCI_MANIFEST)


def blob(registry: RegistryServer, digest: str) -> bytes:
    resp = requests.get(f"{registry.url}/v2/{REPO}/blobs/{digest}", timeout=30)
    assert resp.status_code == 200
    assert "sha256:" + hashlib.sha256(resp.content).hexdigest() == digest
    return resp.content


def check_attachment_layout(registry: RegistryServer, digest: str, identity: str, layers: int = 1) -> bytes:
    """The attachment of `digest` has c/image's layout; returns its manifest bytes."""
    fixture = parse_signature_blob(FIXTURE.read_bytes())
    assert isinstance(fixture, Sigstore)
    resp = attachment(registry, digest)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].split(";")[0] == OCI_MANIFEST
    raw = resp.content
    manifest = json.loads(raw)
    # Go json.Marshal of manifest.OCI1: field order, no whitespace, no empty annotations.
    assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers"]
    assert raw == json.dumps(manifest, separators=(",", ":")).encode()
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == OCI_MANIFEST
    config_desc = manifest["config"]
    assert list(config_desc) == ["mediaType", "digest", "size"] and config_desc["mediaType"] == OCI_CONFIG
    config = blob(registry, config_desc["digest"])
    assert config_desc["size"] == len(config)
    diff_ids = [layer["digest"] for layer in manifest["layers"]]
    # An otherwise empty imgspecv1.Image, as Go marshals it.
    assert config == json.dumps({"architecture": "", "os": "", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": diff_ids}}, separators=(",", ":")).encode()
    assert len(manifest["layers"]) == layers
    for layer in manifest["layers"]:
        assert list(layer) == ["mediaType", "digest", "size", "annotations"]
        assert layer["mediaType"] == fixture.untrusted_mime_type == COSIGN_SIGNATURE_MIME
        assert set(layer["annotations"]) == set(fixture.untrusted_annotations) == {COSIGN_SIGNATURE_ANNOTATION}
        base64.b64decode(layer["annotations"][COSIGN_SIGNATURE_ANNOTATION], validate=True)
        payload_bytes = blob(registry, layer["digest"])
        assert layer["size"] == len(payload_bytes)
        payload = json.loads(payload_bytes)
        expected = json.loads(fixture.untrusted_payload)
        assert list(payload) == list(expected) == ["critical", "optional"]
        assert list(payload["critical"]) == list(expected["critical"]) == ["identity", "image", "type"]
        assert payload["critical"]["type"] == expected["critical"]["type"] == "cosign container image signature"
        assert payload["critical"]["identity"] == {"docker-reference": identity}
        assert payload["critical"]["image"] == {"docker-manifest-digest": digest}
        assert set(payload["optional"]) == {"creator", "timestamp"}
    return raw


def test_sign_carry_and_verify_round_trip(setup: Setup) -> None:
    s = setup
    sign_into_a(s)
    identity = f"{s.a.host}/{REPO}:v1"
    digest = manifest_digest(s.a, "v1")
    raw_a = check_attachment_layout(s.a, digest, identity)
    policy = s.policy("policy")

    # Verified when read from A.
    out_a = s.tmp / "from-a"
    result = s.skopo("--policy", policy, "copy", "-q", "--src-tls-verify=false", s.a.docker_ref(f"{REPO}:v1"),
                     f"dir:{out_a}")
    assert result.returncode == 0, describe_result(result)
    assert isinstance(parse_signature_blob((out_a / "signature-1").read_bytes()), Sigstore)

    # A -> B carries the attachment (same bytes: same manifest digest) and B's image verifies.
    result = s.skopo("--policy", policy, "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                     s.a.docker_ref(f"{REPO}:v1"), s.b.docker_ref(f"{REPO}:v1"))
    assert result.returncode == 0, describe_result(result)
    assert manifest_digest(s.b, "v1") == digest
    raw_b = check_attachment_layout(s.b, digest, identity)
    assert raw_b == raw_a

    # B -> dir:, then the dir: copy verifies on its own.
    out_b = s.tmp / "from-b"
    result = s.skopo("--policy", policy, "copy", "-q", "--src-tls-verify=false", s.b.docker_ref(f"{REPO}:v1"),
                     f"dir:{out_b}")
    assert result.returncode == 0, describe_result(result)
    assert (out_b / "signature-1").read_bytes() == (out_a / "signature-1").read_bytes()
    assert not (out_b / "signature-2").exists()
    result = s.skopo("--policy", policy, "copy", "-q", f"dir:{out_b}", f"dir:{s.tmp / 'final'}")
    assert result.returncode == 0, describe_result(result)

    # Copying again appends nothing (identical layer), a new signature appends a layer.
    result = s.skopo("--policy", policy, "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                     s.a.docker_ref(f"{REPO}:v1"), s.b.docker_ref(f"{REPO}:v1"))
    assert result.returncode == 0, describe_result(result)
    assert attachment(s.b, digest).content == raw_b
    sign_into_a(s)
    check_attachment_layout(s.a, digest, identity, layers=2)
    result = s.skopo("--policy", policy, "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                     s.a.docker_ref(f"{REPO}:v1"), s.b.docker_ref(f"{REPO}:v1"))
    assert result.returncode == 0, describe_result(result)
    check_attachment_layout(s.b, digest, identity, layers=2)


def existing_destination(tmp: Path) -> tuple[Path, object]:
    dest = write_dir(build_image(seed=3, layer_count=1, layer_size=128), tmp / "dest")
    return dest, snapshot(dest)


def test_refusals_name_the_reason_and_leave_the_destination(setup: Setup) -> None:
    s = setup
    sign_into_a(s)
    other = s.tmp / "other"
    result = s.run("generate-sigstore-key", "--output-prefix", other, "--passphrase-file", s.passphrase)
    assert result.returncode == 0, describe_result(result)
    dest, before = existing_destination(s.tmp)
    src = s.a.docker_ref(f"{REPO}:v1")

    def refused(policy: Path, match: str, source: str = src) -> None:
        result = s.skopo("--policy", policy, "copy", "-q", "--src-tls-verify=false", source, f"dir:{dest}")
        line = assert_clean_error(result, match=match)
        assert "Source image rejected" in line
        assert snapshot(dest) == before

    refused(s.policy("wrong-key", pub=other.with_suffix(".pub")), "cryptographic signature verification failed")
    refused(s.policy("wrong-identity", a_identity={"type": "exactReference",
                                                   "dockerReference": f"{s.a.host}/{REPO}:v2"}),
            f'Signature for identity "{s.a.host}/{REPO}:v1" is not accepted')

    # A signature for another manifest: v1's attachment placed under the tag of "modified".
    modified = write_dir(build_image(seed=22, layer_count=1, layer_size=64), s.tmp / "modified")
    result = s.skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"dir:{modified}",
                     s.a.docker_ref(f"{REPO}:modified"))
    assert result.returncode == 0, describe_result(result)
    refused(s.policy("unsigned"), "A signature was required, but no signature exists",
            s.a.docker_ref(f"{REPO}:modified"))
    moved = attachment(s.a, manifest_digest(s.a, "v1")).content
    target = manifest_digest(s.a, "modified").replace(":", "-") + ".sig"
    put = requests.put(f"{s.a.url}/v2/{REPO}/manifests/{target}", data=moved,
                       headers={"Content-Type": OCI_MANIFEST}, timeout=30)
    assert put.status_code == 201, put.text
    refused(s.policy("moved", a_identity={"type": "matchRepository"}), "Signature for digest sha256:.* does not match",
            s.a.docker_ref(f"{REPO}:modified"))


def test_attachments_need_the_registries_d_switch(setup: Setup) -> None:
    s = setup
    sign_into_a(s)
    # Without use-sigstore-attachments for A the signature is not read: the policy sees none.
    off = registries_d(s.tmp / "off.d", {s.a.host: False, s.b.host: False})
    dest, before = existing_destination(s.tmp)
    result = s.run("--registries.d", off, "--policy", s.policy("p"), "copy", "-q", "--src-tls-verify=false",
                   s.a.docker_ref(f"{REPO}:v1"), f"dir:{dest}")
    assert_clean_error(result, match="A signature was required, but no signature exists")
    assert snapshot(dest) == before
    # Writing a sigstore signature to B without the switch fails with c/image's message.
    only_a = registries_d(s.tmp / "only-a.d", {s.a.host: True, s.b.host: False})
    result = s.run("--registries.d", only_a, "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                   "--dest-tls-verify=false", s.a.docker_ref(f"{REPO}:v1"), s.b.docker_ref(f"{REPO}:v1"))
    assert_clean_error(result, match="writing sigstore attachments is disabled by configuration")
    # --remove-signatures copies without them.
    result = s.run("--registries.d", only_a, "--insecure-policy", "copy", "-q", "--remove-signatures",
                   "--src-tls-verify=false", "--dest-tls-verify=false", s.a.docker_ref(f"{REPO}:v1"),
                   s.b.docker_ref(f"{REPO}:v1"))
    assert result.returncode == 0, describe_result(result)
    assert attachment(s.b, manifest_digest(s.b, "v1")).status_code == 404
