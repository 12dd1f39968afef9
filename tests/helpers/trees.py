"""Snapshots of files and directory trees, to prove that a failed copy changed nothing.

- `snapshot(path)`: every entry under `path` (or `path` itself if it is a file) with its
  type, mode and content hash (symlink targets are recorded, never followed); a missing
  path snapshots as `{}`.
- `leftovers(root)`: temp names a writer may leave behind (`.name.partial-*`,
  `.name.tmp-*`, `.name.old-*`, ...) anywhere under `root`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

__all__ = ["snapshot", "leftovers", "TEMP_NAME"]

#: Names of temporary files/dirs written by skopo's local transports (`_fs.temp_name`)
#: and by common tools (`*.partial`, `*.tmp`).
TEMP_NAME = re.compile(r"^\..+\.(partial|tmp|old)-[0-9a-f]+$|\.partial$|\.tmp$|^put-blob|^blob-\d+-")


def _entry(path: Path) -> tuple[str, int, str]:
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return ("link", mode, os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", mode, "")
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return ("file", mode, h.hexdigest())
    return ("other", mode, str(stat.S_IFMT(st.st_mode)))


def snapshot(path: Path) -> dict[str, tuple[str, int, str]]:
    """{relative name: (kind, mode, sha256 or link target)} for `path` and everything below."""
    if not os.path.lexists(path):
        return {}
    out = {".": _entry(path)}
    if out["."][0] != "dir":
        return out
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath) / name
            out[str(full.relative_to(path))] = _entry(full)
    return out


def leftovers(root: Path) -> list[str]:
    """Relative paths under `root` whose names look like temporary files."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            if TEMP_NAME.search(name):
                found.append(str((Path(dirpath) / name).relative_to(root)))
    return sorted(found)
