"""Progress reporters: plain lines for logs (no control codes), bars only on a TTY, nothing with -q."""

from __future__ import annotations

import io

import pytest

from toolkit.cli import progress
from toolkit.cli.progress import PlainReporter, RichReporter, make_reporter
from toolkit.digest import Digest
from toolkit.ops.report import NullReporter

DIGEST = Digest.parse("sha256:" + "ab" * 32)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_per_blob_and_periodic_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    reporter = PlainReporter(out, interval=10.0)
    reporter.message("Getting image source signatures")
    blob = reporter.blob("blob", DIGEST, 3 * 1024 * 1024)
    blob.advance(1024 * 1024)
    clock.now += 5  # under the interval: no line
    blob.advance(1024 * 1024)
    clock.now += 6  # over it: one totals line
    blob.advance(1024 * 1024)
    blob.finish("done")
    reporter.blob("config", None, -1).finish("skipped: already exists")
    lines = out.getvalue().splitlines()
    assert lines == [
        "Getting image source signatures",
        f"Copying blob {DIGEST} (3.0 MiB)",
        "Progress: 3.0 MiB copied, 279.3 KiB/s",
        f"Copying blob {DIGEST} done (3.0 MiB, 279.3 KiB/s)",
        "Copying config",
        "Copying config skipped: already exists",
    ]
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_make_reporter_chooses_by_terminal_and_quiet() -> None:
    assert isinstance(make_reporter(False, _Stream(tty=False)), PlainReporter)
    assert isinstance(make_reporter(True, _Stream(tty=False)), NullReporter)
    assert isinstance(make_reporter(True, _Stream(tty=True)), NullReporter)
    tty = make_reporter(False, _Stream(tty=True))
    assert isinstance(tty, RichReporter)
    tty.close()
