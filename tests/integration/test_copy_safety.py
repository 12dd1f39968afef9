"""Failures of `skopo copy` through the CLI: one clean line, and the destination unchanged.

Covers security.md §3 (atomicity) and §4 items 15-22 (hostile archives and layouts):
every case exits non-zero with exactly one line on stderr and no traceback, the
destination tree hashes the same before and after, and no temp file is left behind.
Failure runs use `-q` so that stderr holds only the error (progress lines would precede it).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result, fatal_message
from helpers.bombs import gzip_bomb
from helpers.images import BuiltImage, build_image, write_dir, write_oci_layout
from helpers.trees import leftovers, snapshot

# ---------------------------------------------------------------- helpers


def copy_fails(run_skopo: SkopoRunner, *args: str | Path, match: str | None = None, timeout: float = 60) -> str:
    result = run_skopo("--insecure-policy", "copy", "-q", *args, timeout=timeout)
    assert result.stdout == b"", describe_result(result)
    return assert_clean_error(result, match=match)


def copy_ok(run_skopo: SkopoRunner, *args: str | Path) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.returncode == 0, describe_result(result)


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def corrupt_dir_source(tmp_path: Path, *, layer: int = 1, layer_count: int = 3) -> tuple[Path, BuiltImage]:
    """A `dir:` image whose layer `layer` has one byte flipped (same size)."""
    image = build_image(fmt="docker", layer_count=layer_count, layer_size=64 << 10, seed=101)
    src = write_dir(image, tmp_path / "corrupt-src")
    blob = src / _hex(image.layers[layer].digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    return src, image


# ---------------------------------------------------------------- corrupted source, each destination


def _prepare_dest(kind: str, tmp_path: Path, run_skopo: SkopoRunner) -> tuple[str, Path]:
    """An existing destination of `kind` (holding another image); returns (ref, path to snapshot)."""
    other = build_image(fmt="oci", layer_count=2, seed=102)
    dest_root = tmp_path / "dest"
    dest_root.mkdir()
    if kind == "dir":
        write_dir(build_image(seed=103), dest_root / "img")
        return f"dir:{dest_root / 'img'}", dest_root
    if kind == "oci":
        layout = write_oci_layout(other, dest_root / "layout", "other")
        write_oci_layout(build_image(fmt="oci", seed=104), layout, "third")
        return f"oci:{layout}:new", dest_root
    if kind == "docker-archive":
        return f"docker-archive:{dest_root / 'out.tar'}:example.com/x:y", dest_root
    assert kind == "oci-archive"
    write_oci_layout(other, tmp_path / "for-archive", "other")
    copy_ok(run_skopo, f"oci:{tmp_path / 'for-archive'}:other", f"oci-archive:{dest_root / 'out.tar'}:other")
    return f"oci-archive:{dest_root / 'out.tar'}:new", dest_root


@pytest.mark.parametrize("layer", [0, 2])
@pytest.mark.parametrize("kind", ["dir", "oci", "docker-archive", "oci-archive"])
def test_corrupted_layer_leaves_destination_unchanged(
    run_skopo: SkopoRunner, tmp_path: Path, kind: str, layer: int
) -> None:
    src, _ = corrupt_dir_source(tmp_path, layer=layer)
    ref, root = _prepare_dest(kind, tmp_path, run_skopo)
    before = snapshot(root)
    copy_fails(run_skopo, f"dir:{src}", ref, match="(?i)digest")
    assert snapshot(root) == before
    assert leftovers(tmp_path) == []


def test_corrupted_layer_with_dest_compress(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """A transformed stream (recompressed) must still be verified before anything is committed."""
    src, _ = corrupt_dir_source(tmp_path, layer=1)
    ref, root = _prepare_dest("oci", tmp_path, run_skopo)
    before = snapshot(root)
    copy_fails(run_skopo, "--dest-compress-format", "zstd", f"dir:{src}", ref, match="(?i)digest")
    assert snapshot(root) == before
    assert leftovers(tmp_path) == []


def test_dir_destination_with_foreign_files_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=105), tmp_path / "src")
    home = tmp_path / "precious"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    (home / "sub").mkdir()
    (home / "sub" / "notes").write_text("more")
    before = snapshot(home)
    copy_fails(run_skopo, f"dir:{src}", f"dir:{home}", match="(?i)overwrite|not .*image")
    assert snapshot(home) == before
    # An image directory with an extra file is refused too.
    write_dir(build_image(seed=106), tmp_path / "img")
    (tmp_path / "img" / "README").write_text("mine")
    before = snapshot(tmp_path / "img")
    copy_fails(run_skopo, f"dir:{src}", f"dir:{tmp_path / 'img'}")
    assert snapshot(tmp_path / "img") == before
    assert leftovers(tmp_path) == []


def test_docker_archive_existing_file_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=107), tmp_path / "src")
    target = tmp_path / "existing.tar"
    target.write_bytes(b"not empty")
    copy_fails(run_skopo, f"dir:{src}", f"docker-archive:{target}", match="existing")
    assert target.read_bytes() == b"not empty"
    # An empty file may be written (as skopeo does).
    empty = tmp_path / "empty.tar"
    empty.touch()
    copy_ok(run_skopo, f"dir:{src}", f"docker-archive:{empty}")
    assert tarfile.is_tarfile(empty)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- hostile inputs (security.md §4, 15-22)


def _archive_entries(image: BuiltImage) -> tuple[dict[str, bytes], str, list[str]]:
    """Members of a docker-archive for `image` (uncompressed layers), config name, layer names."""
    config_name = f"{_hex(image.config_digest)}.json"
    entries = {config_name: image.config}
    names = []
    for layer in image.layers:
        name = f"{_hex(layer.diff_id)}.tar"
        entries[name] = layer.data
        names.append(name)
    return entries, config_name, names


def _manifest_json(config: str, layers: list[str]) -> bytes:
    return json.dumps([{"Config": config, "RepoTags": ["example.com/h:1"], "Layers": layers}]).encode()


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 5
    return info


def _image() -> BuiltImage:
    return build_image(fmt="docker", compression="none", layer_count=1, seed=111)


def _docker_archive_case(case: str, tmp_path: Path) -> str:
    """Write the hostile docker-archive `case`; return the source reference."""
    image = _image()
    entries, config, layers = _archive_entries(image)
    plain = list(entries.items())
    path = tmp_path / f"{case}.tar"
    if case == "config-traversal":
        (tmp_path / "x").write_bytes(image.config)  # what "../../x" might reach on the host
        data = _tar([*plain, ("manifest.json", _manifest_json("../../x", layers))])
    elif case == "layer-absolute":
        data = _tar([*plain, ("manifest.json", _manifest_json(config, ["/etc/passwd"]))])
    elif case == "absolute-names":
        data = _tar([(f"/{n}", d) for n, d in plain] + [("/manifest.json", _manifest_json(config, layers))])
    elif case == "dotdot-names":
        data = _tar([(f"../{n}", d) for n, d in plain] + [("../manifest.json", _manifest_json(config, layers))])
    elif case == "layer-symlink-absolute":
        data = _tar([(config, image.config), _link("l.tar", "/etc/passwd"),
                     ("manifest.json", _manifest_json(config, ["l.tar"]))])
    elif case == "layer-symlink-escape":
        data = _tar([(config, image.config), _link("l.tar", "../../../../etc/passwd"),
                     ("manifest.json", _manifest_json(config, ["l.tar"]))])
    elif case == "layer-hardlink-shadow":
        data = _tar([(config, image.config), _link("l.tar", "/etc/shadow", tarfile.LNKTYPE),
                     ("manifest.json", _manifest_json(config, ["l.tar"]))])
    elif case == "layer-chardev":
        data = _tar([(config, image.config), _special("l.tar", tarfile.CHRTYPE),
                     ("manifest.json", _manifest_json(config, ["l.tar"]))])
    elif case == "layer-fifo":
        data = _tar([(config, image.config), _special("l.tar", tarfile.FIFOTYPE),
                     ("manifest.json", _manifest_json(config, ["l.tar"]))])
    elif case == "duplicate-manifest":
        data = _tar([*plain, ("manifest.json", _manifest_json(config, layers)),
                     ("manifest.json", _manifest_json(config, layers))])
    elif case == "truncated-tar":
        full = _tar([*plain, ("manifest.json", _manifest_json(config, layers))])
        data = full[: len(full) // 2 + 100]
    elif case == "truncated-gzip-layer":
        gz = gzip.compress(image.layers[0].data, mtime=0)
        entries2 = {config: image.config, layers[0]: gz[: len(gz) // 2]}
        data = _tar([*entries2.items(), ("manifest.json", _manifest_json(config, layers))])
    elif case == "manifest-not-json":
        data = _tar([*plain, ("manifest.json", b"[{not json")])
    elif case == "manifest-too-large":
        data = _tar([*plain, ("manifest.json", _manifest_json(config, layers) + b" " * (1 << 20))])
    else:
        raise AssertionError(case)
    path.write_bytes(data)
    return f"docker-archive:{path}"


DOCKER_ARCHIVE_CASES = [
    "config-traversal", "layer-absolute", "absolute-names", "dotdot-names", "layer-symlink-absolute",
    "layer-symlink-escape", "layer-hardlink-shadow", "layer-chardev", "layer-fifo", "duplicate-manifest",
    "truncated-tar", "truncated-gzip-layer", "manifest-not-json", "manifest-too-large",
]


@pytest.mark.parametrize("case", DOCKER_ARCHIVE_CASES)
def test_hostile_docker_archive(run_skopo: SkopoRunner, tmp_path: Path, case: str) -> None:
    src = _docker_archive_case(case, tmp_path)
    out = tmp_path / "out"
    copy_fails(run_skopo, src, f"dir:{out}", timeout=30)
    assert not os.path.lexists(out)
    assert leftovers(tmp_path) == []


def _oci_layout_case(case: str, tmp_path: Path) -> str:
    image = build_image(fmt="oci", layer_count=1, seed=121)
    layout = write_oci_layout(image, tmp_path / "layout", "latest")
    layer = layout / "blobs" / "sha256" / _hex(image.layers[0].digest)
    if case == "index-too-large":
        doc = json.loads((layout / "index.json").read_bytes())
        (layout / "index.json").write_bytes(json.dumps(doc).encode() + b" " * (4 << 20))
    elif case == "index-not-json":
        (layout / "index.json").write_bytes(b"{ this is not json")
    elif case == "missing-oci-layout":
        (layout / "oci-layout").unlink()
    elif case == "bad-layout-version":
        (layout / "oci-layout").write_bytes(b'{"imageLayoutVersion":"9.9.9"}')
    elif case == "blob-symlink-dev-zero":
        layer.unlink()
        layer.symlink_to("/dev/zero")
    elif case == "blob-fifo":
        layer.unlink()
        os.mkfifo(layer)
    elif case == "blob-directory":
        layer.unlink()
        layer.mkdir()
    elif case == "blobs-dir-symlink":
        outside = tmp_path / "outside"
        (layout / "blobs").rename(outside)
        (layout / "blobs").symlink_to(outside)
    elif case == "manifest-not-matching-index":
        manifest = layout / "blobs" / "sha256" / _hex(image.manifest_digest)
        manifest.write_bytes(image.manifest.replace(b"{", b"{ ", 1))
    else:
        raise AssertionError(case)
    return f"oci:{layout}:latest"


def _assert_source_refused(run_skopo: SkopoRunner, tmp_path: Path, src: str) -> None:
    """Copying the hostile `src` to `dir:` fails fast and cleanly, leaving nothing behind."""
    out = tmp_path / "out"
    start = time.monotonic()
    copy_fails(run_skopo, src, f"dir:{out}", timeout=30)
    assert time.monotonic() - start < 15
    assert not os.path.lexists(out)
    assert leftovers(tmp_path) == []


OCI_CASES = [
    "index-too-large", "index-not-json", "missing-oci-layout", "bad-layout-version", "blob-symlink-dev-zero",
    "blob-fifo", "blob-directory", "blobs-dir-symlink", "manifest-not-matching-index",
]


@pytest.mark.parametrize("case", OCI_CASES)
def test_hostile_oci_layout(run_skopo: SkopoRunner, tmp_path: Path, case: str) -> None:
    _assert_source_refused(run_skopo, tmp_path, _oci_layout_case(case, tmp_path))


def _dir_case(case: str, tmp_path: Path) -> str:
    image = build_image(fmt="docker", layer_count=1, seed=131)
    src = write_dir(image, tmp_path / "src")
    layer = src / _hex(image.layers[0].digest)
    if case == "blob-symlink-dev-zero":
        layer.unlink()
        layer.symlink_to("/dev/zero")
    elif case == "blob-fifo":
        layer.unlink()
        os.mkfifo(layer)
    elif case == "blob-symlink-host-file":
        layer.unlink()
        outside = tmp_path / "host-file"
        outside.write_bytes(image.layers[0].data)  # right bytes, but outside the image
        layer.symlink_to(outside)
    elif case.startswith("digest-traversal"):
        evil = "sha256:../outside/evil" if case == "digest-traversal" else "sha256:..%2f..%2fx"
        (tmp_path / "outside").mkdir()
        (tmp_path / "outside" / "evil").write_bytes(image.layers[0].data)
        doc = json.loads(image.manifest)
        doc["layers"][0]["digest"] = evil
        (src / "manifest.json").write_bytes(json.dumps(doc).encode())
    elif case == "uppercase-digest":
        doc = json.loads(image.manifest)
        doc["layers"][0]["digest"] = "sha256:" + _hex(image.layers[0].digest).upper()
        (src / "manifest.json").write_bytes(json.dumps(doc).encode())
    else:
        raise AssertionError(case)
    return f"dir:{src}"


DIR_CASES = ["blob-symlink-dev-zero", "blob-fifo", "blob-symlink-host-file", "digest-traversal",
             "digest-traversal-encoded", "uppercase-digest"]


@pytest.mark.parametrize("case", DIR_CASES)
def test_hostile_dir_source(run_skopo: SkopoRunner, tmp_path: Path, case: str) -> None:
    _assert_source_refused(run_skopo, tmp_path, _dir_case(case, tmp_path))


def test_oci_archive_blobs_symlink_escape(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """`blobs -> $OUTSIDE` in an oci-archive: the blobs on the host must never be read."""
    image = build_image(fmt="oci", layer_count=1, seed=141)
    layout = write_oci_layout(image, tmp_path / "layout", "latest")
    outside = tmp_path / "outside"
    (layout / "blobs").rename(outside)  # the host holds every blob the archive names
    archive = tmp_path / "escape.tar"
    archive.write_bytes(_tar([
        ("oci-layout", (layout / "oci-layout").read_bytes()),
        ("index.json", (layout / "index.json").read_bytes()),
        _link("blobs", str(outside)),
    ]))
    before = snapshot(outside)
    copy_fails(run_skopo, f"oci-archive:{archive}:latest", f"dir:{tmp_path / 'out'}", timeout=30)
    assert snapshot(outside) == before
    assert not (tmp_path / "out").exists()
    # The same with the entries after the link: nothing may be written under $OUTSIDE.
    archive2 = tmp_path / "escape2.tar"
    blob_entries = [(f"blobs/sha256/{p.name}", p.read_bytes()) for p in (outside / "sha256").iterdir()]
    archive2.write_bytes(_tar([
        ("oci-layout", (layout / "oci-layout").read_bytes()),
        ("index.json", (layout / "index.json").read_bytes()),
        _link("blobs", str(tmp_path / "planted")),
        *blob_entries,
    ]))
    result = run_skopo("--insecure-policy", "copy", "-q", f"oci-archive:{archive2}:latest",
                       f"dir:{tmp_path / 'out2'}", timeout=30)
    if result.returncode != 0:
        assert_clean_error(result)
    assert not (tmp_path / "planted").exists()
    assert leftovers(tmp_path) == []


def test_gzip_bomb_docker_archive(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """A ~1 MB gzip expanding to 1 GiB: clean error, fast, and no temp data left.

    (There is no CLI knob for the decompression budget; the default is 64 GiB or the free
    space of --tmpdir, so this bomb is spooled in full before the archive is found bad.)
    """
    bomb = tmp_path / "bomb.tar.gz"
    size = gzip_bomb(bomb, 1 << 30)
    assert size < 2 << 20
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    start = time.monotonic()
    result = run_skopo("--insecure-policy", "--tmpdir", tmpdir, "copy", "-q", f"docker-archive:{bomb}",
                       f"dir:{tmp_path / 'out'}", timeout=60)
    elapsed = time.monotonic() - start
    assert_clean_error(result)
    assert elapsed < 30, f"took {elapsed:.1f}s"
    assert list(tmpdir.iterdir()) == []
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- Ctrl-C


def _big_source(tmp_path: Path) -> Path:
    image = build_image(fmt="docker", compression="none", layer_count=4, layer_size=16 << 20, seed=151)
    return write_dir(image, tmp_path / "big")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("kind", ["dir", "oci", "docker-archive", "oci-archive"])
def test_signal_mid_copy_leaves_destination_unchanged(
    run_skopo: SkopoRunner, tmp_path: Path, kind: str, signum: signal.Signals
) -> None:
    """SIGINT, SIGTERM (timeout, systemd, CI cancellation) and SIGHUP at a random point of
    the copy: one line, status 128+N, destination as it was, no temp file or staging dir."""
    src = _big_source(tmp_path)
    ref, root = _prepare_dest(kind, tmp_path, run_skopo)
    before = snapshot(root)
    # Slow, CPU-bound recompression keeps the copy busy long enough to be interrupted.
    flags = ["--dest-compress", "--dest-compress-level", "9"]
    # SIG_DFL in the child: when the tests run in a background job, SIGINT is inherited as
    # ignored, and Python would then never raise KeyboardInterrupt. (exec keeps SIG_DFL.)
    restore = (
        "import os, signal, sys; [signal.signal(s, signal.SIG_DFL) for s in "
        "(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]; os.execv(sys.argv[1], sys.argv[1:])"
    )
    argv = [sys.executable, "-c", restore, sys.executable, "-m", "toolkit", "--insecure-policy", "copy", *flags,
            f"dir:{src}", ref]
    proc = subprocess.Popen(argv, env=dict(run_skopo.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.stderr is not None
    # Wait until a blob is being copied, then signal at a random point of the copy (the
    # seed is printed, so a failure can be replayed).
    seen = b""
    while b"Copying blob" not in seen:
        line = proc.stderr.readline()
        assert line, f"skopo ended before copying: {seen!r}"
        seen += line
    seed = random.randrange(1 << 30)
    delay = random.Random(seed).uniform(0.0, 0.7)  # the copy takes ~1.4 s here
    print(f"signal {signum.name} after {delay:.2f} s (seed {seed})")
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, rest = proc.communicate(timeout=30)
    reaction = time.monotonic() - sent
    if proc.returncode == 0:
        pytest.skip(f"the copy finished before the signal (after {delay:.2f} s)")
    assert proc.returncode == 128 + signum, rest.decode()
    assert stdout == b""
    errors = [line for line in rest.decode().splitlines() if "level=fatal" in line]
    assert len(errors) == 1, rest.decode()
    assert "Traceback" not in rest.decode()
    assert fatal_message(errors[0]) == ("interrupted" if signum == signal.SIGINT else f"terminated by {signum.name}")
    assert reaction < 5, f"took {reaction:.1f}s to stop"
    assert snapshot(root) == before
    assert leftovers(tmp_path) == []
