"""Semantic versions and Masterminds-style version constraints (for `images-by-semver`).

skopeo matches tags with github.com/Masterminds/semver/v3 (`NewVersion`, `NewConstraint`,
`Check`); this module follows its rules:

- Versions (`parse_version`): `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+METADATA]`; missing
  parts are 0 (`3.12` is 3.12.0). Anything else (`latest`, `1.2.3.4`) is not a version:
  None, and such tags are simply not selected.
- Constraints (`parse_constraint`): OR groups separated by `||`; inside a group, constraints
  separated by spaces and/or commas, all of which must hold. Operators `=` (or none), `!=`,
  `>`, `<`, `>=` (`=>`), `<=` (`=<`), `~` (`~>`), `^`; wildcards `x`, `X`, `*` or missing
  parts (`1.2.x`, `1.2`, `1.x`, `*`); hyphen ranges `1.2 - 1.4.5` (= `>=1.2 <=1.4.5`).
  `~1.2.3` is `>=1.2.3 <1.3.0`, `~1` is `>=1 <2`; `^1.2.3` is `>=1.2.3 <2.0.0`, `^0.2.3` is
  `>=0.2.3 <0.3.0`, `^0.0.3` is `>=0.0.3 <0.0.4`.
- Pre-release versions (`1.2.3-rc1`) only match a group that itself names a pre-release.
- Precedence is semver.org §11; build metadata is ignored.

Raises `ValueError` (with the offending text) for a constraint that does not parse; callers
turn it into a configuration error naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["Version", "Constraint", "parse_version", "parse_constraint"]

MAX_CONSTRAINT_LEN: Final = 512
MAX_CONSTRAINT_GROUPS: Final = 32

_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION_RE: Final = re.compile(
    rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-({_IDENT}))?(?:\+({_IDENT}))?", re.ASCII
)
_SEG = r"[0-9xX*]+"
_CV = rf"v?{_SEG}(?:\.{_SEG})?(?:\.{_SEG})?(?:-{_IDENT})?(?:\+{_IDENT})?"
_RANGE_RE: Final = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*", re.ASCII)
_CONSTRAINT_RE: Final = re.compile(
    rf"(!=|>=|=>|<=|=<|~>|[=><~^])?\s*v?({_SEG})(?:\.({_SEG}))?(?:\.({_SEG}))?(?:-({_IDENT}))?(?:\+({_IDENT}))?",
    re.ASCII,
)
_SPACE = " \t\n\f\r"


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed semantic version."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""

    def _pre_key(self) -> tuple[int, tuple[tuple[int, int, str], ...]]:
        # No pre-release sorts after any pre-release of the same version.
        if not self.prerelease:
            return (1, ())
        parts: list[tuple[int, int, str]] = []
        for ident in self.prerelease.split("."):
            if ident.isdigit():
                parts.append((0, int(ident), ""))
            else:
                parts.append((1, 0, ident))
        return (0, tuple(parts))

    def key(self) -> tuple[int, int, int, tuple[int, tuple[tuple[int, int, str], ...]]]:
        """Sort key implementing semver precedence."""
        return (self.major, self.minor, self.patch, self._pre_key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}-{self.prerelease}" if self.prerelease else text


def parse_version(text: str) -> Version | None:
    """`text` as a version (Masterminds `NewVersion`, non-strict), or None if it is not one."""
    if len(text) > 256:
        return None
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, pre, _ = match.groups()
    if pre and any(p.isdigit() and len(p) > 1 and p.startswith("0") for p in pre.split(".")):
        return None
    return Version(int(major), int(minor or 0), int(patch or 0), pre or "")


def _cmp(a: Version, b: Version) -> int:
    ka, kb = a.key(), b.key()
    return (ka > kb) - (ka < kb)


@dataclass(frozen=True, slots=True)
class _Single:
    """One operator and version; `dirty` parts (wildcard or missing) as in Masterminds."""

    op: str
    con: Version
    any_major: bool
    minor_dirty: bool
    patch_dirty: bool

    @property
    def dirty(self) -> bool:
        return self.any_major or self.minor_dirty or self.patch_dirty

    def check(self, v: Version) -> bool:
        return _OPS[self.op](v, self)


def _tilde(v: Version, c: _Single) -> bool:
    if c.any_major:
        return True
    if _cmp(v, c.con) < 0:
        return False
    if c.con.major == c.con.minor == c.con.patch == 0 and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != c.con.major:
        return False
    return not (v.minor != c.con.minor and not c.minor_dirty)


def _equal(v: Version, c: _Single) -> bool:
    if c.dirty:
        return _tilde(v, c)
    return _cmp(v, c.con) == 0


def _not_equal(v: Version, c: _Single) -> bool:
    if c.any_major:
        return False
    if c.dirty:
        if v.major != c.con.major:
            return True
        if c.minor_dirty:
            return False
        return v.minor != c.con.minor
    return _cmp(v, c.con) != 0


def _greater(v: Version, c: _Single) -> bool:
    if c.any_major:
        return False
    if not c.dirty:
        return _cmp(v, c.con) > 0
    if v.major != c.con.major:
        return v.major > c.con.major
    if c.minor_dirty:
        return False
    return v.minor > c.con.minor


def _greater_equal(v: Version, c: _Single) -> bool:
    return c.any_major or _cmp(v, c.con) >= 0


def _less(v: Version, c: _Single) -> bool:
    if c.any_major:
        return False
    return _cmp(v, c.con) < 0


def _less_equal(v: Version, c: _Single) -> bool:
    if c.any_major:
        return True
    if not c.dirty:
        return _cmp(v, c.con) <= 0
    if v.major != c.con.major:
        return v.major < c.con.major
    return not (v.minor > c.con.minor and not c.minor_dirty)


def _caret(v: Version, c: _Single) -> bool:
    if c.any_major:
        return True
    if _cmp(v, c.con) < 0:
        return False
    if c.con.major > 0 or c.minor_dirty:
        return v.major == c.con.major
    if v.major > 0:
        return False
    if c.con.minor > 0 or c.patch_dirty:
        return v.minor == c.con.minor
    if v.minor > 0:
        return False
    return v.patch == c.con.patch


_OPS: Final[dict[str, Callable[[Version, _Single], bool]]] = {
    "": _equal,
    "=": _equal,
    "!=": _not_equal,
    ">": _greater,
    "<": _less,
    ">=": _greater_equal,
    "=>": _greater_equal,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _is_x(part: str | None) -> bool:
    return part is not None and part in ("x", "X", "*")


def _number(part: str, text: str) -> int:
    if not part.isdigit() or len(part) > 18:
        raise ValueError(f"improper constraint: {text!r}")
    return int(part)


def _single(match: re.Match[str], text: str) -> _Single:
    op, major, minor, patch, pre, _ = match.groups()
    any_major = _is_x(major)
    minor_dirty = not any_major and (minor is None or _is_x(minor))
    patch_dirty = not any_major and not minor_dirty and (patch is None or _is_x(patch))
    con = Version(
        0 if any_major else _number(major, text),
        0 if any_major or minor_dirty or minor is None else _number(minor, text),
        0 if any_major or minor_dirty or patch_dirty or patch is None else _number(patch, text),
        pre or "",
    )
    return _Single(op or "", con, any_major, minor_dirty, patch_dirty)


def _parse_group(group: str, text: str) -> tuple[_Single, ...]:
    rest = group.lstrip(_SPACE)
    if not rest:
        raise ValueError(f"improper constraint: {text!r}")
    out: list[_Single] = []
    while True:
        match = _CONSTRAINT_RE.match(rest)
        if match is None:
            raise ValueError(f"improper constraint: {text!r}")
        out.append(_single(match, text))
        after = rest[match.end() :]
        trimmed = after.lstrip(_SPACE)
        if not trimmed:
            return tuple(out)
        if trimmed[0] == ",":
            trimmed = trimmed[1:].lstrip(_SPACE)
        elif len(trimmed) == len(after):
            # Neither a comma nor whitespace after a constraint: e.g. "1.2.3.4" or "1.2foo".
            raise ValueError(f"improper constraint: {text!r}")
        if not trimmed:
            raise ValueError(f"improper constraint: {text!r}")
        rest = trimmed


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed constraint: OR of AND groups. `check(tag)` is the sync filter."""

    text: str
    groups: tuple[tuple[_Single, ...], ...]

    def allows(self, version: Version) -> bool:
        """True if `version` satisfies at least one group."""
        for group in self.groups:
            include_pre = any(c.con.prerelease for c in group)
            if version.prerelease and not include_pre:
                continue
            if all(c.check(version) for c in group):
                return True
        return False

    def check(self, tag: str) -> bool:
        """True if `tag` is a version (leading `v` accepted) satisfying the constraint."""
        version = parse_version(tag)
        return version is not None and self.allows(version)


def parse_constraint(text: str) -> Constraint:
    """Parse a Masterminds constraint string; raises `ValueError` if it does not parse."""
    if len(text) > MAX_CONSTRAINT_LEN:
        raise ValueError(f"constraint string is too long (max {MAX_CONSTRAINT_LEN} bytes)")
    rewritten = _RANGE_RE.sub(lambda m: f" >= {m.group(1)}, <= {m.group(2)} ", text)
    parts = rewritten.split("||")
    if len(parts) > MAX_CONSTRAINT_GROUPS:
        raise ValueError(f"too many constraint groups (max {MAX_CONSTRAINT_GROUPS})")
    return Constraint(text, tuple(_parse_group(part, text) for part in parts))
