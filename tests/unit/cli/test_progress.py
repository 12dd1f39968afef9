"""Progress reporters: plain lines for logs (no control codes), bars on a TTY, nothing with -q."""

from __future__ import annotations

import io
import re
import threading

import pyte
import pytest

from toolkit.cli.progress import PlainReporter, TtyReporter, make_reporter, size_text
from toolkit.digest import Digest
from toolkit.ops.report import NullReporter

DIGEST = Digest.parse("sha256:" + "ab" * 32)
OTHER = Digest.parse("sha256:" + "cd" * 32)
MiB = 1024 * 1024


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sizes_are_binary_units() -> None:
    assert [size_text(n) for n in (0, 1023, 1024, 1536, 10 * MiB, 3 * 1024 * MiB)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "10.0 MiB", "3.00 GiB"]


def test_plain_lines_per_blob_and_periodic_progress() -> None:
    clock = _Clock()
    out = io.StringIO()
    reporter = PlainReporter(out, interval=10.0, clock=clock)
    reporter.message("Getting image source signatures")
    blob = reporter.blob("blob", DIGEST, 4 * MiB)
    unknown = reporter.blob("blob", OTHER, -1)
    blob.advance(MiB)
    unknown.advance(MiB // 2)
    clock.now += 5  # under the interval: no progress line
    blob.advance(MiB)
    clock.now += 6  # over it: one line per blob still copying
    blob.advance(MiB)
    unknown.finish("done")
    blob.advance(MiB)
    blob.finish("done")
    reporter.blob("blob", OTHER, 10).finish("skipped: already exists")
    reporter.message("Writing manifest to image destination")
    assert out.getvalue().splitlines() == [
        "Getting image source signatures",
        f"Copying blob {DIGEST} (4.0 MiB)",
        f"Copying blob {OTHER}",
        f"Progress: blob {DIGEST} 3.0 MiB / 4.0 MiB (75%), 279.3 KiB/s",
        f"Progress: blob {OTHER} 512.0 KiB, 46.5 KiB/s",
        f"Copying blob {OTHER} done (512.0 KiB, 46.5 KiB/s)",
        f"Copying blob {DIGEST} done (4.0 MiB, 372.4 KiB/s)",
        f"Copying blob {OTHER} skipped: already exists",
        "Writing manifest to image destination",
    ]
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def _screen(data: str, columns: int, rows: int = 24) -> list[str]:
    screen = pyte.Screen(columns, rows)
    pyte.Stream(screen).feed(data.replace("\n", "\r\n"))  # the tty's onlcr
    return [line.rstrip() for line in screen.display]


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_tty_bars_fit_and_end_with_average_speed(columns: int) -> None:
    clock = _Clock()
    out = io.StringIO()
    reporter = TtyReporter(out, clock=clock, columns=columns)
    reporter.message("Getting image source signatures")
    big = reporter.blob("blob", DIGEST, 1000 * MiB)
    small = reporter.blob("config", OTHER, 2 * MiB)
    reporter.blob("blob", Digest.parse("sha256:" + "ef" * 32), 5).finish("skipped: already exists")
    for _ in range(10):
        clock.now += 0.5
        big.advance(99 * MiB)
        small.advance(MiB // 5)
    mid = _screen(out.getvalue(), columns)
    assert mid[0] == "Getting image source signatures"
    assert re.fullmatch(r"Copying blob abababababab \[=+>-*\] 990\.0 MiB / 1000\.0 MiB( 198\.0 MiB/s)?", mid[1]), mid
    assert mid[1].endswith("MiB/s") == (columns >= 80)  # the speed goes first when room is short
    assert mid[3] == "Copying blob efefefefefef skipped: already exists"
    big.advance(10 * MiB)
    big.finish("done")
    small.finish("done")
    reporter.message("Writing manifest to image destination")
    reporter.message("Storing signatures")
    reporter.close()
    final = _screen(out.getvalue(), columns)
    assert final[:6] == [
        "Getting image source signatures",
        "Copying blob abababababab done (1000.0 MiB, 200.0 MiB/s)",
        "Copying config cdcdcdcdcdcd done (2.0 MiB, 409.6 KiB/s)",
        "Copying blob efefefefefef skipped: already exists",
        "Writing manifest to image destination",
        "Storing signatures",
    ]
    assert all(len(line) < columns for line in final)
    # Every line written is shorter than the terminal: nothing wraps, so redraws never scroll.
    assert max(len(line) for line in re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\r", "", out.getvalue()).split("\n")) < columns


def test_a_report_line_among_running_bars_goes_above_them() -> None:
    out = io.StringIO()
    reporter = TtyReporter(out, clock=_Clock(), columns=80)
    blob = reporter.blob("blob", DIGEST, 10)
    reporter.message("Copying image sha256:... (1/2)")
    blob.advance(5)
    assert _screen(out.getvalue(), 80)[:2][0] == "Copying image sha256:... (1/2)"
    reporter.close()
    blob.advance(5)  # after close (Ctrl-C), late events from worker threads draw nothing
    blob.finish("done")
    text = out.getvalue()
    assert text.endswith("\n")
    assert "done" not in _screen(text, 80)[1]


def test_tty_reporter_is_thread_safe() -> None:
    out = io.StringIO()
    reporter = TtyReporter(out, columns=80)

    def work(n: int) -> None:
        blob = reporter.blob("blob", Digest.parse("sha256:" + f"{n:02x}" * 32), 1000)
        for _ in range(100):
            blob.advance(10)
        blob.finish("done")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reporter.close()
    screen = [line for line in _screen(out.getvalue(), 80) if line]
    assert len(screen) == 6 and all(" done (1000 B, " in line for line in screen), screen


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
    assert isinstance(tty, TtyReporter)
    tty.close()
