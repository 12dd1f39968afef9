"""cli/copying.limit_malloc_arenas: the copy commands' threads share one glibc malloc arena.

Each check runs in a fresh interpreter: four threads, alive together, each allocate 1 MiB
`bytes`; glibc's `malloc_stats()` then lists the process's arenas on stderr.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

_CODE = textwrap.dedent("""
    import ctypes, sys, threading
    if sys.argv[1] == "limit":
        from toolkit.cli.copying import limit_malloc_arenas
        limit_malloc_arenas()
    barrier = threading.Barrier(4)
    held = []
    def work():
        barrier.wait()
        held.append(bytes(1 << 20))
        barrier.wait()  # all alive together: none can hand its arena on
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    ctypes.CDLL(None).malloc_stats()
""")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "malloc_stats"),
    reason="glibc only",
)


def _arenas(mode: str, **env: str) -> int:
    base = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    result = subprocess.run(
        [sys.executable, "-c", _CODE, mode], capture_output=True, text=True, timeout=60, check=False,
        env={**base, "PYTHONPATH": str(ROOT), **env},
    )
    assert result.returncode == 0, result.stderr
    return sum(1 for line in result.stderr.splitlines() if line.startswith("Arena "))


def test_threads_share_one_arena_once_limited() -> None:
    assert _arenas("none") > 1  # the control: glibc's default, an arena per thread
    assert _arenas("limit") == 1


def test_the_users_own_setting_is_kept() -> None:
    assert _arenas("limit", MALLOC_ARENA_MAX="3") == 3
