"""Entry-point discovery shared by the transport registry and the CLI (layer 1).

`entry_points_of(group)` lists the entry points of one group. The installed distributions
are scanned once per process (each scan reads every distribution's metadata, a few ms):
plugins installed while a process runs are seen by the next process.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Protocol

__all__ = ["entry_points_of"]


class _Selectable(Protocol):  # EntryPoints (3.12+) or SelectableGroups (3.11)
    def select(self, *, group: str) -> EntryPoints: ...


@cache
def _all_entry_points() -> _Selectable:
    return entry_points()


def entry_points_of(group: str) -> tuple[EntryPoint, ...]:
    """The entry points registered under `group`, in discovery order (may repeat names)."""
    return tuple(_all_entry_points().select(group=group))
