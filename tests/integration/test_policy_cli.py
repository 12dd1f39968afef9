"""The trust policy through the CLI: finding policy.json, strict loading, and the gate on
containers/image's dir-img-* fixtures (no gpg key of ours involved)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, write_dir
from helpers.trees import snapshot

F = Path(__file__).resolve().parents[1] / "fixtures/signature"
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


def write_policy(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def existing_destination(tmp_path: Path) -> tuple[Path, object]:
    dest = tmp_path / "dest"
    write_dir(build_image(seed=7, layer_count=1, layer_size=512), dest)
    return dest, snapshot(dest)


def test_copy_without_any_policy_lists_the_paths_tried(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_dir(build_image(seed=1, layer_count=1, layer_size=512), src)
    system = tmp_path / "no-system-policy.json"
    result = run_skopo("copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'dest'}",
                       env={"SKOPO_SYSTEM_POLICY_PATH": str(system)})
    line = assert_clean_error(result, match="no policy.json file found at any of the following")
    assert str(run_skopo.home / ".config/containers/policy.json") in line
    assert str(system) in line
    assert not (tmp_path / "dest").exists()


def test_user_policy_is_used_and_insecure_policy_still_works(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_dir(build_image(seed=2, layer_count=1, layer_size=512), src)
    env = {"SKOPO_SYSTEM_POLICY_PATH": str(tmp_path / "none.json")}
    user = run_skopo.home / ".config/containers/policy.json"
    user.parent.mkdir(parents=True)
    write_policy(user, {"default": [{"type": "reject"}]})
    result = run_skopo("copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'd1'}", env=env)
    assert_clean_error(result, match=r"Source image rejected: Running image dir:.*is rejected by policy")
    assert not (tmp_path / "d1").exists()
    write_policy(user, {"default": [{"type": "insecureAcceptAnything"}]})
    result = run_skopo("copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'd2'}", env=env)
    assert result.returncode == 0, describe_result(result)
    result = run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'd3'}")
    assert result.returncode == 0, describe_result(result)


def test_invalid_policy_refused_before_touching_destination(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_dir(build_image(seed=3, layer_count=1, layer_size=512), src)
    dest, before = existing_destination(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","keyData":"eA=="}]}')
    line = assert_clean_error(run_skopo("--policy", bad, "copy", "-q", f"dir:{src}", f"dir:{dest}"),
                              match="more than one present")
    assert str(bad) in line
    assert snapshot(dest) == before


def fixture_policy(tmp_path: Path, key: str = "public-key.gpg") -> Path:
    return write_policy(tmp_path / "policy.json", {
        "default": [{"type": "reject"}],
        "transports": {"dir": {"": [{
            "type": "signedBy", "keyType": "GPGKeys", "keyPath": str(F / key),
            "signedIdentity": {"type": "exactReference", "dockerReference": "testing/manifest:latest"},
        }]}},
    })


@needs_gpg
@pytest.mark.parametrize(("fixture", "key"), [("dir-img-valid", "public-key.gpg"),
                                              ("dir-img-valid-2", "public-key.gpg"),
                                              ("dir-img-mixed", "public-key.gpg"),
                                              ("dir-img-valid-subkey", "public-key-with-subkey.gpg")])
def test_fixture_images_pass_the_gate(run_skopo: SkopoRunner, tmp_path: Path, fixture: str, key: str) -> None:
    # The fixtures hold no blobs: passing the gate shows as the missing config blob afterwards.
    dest = tmp_path / "dest"
    result = run_skopo("--policy", fixture_policy(tmp_path, key), "copy", "-q", f"dir:{F / fixture}", f"dir:{dest}")
    line = assert_clean_error(result)
    assert "rejected" not in line and "blob" in line, describe_result(result)
    assert not dest.exists()


@needs_gpg
@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("dir-img-unsigned", "A signature was required, but no signature exists"),
        ("dir-img-modified-manifest", "Signature for digest sha256:20bf21ed.* does not match"),
        ("dir-img-manifest-digest-error", "schema1"),
        ("dir-img-valid-subkey", "not among the trusted keys"),
        ("dir-img-no-manifest", "manifest"),
    ],
)
def test_fixture_images_refused(run_skopo: SkopoRunner, tmp_path: Path, fixture: str, message: str) -> None:
    dest, before = existing_destination(tmp_path)
    result = run_skopo("--policy", fixture_policy(tmp_path), "copy", "-q", f"dir:{F / fixture}", f"dir:{dest}")
    assert_clean_error(result, match=message)
    assert snapshot(dest) == before


@needs_gpg
def test_identity_mismatch_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.json", {"default": [{
        "type": "signedBy", "keyType": "GPGKeys", "keyPath": str(F / "public-key.gpg"),
        "signedIdentity": {"type": "exactReference", "dockerReference": "testing/manifest:notlatest"}}]})
    dest, before = existing_destination(tmp_path)
    result = run_skopo("--policy", policy, "copy", "-q", f"dir:{F / 'dir-img-valid'}", f"dir:{dest}")
    assert_clean_error(result, match='Signature for identity "testing/manifest:latest" is not accepted')
    assert snapshot(dest) == before


@needs_gpg
@pytest.mark.parametrize(
    ("signature", "key", "reference", "verifies"),
    [
        ("image.signature", "public-key.gpg", "testing/manifest", True),
        ("no-optional-fields.signature", "public-key.gpg", "testing/manifest", True),
        ("dir-img-valid/signature-1", "public-key.gpg", "testing/manifest:latest", True),
        ("subkey.signature", "public-key-with-subkey.gpg", "testing/manifest:latest", True),
        ("subkey.signature-v3", "public-key-with-subkey.gpg", "testing/manifest:latest", True),
        ("image.signature", "public-key.gpg", "testing/manifest:latest", False),
        ("corrupt.signature", "public-key.gpg", "testing/manifest", False),
        ("corrupt.signature-v3", "public-key.gpg", "testing/manifest", False),
        ("expired.signature", "public-key.gpg", "testing/manifest", False),
        ("invalid-blob.signature", "public-key.gpg", "testing/manifest", False),
        ("invalid-blob.signature-v3", "public-key.gpg", "testing/manifest", False),
        ("invalid-reference.signature", "public-key.gpg", "testing/manifest", False),
        ("unknown-key.signature", "public-key.gpg", "testing/manifest", False),
        ("unknown-key.signature-v3", "public-key.gpg", "testing/manifest", False),
        ("unsigned-encrypted.signature", "public-key.gpg", "testing/manifest", False),
        ("unsigned-literal.signature", "public-key.gpg", "testing/manifest", False),
        ("subkey-revoked.signature", "public-key-with-revoked-subkey.gpg", "testing/manifest:latest", False),
        ("subkey-revoked.signature-v3", "public-key-with-revoked-subkey.gpg", "testing/manifest:latest", False),
    ],
)
def test_standalone_verify_fixtures(
    run_skopo: SkopoRunner, signature: str, key: str, reference: str, verifies: bool
) -> None:
    result = run_skopo("standalone-verify", "--public-key-file", F / key, F / "image.manifest.json", reference,
                       "any", F / signature)
    if verifies:
        assert result.returncode == 0, describe_result(result)
        assert result.stdout.decode().startswith("Signature verified using fingerprint ")
        assert result.stdout.decode().rstrip().endswith(
            "digest sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55")
    else:
        assert_clean_error(result)


@needs_gpg
def test_standalone_verify_requires_the_named_fingerprint(run_skopo: SkopoRunner) -> None:
    args = [F / "image.manifest.json", "testing/manifest"]
    result = run_skopo("standalone-verify", "--public-key-file", F / "public-key.gpg", *args,
                       "08CD26E446E2E95249B7A405E932F44B23E8DD44", F / "image.signature")
    assert_clean_error(result, match="not accepted")
    ok = run_skopo("standalone-verify", "--public-key-file", F / "public-key.gpg", *args,
                   "AAAA,08CD26E446E2E95249B7A405E932F44B23E8DD43", F / "image.signature")
    assert ok.stdout == (b"Signature verified using fingerprint 08CD26E446E2E95249B7A405E932F44B23E8DD43, "
                         b"digest sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55\n")
    assert_clean_error(run_skopo("standalone-verify", *args, "any", F / "image.signature"),
                       match="Cannot use any fingerprint without a public key file")
