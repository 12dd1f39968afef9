"""Crash consistency: `skopo copy` killed with SIGKILL at random points (issue 10, item 3).

For each destination kind (`dir:`, `oci:`, `docker-archive:`, a registry) the same copy is
started 20 times and killed after a random delay spread over the length of a full copy.
After every kill the destination must be either exactly as before or complete, never
unreadable; then an uninterrupted copy must succeed and, for `oci:` and the registry,
reuse the blobs that a killed run already stored ("skipped: already exists").
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from helpers import RegistryServer, SkopoRunner, describe_result
from helpers.images import BuiltImage, build_image, write_dir, write_oci_layout
from helpers.registry import get_manifest, push_image
from helpers.trees import snapshot

KILLS = 20
RNG = random.Random(int(os.environ.get("SKOPO_CRASH_SEED", "10")))


def image() -> BuiltImage:
    # A few MB over several layers: large enough that kills land mid-copy.
    return build_image(fmt="oci", layer_count=3, layer_size=512 << 10, seed=1010)


def hashes_to_its_name(path: Path) -> bool:
    return hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def full_copy_seconds(run_skopo: SkopoRunner, src: str, dest: str) -> float:
    start = time.monotonic()
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", src, dest)
    assert result.returncode == 0, describe_result(result)
    return time.monotonic() - start


def start_copy(run_skopo: SkopoRunner, src: str, dest: str, cwd: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "toolkit", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", src, dest]
    return subprocess.Popen(argv, env=dict(run_skopo.env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=cwd)


def kill_when(run_skopo: SkopoRunner, src: str, dest: str, cwd: Path, ready: Callable[[], bool]) -> None:
    """Start the copy and SIGKILL it as soon as `ready()` holds (or when it ends by itself)."""
    proc = start_copy(run_skopo, src, dest, cwd)
    try:
        deadline = time.monotonic() + 60
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def kill_at_random(run_skopo: SkopoRunner, src: str, dest: str, duration: float, cwd: Path,
                   started: Callable[[], bool] | None = None) -> None:
    """Start the copy and SIGKILL it after a random delay.

    With `started` (a probe that the copy began writing), every other run waits for it and
    then kills within a few milliseconds, so that kills also land in short write phases.
    """
    proc = start_copy(run_skopo, src, dest, cwd)
    try:
        if started is not None and RNG.random() < 0.5:
            deadline = time.monotonic() + duration * 2
            while not started() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(RNG.uniform(0.0, 0.03))
        else:
            time.sleep(RNG.uniform(0.0, duration * 1.1))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def crash_loop(run_skopo: SkopoRunner, tmp_path: Path, src: str, dest: str, duration: float,
               state_ok: Callable[[], str], reset: Callable[[], None] | None = None,
               started: Callable[[], bool] | None = None) -> dict[str, int]:
    """Kill KILLS copies; `state_ok()` classifies the destination ('before'/'complete') or fails."""
    seen = {"before": 0, "complete": 0}
    for _ in range(KILLS):
        kill_at_random(run_skopo, src, dest, duration, tmp_path, started)
        seen[state_ok()] += 1
        if reset is not None:
            reset()
    return seen


def final_copy(run_skopo: SkopoRunner, src: str, dest: str) -> str:
    result = run_skopo("--insecure-policy", "copy", "--dest-tls-verify=false", src, dest)
    assert result.returncode == 0, describe_result(result)
    return result.stderr.decode()


def test_sigkill_dir(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    img = image()
    src = f"dir:{write_dir(img, tmp_path / 'src')}"
    target = tmp_path / "dest" / "img"
    write_dir(build_image(seed=3, layer_count=1, layer_size=256), target)
    before = snapshot(target)
    duration = full_copy_seconds(run_skopo, src, f"dir:{tmp_path / 'scratch'}")

    partials_seen: list[int] = []

    def state() -> str:
        partials_seen.append(sum(p.name.startswith(".img.partial-") for p in target.parent.iterdir()))
        assert partials_seen[-1] <= 1, "stale staging directories pile up"
        if snapshot(target) == before:
            return "before"
        assert (target / "manifest.json").read_bytes() == img.manifest, "neither before nor complete"
        blobs = [p for p in target.iterdir() if len(p.name) == 64]
        assert sorted(p.name for p in blobs) == sorted(d.split(":")[1] for d in img.blobs())
        assert all(hashes_to_its_name(p) for p in blobs)
        return "complete"

    def started() -> bool:
        return any(p.name.startswith(".img.partial-") for p in target.parent.iterdir())

    crash_loop(run_skopo, tmp_path, src, f"dir:{target}", duration, state, started=started)
    assert any(partials_seen), "no kill landed mid-copy: make the image bigger"
    # A later copy succeeds, and removes the staging directory a killed run left (each
    # run removes those of earlier runs, so at most one is ever seen above).
    final_copy(run_skopo, src, f"dir:{target}")
    assert state() == "complete"
    left = [p.name for p in target.parent.iterdir() if p.name != "img"]
    assert left == [], f"stale staging left behind: {left}"


def oci_layout_state(layout: Path, before: dict[str, object], img: BuiltImage) -> str:
    index = json.loads((layout / "index.json").read_bytes())  # never truncated or invalid
    for entry in index["manifests"]:
        blob = layout / "blobs" / "sha256" / entry["digest"].split(":")[1]
        manifest = blob.read_bytes()
        assert hashlib.sha256(manifest).hexdigest() == blob.name
        for desc in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]:
            assert hashes_to_its_name(layout / "blobs" / "sha256" / desc["digest"].split(":")[1])
    names = {(e.get("annotations") or {}).get("org.opencontainers.image.ref.name"): e["digest"]
             for e in index["manifests"]}
    if names.get("new") == img.manifest_digest:
        return "complete"
    assert "new" not in names
    assert {k: v for k, v in before.items()} == {k: v for k, v in names.items()}
    return "before"


def test_sigkill_oci(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    img = image()
    src = f"dir:{write_dir(img, tmp_path / 'src')}"
    layout = write_oci_layout(build_image(fmt="oci", seed=4, layer_count=1, layer_size=256), tmp_path / "layout", "old")
    before = {(e.get("annotations") or {}).get("org.opencontainers.image.ref.name"): e["digest"]
              for e in json.loads((layout / "index.json").read_bytes())["manifests"]}
    duration = full_copy_seconds(run_skopo, src, f"oci:{tmp_path / 'scratch'}:new")
    dest = f"oci:{layout}:new"

    def reset() -> None:  # keep testing the interrupted case: forget a completed tag
        if oci_layout_state(layout, before, img) == "complete":
            index = json.loads((layout / "index.json").read_bytes())
            index["manifests"] = [e for e in index["manifests"] if e["digest"] != img.manifest_digest]
            (layout / "index.json").write_text(json.dumps(index))

    crash_loop(run_skopo, tmp_path, src, dest, duration, lambda: oci_layout_state(layout, before, img), reset)
    blobs = layout / "blobs" / "sha256"
    # Random delays can all land in start-up on a slow machine: one more kill right after a
    # layer is stored, so the reuse checked below is always exercised.
    kill_when(run_skopo, src, dest, tmp_path,
              lambda: any((blobs / d.split(":")[1]).exists() for d in img.layer_digests))
    oci_layout_state(layout, before, img)
    reset()
    stored = {p.name for p in blobs.iterdir()}
    for path in blobs.glob(".put-blob.tmp-*"):  # old enough to be taken for stale
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    out = final_copy(run_skopo, src, dest)
    assert oci_layout_state(layout, before, img) == "complete"
    assert not list(blobs.glob(".put-blob.tmp-*")), "temp files of killed copies were left"
    already = sum(d.split(":")[1] in stored for d in img.layer_digests)
    assert already, "no kill landed after a layer was stored: make the image bigger"
    assert out.count("skipped: already exists") >= already, out


def test_sigkill_docker_archive(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    img = image()
    src = f"dir:{write_dir(img, tmp_path / 'src')}"
    target = tmp_path / "out" / "image.tar"
    target.parent.mkdir()
    duration = full_copy_seconds(run_skopo, src, f"docker-archive:{tmp_path / 'scratch.tar'}")
    dest = f"docker-archive:{target}:example.com/crash:v1"

    def state() -> str:
        if not target.exists():
            return "before"
        with tarfile.open(target) as tar:  # a complete, readable archive
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            assert manifest[0]["RepoTags"] == ["example.com/crash:v1"]
            assert len(manifest[0]["Layers"]) == len(img.layers)
        return "complete"

    def reset() -> None:
        if target.exists():
            target.unlink()

    crash_loop(run_skopo, tmp_path, src, dest, duration, state, reset)
    # SIGKILL gives no chance to clean up: hidden `.image.tar.tmp-*` siblings may remain,
    # but never anything under the destination's own name.
    leftovers = list(target.parent.iterdir())
    assert all(p.name.startswith(".image.tar.tmp-") for p in leftovers)
    for path in leftovers:  # old enough to be taken for stale (their writers are dead)
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    final_copy(run_skopo, src, dest)
    result = run_skopo("inspect", f"docker-archive:{target}")
    assert result.returncode == 0, describe_result(result)
    # The next write to the same name removed what the killed copies left.
    assert [p.name for p in target.parent.iterdir()] == ["image.tar"]


@pytest.mark.peer
def test_sigkill_registry(run_skopo: SkopoRunner, tmp_path: Path, registry: RegistryServer) -> None:
    img = image()
    src = f"dir:{write_dir(img, tmp_path / 'src')}"
    old = build_image(fmt="oci", seed=5, layer_count=1, layer_size=256)
    push_image(registry, "crash/img", "v1", old)
    duration = full_copy_seconds(run_skopo, src, registry.docker_ref("crash/scratch:v1"))
    dest = registry.docker_ref("crash/img:v1")

    def state() -> str:
        resp = get_manifest(registry, "crash/img", "v1")
        assert resp.status_code == 200, resp.text
        if resp.content == old.manifest:
            return "before"
        assert resp.content == img.manifest, "neither before nor complete"
        for digest in img.blobs():
            head = requests.head(f"{registry.url}/v2/crash/img/blobs/{digest}", timeout=10)
            assert head.status_code == 200, digest
        return "complete"

    def reset() -> None:
        if state() == "complete":
            push_image(registry, "crash/img", "v1", old)

    crash_loop(run_skopo, tmp_path, src, dest, duration, state, reset)
    out = final_copy(run_skopo, src, dest)
    assert state() == "complete"
    # Blobs a killed run already uploaded (or the scratch repo holds, by mount) are not sent again.
    assert "skipped: already exists" in out, out
