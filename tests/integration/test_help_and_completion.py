"""`--help` at 80 columns in a pipe, and shell completion, as a user gets them."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer import _click

from helpers import SkopoRunner, describe_result
from helpers.tty import read_chunk
from toolkit.cli.app import _build_command

NARROW = {"COLUMNS": "80", "TERM": "dumb"}


def _commands() -> list[tuple[list[str], Any]]:
    """Every command path (hidden ones too: their help is reachable) and its click command."""
    root = _build_command()
    out: list[tuple[list[str], Any]] = [([], root)]
    for name, command in sorted(root.commands.items()):
        out.append(([name], command))
        for sub, subcommand in sorted(getattr(command, "commands", {}).items()):
            out.append(([name, sub], subcommand))
    return out


COMMANDS = _commands()


def _option_cells(command: Any) -> list[str]:
    """What click writes in the first column for each visible option, e.g. `--dest-creds USERNAME[:PASSWORD]`."""
    ctx = _click.Context(command, info_name=command.name)
    records = (param.get_help_record(ctx) for param in command.params if param.param_type_name == "option")
    return [record[0] for record in records if record is not None]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "skopo" for p, _ in COMMANDS])
def test_help_at_80_columns_cuts_nothing(run_skopo: SkopoRunner, path: list[str], command: Any) -> None:
    result = run_skopo(*path, "--help", env=NARROW)
    assert result.returncode == 0, describe_result(result)
    text = result.stdout.decode()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "…" not in text and "\x1b" not in text and "│" not in text
    # No cell cut with "...": only the usage line's "[ARGS]..." may end so.
    assert [line for line in lines if line.endswith("...") and "[ARGS]..." not in line] == []
    # Every option name and metavar whole, each once, at the start of its row.
    rows = [line.strip() for line in lines if line.startswith("  -")]
    for cell in _option_cells(command):
        starts = [row for row in rows if row == cell or row.startswith(cell + "  ")]
        assert len(starts) == 1, (cell, starts, text)
    # Metavars say what they are, never click's type names.
    assert not re.search(r"\b(TEXT|INTEGER|FLOAT|BOOLEAN|FILENAME)\b|<str>|<int>", "\n".join(rows)), text
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and not param.is_flag and not param.hidden:
            assert param.metavar, f"{param.opts[0]} has no metavar"


def test_commands_list_whole_first_sentences(run_skopo: SkopoRunner) -> None:
    text = run_skopo("--help", env=NARROW).stdout.decode()
    listing = " ".join(text.split("Commands:", 1)[1].split())
    assert "Delete IMAGE-NAME (a manifest and, in a registry, every tag pointing at it)." in listing


def _complete(run_skopo: SkopoRunner, line: str, cwd: Path, *, legacy: bool = False) -> tuple[list[str], float]:
    """Ask skopo for bash completions of `line` (cursor at its end), as the bash script does."""
    words = re.findall(r"[^\s:=]+|[:=]", line)  # as bash splits with COMP_WORDBREAKS
    if line.endswith(" "):
        words.append("")
    env: dict[str, str | None] = {"_SKOPO_COMPLETE": "complete_bash", "COMP_WORDS": "\n".join(words),
                                  "COMP_CWORD": str(len(words) - 1)}
    if not legacy:
        env.update(COMP_LINE=line, COMP_POINT=str(len(line)), _SKOPO_COMP_CUR=words[-1])
    start = time.monotonic()
    result = run_skopo(env=env, cwd=cwd)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, describe_result(result)
    return result.stdout.decode().split(), elapsed


@pytest.mark.parametrize("legacy", [False, True], ids=["skopo-script", "typer-script"])
def test_completion_of_transports_and_paths(run_skopo: SkopoRunner, tmp_path: Path, legacy: bool) -> None:
    (tmp_path / "layouts" / "alpine").mkdir(parents=True)
    (tmp_path / "layouts" / "busybox.tar").write_bytes(b"")
    (tmp_path / ".hidden").mkdir()
    got, _ = _complete(run_skopo, "skopo copy ", tmp_path, legacy=legacy)
    assert {"docker://", "oci:", "dir:", "oci-archive:", "docker-archive:"} <= set(got)
    assert "ostree:" not in got and "atomic:" not in got  # named only to be refused
    assert _complete(run_skopo, "skopo copy oc", tmp_path, legacy=legacy)[0] == ["oci-archive:", "oci:"]
    # bash replaces only what follows the last colon: the replies are that part.
    assert _complete(run_skopo, "skopo copy oci:", tmp_path, legacy=legacy)[0] == ["layouts/"]
    assert _complete(run_skopo, "skopo inspect oci:lay", tmp_path, legacy=legacy)[0] == ["layouts/"]
    got, _ = _complete(run_skopo, "skopo copy dir:x oci:layouts/", tmp_path, legacy=legacy)
    assert got == ["layouts/alpine/", "layouts/busybox.tar"]
    assert _complete(run_skopo, "skopo copy docker://", tmp_path, legacy=legacy)[0] == []
    assert "copy" in _complete(run_skopo, "skopo co", tmp_path, legacy=legacy)[0]
    got, _ = _complete(run_skopo, "skopo --debug copy --dest-compress-f", tmp_path, legacy=legacy)
    assert got == ["--dest-compress-format"]


def test_completion_is_quick(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """A TAB costs about one start-up: only the command being completed is built."""
    def best(line: str) -> float:
        return min(_complete(run_skopo, line, tmp_path)[1] for _ in range(3))

    def start_up() -> float:
        times = []
        for _ in range(3):
            start = time.monotonic()
            run_skopo("--version")
            times.append(time.monotonic() - start)
        return min(times)

    base = start_up()
    for line in ("skopo co", "skopo inspect oci:", "skopo copy --dest-c"):
        assert best(line) < base + 2.0, (line, base)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_installed_bash_script_completes_in_bash(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """The script `--show-completion bash` prints, sourced by a real interactive bash."""
    script = run_skopo("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": None})
    assert script.returncode == 0 and b"COMP_LINE" in script.stdout, describe_result(script)
    (tmp_path / "rc").write_bytes(script.stdout + b"\nPS1='$ '\n")
    (tmp_path / "layouts").mkdir()
    shim = tmp_path / "bin"
    shim.mkdir()
    skopo = shim / "skopo"
    skopo.write_text(f"#!/bin/sh\nexec {sys.executable} -m toolkit \"$@\"\n")
    skopo.chmod(0o755)
    env = {**run_skopo.env, "PATH": f"{shim}:{os.environ['PATH']}", "PYTHONPATH": os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")) if p)}
    # Type a line, TAB, one more character, then go to the start and make it an `echo`.
    lines = [b"skopo copy docker-ar\tX\x01echo \n", b"skopo copy oci:lay\tX\x01echo \n"]
    transcript = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z@]", b"", _bash_session(tmp_path, env, lines).replace(b"\r", b""))
    # The candidate is completed and the cursor stays right after it (no space).
    assert b"\nskopo copy docker-archive:X\n" in transcript, transcript
    assert b"\nskopo copy oci:layouts/X\n" in transcript, transcript


def _bash_session(cwd: Path, env: dict[str, str], lines: list[bytes]) -> bytes:
    """Type each of `lines` into an interactive bash on a PTY, waiting for the prompt each time."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execve("/bin/bash", ["bash", "--noprofile", "--rcfile", str(cwd / "rc"), "-i"], env)
    out = b""
    pending = list(lines)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            chunk = read_chunk(fd, 0.3)
            if chunk is None:
                break
            if chunk:
                out += chunk
            elif out.endswith(b"$ "):
                if not pending:
                    break
                line = pending.pop(0)
                before, _, after = line.partition(b"\t")
                os.write(fd, before + b"\t")
                time.sleep(0.1)
                waited = time.monotonic() + 20
                while time.monotonic() < waited and not out.rstrip().endswith((b":", b"/")):
                    out += read_chunk(fd, 0.3) or b""
                os.write(fd, after)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    return out
