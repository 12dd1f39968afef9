"""Progress output for the CLI (stderr only; stdout stays clean for `docker-archive:/dev/stdout`).

- On a TTY: rich progress bars, one per blob.
- Otherwise (CI logs, pipes): one plain line when a blob starts and when it ends, plus a
  periodic line with the bytes copied and the speed; never control codes.
- `-q`: nothing (`NullReporter`).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

from toolkit.digest import Digest
from toolkit.ops.report import BlobProgress, NullReporter, Reporter

__all__ = ["make_reporter", "PlainReporter", "RichReporter"]


def _mib(n: int) -> str:
    """A byte count for people: B, KiB, MiB or GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


class _PlainBlob:
    def __init__(self, owner: PlainReporter, label: str, size: int) -> None:
        self._owner = owner
        self._label = label
        self._size = size
        self._copied = 0
        self._start = time.monotonic()

    def advance(self, nbytes: int) -> None:
        self._copied += nbytes
        self._owner._advance(nbytes)

    def finish(self, status: str) -> None:
        if status == "done":
            elapsed = max(time.monotonic() - self._start, 1e-6)
            speed = _mib(int(self._copied / elapsed))
            self._owner._line(f"Copying {self._label} done ({_mib(self._copied)}, {speed}/s)")
        else:
            self._owner._line(f"Copying {self._label} {status}")


class PlainReporter:
    """Line-oriented progress for logs. Thread-safe."""

    def __init__(self, stream: TextIO, interval: float = 10.0) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._interval = interval
        self._total = 0
        self._start = time.monotonic()
        self._last = self._start

    def _line(self, text: str) -> None:
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

    def _advance(self, nbytes: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._total += nbytes
            if now - self._last < self._interval:
                return
            self._last = now
            speed = self._total / max(now - self._start, 1e-6)
            self._stream.write(f"Progress: {_mib(self._total)} copied, {_mib(int(speed))}/s\n")
            self._stream.flush()

    def message(self, text: str) -> None:
        self._line(text)

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        label = f"{kind} {digest}" if digest is not None else kind
        if size >= 0:
            self._line(f"Copying {label} ({_mib(size)})")
        else:
            self._line(f"Copying {label}")
        return _PlainBlob(self, label, size)


class _RichBlob:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, nbytes: int) -> None:
        self._progress.advance(self._task, nbytes)

    def finish(self, status: str) -> None:
        task = self._progress.tasks[self._task] if self._task < len(self._progress.tasks) else None
        total = task.completed if task is not None else 0
        self._progress.update(self._task, total=max(total, 1), completed=max(total, 1), status=status)


class RichReporter:
    """Progress bars on a terminal (stderr)."""

    def __init__(self, stream: TextIO) -> None:
        # rich is imported only for a terminal: logs and pipes never pay for it.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._console = Console(file=stream)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self._console,
            transient=False,
        )
        self._progress.start()

    def message(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        short = digest.hex[:12] if digest is not None else "?"
        task = self._progress.add_task(
            f"Copying {kind} {short}", total=size if size >= 0 else None, status=""
        )
        return _RichBlob(self._progress, task)

    def close(self) -> None:
        self._progress.stop()


def make_reporter(quiet: bool, stream: TextIO | None = None) -> Reporter:
    """The reporter for this terminal: nothing with `quiet`, bars on a TTY, lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if quiet:
        return NullReporter()
    if out.isatty():
        return RichReporter(out)
    return PlainReporter(out)
