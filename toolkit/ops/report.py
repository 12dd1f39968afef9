"""Progress reporting for library operations: events through callbacks, never printing.

The CLI supplies a `Reporter` that draws bars on a TTY, prints plain lines otherwise, or
nothing with `-q`. Library users get `NullReporter` by default. Reporter methods may be
called from worker threads; implementations must be thread-safe.
"""

from __future__ import annotations

from typing import Protocol

from toolkit.digest import Digest

__all__ = ["Reporter", "BlobProgress", "NullReporter"]


class BlobProgress(Protocol):
    """Progress of one blob copy."""

    def advance(self, nbytes: int) -> None:
        """`nbytes` more bytes were copied."""
        ...

    def finish(self, status: str) -> None:
        """The copy ended: status is "done" or "skipped: already exists"."""
        ...


class Reporter(Protocol):
    """Receives copy events."""

    def message(self, text: str) -> None:
        """A step of the operation, worded as skopeo words it (e.g. "Writing manifest ...")."""
        ...

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        """A blob copy starts; `kind` is "blob" or "config"; `size` is -1 if unknown."""
        ...


class _NullBlob:
    def advance(self, nbytes: int) -> None:
        return None

    def finish(self, status: str) -> None:
        return None


class NullReporter:
    """A reporter that ignores everything."""

    def message(self, text: str) -> None:
        return None

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        return _NullBlob()
