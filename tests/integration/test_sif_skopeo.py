"""`sif:` through the CLI, against skopeo 1.9.3 (which reads SIF files with unsquashfs + fakeroot).

- skopo copies SIF files built by `helpers.sif` to `oci:`, `dir:` and `docker-archive:`, and
  skopeo reads every result (`inspect`, and `copy` to `dir:`, which verifies every blob).
- skopo and skopeo read the same SIF file: the configs are equal but for the layer digest
  (in a non-UTC zone too: `created` is Go's local time), the manifests have the same shape,
  and the layer tars hold the same entries with the same metadata and content. c/image's tar
  is not reproducible (the conversion time stamps `./podman/`), so mtimes of the added
  entries are not compared, and digests cannot be.
- skopo's errors for defective files end with the c/image message skopeo prints.
- The trust policy sees the resolved path and its parent directories, as for `dir:`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.sif import DEFFILE, HDR_FREE, HDR_MAGIC, HDR_VERSION, build_sif, patch

pytestmark = pytest.mark.usefixtures("sif_tools")

FILES: dict[str, bytes | str] = {
    "etc/hello": b"hello\n",
    "etc/link": "-> hello",
    "bin/tool": b"#!/bin/sh\necho tool\n",
    "usr/share/doc/": b"",
    "dev/": b"",
}
PSEUDO = ["dev/null c 666 0 0 1 3", "dev/fifo i 644 0 0 f", "dev/sock i 644 0 0 s", "bin/tool m 4755 0 0"]


def need_skopeo_sif() -> None:
    """skopeo's sif: runs `fakeroot` and `unsquashfs`."""
    for tool in ("fakeroot", "unsquashfs"):
        if shutil.which(tool) is None:
            pytest.skip(f"skopeo's sif: needs `{tool}`; run tests/install-peers.sh")


def skopo_ok(run_skopo: SkopoRunner, *args: str | Path, env: dict[str, str | None] | None = None) -> bytes:
    result = run_skopo(*args, env=env, timeout=180)
    assert result.returncode == 0, describe_result(result)
    return result.stdout


def read_dir(path: Path) -> tuple[dict[str, Any], bytes, list[bytes]]:
    """(manifest, config bytes, layer blobs) of a `dir:` image."""
    manifest = json.loads((path / "manifest.json").read_bytes())
    config = (path / manifest["config"]["digest"].split(":")[1]).read_bytes()
    layers = [(path / layer["digest"].split(":")[1]).read_bytes() for layer in manifest["layers"]]
    return manifest, config, layers


def tar_entries(layer: bytes, *, ignore_mtime: frozenset[str] = frozenset()) -> dict[str, tuple[Any, ...]]:
    """Every entry, keyed by its name without `./`: type, mode, owner, size, content hash, link, device."""
    out: dict[str, tuple[Any, ...]] = {}
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:*") as tar:
        for m in tar:
            name = m.name.removeprefix("./").rstrip("/") or "."
            content = ""
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                content = hashlib.sha256(f.read()).hexdigest()
            assert name not in out, f"duplicate entry {name}"
            mtime = None if name in ignore_mtime else m.mtime
            out[name] = (m.type, m.mode, m.uid, m.gid, m.size, content, m.linkname.removeprefix("./"),
                         m.devmajor, m.devminor, mtime)
    return out


def normalised_config(config: bytes) -> dict[str, Any]:
    """The config with the layer digest (which only differs by tar bytes) replaced."""
    doc = json.loads(config)
    diff_id = doc["rootfs"]["diff_ids"][0]
    text = json.dumps(doc).replace(diff_id, "sha256:LAYER").replace(diff_id.split(":")[1], "LAYER")
    normalised: dict[str, Any] = json.loads(text)
    return normalised


# ---------------------------------------------------------------- skopo writes, skopeo reads


def test_copy_to_every_local_transport_and_skopeo_reads_it(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    sif = build_sif(tmp_path, FILES, deffile_text=DEFFILE, pseudo=PSEUDO)
    skopo_ok(run_skopo, "--insecure-policy", "copy", "-q", f"sif:{sif}", f"dir:{tmp_path / 'd'}")
    manifest, config, (layer,) = read_dir(tmp_path / "d")
    expected = tar_entries(layer)
    assert "podman/runscript" in expected and "dev/null" in expected
    destinations = {
        "oci": f"oci:{tmp_path / 'layout'}:sif",
        "docker-archive": f"docker-archive:{tmp_path / 'a.tar'}:example.com/sif/img:1",
        "dir": f"dir:{tmp_path / 'd'}",
    }
    for kind, dest in destinations.items():
        if kind != "dir":
            skopo_ok(run_skopo, "--insecure-policy", "copy", "-q", f"sif:{sif}", dest)
        info = json.loads(skopeo.run("inspect", dest).stdout)
        assert (info["Architecture"], info["Os"], info["Created"]) == ("amd64", "linux", "2023-11-14T22:13:20Z")
        out = tmp_path / f"skopeo-{kind}"
        skopeo.run("copy", dest, f"dir:{out}")
        _, got_config, got_layers = read_dir(out)
        assert json.loads(got_config)["config"] == {"Cmd": ["/podman/runscript"]}
        assert json.loads(got_config)["rootfs"] == json.loads(config)["rootfs"], kind
        assert len(got_layers) == 1 and tar_entries(got_layers[0]) == expected, kind
    # skopo inspect on the SIF file itself agrees with what was written.
    info = json.loads(skopo_ok(run_skopo, "inspect", f"sif:{sif}"))
    assert info["Layers"] == [layer_info["digest"] for layer_info in manifest["layers"]]
    assert info["Digest"] == "sha256:" + hashlib.sha256((tmp_path / "d" / "manifest.json").read_bytes()).hexdigest()


# ---------------------------------------------------------------- skopo and skopeo read the same file


@pytest.mark.parametrize("with_deffile", [True, False], ids=["deffile", "plain"])
def test_same_image_as_skopeo(tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, with_deffile: bool) -> None:
    need_skopeo_sif()
    sif = build_sif(tmp_path, FILES, deffile_text=DEFFILE if with_deffile else None, pseudo=PSEUDO)
    zone = {"TZ": "Asia/Kolkata"}
    skopo_ok(run_skopo, "--insecure-policy", "copy", "-q", f"sif:{sif}", f"dir:{tmp_path / 'ours'}", env=zone)
    skopeo.run("copy", "-q", f"sif:{sif}", f"dir:{tmp_path / 'theirs'}", env=zone)
    ours_manifest, ours_config, (ours_layer,) = read_dir(tmp_path / "ours")
    theirs_manifest, theirs_config, (theirs_layer,) = read_dir(tmp_path / "theirs")
    assert normalised_config(ours_config) == normalised_config(theirs_config)
    assert json.loads(ours_config)["created"] == "2023-11-15T03:43:20+05:30"
    assert len(ours_config) == len(theirs_config)  # same bytes but the digest, so same length
    for manifest in (ours_manifest, theirs_manifest):
        for item in (manifest["config"], manifest["layers"][0]):
            item.pop("digest")
        manifest["layers"][0].pop("size")
    assert ours_manifest == theirs_manifest
    added = frozenset({"podman", "podman/runscript"})  # c/image stamps them with the conversion time
    ours, theirs = tar_entries(ours_layer, ignore_mtime=added), tar_entries(theirs_layer, ignore_mtime=added)
    assert ours == theirs
    assert ("podman/runscript" in ours) == with_deffile
    assert "dev/sock" not in ours and ours["dev/null"][7:9] == (1, 3) and ours["bin/tool"][1] == 0o4755


def test_inspect_matches_skopeo(tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo) -> None:
    need_skopeo_sif()
    sif = build_sif(tmp_path, FILES, deffile_text=DEFFILE, arch=b"04")
    ours = json.loads(skopo_ok(run_skopo, "inspect", f"sif:{sif}"))
    theirs = json.loads(skopeo.run("inspect", f"sif:{sif}").stdout)
    for key in ("RepoTags", "Created", "DockerVersion", "Labels", "Architecture", "Os", "Env"):
        assert ours[key] == theirs[key], key
    assert ours["Architecture"] == "arm64"
    ours_config = json.loads(skopo_ok(run_skopo, "inspect", "--config", f"sif:{sif}"))
    theirs_config = json.loads(skopeo.run("inspect", "--config", f"sif:{sif}").stdout)
    assert normalised_config(json.dumps(ours_config).encode()) == normalised_config(json.dumps(theirs_config).encode())


# ---------------------------------------------------------------- errors


def test_defective_files_give_c_image_messages(tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo) -> None:
    need_skopeo_sif()
    good = build_sif(tmp_path, FILES, deffile_text=DEFFILE)
    cases: dict[str, tuple[int, bytes] | int] = {
        "magic": (HDR_MAGIC, b"SIF_MAGIX"),
        "version": (HDR_VERSION, b"02"),
        "no-objects": (HDR_FREE, (48).to_bytes(8, "little")),
        "short": 100,
    }
    for name, change in cases.items():
        path = tmp_path / f"{name}.sif"
        shutil.copyfile(good, path)
        if isinstance(change, int):
            path.write_bytes(good.read_bytes()[:change])
        else:
            patch(path, *change)
        theirs = skopeo.run("inspect", f"sif:{path}", check=False)
        assert theirs.returncode != 0
        message = re.search(rb'msg="Error parsing image name \\"[^"]*\\": (.*)"', theirs.stderr)
        assert message is not None, describe_result(theirs)
        line = assert_clean_error(run_skopo("inspect", f"sif:{path}"))
        assert line.endswith(message.group(1).decode()), (line, message.group(1))
    line = assert_clean_error(run_skopo("inspect", f"sif:{tmp_path / 'missing.sif'}"), expected_exit=2)
    assert line.endswith("loading SIF file: open " + str(tmp_path / "missing.sif") + ": no such file or directory")


def test_sif_is_read_only(tmp_path: Path, run_skopo: SkopoRunner) -> None:
    sif = build_sif(tmp_path, FILES)
    skopo_ok(run_skopo, "--insecure-policy", "copy", "-q", f"sif:{sif}", f"oci:{tmp_path / 'layout'}:x")
    before = sif.read_bytes()
    line = assert_clean_error(run_skopo("--insecure-policy", "copy", "-q", f"oci:{tmp_path / 'layout'}:x",
                                        f"sif:{sif}"))
    assert "can only be read from, not written to" in line
    line = assert_clean_error(run_skopo("delete", f"sif:{sif}"))
    assert "Deleting images not implemented for sif: images" in line
    assert sif.read_bytes() == before


# ---------------------------------------------------------------- policy


def test_policy_scopes_are_the_resolved_path_and_its_parents(tmp_path: Path, run_skopo: SkopoRunner) -> None:
    images = tmp_path / "images"
    images.mkdir()
    sif = build_sif(images, FILES)
    (tmp_path / "alias").symlink_to(images)
    policy = tmp_path / "policy.json"
    dest = f"dir:{tmp_path / 'out'}"

    def write_policy(scopes: dict[str, Any]) -> None:
        policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                      "transports": {"sif": scopes}}))

    write_policy({str(images.resolve()): [{"type": "reject"}]})
    line = assert_clean_error(run_skopo("--policy", policy, "copy", "-q", f"sif:{tmp_path / 'alias' / sif.name}",
                                        dest))
    assert "rejected" in line.lower()
    assert not (tmp_path / "out").exists()
    # The exact file wins over its directory.
    write_policy({str(images.resolve()): [{"type": "reject"}],
                  str(sif.resolve()): [{"type": "insecureAcceptAnything"}]})
    skopo_ok(run_skopo, "--policy", policy, "copy", "-q", f"sif:{tmp_path / 'alias' / sif.name}", dest)
    result = run_skopo("--policy", policy, "policy", "check", f"sif:{sif}")
    assert result.returncode == 0, describe_result(result)
    write_policy({"relative/path": [{"type": "reject"}]})
    line = assert_clean_error(run_skopo("--policy", policy, "copy", "-q", f"sif:{sif}", dest))
    assert "must be an absolute path" in line
