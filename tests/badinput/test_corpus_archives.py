"""Bad-input corpus, archives and local layouts (security.md §4 cases 15-22).

The hostile archives and layouts are built by the case builders of
`tests/integration/test_copy_safety.py` (`_docker_archive_case`, `_oci_layout_case`,
`_dir_case`; the bomb is `helpers.bombs.gzip_bomb`), reused here so both suites test the same bytes; here each
case also proves that an existing destination is left byte-identical.
"""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

from corpus_guard import Guard, load_test_module

from helpers import assert_clean_error
from helpers.bombs import gzip_bomb
from helpers.images import build_image, write_dir, write_oci_layout
from helpers.trees import snapshot

safety = load_test_module("integration/test_copy_safety.py")


def archive_case(guard: Guard, tmp_path: Path, case: str, match: str | None = None) -> None:
    work = tmp_path / case
    work.mkdir()
    guard.check(guard.copy(safety._docker_archive_case(case, work), timeout=30), match=match)


def test_case_15_docker_archive_manifest_paths_escape(guard: Guard, tmp_path: Path) -> None:
    for case in ("config-traversal", "layer-absolute"):
        archive_case(guard, tmp_path, case, match="(?i)not found|does not exist|invalid")


def test_case_16_tar_names_links_devices(guard: Guard, tmp_path: Path) -> None:
    for case in ("absolute-names", "dotdot-names", "layer-symlink-absolute", "layer-symlink-escape",
                 "layer-hardlink-shadow", "layer-chardev", "layer-fifo"):
        archive_case(guard, tmp_path, case)
    # `blobs -> $OUTSIDE` then `blobs/sha256/<hex>` in an oci-archive: nothing read or written outside.
    image = build_image(fmt="oci", layer_count=1, seed=161)
    layout = write_oci_layout(image, tmp_path / "layout", "latest")
    outside = tmp_path / "outside"
    (layout / "blobs").rename(outside)
    before_outside = snapshot(outside)
    blob_entries = [(f"blobs/sha256/{p.name}", p.read_bytes()) for p in (outside / "sha256").iterdir()]
    head = [("oci-layout", (layout / "oci-layout").read_bytes()), ("index.json", (layout / "index.json").read_bytes())]
    archive = tmp_path / "link-only.tar"
    archive.write_bytes(safety._tar([*head, safety._link("blobs", str(outside))]))
    guard.check(guard.copy(f"oci-archive:{archive}:latest", timeout=30))
    assert snapshot(outside) == before_outside
    # Entries after the link are archive members (never extracted): using them is fine, but
    # nothing may appear at the link's target.
    archive = tmp_path / "link-then-blobs.tar"
    archive.write_bytes(safety._tar([*head, safety._link("blobs", str(tmp_path / "planted")), *blob_entries]))
    result = guard.run_skopo("--insecure-policy", "copy", "-q", f"oci-archive:{archive}:latest",
                             f"dir:{tmp_path / 'fresh'}", timeout=30)
    if result.returncode != 0:
        assert_clean_error(result)
    assert not (tmp_path / "planted").exists()


def test_case_17_duplicate_manifest_and_crafted_headers(guard: Guard, tmp_path: Path) -> None:
    archive_case(guard, tmp_path, "duplicate-manifest", match="(?i)ambiguous|duplicate|more than one")
    # Crafted headers: a negative (base-256) size and a zero-length PAX record: an error, never a hang.
    image = build_image(fmt="docker", compression="none", layer_count=1, seed=171)
    entries, config, layers = safety._archive_entries(image)
    good = safety._tar([*entries.items(), ("manifest.json", safety._manifest_json(config, layers))])
    negative = bytearray(good)
    negative[124:136] = b"\xff" * 12  # size field of the first header: base-256 -1
    zero_pax = bytearray(safety._tar([("manifest.json", b"[]")]))
    pax_at = zero_pax.find(b"path=")
    if pax_at < 0:  # tarfile wrote no PAX header for a short name: craft one
        zero_pax = bytearray(_pax_archive(b"0 \n"))
    for i, data in enumerate([bytes(negative), bytes(zero_pax), _pax_archive(b"0 \n"), _pax_archive(b"5 a=\n")]):
        path = tmp_path / f"crafted{i}.tar"
        path.write_bytes(data)
        start = time.monotonic()
        guard.check(guard.copy(f"docker-archive:{path}", timeout=30))
        assert time.monotonic() - start < 15


def _pax_archive(record: bytes) -> bytes:
    """A tar whose first entry is a PAX extended header holding `record` verbatim."""
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = len(record)
    header = pax.tobuf(format=tarfile.USTAR_FORMAT)
    body = record + bytes(-len(record) % 512)
    member = tarfile.TarInfo("manifest.json")
    member.size = 2
    return header + body + member.tobuf(format=tarfile.USTAR_FORMAT) + b"[]" + bytes(510) + bytes(1024)


def test_case_18_gzip_bomb(guard: Guard, tmp_path: Path) -> None:
    """10 MB of gzip expanding to 10 GiB: refused within seconds, no temp file left."""
    bomb = tmp_path / "x.tar.gz"
    size = gzip_bomb(bomb, 10 << 30)
    assert size < 12 << 20
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    start = time.monotonic()
    result = guard.run_skopo("--insecure-policy", "--tmpdir", tmpdir, "copy", "-q", f"docker-archive:{bomb}",
                             guard.ref, timeout=60)
    elapsed = time.monotonic() - start
    guard.check(result, match="(?i)decompress|ratio|exceed")
    assert elapsed < 15, f"took {elapsed:.1f}s"
    assert list(tmpdir.iterdir()) == []


def test_case_19_truncated_tar_or_layer(guard: Guard, tmp_path: Path) -> None:
    archive_case(guard, tmp_path, "truncated-tar")
    archive_case(guard, tmp_path, "truncated-gzip-layer")
    # A dir: layer truncated mid-stream (right name, short data).
    image = build_image(fmt="docker", layer_count=1, layer_size=4096, seed=191)
    src = write_dir(image, tmp_path / "short")
    blob = src / image.layers[0].digest.split(":", 1)[1]
    blob.write_bytes(blob.read_bytes()[:-100])
    guard.check(guard.copy(f"dir:{src}"), match="(?i)size|digest|short|expected")


def oci_case(guard: Guard, tmp_path: Path, case: str) -> None:
    work = tmp_path / case
    work.mkdir()
    start = time.monotonic()
    guard.check(guard.copy(safety._oci_layout_case(case, work), timeout=30))
    assert time.monotonic() - start < 15


def test_case_20_oci_layout_index_and_manifest(guard: Guard, tmp_path: Path) -> None:
    for case in ("index-too-large", "index-not-json", "missing-oci-layout", "bad-layout-version",
                 "manifest-not-matching-index"):
        oci_case(guard, tmp_path, case)


def test_case_21_special_blob_files(guard: Guard, tmp_path: Path) -> None:
    for case in ("blob-symlink-dev-zero", "blob-fifo", "blob-directory", "blobs-dir-symlink"):
        oci_case(guard, tmp_path, case)
    for case in ("blob-symlink-dev-zero", "blob-fifo", "blob-symlink-host-file"):
        work = tmp_path / f"dir-{case}"
        work.mkdir()
        guard.check(guard.copy(safety._dir_case(case, work), timeout=30))


def test_case_22_dir_destination_not_an_image(guard: Guard, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=221, layer_count=1, layer_size=256), tmp_path / "src")
    # The guarded destination here is a folder of user files (no `version`).
    for name in os.listdir(guard.path):
        os.unlink(guard.path / name)
    (guard.path / "thesis.tex").write_text("years of work")
    (guard.path / "sub").mkdir()
    (guard.path / "sub" / "notes").write_text("more")
    guard.before = snapshot(guard.root)
    guard.check(guard.copy(f"dir:{src}"), match="(?i)overwrite|not .*image")
