#!/usr/bin/env python3
"""Benchmark `sync`: skopo against skopeo, registry to registry, first run and no-change rerun.

A source docker-registry (loopback, plain HTTP) gets `--small` small images (2 layers of a
few KiB, repository `bench/small`) and `--large` larger ones (3 layers, `--large-size`
bytes of random content each image, `bench/large`). A YAML file lists both repositories
with every tag. For each repeat and each tool (alternating which goes first), a fresh
destination registry is started, then timed: the first `sync --src yaml --dest docker`, and
the same command again (nothing changed). Prints a Markdown table of medians and the ratios
skopo/skopeo (targets: first run <= 0.7, rerun <= 0.2) and writes the samples as JSON to
`bench/results/sync-<timestamp>.json`.

`--rtt-ms` (repeatable; default 0 and 20) puts both registries behind a proxy adding that
round-trip time (`latency_proxy.py`): 0 is plain loopback, where a no-change rerun measures
little but process start-up; 20 ms models a registry in the same region, where what a rerun
costs is its number of round trips.

Not a test. Needs `docker-registry` and `skopeo` (Debian peers, `make peers`). Reuses the
test helpers (tests/helpers) to start registries and build images.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from latency_proxy import LatencyProxy  # noqa: E402

from helpers.images import build_image  # noqa: E402
from helpers.registry import RegistryServer, push_image, start_registry  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1].upper() in units:
        return int(float(text[:-1]) * units[text[-1].upper()])
    return int(text)


def populate(source: RegistryServer, small: int, large: int, large_size: int) -> None:
    """Push the benchmark images (deterministic content) to `source`."""
    for i in range(small):
        push_image(source, "bench/small", f"s{i:03d}", build_image(layer_count=2, layer_size=4096, seed=10_000 + i))
    for i in range(large):
        image = build_image(layer_count=3, layer_size=large_size // 3, seed=20_000 + i)
        push_image(source, "bench/large", f"l{i}", image)


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{result.stderr.decode(errors='replace')[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--large", type=int, default=3)
    parser.add_argument("--large-size", default="32M", help="random content per large image (default 32M)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rtt-ms", type=float, action="append", default=None,
                        help="round-trip time added to both registries (repeatable; default: 0 and 20)")
    parser.add_argument("--skopo", default=f"{sys.executable} -m toolkit")
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "skopeo")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/skopo-bench-sync"))
    args = parser.parse_args()
    # As an installed package would have it: every module byte-compiled (PYTHONDONTWRITEBYTECODE
    # in a developer's environment would otherwise make each run recompile edited modules).
    compileall.compile_dir(str(ROOT / "toolkit"), quiet=1)
    rtts: list[float] = args.rtt_ms if args.rtt_ms is not None else [0.0, 20.0]

    args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    home = work / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
           "XDG_CONFIG_HOME": str(home / ".config"), "NO_PROXY": "127.0.0.1,localhost", "TMPDIR": str(work)}
    servers: list[RegistryServer] = []
    samples: dict[str, dict[str, dict[str, list[float]]]] = {}
    try:
        source = start_registry(work / "source")
        servers.append(source)
        print(f"populating {source.host}: {args.small} small + {args.large} x {args.large_size} images ...",
              file=sys.stderr)
        populate(source, args.small, args.large, _size(args.large_size))
        tools = {
            "skopo": [*args.skopo.split(), "--insecure-policy", "sync", "-q"],
            "skopeo": [args.skopeo, "--insecure-policy", "sync"],
        }
        repos = [r for r, n in (("bench/small", args.small), ("bench/large", args.large)) if n]
        for rtt in rtts:
            key = f"{rtt:g}"
            samples[key] = {tool: {"first": [], "rerun": []} for tool in tools}
            with contextlib.ExitStack() as stack:
                source_host = source.host
                if rtt:
                    source_host = stack.enter_context(LatencyProxy(source.host, rtt / 1000)).host
                sync_file = work / f"sync-{key}.yaml"
                sync_file.write_text(f"{source_host}:\n  tls-verify: false\n  images:\n"
                                     + "".join(f"    {r}: []\n" for r in repos))
                for repeat in range(args.repeat):
                    order = ["skopo", "skopeo"] if repeat % 2 == 0 else ["skopeo", "skopo"]
                    for tool in order:
                        dest = start_registry(work / f"dest-{tool}-{key}-{repeat}")
                        servers.append(dest)
                        dest_host = dest.host
                        if rtt:
                            dest_host = stack.enter_context(LatencyProxy(dest.host, rtt / 1000)).host
                        argv = [*tools[tool], "--dest-tls-verify=false", "--src", "yaml", "--dest", "docker",
                                str(sync_file), f"{dest_host}/mirror"]
                        first = timed(argv, env)
                        rerun = timed(argv, env)
                        samples[key][tool]["first"].append(first)
                        samples[key][tool]["rerun"].append(rerun)
                        print(f"rtt {key} ms, {tool}: first {first:.2f}s, rerun {rerun:.2f}s", file=sys.stderr)
                        dest.stop()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for key in samples:
        for scenario, target in (("first", 0.7), ("rerun", 0.2)):
            ours = statistics.median(samples[key]["skopo"][scenario])
            theirs = statistics.median(samples[key]["skopeo"][scenario])
            rows.append((key, scenario, ours, theirs, ours / theirs, target))
    print(f"\nsync {args.small} small + {args.large} x {args.large_size} images, registry -> registry "
          f"(median of {args.repeat})\n")
    print("| added RTT | run | skopo (s) | skopeo (s) | ratio | target |")
    print("|---|---|---|---|---|---|")
    for key, scenario, ours, theirs, ratio, target in rows:
        print(f"| {key} ms | {scenario} | {ours:.2f} | {theirs:.2f} | {ratio:.2f}x | <= {target}x |")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "samples": samples,
        "table": [dict(zip(("rtt_ms", "run", "skopo", "skopeo", "ratio", "target"), r, strict=True)) for r in rows],
    }
    path = RESULTS_DIR / f"sync-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nsamples: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
