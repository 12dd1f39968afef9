"""The corpus contract (see `conftest.py`): `Guard` and `load_test_module`.

A plain module (not `conftest`) so that test modules can import it by a unique name.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from helpers import SkopoRunner, assert_clean_error
from helpers.images import build_image, write_dir
from helpers.trees import leftovers, snapshot

TESTS = Path(__file__).resolve().parents[1]


def load_test_module(relative: str) -> ModuleType:
    """Import an existing test module by path (to reuse its case builders, not its tests)."""
    path = TESTS / relative
    name = "_corpus_reuse_" + path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Guard:
    """An existing `dir:` image that a failing command must leave exactly as it was."""

    def __init__(self, tmp_path: Path, run_skopo: SkopoRunner) -> None:
        self.tmp_path = tmp_path
        self.run_skopo = run_skopo
        self.root = tmp_path / "dest-root"
        self.path = write_dir(build_image(seed=4242, layer_count=1, layer_size=1024), self.root / "img")
        self.ref = f"dir:{self.path}"
        self.before = snapshot(self.root)

    def copy(self, *args: str | Path, env: dict[str, str | None] | None = None,
             timeout: float = 60, policy: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        """`skopo [--policy P | --insecure-policy] copy -q ARGS... guard.ref`."""
        trust = ["--policy", str(policy)] if policy is not None else ["--insecure-policy"]
        return self.run_skopo(*trust, "copy", "-q", *args, self.ref, env=env, timeout=timeout)

    def check(self, result: subprocess.CompletedProcess[bytes], match: str | None = None, *,
              retries: bool = False) -> str:
        """The corpus contract; returns the error line (`retries`: see `assert_clean_error`)."""
        line = assert_clean_error(result, match=match, retries=retries)
        assert snapshot(self.root) == self.before, "the destination changed"
        assert leftovers(self.tmp_path) == [], "temp files were left behind"
        return line
