"""Time to fail: skopo against skopeo when the registry is unreachable.

Not a test (no figure goes into a test). Each scenario runs `inspect` against a loopback
address that cannot answer, `--repeat` times per tool, alternating the tools, and reports the
median wall time and the first line of stderr:

- start-up: `inspect dir:/nonexistent` (fails before any network access: the floor);
- a closed port; the same with `--tls-verify=false` (HTTPS, then plain HTTP) and with
  `--retry-times 2`;
- a listener that accepts and never answers, with `--command-timeout 2s`, with and without
  `--tls-verify=false`.

    .venv/bin/python bench/failfast.py [--repeat 5] [--skopo PATH] [--skopeo PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def silent_listener() -> tuple[socket.socket, int]:
    """A socket that accepts every connection and never sends a byte (until closed)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return server, int(server.getsockname()[1])


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=300, check=False)
    elapsed = time.monotonic() - started
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return elapsed, proc.returncode, (lines[0] if lines else "")[:150]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skopo", default=str(ROOT / ".venv" / "bin" / "skopo"))
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "/usr/bin/skopeo")
    args = parser.parse_args(argv)
    port = closed_port()
    listener, silent = silent_listener()
    home = tempfile.mkdtemp(prefix="skopo-failfast-")
    env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config", "XDG_RUNTIME_DIR": home}
    scenarios: list[tuple[str, list[str]]] = [
        ("start-up (dir:/nonexistent)", ["inspect", "dir:/nonexistent/image"]),
        ("closed port", ["inspect", f"docker://127.0.0.1:{port}/a/b:c"]),
        ("closed port, --tls-verify=false", ["inspect", "--tls-verify=false", f"docker://127.0.0.1:{port}/a/b:c"]),
        ("closed port, --retry-times 2", ["inspect", "--retry-times", "2", f"docker://127.0.0.1:{port}/a/b:c"]),
        ("silent listener, --command-timeout 2s", ["--command-timeout", "2s", "inspect",
                                                    f"docker://127.0.0.1:{silent}/a/b:c"]),
        ("silent listener, --command-timeout 2s, --tls-verify=false",
         ["--command-timeout", "2s", "inspect", "--tls-verify=false", f"docker://127.0.0.1:{silent}/a/b:c"]),
    ]
    print("| scenario | skopo (s) | skopeo (s) | skopo's first stderr line |")
    print("| --- | --- | --- | --- |")
    try:
        for name, scenario in scenarios:
            times: dict[str, list[float]] = {"skopo": [], "skopeo": []}
            first = ""
            for i in range(args.repeat):
                order = ("skopo", "skopeo") if i % 2 == 0 else ("skopeo", "skopo")
                for tool in order:
                    binary = args.skopo if tool == "skopo" else args.skopeo
                    elapsed, _, line = run([binary, *scenario], env)
                    times[tool].append(elapsed)
                    if tool == "skopo":
                        first = line
            print(f"| {name} | {statistics.median(times['skopo']):.3f} | {statistics.median(times['skopeo']):.3f} "
                  f"| `{first}` |")
    finally:
        listener.close()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
