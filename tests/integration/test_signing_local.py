"""Signing with `copy --sign-by` and verifying through a signedBy policy, with real gpg and
freshly generated keys; every refusal leaves the destination untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import GnupgHome, SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, write_dir
from helpers.trees import snapshot
from toolkit.digest import Digest
from toolkit.signature.simple import make_payload

IDENTITY = "registry.example.com/team/app:v1"


class Keys:
    def __init__(self, gnupg_home: GnupgHome, tmp_path: Path) -> None:
        self.home = gnupg_home
        self.alice = gnupg_home.make_key("Alice <alice@example.com>", algo="ed25519")
        self.bob = gnupg_home.make_key("Bob <bob@example.com>", algo="ed25519")
        self.alice_pub = tmp_path / "alice.gpg"
        self.alice_pub.write_bytes(gnupg_home.export_public(self.alice))
        self.bob_pub = tmp_path / "bob.gpg"
        self.bob_pub.write_bytes(gnupg_home.export_public(self.bob))
        self.env: dict[str, str | None] = {"GNUPGHOME": str(gnupg_home.path)}


@pytest.fixture
def keys(gnupg_home: GnupgHome, tmp_path: Path) -> Keys:
    return Keys(gnupg_home, tmp_path)


def signed_by_policy(path: Path, key: Path, identity: str = IDENTITY) -> Path:
    path.write_text(json.dumps({
        "default": [{"type": "reject"}],
        "transports": {"dir": {"": [{
            "type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key),
            "signedIdentity": {"type": "exactReference", "dockerReference": identity},
        }]}},
    }))
    return path


def make_signed(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path, name: str = "signed",
                identity: str = IDENTITY) -> Path:
    src = tmp_path / "src"
    if not src.exists():
        write_dir(build_image(seed=11, layer_count=2, layer_size=2048), src)
    signed = tmp_path / name
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", keys.alice, "--sign-identity", identity,
                       f"dir:{src}", f"dir:{signed}", env=keys.env)
    assert result.returncode == 0, describe_result(result)
    return signed


def existing_destination(tmp_path: Path) -> tuple[Path, object]:
    dest = tmp_path / "dest"
    write_dir(build_image(seed=99, layer_count=1, layer_size=256), dest)
    return dest, snapshot(dest)


def test_sign_then_verify_and_carry(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    blob = (signed / "signature-1").read_bytes()
    assert blob[0] in (0xA3, 0xC8, 0x90, 0xC4)  # a raw OpenPGP message
    # The verifier uses only the policy's key file: an empty GNUPGHOME changes nothing.
    empty_home = tmp_path / "empty-gnupg"
    empty_home.mkdir(mode=0o700)
    policy = signed_by_policy(tmp_path / "policy.json", keys.alice_pub)
    out = tmp_path / "out"
    result = run_skopo("--policy", policy, "copy", "-q", f"dir:{signed}", f"dir:{out}",
                       env={"GNUPGHOME": str(empty_home)})
    assert result.returncode == 0, describe_result(result)
    assert (out / "signature-1").read_bytes() == blob
    # The payload is what containers/image writes.
    payload = keys.home.run("--decrypt", signed / "signature-1").stdout
    doc = json.loads(payload)
    assert doc["critical"]["identity"] == {"docker-reference": IDENTITY}
    assert doc["critical"]["type"] == "atomic container signature"
    manifest_digest = Digest.from_bytes((signed / "manifest.json").read_bytes())
    assert doc["critical"]["image"] == {"docker-manifest-digest": str(manifest_digest)}
    assert doc["optional"]["creator"].startswith("atomic skopo ")
    assert isinstance(doc["optional"]["timestamp"], int)
    assert payload == make_payload(manifest_digest, IDENTITY, creator=doc["optional"]["creator"],
                                   timestamp=doc["optional"]["timestamp"])
    # A second signature is appended to the carried one.
    twice = tmp_path / "twice"
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", keys.bob, "--sign-identity", IDENTITY,
                       f"dir:{signed}", f"dir:{twice}", env=keys.env)
    assert result.returncode == 0, describe_result(result)
    assert (twice / "signature-1").read_bytes() == blob and (twice / "signature-2").exists()


def refuse(run_skopo: SkopoRunner, tmp_path: Path, policy: Path, src: Path, match: str) -> None:
    dest, before = existing_destination(tmp_path)
    result = run_skopo("--policy", policy, "copy", "-q", f"dir:{src}", f"dir:{dest}")
    assert_clean_error(result, match=match)
    assert snapshot(dest) == before


def test_refuse_unsigned_image(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    src = tmp_path / "unsigned"
    write_dir(build_image(seed=12, layer_count=1, layer_size=512), src)
    refuse(run_skopo, tmp_path, signed_by_policy(tmp_path / "p.json", keys.alice_pub), src,
           "A signature was required, but no signature exists")


def test_refuse_signature_for_another_tag(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    policy = signed_by_policy(tmp_path / "p.json", keys.alice_pub, identity="registry.example.com/team/app:v2")
    refuse(run_skopo, tmp_path, policy, signed, f'Signature for identity "{IDENTITY}" is not accepted')


def test_refuse_modified_manifest(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    manifest = signed / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    refuse(run_skopo, tmp_path, signed_by_policy(tmp_path / "p.json", keys.alice_pub), signed,
           "Signature for digest sha256:[0-9a-f]{64} does not match")


def test_refuse_key_only_in_user_keyring(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    dest, before = existing_destination(tmp_path)
    # Alice's key is in GNUPGHOME (the user's keyring); the policy trusts only Bob's.
    result = run_skopo("--policy", signed_by_policy(tmp_path / "p.json", keys.bob_pub), "copy", "-q",
                       f"dir:{signed}", f"dir:{dest}", env=keys.env)
    assert_clean_error(result, match="not among the trusted keys")
    assert snapshot(dest) == before


def _replace_signature(tmp_path: Path, signed: Path, blob: bytes) -> Path:
    forged = tmp_path / "forged"
    shutil.copytree(signed, forged)
    (forged / "signature-1").write_bytes(blob)
    return forged


def test_refuse_two_key_signature(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    payload = make_payload(Digest.from_bytes((signed / "manifest.json").read_bytes()), IDENTITY)
    both = keys.home.run("--sign", "--local-user", keys.alice, "--local-user", keys.bob, input=payload).stdout
    forged = _replace_signature(tmp_path, signed, both)
    trusting_both = tmp_path / "both.gpg"
    trusting_both.write_bytes(keys.alice_pub.read_bytes() + keys.bob_pub.read_bytes())
    refuse(run_skopo, tmp_path, signed_by_policy(tmp_path / "p.json", trusting_both), forged,
           "Unexpected GPG signature count 2")
    refuse(run_skopo, tmp_path, signed_by_policy(tmp_path / "p2.json", keys.alice_pub), forged,
           "Unexpected GPG signature count 2")


def test_refuse_literal_packet(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    payload = make_payload(Digest.from_bytes((signed / "manifest.json").read_bytes()), IDENTITY)
    literal = keys.home.run("--compress-algo", "zlib", "--store", input=payload).stdout
    forged = _replace_signature(tmp_path, signed, literal)
    refuse(run_skopo, tmp_path, signed_by_policy(tmp_path / "p.json", keys.alice_pub), forged, "not signed")


def test_refuse_unknown_key(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    refuse(run_skopo, tmp_path, signed_by_policy(tmp_path / "p.json", keys.bob_pub), signed,
           "not among the trusted keys")


def test_dir_destination_needs_sign_identity(run_skopo: SkopoRunner, keys: Keys, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_dir(build_image(seed=13, layer_count=1, layer_size=512), src)
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", keys.alice, f"dir:{src}",
                       f"dir:{tmp_path / 'out'}", env=keys.env)
    assert_clean_error(result, match="Cannot determine canonical Docker reference for destination dir:")
    assert not (tmp_path / "out").exists()
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", keys.alice, "--sign-identity", "example.com/x",
                       f"dir:{src}", f"dir:{tmp_path / 'out'}", env=keys.env)
    assert_clean_error(result, match="Sign identity must be a fully specified reference")


def test_signatures_refused_early_by_destinations_without_support(
    run_skopo: SkopoRunner, keys: Keys, tmp_path: Path
) -> None:
    signed = make_signed(run_skopo, keys, tmp_path)
    layout = tmp_path / "layout"
    result = run_skopo("--insecure-policy", "copy", "-q", f"dir:{signed}", f"oci:{layout}:v1")
    assert_clean_error(result, match=r"Can not copy signatures to oci:")
    assert not layout.exists(), "nothing may be written before the refusal"
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", keys.alice, "--sign-identity", IDENTITY,
                       f"dir:{tmp_path / 'src'}", f"oci:{layout}:v1", env=keys.env)
    assert_clean_error(result, match=r"Can not copy signatures to oci:")
    result = run_skopo("--insecure-policy", "copy", "-q", "--remove-signatures", f"dir:{signed}", f"oci:{layout}:v1")
    assert result.returncode == 0, describe_result(result)


def test_passphrase_file(run_skopo: SkopoRunner, gnupg_home: GnupgHome, tmp_path: Path) -> None:
    fpr = gnupg_home.make_key("Carol <carol@example.com>", "s3cret pass", algo="ed25519")
    env: dict[str, str | None] = {"GNUPGHOME": str(gnupg_home.path)}
    src = tmp_path / "src"
    write_dir(build_image(seed=14, layer_count=1, layer_size=512), src)
    good = tmp_path / "good"
    good.write_text("s3cret pass\nsecond line ignored\n")
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", fpr, "--sign-passphrase-file", bad,
                       "--sign-identity", IDENTITY, f"dir:{src}", f"dir:{tmp_path / 'o1'}", env=env)
    assert_clean_error(result, match="Bad passphrase")
    assert not (tmp_path / "o1").exists()
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", fpr, "--sign-passphrase-file", good,
                       "--sign-identity", IDENTITY, f"dir:{src}", f"dir:{tmp_path / 'o2'}", env=env)
    assert result.returncode == 0, describe_result(result)
    # standalone-sign with the same passphrase file, then standalone-verify.
    sig = tmp_path / "standalone.sig"
    result = run_skopo("standalone-sign", "--passphrase-file", good, "-o", sig, src / "manifest.json", IDENTITY, fpr,
                       env=env)
    assert result.returncode == 0, describe_result(result)
    assert sig.stat().st_mode & 0o777 == 0o644
    result = run_skopo("standalone-verify", src / "manifest.json", IDENTITY, fpr, sig, env=env)
    assert result.returncode == 0, describe_result(result)
    digest = Digest.from_bytes((src / "manifest.json").read_bytes())
    assert result.stdout.decode() == f"Signature verified using fingerprint {fpr}, digest {digest}\n"
