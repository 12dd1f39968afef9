"""`skopo policy check IMAGE`: per-requirement verdicts without copying, text and JSON, exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, write_dir
from helpers.registry import RegistryServer, push_image
from helpers.trees import snapshot

F = Path(__file__).resolve().parents[1] / "fixtures/signature"
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
SIGNED_BY = {
    "type": "signedBy", "keyType": "GPGKeys", "keyPath": str(F / "public-key.gpg"),
    "signedIdentity": {"type": "exactReference", "dockerReference": "testing/manifest:latest"},
}


def write_policy(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def check_json(run_skopo: SkopoRunner, policy: Path, image: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_skopo("--policy", policy, "policy", "check", "--format", "json", *extra, image)
    assert result.returncode in (0, 1), describe_result(result)
    assert result.stderr == b"", describe_result(result)
    return result.returncode, json.loads(result.stdout)


@needs_gpg
def test_signed_image_is_accepted_without_copying(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    # The fixture holds no blobs at all: a check that read anything but the manifest and
    # the signatures would fail.
    policy = write_policy(tmp_path / "p.json",
                          {"default": [{"type": "reject"}], "transports": {"dir": {"": [SIGNED_BY]}}})
    image = F / "dir-img-valid"
    before = snapshot(image)
    result = run_skopo("--policy", policy, "policy", "check", f"dir:{image}")
    assert result.returncode == 0, describe_result(result)
    text = result.stdout.decode()
    assert "1. signedBy: accepted" in text
    assert 'Scope:   transports["dir"][""]' in text
    assert f"Policy:  {policy}" in text
    assert text.rstrip().endswith("Verdict: accepted")
    assert snapshot(image) == before


@needs_gpg
def test_json_schema_for_a_refusal(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "p.json", {"default": [SIGNED_BY]})
    status, doc = check_json(run_skopo, policy, f"dir:{F / 'dir-img-modified-manifest'}")
    assert status == 1
    assert set(doc) == {"image", "policy", "scope", "digest", "accepted", "requirements"}
    assert doc["image"] == f"dir:{F / 'dir-img-modified-manifest'}"
    assert doc["policy"] == str(policy)
    assert doc["scope"] == "default"
    assert doc["digest"].startswith("sha256:")
    assert doc["accepted"] is False
    [req] = doc["requirements"]
    assert req["type"] == "signedBy" and req["accepted"] is False
    assert "does not match" in req["reason"]


def test_every_requirement_gets_a_verdict(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=11, layer_count=1, layer_size=256), tmp_path / "img")
    policy = write_policy(tmp_path / "p.json", {
        "default": [{"type": "reject"}],
        "transports": {"dir": {str(src): [
            {"type": "insecureAcceptAnything"}, {"type": "reject"},
            {"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}},
        ]}},
    })
    status, doc = check_json(run_skopo, policy, f"dir:{src}")
    assert status == 1
    assert doc["scope"] == f'transports["dir"]["{src}"]'
    assert [(r["type"], r["accepted"]) for r in doc["requirements"]] == [
        ("insecureAcceptAnything", True), ("reject", False), ("signedBaseLayer", False)]
    assert doc["requirements"][0]["reason"] is None
    assert "rejected by policy" in doc["requirements"][1]["reason"]
    text = run_skopo("--policy", policy, "policy", "check", f"dir:{src}").stdout.decode()
    assert "1. insecureAcceptAnything: accepted" in text
    assert "2. reject: rejected: Running image" in text
    assert "Verdict: rejected" in text


def test_global_flags_after_the_command_and_insecure_policy(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=12, layer_count=1, layer_size=256), tmp_path / "img")
    accept = write_policy(tmp_path / "p.json", {"default": [{"type": "insecureAcceptAnything"}]})
    result = run_skopo("policy", "check", "--policy", accept, f"dir:{src}")
    assert result.returncode == 0, describe_result(result)
    result = run_skopo("--insecure-policy", "policy", "check", "--format", "json", f"dir:{src}")
    assert result.returncode == 0, describe_result(result)
    doc = json.loads(result.stdout)
    assert doc["accepted"] is True and doc["policy"] == doc["scope"] == "--insecure-policy"
    assert_clean_error(run_skopo("--insecure-policy", "--policy", accept, "policy", "check", f"dir:{src}"),
                       expected_exit=1, match="cannot be used together")


def test_missing_image_exits_2_and_bad_input_exits_1(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    accept = write_policy(tmp_path / "p.json", {"default": [{"type": "insecureAcceptAnything"}]})
    assert_clean_error(run_skopo("--policy", accept, "policy", "check", f"oci:{tmp_path}/none:latest"),
                       expected_exit=2)
    src = write_dir(build_image(seed=13, layer_count=1, layer_size=256), tmp_path / "img")
    assert_clean_error(run_skopo("--policy", accept, "policy", "check", "--format", "yaml", f"dir:{src}"),
                       expected_exit=1, match="unknown format")
    assert_clean_error(run_skopo("--policy", tmp_path / "missing.json", "policy", "check", f"dir:{src}"),
                       expected_exit=1)


def test_registry_image_uses_the_repository_scope(
    run_skopo: SkopoRunner, registry_server: RegistryServer, tmp_path: Path
) -> None:
    push_image(registry_server, "policy-check/app", "v1", build_image(seed=14, layer_count=1, layer_size=256))
    policy = write_policy(tmp_path / "p.json", {
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker": {f"{registry_server.host}/policy-check": [{"type": "reject"}]}},
    })
    status, doc = check_json(run_skopo, policy, f"docker://{registry_server.host}/policy-check/app:v1",
                             "--tls-verify=false")
    assert status == 1
    assert doc["scope"] == f'transports["docker"]["{registry_server.host}/policy-check"]'
    result = run_skopo("--policy", policy, "policy", "check", "--tls-verify=false",
                       f"docker://{registry_server.host}/policy-check/none:v1")
    assert_clean_error(result, expected_exit=2)
