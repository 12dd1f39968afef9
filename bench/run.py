#!/usr/bin/env python3
"""Benchmark: skopo against skopeo on the same local image, in the same run.

Builds (once, cached under `--workdir`) an OCI layout holding a realistic image: several
gzip layers made of files already on the machine (`/usr/lib`, `/usr/share`, ...), about
`--size` bytes of uncompressed layer content. Then times, alternating the two tools, each
scenario `--repeat` times and reports medians: wall time, CPU time (user+sys of the child),
peak RSS of the child, temporary disk used, and the ratio skopo/skopeo.

Registry scenarios (group `registry`, in the default run): two `docker-registry` instances
(Distribution) started on free 127.0.0.1 ports with storage in the workdir; the image is
pushed to both once with skopeo before timing; both tools get `--src-tls-verify=false` /
`--dest-tls-verify=false`. skopeo runs with an empty blob-info cache each time (a private
bind mount over /var/lib/containers/cache), so it cannot mount blobs it saw in earlier
runs: skopo has no such cache, and both start cold.

Temporary disk is measured by sampling (every ~50 ms, in a thread) the size of a dedicated,
initially empty temp directory given to both tools (`TMPDIR` and `--tmpdir`), including
files already unlinked but still open by the child (found through `/proc/<pid>/fd`), plus
files the child opens in `/var/tmp` and `/tmp` (skopeo's default temp places).

Not a test: figures never go into timed tests. Run `make bench` or `bench/run.py --help`.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import platform
import secrets
import shutil
import stat
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from isal import isal_zlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers.registry import RegistryServer  # noqa: E402
from helpers.registry import start_registry as helper_start_registry  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_WORKDIR = Path("/var/tmp/skopo-bench")
SOURCE_DIRS = ("/usr/lib", "/usr/share", "/usr/bin", "/usr/include", "/usr/libexec", "/usr/local", "/opt")
#: Share of the uncompressed size per layer (a base layer, a big runtime layer, smaller ones).
LAYER_SHARES = (0.08, 0.34, 0.22, 0.16, 0.12, 0.08)
BUILD_VERSION = "1"  # bump to invalidate cached images when the builder changes
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CHUNK = 4 << 20


# ------------------------------------------------------------------------------ image build


class _GzipBlobWriter:
    """File-like sink for tarfile: hashes the uncompressed stream (diffID), gzips it with
    isal level 1 and writes the result to `out`, hashing that too (blob digest)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._comp = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
        self.diff = hashlib.sha256()
        self.blob = hashlib.sha256()
        self.raw_size = 0
        self.size = 0

    def write(self, data: bytes) -> int:
        self.diff.update(data)
        self.raw_size += len(data)
        self._emit(self._comp.compress(data))
        return len(data)

    def _emit(self, data: bytes) -> None:
        if data:
            self.blob.update(data)
            self.size += len(data)
            self._out.write(data)

    def finish(self) -> None:
        self._emit(self._comp.flush())


def _walk_files(roots: tuple[str, ...]) -> Iterator[str]:
    """Regular files and symlinks under `roots`, in a stable order, skipping unreadable ones."""
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if os.path.islink(path) or (os.path.isfile(path) and os.access(path, os.R_OK) and st.st_size > 0):
                    yield path


def _layer_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_image(image_dir: Path, size: int) -> None:
    """Write an OCI layout with len(LAYER_SHARES) gzip layers, ~`size` uncompressed bytes."""
    tmp = image_dir.with_name(image_dir.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    blobs = tmp / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    files = _walk_files(SOURCE_DIRS)
    layers: list[dict[str, Any]] = []
    diff_ids: list[str] = []
    exhausted = False
    for number, share in enumerate(LAYER_SHARES):
        target = int(size * share)
        part = blobs / f"layer-{number}.partial"
        with part.open("wb") as out:
            sink = _GzipBlobWriter(out)
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                while sink.raw_size < target:
                    path = next(files, None)
                    if path is None:
                        exhausted = True
                        break
                    try:
                        tar.add(path, arcname=f"layer{number}{path}", recursive=False, filter=_layer_filter)
                    except OSError:
                        continue
            sink.finish()
        digest = sink.blob.hexdigest()
        part.rename(blobs / digest)
        layers.append({"mediaType": OCI_LAYER_GZIP, "digest": f"sha256:{digest}", "size": sink.size})
        diff_ids.append(f"sha256:{sink.diff.hexdigest()}")
        print(f"  layer {number}: {sink.raw_size / 2**20:.0f} MiB -> {sink.size / 2**20:.0f} MiB gzip", flush=True)
        if exhausted:
            print("  (ran out of source files)", flush=True)
            break
    config = json.dumps({
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"bench layer {i}"} for i in range(len(layers))],
    }, separators=(",", ":")).encode()
    config_digest = _put_blob(blobs, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": f"sha256:{config_digest}", "size": len(config)},
        "layers": layers,
    }, separators=(",", ":")).encode()
    manifest_digest = _put_blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": f"sha256:{manifest_digest}",
            "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "bench"},
        }],
    }
    (tmp / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    (tmp / "index.json").write_text(json.dumps(index))
    shutil.rmtree(image_dir, ignore_errors=True)
    tmp.rename(image_dir)


def _put_blob(blobs: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return digest


def ensure_image(workdir: Path, size: int, skopeo: str) -> Path:
    """The cached image for `size` (built if missing), checked readable by skopeo."""
    image_dir = workdir / f"image-{size}-v{BUILD_VERSION}"
    if not (image_dir / "index.json").exists():
        print(f"building a {size / 2**30:.2f} GiB image in {image_dir} (cached for later runs)", flush=True)
        start = time.monotonic()
        build_image(image_dir, size)
        print(f"  built in {time.monotonic() - start:.0f}s", flush=True)
    subprocess.run(
        [skopeo, "--insecure-policy", "inspect", f"oci:{image_dir}:bench"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return image_dir


def warm_cache(image_dir: Path) -> int:
    """Read every file of the layout once so both tools start with a warm page cache."""
    total = 0
    buf = bytearray(CHUNK)
    for path in sorted(image_dir.rglob("*")):
        if path.is_file():
            with path.open("rb", buffering=0) as f:
                while n := f.readinto(buf):
                    total += n
    return total


# -------------------------------------------------------------------------- measurement


def _tree_usage(path: Path) -> int:
    """Disk used (allocated blocks) by files under `path`; tolerant of concurrent changes."""
    total = 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


class TempSampler(threading.Thread):
    """Samples the temporary disk used by one child process every `interval` seconds.

    Counted: files under `tmpdir` (given to the tool as its temp directory), plus regular
    files the child holds open, even unlinked, under `tmpdir`, `/var/tmp` or `/tmp` (other
    than `exclude`), found through `/proc/<pid>/fd` (unlinked temp files are invisible
    otherwise). Only the child's own files count outside `tmpdir`: the machine is shared
    and other processes use `/tmp`. The peak of the sum is kept.
    """

    def __init__(self, pid: int, tmpdir: Path, exclude: list[Path], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.tmpdir = str(tmpdir)
        self.interval = interval
        self.exclude = [str(p) for p in exclude]
        self.peak = 0
        self.peak_elsewhere = 0  # the part outside `tmpdir` (skopeo's /var/tmp default, ...)
        self._halt = threading.Event()

    def _excluded(self, path: str) -> bool:
        return any(path == e or path.startswith(e + "/") for e in self.exclude)

    def sample(self) -> tuple[int, int]:
        in_tmpdir = _tree_usage(Path(self.tmpdir))
        elsewhere = 0
        seen: set[tuple[int, int]] = set()
        fd_dir = f"/proc/{self.pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            fds = []
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                deleted = target.endswith(" (deleted)")
                path = target.removesuffix(" (deleted)")
                if path.startswith(self.tmpdir + "/"):
                    if not deleted:
                        continue  # already counted by the tree walk
                elif not path.startswith(("/var/tmp/", "/tmp/")) or self._excluded(path):
                    continue
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if path.startswith(self.tmpdir + "/"):
                in_tmpdir += st.st_blocks * 512
            else:
                elsewhere += st.st_blocks * 512
        return in_tmpdir + elsewhere, elsewhere

    def run(self) -> None:
        while not self._halt.is_set():
            total, elsewhere = self.sample()
            self.peak = max(self.peak, total)
            self.peak_elsewhere = max(self.peak_elsewhere, elsewhere)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@dataclass
class Sample:
    wall: float
    cpu: float
    rss: int  # bytes
    tmp: int  # bytes
    tmp_elsewhere: int  # bytes outside the dedicated tmpdir


def run_measured(argv: list[str], tmpdir: Path, exclude: list[Path]) -> Sample:
    """Run `argv` with TMPDIR=`tmpdir`; wall, CPU, peak RSS and temp disk of the child."""
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    env = dict(os.environ, TMPDIR=str(tmpdir))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TempSampler(proc.pid, tmpdir, exclude)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr}")
    leftover = _tree_usage(tmpdir)
    return Sample(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss=usage.ru_maxrss * 1024,
        tmp=max(sampler.peak, leftover),
        tmp_elsewhere=sampler.peak_elsewhere,
    )


# ---------------------------------------------------------------------------- registries

REGISTRY_BINARY = "docker-registry"
#: skopeo's blob-info cache when run as root (containers/image `blobinfocache`): it records
#: which repositories hold which blobs and makes skopeo try cross-repository mounts.
SKOPEO_BLOB_CACHE = Path("/var/lib/containers/cache")
BENCH_REPO = "bench/image"
BENCH_TAG = "bench"


@dataclass
class Registry:
    """A running `docker-registry` (tests/helpers/registry.py) as the scenarios use it."""

    server: RegistryServer

    @property
    def host(self) -> str:
        return self.server.host

    def ref(self, repo: str, tag: str = BENCH_TAG) -> str:
        return self.server.docker_ref(f"{repo}:{tag}")

    def drop_repository(self, repo: str) -> None:
        """Delete a repository's metadata on disk (blobs stay: the store is shared)."""
        shutil.rmtree(self.server.storage_dir / "docker/registry/v2/repositories" / repo, ignore_errors=True)

    def stop(self) -> None:
        self.server.stop()


def start_registry(root: Path, binary: str = REGISTRY_BINARY) -> Registry:
    """Start a plain-HTTP registry with empty storage under `root`, logging warnings only
    (an access log line per request is the only other output)."""
    shutil.rmtree(root, ignore_errors=True)
    exe = shutil.which(binary)
    if exe is None:
        raise FileNotFoundError(binary)
    return Registry(helper_start_registry(root, binary=exe, extra_config={"log": {"level": "warn"}}))


def skopeo_private_cache(argv: list[str], cache_dir: Path) -> list[str]:
    """`argv` (a skopeo command) run with an empty blob-info cache of its own: a private mount
    namespace where `cache_dir` (emptied first) is bound over SKOPEO_BLOB_CACHE. The shell
    execs skopeo, so the measured process is skopeo itself."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    SKOPEO_BLOB_CACHE.mkdir(parents=True, exist_ok=True)
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            str(cache_dir), str(SKOPEO_BLOB_CACHE), *argv]


# ----------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    #: docker-archive | oci | dir (files under the out dir); registry kinds: "reg-other" (a
    #: fresh repository on the second registry), "reg-new" (a fresh repository on the first
    #: registry), "reg-same" (the repository the image is already in, on the first registry)
    dest_kind: str
    skopo_flags: list[str] = field(default_factory=list)
    skopeo_flags: list[str] = field(default_factory=list)
    note: str = ""
    source: str = "oci"  # oci (the local layout) | registry (the first registry) | encrypted (see below)
    group: str = "local"  # local | registry | transform


SCENARIOS = [
    Scenario("oci -> docker-archive", "docker-archive"),
    Scenario(
        "oci -> docker-archive --dest-compress", "docker-archive", ["--dest-compress"], [],
        note="skopeo has no compressed docker-archive: compared with its default docker-archive",
    ),
    Scenario("oci -> oci", "oci"),
    Scenario("oci -> dir", "dir"),
    Scenario("registry -> oci", "oci", source="registry", group="registry"),
    Scenario("registry -> dir", "dir", source="registry", group="registry"),
    Scenario(
        "registry -> other registry", "reg-other", source="registry", group="registry",
        note="a fresh repository on a second registry instance each run: every blob is downloaded "
        "and uploaded (no cross-repository mount is possible)",
    ),
    Scenario(
        "registry -> same registry", "reg-new", source="registry", group="registry",
        note="a fresh repository on the source registry each run. skopo mounts every blob from the "
        "source repository (POST ?mount=&from=): nothing is transferred. skopeo 1.9.3 mounts only from "
        "repositories its blob-info cache knows, which is empty here, so it downloads and uploads "
        "everything (with a warm cache it would mount too)",
    ),
    Scenario(
        "oci -> registry", "reg-new", group="registry",
        note="push to a fresh repository each run: every blob is uploaded",
    ),
    Scenario(
        "oci -> registry (re-push unchanged)", "reg-same", group="registry",
        note="push to the repository that already holds the image: every blob is found (HEAD) "
        "and skipped, only the manifest is PUT again",
    ),
    Scenario("registry -> docker-archive", "docker-archive", source="registry", group="registry"),
    # Layer transforms (issue 19). "{pub}" / "{key}" are the benchmark's RSA key pair.
    Scenario("oci -> oci, encrypt (jwe)", "oci", ["--encryption-key", "jwe:{pub}"], ["--encryption-key", "jwe:{pub}"],
             group="transform"),
    Scenario(
        "oci -> oci, decrypt (jwe)", "oci", ["--decryption-key", "{key}"], ["--decryption-key", "{key}"],
        source="encrypted", group="transform",
        note="the source is the image encrypted once by skopeo (untimed, cached) with the same key",
    ),
    Scenario(
        "oci -> oci, zstd:chunked", "oci", ["--dest-compress-format", "zstd:chunked"],
        ["--dest-compress-format", "zstd:chunked"], group="transform",
        note="both at c/storage's default zstd:chunked level (10); skopo with libzstd, skopeo with "
        "klauspost/compress",
    ),
]
GROUPS = ("local", "registry", "transform")


def dest_ref(kind: str, path: Path) -> str:
    if kind == "docker-archive":
        return f"docker-archive:{path}:bench/image:latest"
    if kind == "oci":
        return f"oci:{path}:bench"
    return f"dir:{path}"


def command(
    tool: str, binary: str, scenario: Scenario, src: str, dest: str, tmpdir: Path, keys: dict[str, str] | None = None
) -> list[str]:
    flags = [f.format(**(keys or {})) for f in (scenario.skopo_flags if tool == "skopo" else scenario.skopeo_flags)]
    if src.startswith("docker://"):
        flags.append("--src-tls-verify=false")
    if dest.startswith("docker://"):
        flags.append("--dest-tls-verify=false")
    return [binary, "--insecure-policy", "--tmpdir", str(tmpdir), "copy", "-q", *flags, src, dest]


@dataclass
class Registries:
    """The two registries of the registry scenarios, both holding the image."""

    first: Registry  # source of registry -> *, destination of pushes and same-registry copies
    second: Registry  # destination of registry -> other registry

    def stop(self) -> None:
        self.first.stop()
        self.second.stop()


def start_registries(workdir: Path, image_dir: Path, skopeo: str, binary: str = REGISTRY_BINARY) -> Registries:
    """Start both registries and push the image to each with skopeo (untimed): the source
    is then the same for both tools, and the second registry's blob store already holds
    the blobs, so every run sees the same store state (blobs present, repository new)."""
    first = start_registry(workdir / "registry-1", binary)
    try:
        second = start_registry(workdir / "registry-2", binary)
    except BaseException:
        first.stop()
        raise
    registries = Registries(first, second)
    try:
        for registry, repo in ((first, BENCH_REPO), (second, "bench/seed")):
            start = time.monotonic()
            subprocess.run(
                [skopeo, "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                 f"oci:{image_dir}:{BENCH_TAG}", registry.ref(repo)],
                check=True,
            )
            print(f"  pushed the image to {registry.ref(repo)} in {time.monotonic() - start:.1f}s", flush=True)
    except BaseException:
        registries.stop()
        raise
    return registries


def ensure_keys(workdir: Path) -> dict[str, str]:
    """An RSA key pair for the encryption scenarios (made once): {"key": PEM private, "pub": PEM public}."""
    key_path, pub_path = workdir / "bench-key.pem", workdir / "bench-key.pub"
    if not key_path.exists() or not pub_path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub_path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {"key": str(key_path), "pub": str(pub_path)}


def ensure_encrypted(workdir: Path, image_dir: Path, skopeo: str, keys: dict[str, str]) -> str:
    """The image encrypted once by skopeo (cached next to it): the decryption scenarios' source."""
    enc_dir = image_dir.with_name(image_dir.name + "-encrypted")
    if not (enc_dir / "index.json").exists():
        remove(enc_dir)
        start = time.monotonic()
        subprocess.run([skopeo, "--insecure-policy", "copy", "-q", "--encryption-key", f"jwe:{keys['pub']}",
                        f"oci:{image_dir}:{BENCH_TAG}", f"oci:{enc_dir}:{BENCH_TAG}"], check=True)
        print(f"  encrypted the image with skopeo in {time.monotonic() - start:.1f}s", flush=True)
    return f"oci:{enc_dir}:{BENCH_TAG}"


def endpoints(
    scenario: Scenario, tool: str, repeat: int, src_oci: str, out_dir: Path, registries: Registries | None,
    src_encrypted: str = "",
) -> tuple[str, str, Callable[[], None]]:
    """(source, destination, cleanup) of one run; fresh destinations are unique per run."""
    if scenario.source == "registry":
        assert registries is not None
        src = registries.first.ref(BENCH_REPO)
    elif scenario.source == "encrypted":
        src = src_encrypted
    else:
        src = src_oci
    kind = scenario.dest_kind
    if kind.startswith("reg-"):
        assert registries is not None
        if kind == "reg-same":
            return src, registries.first.ref(BENCH_REPO), lambda: None
        registry = registries.second if kind == "reg-other" else registries.first
        repo = f"bench/run-{tool}-{repeat}-{secrets.token_hex(3)}"
        return src, registry.ref(repo), lambda: registry.drop_repository(repo)
    dest_path = out_dir / f"{tool}-{kind}"
    remove(dest_path)
    return src, dest_ref(kind, dest_path), lambda: remove(dest_path)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@dataclass
class Row:
    scenario: str
    note: str
    skopo: list[Sample]
    skopeo: list[Sample]

    def median(self, tool: str, attr: str) -> float:
        samples: list[Sample] = getattr(self, tool)
        return float(statistics.median(getattr(s, attr) for s in samples))


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else ("-" if a == 0 else "inf")


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"Image: {meta['layers']} gzip layers, {_mib(meta['uncompressed'])} uncompressed, "
        f"{_mib(meta['compressed'])} compressed; {meta['repeat']} runs each, medians; "
        f"{meta['cpus']} CPUs. Ratio = skopo / skopeo.",
        "",
        "| scenario | wall skopo | wall skopeo | ratio | CPU skopo | CPU skopeo | ratio "
        "| peak RSS skopo | peak RSS skopeo | tmp disk skopo | tmp disk skopeo |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    marks = "¹²³⁴⁵⁶⁷⁸⁹"
    notes = [row.note for row in rows if row.note]
    for row in rows:
        m = row.median
        name = row.scenario + (f" {marks[notes.index(row.note) % len(marks)]}" if row.note else "")
        lines.append(
            f"| {name} | {m('skopo', 'wall'):.2f} s | {m('skopeo', 'wall'):.2f} s "
            f"| {_ratio(m('skopo', 'wall'), m('skopeo', 'wall'))} "
            f"| {m('skopo', 'cpu'):.2f} s | {m('skopeo', 'cpu'):.2f} s "
            f"| {_ratio(m('skopo', 'cpu'), m('skopeo', 'cpu'))} "
            f"| {_mib(m('skopo', 'rss'))} | {_mib(m('skopeo', 'rss'))} "
            f"| {_mib(m('skopo', 'tmp'))} | {_mib(m('skopeo', 'tmp'))} |"
        )
    if notes:
        lines += ["", *(f"{marks[i % len(marks)]} {n}." for i, n in enumerate(notes))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="cache and scratch directory")
    parser.add_argument("--size", default="1G", help="uncompressed image size (e.g. 1G, 200M; default 1G)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and scenario (median reported)")
    parser.add_argument("--skopo", default=str(ROOT / ".venv" / "bin" / "skopo"))
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "/usr/bin/skopeo")
    parser.add_argument("--only", action="append", default=[], help="run only scenarios containing this text")
    parser.add_argument(
        "--group", action="append", choices=GROUPS, default=[],
        help="scenario group to run (repeatable; default: all): local (oci: source, files out), "
        "registry (docker-registry source or destination) or transform (encryption, decryption, "
        "zstd:chunked, oci: -> oci:)",
    )
    parser.add_argument("--registry", dest="group", action="append_const", const="registry",
                        help="same as --group registry")
    parser.add_argument("--local", dest="group", action="append_const", const="local",
                        help="same as --group local")
    parser.add_argument("--transform", dest="group", action="append_const", const="transform",
                        help="same as --group transform")
    parser.add_argument("--registry-binary", default=REGISTRY_BINARY, help="the docker-registry binary")
    args = parser.parse_args(argv)
    # As an installed package would have it: every module byte-compiled (PYTHONDONTWRITEBYTECODE
    # in a developer's environment would otherwise make each run recompile edited modules).
    compileall.compile_dir(str(ROOT / "toolkit"), quiet=1)

    size = _parse_size(args.size)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    image_dir = ensure_image(workdir, size, args.skopeo)
    src = f"oci:{image_dir}:bench"
    manifest_entry = json.loads((image_dir / "index.json").read_text())["manifests"][0]
    manifest = json.loads((image_dir / "blobs/sha256" / manifest_entry["digest"].split(":")[1]).read_text())
    compressed = sum(layer["size"] for layer in manifest["layers"])
    print(f"warming the page cache: {_mib(warm_cache(image_dir))} read", flush=True)

    out_dir = workdir / "out"
    tmpdir = workdir / "tmp"
    remove(out_dir)
    out_dir.mkdir()
    groups = set(args.group) or set(GROUPS)
    scenarios = [
        s for s in SCENARIOS
        if s.group in groups and (not args.only or any(o in s.name for o in args.only))
    ]
    rows = [Row(s.name, s.note, [], []) for s in scenarios]
    binaries = {"skopo": args.skopo, "skopeo": args.skopeo}
    keys = ensure_keys(workdir)
    src_encrypted = ""
    if any(s.source == "encrypted" for s in scenarios):
        src_encrypted = ensure_encrypted(workdir, image_dir, args.skopeo, keys)
        warm_cache(Path(src_encrypted.split(":")[1]))
    registries: Registries | None = None
    if any(s.group == "registry" for s in scenarios):
        print("starting two registries", flush=True)
        registries = start_registries(workdir, image_dir, args.skopeo, args.registry_binary)
    try:
        for repeat in range(args.repeat):
            for scenario, row in zip(scenarios, rows, strict=True):
                order = ("skopo", "skopeo") if repeat % 2 == 0 else ("skopeo", "skopo")
                for tool in order:
                    run_src, run_dest, cleanup = endpoints(
                        scenario, tool, repeat, src, out_dir, registries, src_encrypted
                    )
                    # No writeback of an earlier run's output may slow this one down.
                    os.sync()
                    argv = command(tool, binaries[tool], scenario, run_src, run_dest, tmpdir, keys)
                    if tool == "skopeo" and scenario.group == "registry":
                        argv = skopeo_private_cache(argv, workdir / "skopeo-cache")
                    try:
                        sample = run_measured(argv, tmpdir, exclude=[workdir])
                    finally:
                        cleanup()
                    getattr(row, tool).append(sample)
                    print(
                        f"[{repeat + 1}/{args.repeat}] {scenario.name:40} {tool:6} wall {sample.wall:6.2f}s "
                        f"cpu {sample.cpu:6.2f}s rss {_mib(sample.rss):>8} tmp {_mib(sample.tmp):>8}",
                        flush=True,
                    )
    finally:
        if registries is not None:
            registries.stop()
    remove(tmpdir)
    meta = {
        "size": size,
        "uncompressed": size,
        "compressed": compressed,
        "layers": len(manifest["layers"]),
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "skopeo_version": subprocess.run(
            [args.skopeo, "--version"], check=False, capture_output=True, text=True
        ).stdout.strip(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    table = markdown(rows, meta)
    print()
    print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result_file = RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result_file.write_text(json.dumps({
        "meta": meta,
        "rows": [
            {
                "scenario": r.scenario,
                "note": r.note,
                "skopo": [asdict(s) for s in r.skopo],
                "skopeo": [asdict(s) for s in r.skopeo],
                "median": {
                    tool: {a: r.median(tool, a) for a in ("wall", "cpu", "rss", "tmp", "tmp_elsewhere")}
                    for tool in ("skopo", "skopeo")
                },
            }
            for r in rows
        ],
        "markdown": table,
    }, indent=2))
    print(f"\nresults: {result_file}")
    return 0


def _parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
