"""Progress output for the CLI (stderr only; stdout stays clean for `docker-archive:/dev/stdout`).

- On a terminal (`TtyReporter`): one line per blob, redrawn in place, as skopeo's bars:
  `Copying blob 2d473b07cdd5 [=====>------] 1.2 MiB / 3.1 MiB 5.0 MiB/s`, then
  `Copying blob 2d473b07cdd5 done (3.1 MiB, 4.2 MiB/s)` (the average speed of that
  blob) or `Copying blob 2d473b07cdd5 skipped: already exists`. Every line is shorter
  than the terminal is wide (parts are dropped, never wrapped: the speed first, then the
  bar), so redrawing never scrolls. A report line (`Writing manifest to image
  destination`, `Storing signatures`) comes after the bars it follows: once every bar of
  the block is finished the block is left on the screen as it is and the line is printed
  below it. `close()` (also after Ctrl-C) draws the last state and leaves the cursor at
  the start of the line below; nothing is drawn after it.
- Otherwise (CI logs, pipes; `PlainReporter`): plain lines, never control codes:
  `Copying blob sha256:... (3.0 MiB)` when its first bytes arrive, `Copying blob
  sha256:... done (3.0 MiB, 279.3 KiB/s)` at its end, `Copying blob sha256:... skipped:
  already exists` alone for a blob the destination has, and every `interval` seconds a
  `Progress: blob sha256:... 1.0 MiB / 3.0 MiB (33%), 279.3 KiB/s` line per blob still
  copying (without the total and percentage when the size is not known).
- `-q`: nothing (`NullReporter`).

Sizes and speeds are in binary units everywhere (B, KiB, MiB, GiB), as skopeo prints
them. The counts are the bytes read from the source: the blob as the source stores it
(compressed, for a registry), against the size the source announced, as skopeo counts.
All reporters are thread-safe (layers are copied in parallel).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from toolkit.digest import Digest
from toolkit.ops.report import BlobProgress, NullReporter, Reporter

__all__ = ["PlainReporter", "TtyReporter", "make_reporter", "size_text"]

Clock = Callable[[], float]


def size_text(n: float) -> str:
    """A byte count for people, in binary units: `512 B`, `3.0 KiB`, `12.3 MiB`, `1.50 GiB`."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


def _rate(nbytes: int, seconds: float) -> str:
    return size_text(nbytes / max(seconds, 1e-6)) + "/s"


class _Blob:
    """What both reporters know of one blob; the owner's lock guards the mutable fields."""

    def __init__(self, kind: str, digest: Digest | None, size: int, now: float) -> None:
        self.kind = kind
        self.digest = digest
        self.size = size
        self.copied = 0
        self.start = now
        self.end: float | None = None
        self.status = ""  # "" while copying; then "done" or "skipped: already exists"


# --- logs -------------------------------------------------------------------------------


class _PlainBlob:
    def __init__(self, owner: PlainReporter, blob: _Blob) -> None:
        self._owner = owner
        self._blob = blob

    def advance(self, nbytes: int) -> None:
        self._owner._advance(self._blob, nbytes)

    def finish(self, status: str) -> None:
        self._owner._finish(self._blob, status)


class PlainReporter:
    """Line-oriented progress for logs (module doc). Thread-safe."""

    def __init__(self, stream: TextIO, interval: float = 10.0, clock: Clock = time.monotonic) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._interval = interval
        self._clock = clock
        self._last = clock()
        self._active: list[_Blob] = []
        self._announced: set[int] = set()

    def _write(self, lines: list[str]) -> None:
        if lines:
            self._stream.write("".join(line + "\n" for line in lines))
            self._stream.flush()

    @staticmethod
    def _label(blob: _Blob) -> str:
        return f"{blob.kind} {blob.digest}" if blob.digest is not None else blob.kind

    def _announce(self, blob: _Blob) -> list[str]:
        """The start line of `blob`, once (it waits for the first bytes: a skipped blob has one line)."""
        if id(blob) in self._announced:
            return []
        self._announced.add(id(blob))
        size = f" ({size_text(blob.size)})" if blob.size >= 0 else ""
        return [f"Copying {self._label(blob)}{size}"]

    def _advance(self, blob: _Blob, nbytes: int) -> None:
        now = self._clock()
        with self._lock:
            blob.copied += nbytes
            lines = self._announce(blob)
            if now - self._last >= self._interval:
                self._last = now
                lines += [self._progress_line(b, now) for b in self._active if id(b) in self._announced]
            self._write(lines)

    def _progress_line(self, blob: _Blob, now: float) -> str:
        done = size_text(blob.copied)
        if blob.size > 0:
            percent = min(100, blob.copied * 100 // blob.size)
            done = f"{done} / {size_text(blob.size)} ({percent}%)"
        return f"Progress: {self._label(blob)} {done}, {_rate(blob.copied, now - blob.start)}"

    def _finish(self, blob: _Blob, status: str) -> None:
        now = self._clock()
        with self._lock:
            if blob in self._active:
                self._active.remove(blob)
            if status == "done":
                lines = self._announce(blob)
                lines.append(f"Copying {self._label(blob)} done ({size_text(blob.copied)}, "
                             f"{_rate(blob.copied, now - blob.start)})")
            else:
                lines = [f"Copying {self._label(blob)} {status}"]
            self._announced.discard(id(blob))
            self._write(lines)

    def message(self, text: str) -> None:
        with self._lock:
            self._write([text])

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        blob = _Blob(kind, digest, size, self._clock())
        with self._lock:
            self._active.append(blob)
        return _PlainBlob(self, blob)


# --- terminals --------------------------------------------------------------------------

#: Seconds between redraws while bytes flow (a start or an end is drawn at once).
_REDRAW_EVERY = 0.1
#: The window the speed of a running bar is measured over.
_SPEED_WINDOW = 2.0
_MIN_BAR = 7


class _TtyBlob(_Blob):
    def __init__(self, kind: str, digest: Digest | None, size: int, now: float) -> None:
        super().__init__(kind, digest, size, now)
        self.samples: deque[tuple[float, int]] = deque([(now, 0)])

    def speed(self, now: float) -> float | None:
        """Bytes per second over the last `_SPEED_WINDOW` seconds (None before 0.2 s of data)."""
        while len(self.samples) > 2 and now - self.samples[1][0] > _SPEED_WINDOW:
            self.samples.popleft()
        then, copied = self.samples[0]
        if now - then < 0.2:
            return None
        return (self.copied - copied) / (now - then)

    def line(self, width: int, now: float) -> str:
        """This blob's line, at most `width` characters."""
        short = self.digest.hex[:12] if self.digest is not None else ""
        head = f"Copying {self.kind} {short}".rstrip()
        if self.status == "done":
            elapsed = (self.end if self.end is not None else now) - self.start
            full = f"{head} done ({size_text(self.copied)}, {_rate(self.copied, elapsed)})"
            return full if len(full) <= width else f"{head} done"[:width]
        if self.status:
            return f"{head} {self.status}"[:width]
        counters = size_text(self.copied) + (f" / {size_text(self.size)}" if self.size >= 0 else "")
        speed = self.speed(now)
        tail = counters + (f" {size_text(speed)}/s" if speed is not None else "")
        room = width - len(head) - len(tail) - 2
        if room < _MIN_BAR and speed is not None:  # drop the speed before the bar
            tail = counters
            room = width - len(head) - len(tail) - 2
        if room < _MIN_BAR:
            return f"{head} {tail}"[:width]
        return f"{head} {self._bar(room)} {tail}"

    def _bar(self, width: int) -> str:
        inner = width - 2
        if self.size <= 0:
            return "[" + "-" * inner + "]"
        filled = min(inner, inner * self.copied // self.size)
        if filled >= inner:
            return "[" + "=" * inner + "]"
        return "[" + "=" * filled + ">" + "-" * (inner - filled - 1) + "]"


class _TtyHandle:
    def __init__(self, owner: TtyReporter, blob: _TtyBlob) -> None:
        self._owner = owner
        self._blob = blob

    def advance(self, nbytes: int) -> None:
        self._owner._advance(self._blob, nbytes)

    def finish(self, status: str) -> None:
        self._owner._finish(self._blob, status)


class TtyReporter:
    """Bars on a terminal, redrawn in place with plain VT100 codes (module doc). Thread-safe."""

    def __init__(self, stream: TextIO, clock: Clock = time.monotonic, columns: int | None = None) -> None:
        self._stream = stream
        self._clock = clock
        self._columns = columns
        self._lock = threading.RLock()
        self._block: list[_TtyBlob] = []
        self._drawn = 0  # lines of the block on the screen, above the cursor
        self._last_draw = 0.0
        self._closed = False

    def _width(self) -> int:
        """Characters a line may hold without wrapping (one less than the terminal's width)."""
        columns = self._columns
        if columns is None:
            try:
                columns = os.get_terminal_size(self._stream.fileno()).columns
            except (AttributeError, OSError, ValueError):
                columns = 80
        return max(columns, 20) - 1

    def _draw(self, *, before: str = "") -> None:
        """Redraw the block (after printing `before` above it). Caller holds the lock."""
        now = self._clock()
        width = self._width()
        out = [f"\x1b[{self._drawn}A" if self._drawn else "", "\r\x1b[J", before]
        out += [blob.line(width, now) + "\n" for blob in self._block]
        self._stream.write("".join(out))
        self._stream.flush()
        self._drawn = len(self._block)
        self._last_draw = now

    def _settle(self) -> None:
        """Leave a block whose bars are all finished on the screen; the next starts below it."""
        if self._block and all(blob.status for blob in self._block):
            self._draw()
            self._block, self._drawn = [], 0

    def _advance(self, blob: _TtyBlob, nbytes: int) -> None:
        with self._lock:
            blob.copied += nbytes
            now = self._clock()
            blob.samples.append((now, blob.copied))
            if not self._closed and now - self._last_draw >= _REDRAW_EVERY:
                self._draw()

    def _finish(self, blob: _TtyBlob, status: str) -> None:
        with self._lock:
            blob.status = status
            blob.end = self._clock()
            if not self._closed:
                self._draw()
                self._settle()

    def message(self, text: str) -> None:
        with self._lock:
            if self._closed:
                self._stream.write(text + "\n")
                self._stream.flush()
                return
            self._settle()
            self._draw(before=text + "\n")  # above bars still running, if any

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        blob = _TtyBlob(kind, digest, size, self._clock())
        with self._lock:
            self._block.append(blob)
            if not self._closed:
                self._draw()
        return _TtyHandle(self, blob)

    def close(self) -> None:
        """Draw the last state and stop; the cursor is left at the start of the line below."""
        with self._lock:
            if not self._closed:
                if self._block:
                    self._draw()
                self._block, self._drawn = [], 0
                self._closed = True


def make_reporter(quiet: bool, stream: TextIO | None = None) -> Reporter:
    """The reporter for this terminal: nothing with `quiet`, bars on a TTY, lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if quiet:
        return NullReporter()
    if out.isatty():
        return TtyReporter(out)
    return PlainReporter(out)
