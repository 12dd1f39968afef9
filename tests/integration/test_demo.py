"""`make demo` (examples/demo.sh): offline, no registry, the shipped signature verifies under
the shipped demo policy and a tampered copy is refused."""

from __future__ import annotations

import os
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
