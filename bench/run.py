#!/usr/bin/env python3
"""Benchmark: skopo against skopeo on the same local image, in the same run.

Builds (once, cached under `--workdir`) an OCI layout holding a realistic image: several
gzip layers made of files already on the machine (`/usr/lib`, `/usr/share`, ...), about
`--size` bytes of uncompressed layer content. Then times, alternating the two tools, each
scenario `--repeat` times and reports medians: wall time, CPU time (user+sys of the child),
peak RSS of the measured tool alone (GNU `/usr/bin/time -f %M` wrapped around it), peak
extra disk, and the ratio skopo/skopeo. Large scenarios get a "bound" row: the least time
this machine needs for the bytes hashed, inflated and written (rates measured in the same
run), and skopo's fraction of it. Start-up rows time short commands; where podman is
installed, podman pull + save is a third column on the registry -> docker-archive rows.

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

from helpers.peers import podman_argv  # noqa: E402
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


def build_image(image_dir: Path, size: int, shares: tuple[float, ...] = LAYER_SHARES) -> None:
    """Write an OCI layout with len(`shares`) gzip layers, ~`size` uncompressed bytes."""
    tmp = image_dir.with_name(image_dir.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    blobs = tmp / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    files = _walk_files(SOURCE_DIRS)
    layers: list[dict[str, Any]] = []
    diff_ids: list[str] = []
    raw_total = 0
    exhausted = False
    for number, share in enumerate(shares):
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
        raw_total += sink.raw_size
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
    # Beside the layout, not in it: the layer content really written (the bound's U).
    _size_file(image_dir).write_text(str(raw_total))


def _size_file(image_dir: Path) -> Path:
    return image_dir.with_name(image_dir.name + ".uncompressed")


def _put_blob(blobs: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return digest


def ensure_image(workdir: Path, size: int, skopeo: str, shares: tuple[float, ...] = LAYER_SHARES) -> Path:
    """The cached image for `size` and `shares` (built if missing), checked readable by skopeo."""
    layers = "" if shares == LAYER_SHARES else f"-{len(shares)}l"
    image_dir = workdir / f"image-{size}{layers}-v{BUILD_VERSION}"
    if not (image_dir / "index.json").exists():
        print(f"building a {size / 2**30:.2f} GiB image in {image_dir} (cached for later runs)", flush=True)
        start = time.monotonic()
        build_image(image_dir, size, shares)
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


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (through /proc/PID/task/TID/children): the measured tool
    runs under /usr/bin/time (and, for skopeo, unshare + sh), so it is a descendant."""
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                continue
    return pids


class TempSampler(threading.Thread):
    """Samples the temporary disk used by one child process tree every `interval` seconds.

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
        for fd_dir, fd in self._open_fds():
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

    def _open_fds(self) -> Iterator[tuple[str, str]]:
        for pid in _process_tree(self.pid):
            fd_dir = f"/proc/{pid}/fd"
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                yield fd_dir, fd

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
    rss: int  # bytes: peak RSS of the measured process alone (GNU time's %M)
    tmp: int  # bytes
    tmp_elsewhere: int  # bytes outside the dedicated tmpdir


TIME_BIN = "/usr/bin/time"


def with_time(argv: list[str], rss_file: Path) -> list[str]:
    """`argv` run under GNU time writing the peak RSS (KiB) of its child, `argv` itself, to
    `rss_file`: the benchmark's own RSS (copied at fork, counted in a Python parent's
    ru_maxrss) is not in it, only time's small one at its fork."""
    return [TIME_BIN, "-f", "%M", "-o", str(rss_file), *argv]


def _read_rss(rss_file: Path) -> int:
    """Bytes from GNU time's output file (its last line; a failing command adds a line before)."""
    lines = rss_file.read_text().split()
    return int(lines[-1]) * 1024


def unmount_under(path: Path) -> None:
    """Lazily unmount whatever is mounted under `path` (podman's overlay layers), deepest first."""
    prefix = str(path) + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, stderr=subprocess.DEVNULL)


def run_measured(argv: list[str], tmpdir: Path, exclude: list[Path], rss_file: Path) -> Sample:
    """Run `argv` (already wrapped by `with_time(..., rss_file)`) with TMPDIR=`tmpdir`;
    wall, CPU (user+sys of the whole tree), peak RSS of the measured process (from
    `rss_file`) and peak temp disk of the tree."""
    unmount_under(tmpdir)
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    rss_file.unlink(missing_ok=True)
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
        # wait4's usage of a child includes the descendants it waited for: the tool's CPU.
        cpu=usage.ru_utime + usage.ru_stime,
        rss=_read_rss(rss_file),
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


@dataclass(frozen=True)
class Work:
    """The least work a verified copy costs on this machine, for the "bound" row: bytes
    hashed (`hash_c` times the compressed layers, `hash_u` times the uncompressed ones),
    inflated (the compressed layers, if `inflate`) and written (`write`: "C" compressed,
    "U" uncompressed). Counted for the whole machine, so a receiving registry's hash and
    write of every pushed byte are in it."""

    hash_c: int = 1
    hash_u: int = 0
    inflate: bool = False
    write: str = "C"


#: Decompressed docker-archive: source digests verified, layers inflated, diffIDs verified.
ARCHIVE = Work(hash_c=1, hash_u=1, inflate=True, write="U")
#: Blobs copied as they are into files (oci:, dir:, compressed docker-archive).
PASS = Work(hash_c=1, write="C")
#: Blobs pushed to a registry on this machine: hashed by the tool and by the registry.
PUSH = Work(hash_c=2, write="C")


#: tags of the sync scenario's source repository (all the 1 MiB image)
SYNC_TAGS = 50
SYNC_REPO = "bench/sync"


@dataclass
class Scenario:
    name: str
    #: docker-archive | oci | dir (files under the out dir); registry kinds: "reg-other" (a
    #: fresh repository on the second registry), "reg-new" (a fresh repository on the first
    #: registry), "reg-same" (the repository the image is already in, on the first registry);
    #: "none" (a start-up command given by `argv`), "sync" (sync's no-change rerun)
    dest_kind: str
    skopo_flags: list[str] = field(default_factory=list)
    skopeo_flags: list[str] = field(default_factory=list)
    note: str = ""
    source: str = "oci"  # oci (the local layout) | registry (the first registry) | encrypted (see below)
    group: str = "local"  # local | registry | seed | transform | startup
    #: main (--size, 6 layers) | seed (2 x --size, 8 layers) | mid (--size x 300/1024, 3 layers)
    #: | tiny (1 MiB, 1 layer)
    image: str = "main"
    #: the work of the "bound" row (None: no bound row, e.g. start-up or mount-only rows)
    work: Work | None = None
    #: a start-up command (after the binary): "{manifest}" and "{src}" are filled in
    argv: list[str] = field(default_factory=list)
    #: also time podman pull + save (registry -> docker-archive rows only)
    podman: bool = False


SCENARIOS = [
    Scenario("oci -> docker-archive", "docker-archive", work=ARCHIVE),
    Scenario(
        "oci -> docker-archive --dest-compress", "docker-archive", ["--dest-compress"], [], work=PASS,
        note="skopeo has no compressed docker-archive: compared with its default docker-archive",
    ),
    Scenario("oci -> oci", "oci", work=PASS),
    Scenario("oci -> dir", "dir", work=PASS),
    Scenario("registry -> oci", "oci", source="registry", group="registry", work=PASS),
    Scenario("registry -> dir", "dir", source="registry", group="registry", work=PASS),
    Scenario(
        "registry -> other registry", "reg-other", source="registry", group="registry", work=PUSH,
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
        "oci -> registry", "reg-new", group="registry", work=PUSH,
        note="push to a fresh repository each run: every blob is uploaded",
    ),
    Scenario(
        "oci -> registry (re-push unchanged)", "reg-same", group="registry",
        note="push to the repository that already holds the image: every blob is found (HEAD) "
        "and skipped, only the manifest is PUT again",
    ),
    Scenario("registry -> docker-archive", "docker-archive", source="registry", group="registry", work=ARCHIVE,
             podman=True),
    # Mid-sized image (3 layers, ~300 MiB with the default --size).
    Scenario("mid: registry -> oci", "oci", source="registry", group="registry", image="mid", work=PASS),
    Scenario("mid: registry -> other registry", "reg-other", source="registry", group="registry", image="mid",
             work=PUSH),
    Scenario("mid: oci -> registry", "reg-new", group="registry", image="mid", work=PUSH),
    # The seed scenario: 8 layers, 2 x --size, from the registry.
    Scenario("seed: registry -> docker-archive", "docker-archive", source="registry", group="seed",
             image="seed", work=ARCHIVE, podman=True),
    Scenario(
        "seed: registry -> docker-archive --dest-compress", "docker-archive", ["--dest-compress"], [],
        source="registry", group="seed", image="seed", work=PASS,
        note="skopeo has no compressed docker-archive: compared with its default docker-archive",
    ),
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
    # Start-up: commands that move (almost) nothing.
    Scenario("start-up: --version", "none", group="startup", argv=["--version"]),
    Scenario("start-up: manifest-digest FILE", "none", group="startup", argv=["manifest-digest", "{manifest}"]),
    Scenario("start-up: inspect oci:", "none", group="startup", argv=["inspect", "{src}"]),
    Scenario("start-up: 1 MiB image registry -> oci", "oci", source="registry", group="startup", image="tiny"),
    Scenario(
        "start-up: sync no-change rerun", "sync", source="registry", group="startup", image="tiny",
        note=f"sync --src docker --dest docker of a repository holding the 1 MiB image under "
        f"{SYNC_TAGS} tags, on loopback, to a destination already synced once (untimed) by the same tool",
    ),
]
GROUPS = ("local", "registry", "seed", "transform", "startup")
#: repository of each image on the first registry
IMAGE_REPOS = {"main": BENCH_REPO, "seed": "bench/seed-image", "mid": "bench/mid", "tiny": "bench/tiny"}


def image_plan(size: int) -> dict[str, tuple[int, tuple[float, ...]]]:
    """Uncompressed size and layer shares of each image, from --size."""
    return {
        "main": (size, LAYER_SHARES),
        "seed": (2 * size, (0.05, 0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05)),
        "mid": (size * 300 // 1024, (0.2, 0.5, 0.3)),
        "tiny": (1 << 20, (1.0,)),
    }


def dest_ref(kind: str, path: Path) -> str:
    if kind == "docker-archive":
        return f"docker-archive:{path}:bench/image:latest"
    if kind == "oci":
        return f"oci:{path}:bench"
    return f"dir:{path}"


def command(
    tool: str, binary: str, scenario: Scenario, src: str, dest: str, tmpdir: Path, keys: dict[str, str] | None = None
) -> list[str]:
    if scenario.dest_kind == "none":
        return [binary, *(a.format(**(keys or {}), src=src) for a in scenario.argv)]
    if scenario.dest_kind == "sync":
        quiet = ["-q"] if tool == "skopo" else []
        return [binary, "--insecure-policy", "sync", *quiet, "--src", "docker", "--dest", "docker",
                "--src-tls-verify=false", "--dest-tls-verify=false", src, dest]
    flags = [f.format(**(keys or {})) for f in (scenario.skopo_flags if tool == "skopo" else scenario.skopeo_flags)]
    if src.startswith("docker://"):
        flags.append("--src-tls-verify=false")
    if dest.startswith("docker://"):
        flags.append("--dest-tls-verify=false")
    return [binary, "--insecure-policy", "--tmpdir", str(tmpdir), "copy", "-q", *flags, src, dest]


def podman_command(src: str, dest: str, root: Path) -> list[str]:
    """podman pull `src` (docker://...) into a throwaway store under `root` (overlay), then
    podman save -o to the docker-archive `dest`; one shell, timed as one."""
    podman = shutil.which("podman") or "podman"
    ref = src.removeprefix("docker://")
    out = dest.removeprefix("docker-archive:").rsplit(":", 2)[0]
    script = ('ref=$1; out=$2; mkdir -p "$3/tmp"; shift 3; "$@" pull -q --tls-verify=false "$ref" >/dev/null '
              '&& exec "$@" save -q -o "$out" "$ref"')
    return ["sh", "-c", script, "sh", ref, out, str(root), *podman_argv(podman, root, driver="overlay")]


@dataclass
class Registries:
    """The two registries of the registry scenarios, holding the images they need."""

    first: Registry  # source of registry -> *, destination of pushes and same-registry copies
    second: Registry  # destination of registry -> other registry

    def stop(self) -> None:
        self.first.stop()
        self.second.stop()


def start_registries(
    workdir: Path, images: dict[str, Path], on_second: set[str], skopeo: str, binary: str = REGISTRY_BINARY
) -> Registries:
    """Start both registries and push each image of `images` to the first one (as
    IMAGE_REPOS[name]) and those named in `on_second` to the second one too, with skopeo
    (untimed): the source is then the same for both tools, and the second registry's blob
    store already holds the blobs, so every run sees the same store state (blobs present,
    repository new)."""
    first = start_registry(workdir / "registry-1", binary)
    try:
        second = start_registry(workdir / "registry-2", binary)
    except BaseException:
        first.stop()
        raise
    registries = Registries(first, second)
    pushes = [(first, IMAGE_REPOS[n], d) for n, d in images.items()]
    pushes += [(second, f"{IMAGE_REPOS[n]}-seed", d) for n, d in images.items() if n in on_second]
    try:
        for registry, repo, image_dir in pushes:
            start = time.monotonic()
            subprocess.run(
                [skopeo, "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                 f"oci:{image_dir}:{BENCH_TAG}", registry.ref(repo)],
                check=True,
            )
            print(f"  pushed {image_dir.name} to {registry.ref(repo)} in {time.monotonic() - start:.1f}s", flush=True)
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
        src = registries.first.ref(IMAGE_REPOS[scenario.image])
    elif scenario.source == "encrypted":
        src = src_encrypted
    else:
        src = src_oci
    kind = scenario.dest_kind
    if kind == "none":
        return src, "", lambda: None
    if kind == "sync":
        assert registries is not None
        return f"{registries.first.host}/{SYNC_REPO}", f"{registries.second.host}/sync-{tool}", lambda: None
    if kind.startswith("reg-"):
        assert registries is not None
        if kind == "reg-same":
            return src, registries.first.ref(IMAGE_REPOS[scenario.image]), lambda: None
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


# ------------------------------------------------------------------------ machine bound


@dataclass
class Rates:
    """This machine's single-core rates (bytes per second), measured in the same run."""

    sha256: float  # hashlib.sha256 over page-cached layer bytes
    inflate: float  # isal gzip decompression, in compressed bytes in per second
    write: float  # 256 KiB writes + fsync to a file in the workdir
    cores: int


def measure_rates(layer: Path, scratch: Path, limit: int) -> Rates:
    """Time sha256 and inflate over (up to `limit` bytes of) the page-cached `layer`, and
    writing `limit` bytes (+ fsync) to `scratch`; best of 2 passes each (the machine is shared)."""
    data = layer.read_bytes()[:limit]
    best = {"sha256": 0.0, "inflate": 0.0, "write": 0.0}
    piece = b"\x5a" * (256 << 10)
    for _ in range(2):
        start = time.perf_counter()
        h = hashlib.sha256()
        view = memoryview(data)
        for i in range(0, len(data), CHUNK):
            h.update(view[i:i + CHUNK])
        best["sha256"] = max(best["sha256"], len(data) / (time.perf_counter() - start))
        start = time.perf_counter()
        d = isal_zlib.decompressobj(31)
        for i in range(0, len(data), CHUNK):
            d.decompress(view[i:i + CHUNK])
        best["inflate"] = max(best["inflate"], len(data) / (time.perf_counter() - start))
        os.sync()
        start = time.perf_counter()
        with scratch.open("wb", buffering=0) as f:
            written = 0
            while written < limit:
                written += f.write(piece)
            os.fsync(f.fileno())
        best["write"] = max(best["write"], written / (time.perf_counter() - start))
        scratch.unlink()
    return Rates(cores=os.cpu_count() or 1, **best)


@dataclass
class ImageInfo:
    compressed: int
    uncompressed: int
    largest_layer: int  # compressed bytes


def bound_seconds(work: Work, image: ImageInfo, rates: Rates) -> float:
    """bound = max(CPU / cores, largest layer's inflate, write): hashing and inflating split
    over every core, except that one gzip stream inflates on one core, and the disk writes
    what must be written meanwhile. Start-up, network and page-cache reads are not counted."""
    c, u = image.compressed, image.uncompressed
    cpu = (work.hash_c * c + work.hash_u * u) / rates.sha256 + (c / rates.inflate if work.inflate else 0.0)
    serial = image.largest_layer / rates.inflate if work.inflate else 0.0
    written = u if work.write == "U" else c
    return max(cpu / rates.cores, serial, written / rates.write)


def image_info(image_dir: Path, uncompressed: int) -> ImageInfo:
    """Layer sizes of `image_dir`; `uncompressed` is used if the build left no size file
    (an image cached by an older builder)."""
    size_file = _size_file(image_dir)
    if size_file.exists():
        uncompressed = int(size_file.read_text())
    manifest = json.loads(manifest_path(image_dir).read_text())
    sizes = [layer["size"] for layer in manifest["layers"]]
    return ImageInfo(sum(sizes), uncompressed, max(sizes))


def manifest_path(image_dir: Path) -> Path:
    digest = str(json.loads((image_dir / "index.json").read_text())["manifests"][0]["digest"])
    return image_dir / "blobs/sha256" / digest.split(":")[1]


# ------------------------------------------------------------------------------ report

TOOLS = ("skopo", "skopeo", "podman")


@dataclass
class Row:
    scenario: str
    note: str
    skopo: list[Sample]
    skopeo: list[Sample]
    podman: list[Sample] = field(default_factory=list)
    bound: float | None = None  # seconds

    def median(self, tool: str, attr: str) -> float:
        samples: list[Sample] = getattr(self, tool)
        return float(statistics.median(getattr(s, attr) for s in samples))


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else ("-" if a == 0 else "inf")


def _secs(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    rates = meta["rates"]
    lines = [
        f"Main image: {meta['layers']} gzip layers, {_mib(meta['uncompressed'])} uncompressed, "
        f"{_mib(meta['compressed'])} compressed; {meta['repeat']} runs each, medians; "
        f"{meta['cpus']} CPUs. Ratio = skopo / skopeo. Rates (one core): sha256 {_mib(rates['sha256'])}/s, "
        f"inflate {_mib(rates['inflate'])}/s (compressed in), write+fsync {_mib(rates['write'])}/s. "
        f"skopo: {meta.get('skopo', 'unknown')}.",
        "",
        "| scenario | wall skopo | wall skopeo | ratio | CPU skopo | CPU skopeo | ratio "
        "| peak RSS skopo | peak RSS skopeo | ratio | peak extra disk skopo | skopeo | skopo of bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    marks = "¹²³⁴⁵⁶⁷⁸⁹"
    notes = list(dict.fromkeys(row.note for row in rows if row.note))
    for row in rows:
        m = row.median
        name = row.scenario + (f" {marks[notes.index(row.note) % len(marks)]}" if row.note else "")
        of_bound = f"{100 * row.bound / m('skopo', 'wall'):.0f}%" if row.bound else ""
        lines.append(
            f"| {name} | {_secs(m('skopo', 'wall'))} | {_secs(m('skopeo', 'wall'))} "
            f"| {_ratio(m('skopo', 'wall'), m('skopeo', 'wall'))} "
            f"| {_secs(m('skopo', 'cpu'))} | {_secs(m('skopeo', 'cpu'))} "
            f"| {_ratio(m('skopo', 'cpu'), m('skopeo', 'cpu'))} "
            f"| {_mib(m('skopo', 'rss'))} | {_mib(m('skopeo', 'rss'))} "
            f"| {_ratio(m('skopo', 'rss'), m('skopeo', 'rss'))} "
            f"| {_mib(m('skopo', 'tmp'))} | {_mib(m('skopeo', 'tmp'))} | {of_bound} |"
        )
        if row.bound:
            lines.append(f"| ↳ bound ({meta['cpus']}-core machine) | {_secs(row.bound)} | | | | | | | | | | | |")
    if notes:
        lines += ["", *(f"{marks[i % len(marks)]} {n}." for i, n in enumerate(notes))]
    with_podman = [row for row in rows if row.podman]
    if with_podman:
        lines += [
            "", "podman pull + save (pull into a throwaway overlay store, then `podman save -o`, timed together):",
            "", "| scenario | wall skopo | wall podman | ratio skopo/podman | peak RSS skopo | peak RSS podman "
            "| peak extra disk skopo | podman |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in with_podman:
            m = row.median
            lines.append(
                f"| {row.scenario} | {_secs(m('skopo', 'wall'))} | {_secs(m('podman', 'wall'))} "
                f"| {_ratio(m('skopo', 'wall'), m('podman', 'wall'))} | {_mib(m('skopo', 'rss'))} "
                f"| {_mib(m('podman', 'rss'))} | {_mib(m('skopo', 'tmp'))} | {_mib(m('podman', 'tmp'))} |"
            )
    return "\n".join(lines)


def user_install(workdir: Path) -> Path:
    """Install the working tree as a user's `pip install skopo` would: a wheel (not an
    editable install, whose import hook costs milliseconds on every start) in a venv of its
    own, `<workdir>/skopo-venv`, with its bytecode compiled (pip's default). Returns that
    venv's `skopo`.

    The wheel is rebuilt from the tree on every call and reinstalled without its
    dependencies; the venv (and its dependencies, from the same package indexes the
    developer's venv uses) is made anew only when `pyproject.toml` changed.
    """
    venv = workdir / "skopo-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".pyproject-sha256"
    wheels = workdir / "wheel"
    remove(wheels)
    # setuptools builds in the tree's (ignored) build/ and never prunes it: a module deleted
    # from the tree would still ship from an earlier build's copy.
    remove(ROOT / "build")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(ROOT)],
        check=True,
    )
    wheel = str(next(wheels.glob("skopo-*.whl")))
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not python.exists() or not stamp.exists() or stamp.read_text() != key:
        remove(venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", wheel], check=True)
        stamp.write_text(key)
    else:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", wheel],
            check=True,
        )
    remove(wheels)
    remove(ROOT / "build")
    return venv / "bin" / "skopo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="cache and scratch directory")
    parser.add_argument("--size", default=None,
                        help="uncompressed size of the main image (e.g. 1G, 200M; default 1G, 32M with "
                        "--quick); the seed image is twice that, the mid-sized one 300/1024 of it")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per tool and scenario (median reported; default 3, 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --size 32M --repeat 1 unless given (proves the harness, no figures)")
    parser.add_argument(
        "--skopo", default=None,
        help="the skopo binary to measure (default: the working tree installed as a wheel in "
        "<workdir>/skopo-venv, as users install it; e.g. .venv/bin/skopo for the editable install)",
    )
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "/usr/bin/skopeo")
    parser.add_argument("--no-podman", dest="podman", action="store_false",
                        help="skip the podman pull + save column even if podman is installed")
    parser.add_argument("--only", action="append", default=[], help="run only scenarios containing this text")
    parser.add_argument(
        "--group", action="append", choices=GROUPS, default=[],
        help="scenario group to run (repeatable; default: all): local (oci: source, files out), "
        "registry (docker-registry source or destination, main and mid-sized image), seed (the "
        "2 x --size 8-layer image registry -> docker-archive), transform (encryption, decryption, "
        "zstd:chunked, oci: -> oci:) or startup (short commands)",
    )
    for name in GROUPS:
        parser.add_argument(f"--{name}", dest="group", action="append_const", const=name,
                            help=f"same as --group {name}")
    parser.add_argument("--registry-binary", default=REGISTRY_BINARY, help="the docker-registry binary")
    args = parser.parse_args(argv)
    if not os.access(TIME_BIN, os.X_OK):
        parser.error(f"{TIME_BIN} (Debian package 'time') is needed to measure peak RSS")
    repeat_count: int = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    size = _parse_size(args.size if args.size is not None else ("32M" if args.quick else "1G"))
    # As an installed package would have it: every module byte-compiled (PYTHONDONTWRITEBYTECODE
    # in a developer's environment would otherwise make each run recompile edited modules).
    compileall.compile_dir(str(ROOT / "toolkit"), quiet=1)

    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.skopo is None:
        print("installing the working tree as a wheel in its own venv", flush=True)
        args.skopo = str(user_install(workdir))
        skopo_kind = f"{args.skopo} (the working tree as a wheel in a venv of its own, as users install it)"
    else:
        skopo_kind = args.skopo
    groups = set(args.group) or set(GROUPS)
    scenarios = [
        s for s in SCENARIOS
        if s.group in groups and (not args.only or any(o in s.name for o in args.only))
    ]
    plan = image_plan(size)
    needed = {"main"} | {s.image for s in scenarios}
    image_dirs = {name: ensure_image(workdir, plan[name][0], args.skopeo, plan[name][1]) for name in sorted(needed)}
    infos = {name: image_info(d, plan[name][0]) for name, d in image_dirs.items()}
    image_dir = image_dirs["main"]
    src = f"oci:{image_dir}:bench"
    for d in image_dirs.values():
        print(f"warming the page cache: {d.name}, {_mib(warm_cache(d))} read", flush=True)

    out_dir = workdir / "out"
    tmpdir = workdir / "tmp"
    rss_file = workdir / "rss.txt"
    remove(out_dir)
    out_dir.mkdir()
    layer_file = max((image_dir / "blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    rates = measure_rates(layer_file, out_dir / "rate-probe", min(256 << 20, max(16 << 20, size // 4)))
    print(f"rates: sha256 {_mib(rates.sha256)}/s, inflate {_mib(rates.inflate)}/s, "
          f"write+fsync {_mib(rates.write)}/s, {rates.cores} cores", flush=True)
    podman_ok = args.podman and shutil.which("podman") is not None
    rows = [
        Row(s.name, s.note, [], [], bound=bound_seconds(s.work, infos[s.image], rates) if s.work else None)
        for s in scenarios
    ]
    binaries = {"skopo": args.skopo, "skopeo": args.skopeo}
    keys = ensure_keys(workdir)
    keys["manifest"] = str(manifest_path(image_dir))
    src_encrypted = ""
    if any(s.source == "encrypted" for s in scenarios):
        src_encrypted = ensure_encrypted(workdir, image_dir, args.skopeo, keys)
        warm_cache(Path(src_encrypted.split(":")[1]))
    registries: Registries | None = None
    on_registry = [s for s in scenarios if s.source == "registry" or s.dest_kind.startswith("reg-")]
    if on_registry or any(s.dest_kind == "sync" for s in scenarios):
        print("starting two registries", flush=True)
        pushed = {name: image_dirs[name] for name in sorted({s.image for s in on_registry})}
        registries = start_registries(
            workdir, pushed, {s.image for s in on_registry if s.dest_kind == "reg-other"}, args.skopeo,
            args.registry_binary,
        )
        if any(s.dest_kind == "sync" for s in scenarios):
            for number in range(SYNC_TAGS):  # the sync source: one repository, many tags
                subprocess.run(
                    [args.skopeo, "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                     "--dest-tls-verify=false", registries.first.ref(IMAGE_REPOS["tiny"]),
                     registries.first.ref(SYNC_REPO, f"t{number:02}")],
                    check=True,
                )
    try:
        for scenario in scenarios:
            if scenario.dest_kind == "sync":  # the first sync of each tool, untimed
                for tool in ("skopo", "skopeo"):
                    run_src, run_dest, _ = endpoints(scenario, tool, 0, src, out_dir, registries)
                    subprocess.run(command(tool, binaries[tool], scenario, run_src, run_dest, tmpdir), check=True,
                                   stdout=subprocess.DEVNULL)
        for repeat in range(repeat_count):
            for scenario, row in zip(scenarios, rows, strict=True):
                order = ["skopo", "skopeo"] if repeat % 2 == 0 else ["skopeo", "skopo"]
                if scenario.podman and podman_ok:
                    order.append("podman")
                for tool in order:
                    # An `oci:` source is the scenario's image (the mid-sized push too, not the main one).
                    scenario_src = f"oci:{image_dirs[scenario.image]}:bench" if scenario.image in image_dirs else src
                    run_src, run_dest, cleanup = endpoints(
                        scenario, tool, repeat, scenario_src, out_dir, registries, src_encrypted
                    )
                    # No writeback of an earlier run's output may slow this one down.
                    os.sync()
                    if tool == "podman":
                        argv = with_time(podman_command(run_src, run_dest, tmpdir / "podman"), rss_file)
                    else:
                        argv = with_time(
                            command(tool, binaries[tool], scenario, run_src, run_dest, tmpdir, keys), rss_file
                        )
                    if tool == "skopeo" and scenario.group in ("registry", "seed"):
                        argv = skopeo_private_cache(argv, workdir / "skopeo-cache")
                    try:
                        sample = run_measured(argv, tmpdir, exclude=[workdir], rss_file=rss_file)
                    finally:
                        cleanup()
                    getattr(row, tool).append(sample)
                    print(
                        f"[{repeat + 1}/{repeat_count}] {scenario.name:48} {tool:6} wall {sample.wall:6.2f}s "
                        f"cpu {sample.cpu:6.2f}s rss {_mib(sample.rss):>8} tmp {_mib(sample.tmp):>8}",
                        flush=True,
                    )
    finally:
        if registries is not None:
            registries.stop()
        unmount_under(tmpdir)
    remove(tmpdir)
    rss_file.unlink(missing_ok=True)
    main_info = infos["main"]
    meta = {
        "size": size,
        "uncompressed": size,
        "compressed": main_info.compressed,
        "layers": len(LAYER_SHARES),
        "images": {n: asdict(i) for n, i in infos.items()},
        "rates": asdict(rates),
        "repeat": repeat_count,
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "skopo": skopo_kind,
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
                "bound": r.bound,
                **{tool: [asdict(s) for s in getattr(r, tool)] for tool in TOOLS},
                "median": {
                    tool: {a: r.median(tool, a) for a in ("wall", "cpu", "rss", "tmp", "tmp_elsewhere")}
                    for tool in TOOLS if getattr(r, tool)
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
