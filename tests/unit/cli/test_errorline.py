"""The fatal-error line: logrus's text form off a terminal, `Error: ...` on one."""

from __future__ import annotations

import calendar
import io
import os
import re
import shutil
import subprocess
import time

import pytest

from helpers.cli import FATAL_LINE, fatal_message
from toolkit.cli.errorline import fatal_line, go_quote, logfmt_time, print_fatal, unquote_go

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"

# Go's strconv.Quote results, written out from its documented rules.
CASES = [
    ("", '""'),
    ("plain", '"plain"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("tab\there\nnl\r", '"tab\\there\\nnl\\r"'),
    ("\x00\x1b\x7f", '"\\x00\\x1b\\x7f"'),
    ("\a\b\f\v", '"\\a\\b\\f\\v"'),
    ("café ✓ 日本", '"café ✓ 日本"'),
    ("\u200b\u2028", '"\\u200b\\u2028"'),
    ("\U000e0001", '"\\U000e0001"'),
    ("bad\udcffbyte", '"bad\\xffbyte"'),
]


@pytest.mark.parametrize(("text", "quoted"), CASES)
def test_go_quote_and_back(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted
    assert unquote_go(quoted) == text


@pytest.mark.parametrize("bad", ['"open', '"a"b"', '"\\q"', '"\\x4"', "has space"])
def test_unquote_refuses_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        unquote_go(bad)


def test_bare_messages_are_not_quoted_and_empty_has_no_msg() -> None:
    line = fatal_line("interrupted", terminal=False, now=0)
    assert line.endswith(" level=fatal msg=interrupted\n")
    assert fatal_line("", terminal=False, now=0).endswith(" level=fatal\n")
    assert fatal_message(fatal_line("", terminal=False)) == ""
    assert fatal_line("a b", terminal=True) == "Error: a b\n"


def test_time_is_rfc3339_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert logfmt_time(0) == "1970-01-01T00:00:00Z"
        monkeypatch.setenv("TZ", "XYZ-05:30")
        time.tzset()
        assert logfmt_time(0) == "1970-01-01T05:30:00+05:30"
        monkeypatch.setenv("TZ", "XYZ+03")
        time.tzset()
        assert logfmt_time(0) == "1969-12-31T21:00:00-03:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_line_break_stays_on_one_line() -> None:
    line = fatal_line("two\nlines", terminal=False)
    assert line.count("\n") == 1 and fatal_message(line) == "two\nlines"


def test_print_fatal_picks_the_form_from_the_stream() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    log, tty = io.StringIO(), Tty()
    print_fatal('no "x"', log)
    print_fatal('no "x"', tty)
    assert FATAL_LINE.fullmatch(log.getvalue().rstrip("\n"))
    assert tty.getvalue() == 'Error: no "x"\n'


@pytest.mark.skipif(not os.path.exists(SKOPEO), reason="skopeo is not installed")
@pytest.mark.parametrize("name", ['nope:x', 'oci:/nonexistent-dir/a"b\\c', "docker://UPPER/x"])
def test_same_shape_as_skopeo(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """skopeo's own line, re-built from its decoded message, is byte for byte the same."""
    result = subprocess.run([SKOPEO, "inspect", name], capture_output=True, env={**os.environ, "TZ": "UTC"},
                            timeout=60, check=False)
    line = result.stderr.decode().splitlines()[0]
    stamp = re.match(r'time="([^"]+)"', line)
    assert stamp is not None, line
    epoch = calendar.timegm(time.strptime(stamp[1], "%Y-%m-%dT%H:%M:%SZ"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert fatal_line(fatal_message(line), terminal=False, now=epoch) == line + "\n"
    finally:
        monkeypatch.undo()
        time.tzset()
