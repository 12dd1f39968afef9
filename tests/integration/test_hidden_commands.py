"""The hidden commands `layers` (deprecated) and `untrusted-signature-dump-without-verification`,
side by side with skopeo 1.9.3: same files, same output bytes, same exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, build_multiarch, write_dir, write_oci_layout
from helpers.registry import RegistryServer, push_image

DEPRECATED = b"DEPRECATED: skopeo layers is deprecated in favor of skopeo copy\n"


def tree(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def only_layers_dir(parent: Path) -> Path:
    (found,) = [p for p in parent.iterdir() if p.name.startswith("layers-")]
    assert found.name[len("layers-"):].isdigit()
    assert found.stat().st_mode & 0o777 == 0o700
    return found


def test_hidden_commands_stay_out_of_help(run_skopo: SkopoRunner) -> None:
    listing = run_skopo("--help").stdout.decode()
    assert "layers  " not in listing and "untrusted-signature-dump" not in listing
    for name in ("layers", "untrusted-signature-dump-without-verification"):
        assert run_skopo(name, "--help").returncode == 0


@pytest.mark.parametrize("kind", ["dir", "oci", "registry-list", "registry-digests"])
def test_layers_writes_what_skopeo_writes(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, registry: RegistryServer, kind: str
) -> None:
    args: list[str] = []
    image: Any = build_image(layer_count=2, seed=8)
    if kind == "dir":
        name = f"dir:{write_dir(image, tmp_path / 'src')}"
    elif kind == "oci":
        image = build_image(fmt="oci", layer_count=2, seed=9)
        name = f"oci:{write_oci_layout(image, tmp_path / 'src', 'latest')}:latest"
    else:
        if kind == "registry-list":
            image = build_multiarch(seed=10)
        push_image(registry, "lay/ers", "v1", image)
        name = f"docker://{registry.host}/lay/ers:v1"
        args = ["--tls-verify=false"]
        if kind == "registry-digests":
            # One digest without its algorithm, one with; a config blob named as a layer.
            args += [image.layer_digests[1].split(":")[1], image.config_digest]
    mine_dir = tmp_path / "mine"
    mine_dir.mkdir()
    result = run_skopo("layers", *args[:1], name, *args[1:], cwd=mine_dir)
    assert result.returncode == 0, describe_result(result)
    assert result.stdout == b"" and result.stderr == DEPRECATED
    theirs = skopeo.run("layers", *args[:1], name, *args[1:])
    assert theirs.stderr == DEPRECATED
    mine = tree(only_layers_dir(mine_dir))
    assert mine == tree(only_layers_dir(skopeo.isolated.root))
    if kind == "registry-list":
        # The blobs of the instance for this platform, under the list itself (as skopeo).
        assert mine["manifest.json"] == image.manifest
        assert len(mine) == 2 + 1 + len(image.images[0].layers)


def test_layers_refusals(tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo) -> None:
    image = build_image(layer_count=2, seed=11)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    corrupt = write_dir(image, tmp_path / "corrupt")
    (corrupt / image.layer_digests[1].split(":")[1]).write_bytes(b"not the layer")
    for args in ([], [src, "zz"], [src, "sha256:" + "0" * 64], [f"dir:{corrupt}"]):
        cwd = tmp_path / f"cwd{len(list(tmp_path.iterdir()))}"
        cwd.mkdir()
        result = run_skopo("layers", *args, cwd=cwd)
        theirs = skopeo.run("layers", *args, check=False)
        # skopeo 1.9.3 stores a corrupt blob under its real digest; skopeo main, like skopo,
        # verifies each blob ("corrupt blob").
        expected_theirs = 0 if args == [f"dir:{corrupt}"] else 1
        assert (result.returncode, theirs.returncode) == (1, expected_theirs), (args, describe_result(result))
        assert result.stderr.startswith(DEPRECATED)
        assert result.stderr.count(b"\n") == 2 and b"Traceback" not in result.stderr
        assert list(cwd.iterdir()) == []  # nothing left behind (skopeo leaves a partial folder)


def _signed(gnupg_home: Any, fingerprint: str, payload: bytes, *extra: str) -> bytes:
    return gnupg_home.run("--sign", "--local-user", fingerprint, *extra, input=payload).stdout


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_untrusted_signature_dump_matches_skopeo(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, gnupg_home: Any, tz: str
) -> None:
    fingerprint = gnupg_home.make_key("Dump <dump@example.com>", algo="ed25519")
    env = {"GNUPGHOME": str(gnupg_home.path), "TZ": tz}
    manifest = write_dir(build_image(layer_count=1, seed=12), tmp_path / "img") / "manifest.json"
    sig = tmp_path / "standalone.sig"
    skopeo.run("standalone-sign", "-o", sig, manifest, "registry.example/a/b:1", fingerprint, env=env)
    critical = {"identity": {"docker-reference": "r.example/x<&>:2"},
                "image": {"docker-manifest-digest": "sha256:" + "ab" * 32},
                "type": "atomic container signature"}
    bare = json.dumps({"critical": critical, "optional": {}}).encode()
    dated = json.dumps({"critical": critical, "optional": {"timestamp": 1700000000}}).encode()
    files = {"standalone": sig.read_bytes(),
             "bare-zlib": _signed(gnupg_home, fingerprint, bare, "--compress-algo", "zlib"),
             "dated-uncompressed": _signed(gnupg_home, fingerprint, dated, "-z", "0"),
             "dated-bzip2": _signed(gnupg_home, fingerprint, dated, "--compress-algo", "bzip2")}
    for name, blob in files.items():
        path = tmp_path / name
        path.write_bytes(blob)
        result = run_skopo("untrusted-signature-dump-without-verification", str(path), env=env)
        assert result.returncode == 0, describe_result(result)
        theirs = skopeo.run("untrusted-signature-dump-without-verification", path, env=env)
        assert result.stdout == theirs.stdout, name
    out = json.loads(run_skopo("untrusted-signature-dump-without-verification", str(tmp_path / "bare-zlib")).stdout)
    assert out["UntrustedCreatorID"] is None and out["UntrustedTimestamp"] is None
    assert out["UntrustedShortKeyIdentifier"] == fingerprint[-16:]


def test_untrusted_signature_dump_refusals(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, gnupg_home: Any
) -> None:
    fingerprint = gnupg_home.make_key("Bad <bad@example.com>", algo="ed25519")
    cases = {
        "armored": gnupg_home.run("--sign", "--armor", "--local-user", fingerprint, input=b"{}").stdout,
        "not-json": _signed(gnupg_home, fingerprint, b"not json"),
        "detached": gnupg_home.run("--detach-sign", "--local-user", fingerprint, input=b"{}").stdout,
        "text": b"hello\n",
        "empty": b"",
    }
    for name, blob in cases.items():
        path = tmp_path / name
        path.write_bytes(blob)
        result = run_skopo("untrusted-signature-dump-without-verification", str(path))
        theirs = skopeo.run("untrusted-signature-dump-without-verification", path, check=False)
        assert result.returncode == theirs.returncode == 1, name
        assert_clean_error(result, match="Error decoding untrusted signature")
    for args in ([], ["a", "b"]):
        result = run_skopo("untrusted-signature-dump-without-verification", *args)
        assert skopeo.run("untrusted-signature-dump-without-verification", *args, check=False).returncode == 1
        assert_clean_error(result, expected_exit=1, match="Usage:")
    assert_clean_error(run_skopo("untrusted-signature-dump-without-verification", str(tmp_path / "nope")))
