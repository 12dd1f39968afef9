"""`make demo` (examples/demo.sh): offline, no registry, the shipped signature verifies under
the shipped demo policy and a tampered copy is refused."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKOPO = ROOT / ".venv" / "bin" / "skopo"


@pytest.mark.skipif(not SKOPO.exists(), reason="the demo runs .venv/bin/skopo; run `make demo` once")
def test_demo_script_passes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"}}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    result = subprocess.run(["bash", str(ROOT / "examples" / "demo.sh")], capture_output=True, env=env,
                            timeout=300, check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "1. sigstoreSigned: accepted" in out
    assert "Verdict: rejected" in out
    assert 'level=fatal msg="Source image rejected' in result.stderr.decode()
    assert "$ skopo --policy examples/demo-policy.json copy --remove-signatures dir:examples/image-signed" in out
    assert list(tmp_path.glob("skopo-demo.*")) == []  # the script cleans up after itself
    # ... and says so, naming the place.
    last = out.rstrip().splitlines()[-1]
    match = re.fullmatch(r"Output was in (\S+); removed it \(SKOPO_DEMO_KEEP=1 keeps it\)\.", last)
    assert match is not None and Path(match[1]).parent == tmp_path and not Path(match[1]).exists(), last


@pytest.mark.skipif(not SKOPO.exists(), reason="the demo runs .venv/bin/skopo; run `make demo` once")
def test_demo_can_keep_its_output(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"}}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), SKOPO_DEMO_KEEP="1")
    result = subprocess.run(["bash", str(ROOT / "examples" / "demo.sh")], capture_output=True, env=env,
                            timeout=300, check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    last = out.rstrip().splitlines()[-1]
    match = re.fullmatch(r"Output kept in (\S+) \(demo\.tar loads with `docker load`\)\.", last)
    assert match is not None, last
    kept = Path(match[1])
    assert kept.parent == tmp_path and (kept / "demo.tar").is_file()
