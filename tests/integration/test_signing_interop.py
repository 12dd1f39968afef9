"""GPG simple signing interop with skopeo 1.9.3 and real gpg, both directions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import GnupgHome, RegistryServer, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.env import merge_env
from helpers.images import build_image, write_dir
from helpers.registry import push_image

IDENTITY = "registry.example.com/interop/app:v1"


def policy_file(path: Path, key: Path, transport: str = "dir", identity: dict[str, str] | None = None) -> Path:
    req: dict[str, object] = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key)}
    if identity is not None:
        req["signedIdentity"] = identity
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {transport: {"": [req]}}}))
    return path


def skopeo_with_policy(skopeo: Skopeo, *args: str | Path, env: dict[str, str | None] | None = None
                       ) -> subprocess.CompletedProcess[bytes]:
    """skopeo WITHOUT --insecure-policy (the fixture always adds it)."""
    return subprocess.run([skopeo.binary, *map(str, args)], capture_output=True, stdin=subprocess.DEVNULL,
                          env=merge_env(skopeo.env, env), cwd=skopeo.isolated.root, timeout=300, check=False)


@pytest.fixture
def key(gnupg_home: GnupgHome, tmp_path: Path) -> tuple[str, Path, dict[str, str | None]]:
    fpr = gnupg_home.make_key("Interop <interop@example.com>", algo="ed25519")
    pub = tmp_path / "interop.gpg"
    pub.write_bytes(gnupg_home.export_public(fpr))
    return fpr, pub, {"GNUPGHOME": str(gnupg_home.path)}


def test_standalone_both_ways(run_skopo: SkopoRunner, skopeo: Skopeo, key: tuple[str, Path, dict[str, str | None]],
                              tmp_path: Path) -> None:
    fpr, pub, env = key
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(build_image(seed=21).manifest)
    by_skopeo = tmp_path / "by-skopeo.sig"
    skopeo.run("standalone-sign", "-o", by_skopeo, manifest, IDENTITY, fpr, env=env)
    result = run_skopo("standalone-verify", manifest, IDENTITY, fpr, by_skopeo, env=env)
    assert result.returncode == 0, describe_result(result)
    assert result.stdout.decode().startswith(f"Signature verified using fingerprint {fpr}, digest sha256:")
    result = run_skopo("standalone-verify", "--public-key-file", pub, manifest, IDENTITY, "any", by_skopeo)
    assert result.returncode == 0, describe_result(result)
    by_skopo = tmp_path / "by-skopo.sig"
    result = run_skopo("standalone-sign", "-o", by_skopo, manifest, IDENTITY, fpr, env=env)
    assert result.returncode == 0, describe_result(result)
    verified = skopeo.run("standalone-verify", manifest, IDENTITY, fpr, by_skopo, env=env)
    assert b"Signature verified" in verified.stdout
    # Both refuse the other tag.
    assert_clean_error(run_skopo("standalone-verify", manifest, IDENTITY.replace("v1", "v2"), fpr, by_skopeo, env=env),
                       match="does not match")
    assert skopeo.run("standalone-verify", manifest, IDENTITY.replace("v1", "v2"), fpr, by_skopo, env=env,
                      check=False).returncode != 0


def test_skopo_verifies_skopeo_copy_signatures(run_skopo: SkopoRunner, skopeo: Skopeo,
                                               key: tuple[str, Path, dict[str, str | None]], tmp_path: Path) -> None:
    fpr, pub, env = key
    src = tmp_path / "src"
    write_dir(build_image(seed=22, layer_count=2, layer_size=4096), src)
    signed = tmp_path / "signed-by-skopeo"
    skopeo.run("copy", "--sign-by", fpr, "--sign-identity", IDENTITY, f"dir:{src}", f"dir:{signed}", env=env)
    assert (signed / "signature-1").exists()
    policy = policy_file(tmp_path / "p.json", pub, identity={"type": "exactReference", "dockerReference": IDENTITY})
    result = run_skopo("--policy", policy, "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / 'out'}")
    assert result.returncode == 0, describe_result(result)
    assert (tmp_path / "out/signature-1").read_bytes() == (signed / "signature-1").read_bytes()
    wrong = policy_file(tmp_path / "w.json", pub, identity={"type": "exactReference",
                                                            "dockerReference": IDENTITY.replace("v1", "v2")})
    assert_clean_error(run_skopo("--policy", wrong, "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / 'o2'}"),
                       match="is not accepted")


def test_skopeo_verifies_skopo_copy_signatures(run_skopo: SkopoRunner, skopeo: Skopeo,
                                               key: tuple[str, Path, dict[str, str | None]], tmp_path: Path) -> None:
    fpr, pub, env = key
    src = tmp_path / "src"
    write_dir(build_image(seed=23, layer_count=2, layer_size=4096), src)
    signed = tmp_path / "signed-by-skopo"
    result = run_skopo("--insecure-policy", "copy", "-q", "--sign-by", fpr, "--sign-identity", IDENTITY,
                       f"dir:{src}", f"dir:{signed}", env=env)
    assert result.returncode == 0, describe_result(result)
    policy = policy_file(tmp_path / "p.json", pub, identity={"type": "exactReference", "dockerReference": IDENTITY})
    ok = skopeo_with_policy(skopeo, "--policy", policy, "copy", f"dir:{signed}", f"dir:{tmp_path / 'out'}")
    assert ok.returncode == 0, describe_result(ok)
    wrong = policy_file(tmp_path / "w.json", pub, identity={"type": "exactReference",
                                                            "dockerReference": IDENTITY.replace("v1", "v2")})
    refused = skopeo_with_policy(skopeo, "--policy", wrong, "copy", f"dir:{signed}", f"dir:{tmp_path / 'o2'}")
    assert refused.returncode != 0 and b"not accepted" in refused.stderr, describe_result(refused)


def test_registry_lookaside_both_ways(run_skopo: SkopoRunner, skopeo: Skopeo, registry: RegistryServer,
                                      key: tuple[str, Path, dict[str, str | None]], tmp_path: Path) -> None:
    fpr, pub, env = key
    lookaside = tmp_path / "lookaside"
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "test.yaml").write_text(f"docker:\n  {registry.host}:\n    lookaside: file://{lookaside}\n")
    image = build_image(seed=24, layer_count=1, layer_size=2048)
    push_image(registry, "interop/src", "v1", image)
    src = f"docker://{registry.host}/interop/src:v1"
    by_skopeo = f"docker://{registry.host}/interop/by-skopeo:v1"
    by_skopo = f"docker://{registry.host}/interop/by-skopo:v1"
    tls = "--src-tls-verify=false"
    skopeo.run("--registries.d", regd, "copy", tls, "--dest-tls-verify=false", "--sign-by", fpr, src, by_skopeo,
               env=env)
    result = run_skopo("--insecure-policy", "--registries.d", regd, "copy", "-q", tls, "--dest-tls-verify=false",
                       "--sign-by", fpr, src, by_skopo, env=env)
    assert result.returncode == 0, describe_result(result)
    policy = policy_file(tmp_path / "p.json", pub, transport="docker")
    # skopo verifies skopeo's signature, skopeo verifies skopo's (default identity: the pushed tag).
    result = run_skopo("--policy", policy, "--registries.d", regd, "copy", "-q", tls, by_skopeo,
                       f"dir:{tmp_path / 'o1'}")
    assert result.returncode == 0, describe_result(result)
    ok = skopeo_with_policy(skopeo, "--policy", policy, "--registries.d", regd, "copy", tls, by_skopo,
                            f"dir:{tmp_path / 'o2'}")
    assert ok.returncode == 0, describe_result(ok)
    unsigned = run_skopo("--policy", policy, "--registries.d", regd, "copy", "-q", tls, src, f"dir:{tmp_path / 'o3'}")
    assert_clean_error(unsigned, match="no signature exists")
