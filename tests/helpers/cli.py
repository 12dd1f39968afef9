"""Running `skopo` as a user does: `python -m toolkit ...` in a subprocess.

`SkopoRunner` (the `run_skopo` fixture) runs with a throwaway HOME / XDG_CONFIG_HOME /
XDG_RUNTIME_DIR, so no test touches the user's auth.json, policy or registries.d.
`assert_clean_error` checks the error contract of `design.md` rule 5: non-zero exit,
one line on stderr, never a traceback. With stderr captured (not a terminal) that line is
skopeo's logrus form, `time="..." level=fatal msg="..."`; `fatal_message` reads the message
back out of it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from helpers.env import IsolatedHome, merge_env
from toolkit.cli.errorline import unquote_go

#: A fatal error as logrus's text formatter prints it when stderr is not a terminal.
FATAL_LINE = re.compile(
    r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)" level=fatal(?: msg=(?P<msg>"(?:[^"\\]|\\.)*"|\S+))?'
)


def fatal_message(line: str) -> str:
    """The message of one fatal-error line: the decoded `msg` of the logrus form, or what
    follows `Error: ` in the terminal form. Raises AssertionError for any other line."""
    match = FATAL_LINE.fullmatch(line.rstrip("\n"))
    if match is not None:
        return unquote_go(match["msg"]) if match["msg"] is not None else ""
    assert line.startswith("Error: "), f"not a fatal-error line: {line!r}"
    return line[len("Error: ") :].rstrip("\n")

__all__ = ["SkopoRunner", "StrPath", "assert_clean_error", "describe_result", "fatal_message"]

StrPath = str | os.PathLike[str]


def describe_result(result: subprocess.CompletedProcess[bytes]) -> str:
    """The command, exit status, stdout and stderr of `result`, for assertion messages."""
    args = result.args if isinstance(result.args, list | tuple) else [result.args]
    cmd = " ".join(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)
    out = (result.stdout or b"")[-4000:].decode("utf-8", errors="replace")
    err = (result.stderr or b"")[-4000:].decode("utf-8", errors="replace")
    return f"$ {cmd}\nexit status {result.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"


@dataclass(frozen=True)
class SkopoRunner:
    """Runs `[sys.executable, "-m", "toolkit", *args]` in an isolated home.

    Call it: `run_skopo("manifest-digest", path)` -> `CompletedProcess[bytes]` (never
    raises for a non-zero exit; check `returncode` or use `assert_clean_error`).
    `env` entries override the isolated environment (None removes a variable).
    """

    isolated: IsolatedHome

    @property
    def env(self) -> Mapping[str, str]:
        """The base environment every run starts from."""
        return self.isolated.env

    @property
    def home(self) -> Path:
        """The throwaway HOME."""
        return self.isolated.home

    def __call__(
        self,
        *args: StrPath,
        input: bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: StrPath | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [sys.executable, "-m", "toolkit", *(os.fspath(a) for a in args)]
        return subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=merge_env(self.isolated.env, env),
            cwd=cwd if cwd is not None else self.isolated.root,
            timeout=timeout,
            check=False,
        )


def assert_clean_error(
    result: subprocess.CompletedProcess[bytes],
    expected_exit: int | None = None,
    match: str | None = None,
    *,
    retries: bool = False,
) -> str:
    """Assert that `result` failed the way skopo must fail; return the error message.

    - the exit status is non-zero (and equals `expected_exit` if given),
    - "Traceback" appears nowhere in stderr or stdout,
    - stderr holds exactly one non-empty line, a fatal-error line (`fatal_message`),
    - its decoded message matches the regex `match` (with `re.search`), if given;
    - with `retries`, it may be preceded by retry announcements (`Failed, retrying in ...`),
      at least one.
    """
    info = describe_result(result)
    assert result.returncode != 0, f"expected a failure\n{info}"
    if expected_exit is not None:
        assert result.returncode == expected_exit, f"expected exit status {expected_exit}\n{info}"
    stderr = (result.stderr or b"").decode("utf-8", errors="replace")
    stdout = (result.stdout or b"").decode("utf-8", errors="replace")
    assert "Traceback" not in stderr and "Traceback" not in stdout, f"a traceback reached the user\n{info}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if retries:
        assert len(lines) > 1 and all(line.startswith("Failed, retrying in ") for line in lines[:-1]), (
            f"expected retry announcements before the error\n{info}"
        )
        lines = lines[-1:]
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}\n{info}"
    message = fatal_message(lines[0])
    if match is not None:
        assert re.search(match, message), f"stderr message does not match {match!r}\n{info}"
    return message
