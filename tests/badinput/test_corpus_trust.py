"""Bad-input corpus, signatures and trust configuration (security.md §4 cases 23-30).

The gpg cases reuse the key setup and signing helpers of
`tests/integration/test_signing_local.py` (`Keys`, `make_signed`, `signed_by_policy`,
`_replace_signature`) with freshly generated keys and real gpg.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from corpus_guard import Guard, load_test_module

from helpers import GnupgHome, RegistryServer, SkopoRunner
from helpers.fault_proxy import FaultProxy, Reply
from helpers.images import OCI_MANIFEST, build_image, sha256_digest, write_dir
from helpers.registry import push_image
from toolkit.digest import Digest
from toolkit.signature.simple import make_payload

signing = load_test_module("integration/test_signing_local.py")
IDENTITY = signing.IDENTITY
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


@pytest.fixture
def keys(gnupg_home: GnupgHome, tmp_path: Path) -> Any:
    return signing.Keys(gnupg_home, tmp_path)


def forged(tmp_path: Path, signed: Path, blob: bytes, name: str) -> Path:
    out = tmp_path / name
    shutil.copytree(signed, out)
    (out / "signature-1").write_bytes(blob)
    return out


def policy_for(tmp_path: Path, key: Path, name: str = "policy.json", identity: str = IDENTITY) -> Path:
    return signing.signed_by_policy(tmp_path / name, key, identity)


@needs_gpg
def test_case_23_unsigned_literal_or_encrypted(guard: Guard, keys: Any, run_skopo: SkopoRunner,
                                               tmp_path: Path) -> None:
    signed = signing.make_signed(run_skopo, keys, tmp_path)
    payload = make_payload(Digest.from_bytes((signed / "manifest.json").read_bytes()), IDENTITY)
    literal = keys.home.run("--compress-algo", "zlib", "--store", input=payload).stdout
    encrypted = keys.home.run("--pinentry-mode", "loopback", "--passphrase", "x", "--symmetric",
                              input=payload).stdout
    policy = policy_for(tmp_path, keys.alice_pub)
    for name, blob in (("literal", literal), ("encrypted", encrypted)):
        guard.check(guard.copy(f"dir:{forged(tmp_path, signed, blob, name)}", policy=policy),
                    match="(?i)not signed|signature")


@needs_gpg
def test_case_24_signed_by_two_keys(guard: Guard, keys: Any, run_skopo: SkopoRunner, tmp_path: Path) -> None:
    signed = signing.make_signed(run_skopo, keys, tmp_path)
    payload = make_payload(Digest.from_bytes((signed / "manifest.json").read_bytes()), IDENTITY)
    both = keys.home.run("--sign", "--local-user", keys.alice, "--local-user", keys.bob, input=payload).stdout
    src = forged(tmp_path, signed, both, "both")
    guard.check(guard.copy(f"dir:{src}", policy=policy_for(tmp_path, keys.alice_pub)),
                match="Unexpected GPG signature count 2")


@needs_gpg
def test_case_25_key_only_in_user_keyring(guard: Guard, keys: Any, run_skopo: SkopoRunner, tmp_path: Path) -> None:
    signed = signing.make_signed(run_skopo, keys, tmp_path)
    # Alice's key is in GNUPGHOME (the user's keyring); the policy trusts only Bob's.
    guard.check(guard.copy(f"dir:{signed}", policy=policy_for(tmp_path, keys.bob_pub), env=keys.env),
                match="not among the trusted keys")


@needs_gpg
def test_case_26_invalid_payloads(guard: Guard, keys: Any, run_skopo: SkopoRunner, tmp_path: Path) -> None:
    signed = signing.make_signed(run_skopo, keys, tmp_path)
    digest = str(Digest.from_bytes((signed / "manifest.json").read_bytes()))
    good = json.loads(make_payload(Digest.parse(digest), IDENTITY, creator="x", timestamp=1))
    crit = json.dumps(good["critical"])
    variants = {
        "unknown-critical-key": json.dumps({**good, "critical": {**good["critical"], "extra": 1}}),
        "duplicate-critical": f'{{"critical": {crit}, "critical": {crit}, "optional": {{}}}}',
        "wrong-type": json.dumps({**good, "critical": {**good["critical"], "type": "atomic container signatur"}}),
        "float-timestamp": json.dumps({**good, "optional": {"timestamp": 1.5}}),
        "string-timestamp": json.dumps({**good, "optional": {"timestamp": "1"}}),
        "bad-digest": json.dumps({**good, "critical": {**good["critical"],
                                                       "image": {"docker-manifest-digest": "sha256:../x"}}}),
        "not-json": "{",
    }
    policy = policy_for(tmp_path, keys.alice_pub)
    for name, text in variants.items():
        blob = keys.home.run("--sign", "--local-user", keys.alice, input=text.encode()).stdout
        guard.check(guard.copy(f"dir:{forged(tmp_path, signed, blob, name)}", policy=policy),
                    match="(?i)invalid|signature|payload")


@needs_gpg
def test_case_27_signature_for_another_identity(guard: Guard, keys: Any, run_skopo: SkopoRunner,
                                                tmp_path: Path) -> None:
    signed = signing.make_signed(run_skopo, keys, tmp_path)
    policy = policy_for(tmp_path, keys.alice_pub, identity="registry.example.com/team/app:other")
    guard.check(guard.copy(f"dir:{signed}", policy=policy),
                match=f'Signature for identity "{IDENTITY}" is not accepted')


def test_case_28_too_many_signatures(guard: Guard, tmp_path: Path, registry_server: RegistryServer) -> None:
    from toolkit.reference import parse_named
    from toolkit.transports.docker._lookaside import lookaside_signature_url

    # dir: with 129 signature files.
    src = write_dir(build_image(seed=281, layer_count=1, layer_size=256), tmp_path / "src")
    for i in range(1, 130):
        (src / f"signature-{i}").write_bytes(b"x")
    guard.check(guard.copy(f"dir:{src}"), match="more than 128 signatures")
    # A lookaside holding signature-1 .. signature-129.
    image = build_image(seed=282, layer_count=1, layer_size=256)
    push_image(registry_server, "corpus/lookaside", "v1", image)
    lookaside = tmp_path / "lookaside"
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "x.yaml").write_text(json.dumps({"docker": {registry_server.host: {"lookaside": f"file://{lookaside}"}}}))
    ref = parse_named(f"{registry_server.host}/corpus/lookaside:v1")
    for i in range(129):
        url = lookaside_signature_url(f"file://{lookaside}", ref, Digest.parse(image.manifest_digest), i)
        path = Path(url[len("file://"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    result = guard.run_skopo("--insecure-policy", "--registries.d", regd, "copy", "-q", "--src-tls-verify=false",
                             f"docker://{registry_server.host}/corpus/lookaside:v1", guard.ref)
    guard.check(result, match="server provided 128 signatures")
    # A sigstore attachment with 10,000 layers (served by the fault proxy: the registry
    # would not store a manifest whose layers it does not hold).
    layer = {"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": 1,
             "digest": "sha256:" + "0" * 64, "annotations": {"dev.cosignproject.cosign/signature": "eA=="}}
    attachment = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                                        "digest": sha256_digest(b"{}")},
                             "layers": [layer] * 10_000}).encode()
    assert len(attachment) < 4 << 20
    (regd / "x.yaml").write_text(json.dumps({"docker": {registry_server.host: {"use-sigstore-attachments": True}}}))
    with FaultProxy(registry_server.url) as proxy:
        (regd / "x.yaml").write_text(json.dumps({"docker": {proxy.host: {"use-sigstore-attachments": True}}}))
        proxy.rule = lambda r: (Reply(200, [("Content-Type", OCI_MANIFEST)], attachment)
                                if f"/manifests/sha256-{image.manifest_hex}.sig" in r.path else None)
        result = guard.run_skopo("--insecure-policy", "--registries.d", regd, "copy", "-q", "--src-tls-verify=false",
                                 f"docker://{proxy.host}/corpus/lookaside:v1", guard.ref)
    guard.check(result, match="more than the maximum of 128")


POLICIES: dict[str, str] = {
    "missing-default": '{"transports": {}}',
    "empty-requirements": '{"default": []}',
    "unknown-type": '{"default": [{"type": "signedBy2"}]}',
    "keyPath-and-keyData": '{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",'
                           ' "keyData": "eA=="}]}',
    "trailing-object": '{"default": [{"type": "insecureAcceptAnything"}]} {"default": []}',
    "duplicate-transports": '{"default": [{"type": "reject"}], "transports": {}, "transports": {}}',
    "unknown-key": '{"default": [{"type": "insecureAcceptAnything"}], "defualt": []}',
    "not-json": "{",
}


def test_case_29_malformed_policy(guard: Guard, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=291, layer_count=1, layer_size=256), tmp_path / "src")
    for name, text in POLICIES.items():
        policy = tmp_path / f"{name}.json"
        policy.write_text(text)
        line = guard.check(guard.copy(f"dir:{src}", policy=policy))
        assert str(policy) in line, line
    # X509Certificates parses, but is rejected when evaluated (never accepted).
    policy = tmp_path / "x509.json"
    policy.write_text('{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/k"}]}')
    guard.check(guard.copy(f"dir:{src}", policy=policy), match='Unimplemented "keyType"')


REGISTRIES_D: dict[str, dict[str, str]] = {
    "namespace-twice": {"a.yaml": "docker:\n  HOST:\n    lookaside: file:///a\n",
                        "b.yaml": "docker:\n  HOST:\n    lookaside: file:///b\n"},
    "default-docker-twice": {"a.yaml": "default-docker:\n  lookaside: file:///a\n",
                             "b.yaml": "default-docker:\n  lookaside: file:///b\n"},
    "invalid-lookaside-url": {"a.yaml": "docker:\n  HOST:\n    lookaside: 'ht!tp://[::1'\n"},
    "anchors-and-aliases": {"a.yaml": "x: &a [1, 2]\ny: &b [*a, *a, *a]\nz: [*b, *b, *b]\n"
                                      "docker:\n  HOST:\n    lookaside: file:///a\n"},
    "oversized": {"a.yaml": "# " + "x" * (1 << 20) + "\ndocker: {}\n"},
}


def test_case_30_malformed_registries_d(guard: Guard, tmp_path: Path, registry_server: RegistryServer) -> None:
    push_image(registry_server, "corpus/regd", "v1", build_image(seed=301, layer_count=1, layer_size=256))
    for name, files in REGISTRIES_D.items():
        regd = tmp_path / name
        regd.mkdir()
        for file, text in files.items():
            (regd / file).write_text(text.replace("HOST", registry_server.host))
        result = guard.run_skopo("--insecure-policy", "--registries.d", regd, "copy", "-q", "--src-tls-verify=false",
                                 f"docker://{registry_server.host}/corpus/regd:v1", guard.ref)
        line = guard.check(result)
        if name.endswith("twice"):
            assert "a.yaml" in line and "b.yaml" in line, line
