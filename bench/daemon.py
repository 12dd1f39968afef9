#!/usr/bin/env python3
"""Memory check for `docker-daemon:`: move a ~1 GB image into and out of a real engine.

Starts its own podman API service (vfs storage in a temp folder under /tmp, stopped at
the end), reuses the cached benchmark image of `bench/run.py` (an OCI layout of gzip
layers, ~`--size` bytes uncompressed), then measures, for skopo (and skopeo with
`--with-skopeo`):

- `oci -> docker-daemon`: the destination path (archive written on the fly into a
  chunked `POST /images/load`);
- `docker-daemon -> dir`: the source path (`GET /images/{name}/get`, spooled once to the
  tmpdir because engines put `manifest.json` last, then read in place).

It reports wall time, peak RSS of the child (`ru_maxrss`) and temporary disk (sampled by
`bench/run.py`'s sampler: the child's tmpdir, files it holds open, new entries of /tmp and
/var/tmp; the engine gets its own TMPDIR, but podman still stages loaded blobs in /var/tmp,
which shows up in the "outside tmpdir" column). Exit status 1 if skopo's peak RSS exceeds `--limit-mib` (150).

Not a test and not part of `make test`: `.venv/bin/python bench/daemon.py [--size 1G]`.
Needs podman (run as root, like the tests) and skopeo (to check the cached image).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import run as bench_run  # noqa: E402 - bench/run.py: cached image builder and measuring runner

from helpers.peers import PodmanService, start_podman_service  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
IMAGE_REF = "bench"  # the ref name inside the cached OCI layout


@dataclass
class Measure:
    scenario: str
    tool: str
    wall: float
    rss_mib: float
    tmp_mib: float  # peak temp disk seen, all watched places
    elsewhere_mib: float  # of which outside the child's tmpdir (the engine's /var/tmp files land here)


def _remove_image(service: PodmanService, name: str) -> None:
    service.api("DELETE", f"/v1.41/images/{name}?force=true", timeout=600)


def _mib(n: float) -> float:
    return round(n / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="uncompressed image size (default 1G)")
    parser.add_argument("--workdir", type=Path, default=bench_run.DEFAULT_WORKDIR)
    parser.add_argument("--skopo", default=str(ROOT / ".venv" / "bin" / "skopo"))
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "/usr/bin/skopeo")
    parser.add_argument("--with-skopeo", action="store_true", help="also measure skopeo on the same moves")
    parser.add_argument("--limit-mib", type=float, default=150.0, help="skopo's peak RSS budget (default 150)")
    args = parser.parse_args(argv)

    size = bench_run._parse_size(args.size)
    args.workdir.mkdir(parents=True, exist_ok=True)
    image_dir = bench_run.ensure_image(args.workdir, size, args.skopeo)
    tools = [("skopo", args.skopo)] + ([("skopeo", args.skopeo)] if args.with_skopeo else [])

    root = Path(tempfile.mkdtemp(prefix="podman-bench-", dir="/tmp"))  # short: socket path limit
    engine_tmp = root / "tmp"
    engine_tmp.mkdir()
    old_tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(engine_tmp)  # the engine's own spools stay out of our figures
    out_root = args.workdir / "daemon-out"
    measures: list[Measure] = []
    try:
        print(f"starting podman API service in {root}", flush=True)
        try:
            service = start_podman_service(root)
        finally:
            if old_tmpdir is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = old_tmpdir
        try:
            host = service.docker_host
            for tool, binary in tools:
                name = f"localhost/bench/daemon:{tool}"
                _remove_image(service, name)
                argv = [binary, "--insecure-policy", "copy", "-q", "--dest-daemon-host", host,
                        f"oci:{image_dir}:{IMAGE_REF}", f"docker-daemon:{name}"]
                print(f"{tool}: oci -> docker-daemon ...", flush=True)
                sample = bench_run.run_measured(argv, args.workdir / "tmp", [root])
                measures.append(Measure("oci -> docker-daemon", tool, sample.wall, _mib(sample.rss), _mib(sample.tmp),
                                        _mib(sample.tmp_elsewhere)))

                out = out_root / tool
                shutil.rmtree(out, ignore_errors=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                argv = [binary, "--insecure-policy", "copy", "-q", "--src-daemon-host", host,
                        f"docker-daemon:{name}", f"dir:{out}"]
                if tool == "skopo":
                    argv[3:3] = ["--tmpdir", str(args.workdir / "tmp")]
                print(f"{tool}: docker-daemon -> dir ...", flush=True)
                sample = bench_run.run_measured(argv, args.workdir / "tmp", [root, out_root])
                measures.append(Measure("docker-daemon -> dir", tool, sample.wall, _mib(sample.rss), _mib(sample.tmp),
                                        _mib(sample.tmp_elsewhere)))
                shutil.rmtree(out, ignore_errors=True)
                _remove_image(service, name)
        finally:
            service.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    lines = [
        f"docker-daemon memory check: image {size / 2**30:.2f} GiB uncompressed, skopo RSS limit {args.limit_mib} MiB",
        "",
        "| scenario | tool | wall s | peak RSS MiB | temp disk MiB | of which outside tmpdir |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {m.scenario} | {m.tool} | {m.wall:.1f} | {m.rss_mib} | {m.tmp_mib} | {m.elsewhere_mib} |" for m in measures
    ]
    lines += [
        "",
        "Temp disk outside the tool's tmpdir is mostly the engine's own (podman's c/image stages loaded blobs",
        "in /var/tmp whatever TMPDIR says); the `docker-daemon ->` rows include the one spool of the save stream.",
    ]
    table = "\n".join(lines)
    print("\n" + table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result_file = RESULTS_DIR / f"daemon-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result_file.write_text(json.dumps({"size": size, "measures": [m.__dict__ for m in measures], "markdown": table},
                                      indent=2))
    print(f"\nresults: {result_file}")
    over = [m for m in measures if m.tool == "skopo" and m.rss_mib > args.limit_mib]
    for m in over:
        print(f"FAIL: skopo {m.scenario}: peak RSS {m.rss_mib} MiB > {args.limit_mib} MiB", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
