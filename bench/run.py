#!/usr/bin/env python3
"""Benchmark: skopo against skopeo on the same local image, in the same run.

Builds (once, cached under `--workdir`) an OCI layout holding a realistic image: several
gzip layers made of files already on the machine (`/usr/lib`, `/usr/share`, ...), about
`--size` bytes of uncompressed layer content. Then times, alternating the two tools, each
scenario `--repeat` times and reports medians: wall time, CPU time (user+sys of the child),
peak RSS of the child, temporary disk used, and the ratio skopo/skopeo.

Temporary disk is measured by sampling (every ~50 ms, in a thread) the size of a dedicated,
initially empty temp directory given to both tools (`TMPDIR` and `--tmpdir`), including
files already unlinked but still open by the child (found through `/proc/<pid>/fd`), plus
files the child opens in `/var/tmp` and `/tmp` (skopeo's default temp places).

Not a test: figures never go into timed tests. Run `make bench` or `bench/run.py --help`.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import stat
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from isal import isal_zlib

ROOT = Path(__file__).resolve().parent.parent
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


# ----------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    dest_kind: str  # docker-archive | oci | dir
    skopo_flags: list[str] = field(default_factory=list)
    skopeo_flags: list[str] = field(default_factory=list)
    note: str = ""


SCENARIOS = [
    Scenario("oci -> docker-archive", "docker-archive"),
    Scenario(
        "oci -> docker-archive --dest-compress", "docker-archive", ["--dest-compress"], [],
        note="skopeo has no compressed docker-archive: compared with its default docker-archive",
    ),
    Scenario("oci -> oci", "oci"),
    Scenario("oci -> dir", "dir"),
]


def dest_ref(kind: str, path: Path) -> str:
    if kind == "docker-archive":
        return f"docker-archive:{path}:bench/image:latest"
    if kind == "oci":
        return f"oci:{path}:bench"
    return f"dir:{path}"


def command(tool: str, binary: str, scenario: Scenario, src: str, dest: str, tmpdir: Path) -> list[str]:
    flags = scenario.skopo_flags if tool == "skopo" else scenario.skopeo_flags
    return [binary, "--insecure-policy", "--tmpdir", str(tmpdir), "copy", "-q", *flags, src, dest]


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
    for row in rows:
        m = row.median
        name = row.scenario + (" ¹" if row.note else "")
        lines.append(
            f"| {name} | {m('skopo', 'wall'):.2f} s | {m('skopeo', 'wall'):.2f} s "
            f"| {_ratio(m('skopo', 'wall'), m('skopeo', 'wall'))} "
            f"| {m('skopo', 'cpu'):.2f} s | {m('skopeo', 'cpu'):.2f} s "
            f"| {_ratio(m('skopo', 'cpu'), m('skopeo', 'cpu'))} "
            f"| {_mib(m('skopo', 'rss'))} | {_mib(m('skopeo', 'rss'))} "
            f"| {_mib(m('skopo', 'tmp'))} | {_mib(m('skopeo', 'tmp'))} |"
        )
    notes = [row.note for row in rows if row.note]
    if notes:
        lines += ["", *(f"¹ {n}." for n in notes)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="cache and scratch directory")
    parser.add_argument("--size", default="1G", help="uncompressed image size (e.g. 1G, 200M; default 1G)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and scenario (median reported)")
    parser.add_argument("--skopo", default=str(ROOT / ".venv" / "bin" / "skopo"))
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "/usr/bin/skopeo")
    parser.add_argument("--only", action="append", default=[], help="run only scenarios containing this text")
    args = parser.parse_args(argv)

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
    scenarios = [s for s in SCENARIOS if not args.only or any(o in s.name for o in args.only)]
    rows = [Row(s.name, s.note, [], []) for s in scenarios]
    binaries = {"skopo": args.skopo, "skopeo": args.skopeo}
    for repeat in range(args.repeat):
        for scenario, row in zip(scenarios, rows, strict=True):
            order = ("skopo", "skopeo") if repeat % 2 == 0 else ("skopeo", "skopo")
            for tool in order:
                dest_path = out_dir / f"{tool}-{scenario.dest_kind}"
                remove(dest_path)
                # No writeback of an earlier run's output may slow this one down.
                os.sync()
                argv = command(tool, binaries[tool], scenario, src, dest_ref(scenario.dest_kind, dest_path), tmpdir)
                sample = run_measured(argv, tmpdir, exclude=[workdir])
                getattr(row, tool).append(sample)
                print(
                    f"[{repeat + 1}/{args.repeat}] {scenario.name:40} {tool:6} wall {sample.wall:6.2f}s "
                    f"cpu {sample.cpu:6.2f}s rss {_mib(sample.rss):>8} tmp {_mib(sample.tmp):>8}",
                    flush=True,
                )
                remove(dest_path)
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
