"""The README's runnable parts, for the tests that run them (from a checkout, and against
an installed wheel): the walkthrough's `$ ` lines and the Python API section's code."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "README",
    "PLACEHOLDER",
    "walkthrough_commands",
    "python_api_script",
    "run_python_api_examples",
    "check_python_api_output",
]

README = Path(__file__).resolve().parents[2] / "README.md"
#: The registry the README's examples name; tests substitute their own registry's host.
PLACEHOLDER = "localhost:5000"


def walkthrough_commands(text: str) -> list[str]:
    """The `$ ` lines of the walkthrough's ```console blocks, in order."""
    start = text.index("<!-- walkthrough")
    end = text.index("<!-- end walkthrough -->", start)
    blocks = re.findall(r"^```console\n(.*?)^```$", text[start:end], re.DOTALL | re.MULTILINE)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def python_api_script(text: str, registry_host: str) -> str:
    """The ```python blocks of the "Python API" section, joined into one script, with the
    registry placeholder replaced by `registry_host`."""
    start = text.index("<!-- python-api")
    end = text.index("<!-- end python-api -->", start)
    blocks = re.findall(r"^```python\n(.*?)^```$", text[start:end], re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 3, "the Python API section lost its examples"
    return "\n".join(blocks).replace(PLACEHOLDER, registry_host)


def run_python_api_examples(
    python: str, registry_host: str, work: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the README's Python examples with `python` in `work`, which gets a link to the
    repository's `examples/` (the README's paths are relative to a checkout)."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "examples").exists():
        (work / "examples").symlink_to(README.parent / "examples")
    script = work / "readme_examples.py"
    script.write_text(python_api_script(README.read_text(), registry_host))
    return subprocess.run([python, str(script)], capture_output=True, text=True, cwd=work, env=dict(env),
                          timeout=300, check=False)


def check_python_api_output(result: subprocess.CompletedProcess[str], work: Path) -> None:
    """What the README's examples must have printed and written."""
    assert result.returncode == 0, f"README Python examples failed:\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sha256:") and "['latest']" in lines[0], lines[0]
    assert any(line.startswith("True transports[") for line in lines), lines
    assert any(line.startswith("refused: Source image rejected") for line in lines), lines
    assert "Writing manifest to image destination" in lines
    assert any(line.strip().startswith("config sha256:") and ": done," in line for line in lines), lines
    assert lines[-1] == "True"
    assert (work / "py-demo.tar").is_file()
    assert not os.path.lexists(work / "refused")
