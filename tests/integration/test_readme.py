"""The README's walkthrough, run as written: every `$ ` line of the `console` blocks between
the `<!-- walkthrough` and `<!-- end walkthrough -->` markers, in order, in bash, against the
session's local registry (`localhost:5000` in the README becomes the fixture's host), with
`skopo` on PATH, a throwaway HOME and a scratch working directory holding `examples/`.
And the "Python API" section's code, in one process, the same way."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SkopoRunner
from helpers.readme import (
    PLACEHOLDER,
    README,
    check_python_api_output,
    run_python_api_examples,
    walkthrough_commands,
)
from helpers.registry import RegistryServer

ROOT = Path(__file__).resolve().parents[2]


def test_readme_has_the_quick_start_and_sections() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    assert re.search(r"^```\nmake demo\nmake test\n```$", quick, re.MULTILINE), quick
    for heading in ("## Commands", "## Python API", "## Configuration files", "## Security model", "## Performance",
                    "## Plugins"):
        assert heading in text
    commands = walkthrough_commands(text)
    assert sum(c.startswith("skopo ") for c in commands) >= 5, commands
    assert any("docker-archive:-" in c and "|" in c for c in commands)


def test_walkthrough_runs_against_a_local_registry(
    run_skopo: SkopoRunner, registry_server: RegistryServer, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "skopo"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m toolkit "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    env = dict(run_skopo.env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    for command in walkthrough_commands(README.read_text()):
        line = command.replace(PLACEHOLDER, registry_server.host)
        result = subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True, cwd=work, env=env,
                                timeout=120, check=False)
        if result.returncode != 0:
            pytest.fail(f"README command failed: {line}\nexit {result.returncode}\n"
                        f"stdout: {result.stdout.decode()[-2000:]}\nstderr: {result.stderr.decode()[-2000:]}")
    assert (work / "demo.tar").is_file()
    listing = subprocess.run(["tar", "-tf", str(work / "demo.tar")], capture_output=True, check=True).stdout
    assert b"manifest.json" in listing


def test_python_api_examples_run_against_a_local_registry(
    run_skopo: SkopoRunner, registry_server: RegistryServer, tmp_path: Path
) -> None:
    env = dict(run_skopo.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    work = tmp_path / "work"
    result = run_python_api_examples(sys.executable, registry_server.host, work, env)
    check_python_api_output(result, work)
