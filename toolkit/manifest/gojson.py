"""Byte-exact imitations of Go's `encoding/json` and `time` where digests depend on them.

skopo must produce the same bytes as containers/image when it *creates* a manifest or a
config (conversion, layer edits), so that both tools agree on digests. Go's `json.Marshal`
of a struct writes fields in declaration order, drops `omitempty` zero values, sorts map
keys, writes compactly and escapes `<`, `>`, `&`, U+2028 and U+2029. This module provides:

- `GoStruct`: an ordered list of (key, value) pairs, written in that order (a struct).
  A plain `dict` is written as a Go map (keys sorted by their UTF-8 bytes).
- `marshal(value) -> bytes`: Go's `json.Marshal`.
- `compact(raw) -> bytes`: what Go does to a `json.RawMessage` on output (HTML-escaping too).
- `GoTime`: RFC 3339 parse / RFC3339Nano format as `time.Time` JSON does; `GoTime.from_unix`
  is Go's `time.Unix` (local zone).
- `loads_go(raw)`: a *lenient* Go-like parse (duplicate keys: last wins; invalid UTF-8
  replaced) used only where skopo must see a document exactly as Go would (MIME guessing and
  schema1 digest computation). It never raises anything but `ManifestError`.
- `go_field(obj, name)`: Go's case-insensitive struct-field lookup (last matching key wins).

Nothing here does I/O.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from typing import Any, Final

from toolkit._record import record
from toolkit.errors import ManifestError
from toolkit.manifest.jsonscan import loads

__all__ = [
    "GoStruct",
    "GoPairs",
    "GoTime",
    "marshal",
    "compact",
    "quote",
    "loads_go",
    "go_field",
    "fold_equal",
]


class GoStruct(list[tuple[str, Any]]):
    """A struct value for `marshal`: fields in order; the caller has already applied omitempty."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__(pairs)

    def add(self, key: str, value: Any, *, omitempty: bool = False) -> GoStruct:
        """Append a field; with `omitempty`, skip Go's empty values ("", 0, False, None, [], {})."""
        if omitempty and _is_empty(value):
            return self
        self.append((key, value))
        return self


class GoPairs(list[tuple[str, Any]]):
    """A JSON object as parsed by `loads_go`: every (key, value) pair in document order."""


def _is_empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, (str, list, tuple, dict)) and not isinstance(value, GoStruct):
        return len(value) == 0
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
@functools.cache
def _needs_escape() -> re.Pattern[str]:
    """The characters `quote` escapes (compiled on first use: a digest never quotes)."""
    return re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    known = _ESCAPES.get(ch)
    if known is not None:
        return known
    if "\ud800" <= ch <= "\udfff":
        # Go never holds a lone surrogate; it would have become U+FFFD.
        return "\ufffd"
    # Go (as built into skopeo 1.9.3) writes \b and \f as \u0008 / \u000c too.
    return f"\\u{ord(ch):04x}"


#: Printable characters that `quote` escapes all the same (every other one it escapes is not
#: printable: controls, U+2028, U+2029, surrogates).
_PRINTABLE_ESCAPED: Final = frozenset('"\\<>&')


def quote(text: str) -> str:
    """A Go `json.Marshal` string literal (HTML-safe)."""
    if text.isprintable() and _PRINTABLE_ESCAPED.isdisjoint(text):
        # Nothing to escape (the usual case), checked in C: compiling the escape pattern
        # costs more (~5 M instructions) than a whole `inspect` prints.
        return '"' + text + '"'
    return '"' + _needs_escape().sub(_escape_char, text) + '"'


def _encode(value: Any, out: list[str], unit: str | None = None, depth: int = 0) -> None:
    """Append Go's encoding of `value` to `out`: compact (`unit` None, `json.Marshal`), or
    as `json.MarshalIndent(value, "", unit)` writes it at nesting `depth` (what `indent`
    makes of the compact form, written directly: a non-empty object or array opens a line
    per member, `: ` after a key, an empty one stays `{}` / `[]`)."""
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(quote(value))
    elif isinstance(value, (GoStruct, dict)):
        # A GoStruct's fields in order; a dict is a Go map, keys sorted by their bytes (for
        # str keys UTF-8 order == code point order).
        pairs = value if isinstance(value, GoStruct) else [(key, value[key]) for key in sorted(value)]
        colon = ":" if unit is None else ": "
        _encode_members([(quote(key) + colon, item) for key, item in pairs], "{}", out, unit, depth)
    elif isinstance(value, (list, tuple)):
        _encode_members([("", item) for item in value], "[]", out, unit, depth)
    elif isinstance(value, RawJSON):
        raw = compact(value.raw)
        if unit is not None:
            raw = indent(raw, unit, depth)
        out.append(raw.decode("utf-8", "surrogateescape"))
    elif isinstance(value, GoTime):
        out.append(quote(value.format()))
    else:  # pragma: no cover - programming error
        raise TypeError(f"cannot marshal {type(value).__name__}")


def _encode_members(
    members: list[tuple[str, Any]], brackets: str, out: list[str], unit: str | None, depth: int
) -> None:
    """An object's or an array's members (each a prefix, the quoted key and colon or "",
    and a value) between `brackets`, compact or indented as `_encode` writes them."""
    if not members:
        out.append(brackets)
        return
    inner = "" if unit is None else "\n" + unit * (depth + 1)
    for i, (prefix, item) in enumerate(members):
        out.append((brackets[0] if i == 0 else ",") + inner + prefix)
        _encode(item, out, unit, depth + 1)
    out.append(brackets[1] if unit is None else "\n" + unit * depth + brackets[1])


def marshal(value: Any) -> bytes:
    """Go `json.Marshal(value)` for values built from GoStruct/dict/list/str/int/bool/None."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8", "surrogateescape")


@record
class RawJSON:
    """A `json.RawMessage`: already-valid JSON bytes, compacted on output."""

    raw: bytes


_WS: Final = frozenset(b" \t\r\n")


def compact(raw: bytes) -> bytes:
    """Go's `json.Compact` with HTML escaping, as applied to a RawMessage by `json.Marshal`.

    Whitespace outside strings is dropped; inside strings `<`, `>`, `&` become `\\u003c` ...
    and U+2028/U+2029 become escapes; every other byte is kept as it is (existing escapes
    too). The input must already be valid JSON.
    """
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x22:  # a string: copy it, escaping the HTML-unsafe characters
            j = i + 1
            out.append(c)
            while j < n:
                d = raw[j]
                if d == 0x5C:
                    out += raw[j : j + 2]
                    j += 2
                    continue
                if d == 0x22:
                    out.append(d)
                    j += 1
                    break
                if d == 0x3C:
                    out += b"\\u003c"
                elif d == 0x3E:
                    out += b"\\u003e"
                elif d == 0x26:
                    out += b"\\u0026"
                elif d == 0xE2 and raw[j + 1 : j + 3] in (b"\x80\xa8", b"\x80\xa9"):
                    out += b"\\u2028" if raw[j + 2] == 0xA8 else b"\\u2029"
                    j += 3
                    continue
                else:
                    out.append(d)
                j += 1
            i = j
            continue
        if c not in _WS:
            out.append(c)
        i += 1
    return bytes(out)


# --- time.Time --------------------------------------------------------------------------------

@functools.cache
def _rfc3339() -> re.Pattern[str]:
    """An RFC 3339 time as Go parses it (compiled on first use: only for non-ASCII text)."""
    return re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z")


_DIGITS: Final = "0123456789"


def _rfc3339_fields(text: str) -> tuple[str, ...] | None:
    """The groups of `_rfc3339().match(text)` (the fraction "" when absent), or None when it
    does not match. ASCII text (the times documents hold) is split without the regex, whose
    compilation every `inspect` of an image with a creation time paid; `\\d` matches other
    scripts' digits too, so other text still goes through the regex."""
    if not text.isascii():
        match = _rfc3339().match(text)
        return None if match is None else tuple(group or "" for group in match.groups())
    if len(text) < 20 or text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return None
    fields = [text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19]]
    if not all(field.isdigit() for field in fields):  # ASCII: isdigit() is [0-9]
        return None
    rest = text[19:]
    fraction = ""
    if rest.startswith("."):
        fraction = rest[1 : len(rest) - len(rest[1:].lstrip(_DIGITS))]
        if not fraction:
            return None
        rest = rest[1 + len(fraction) :]
    if rest != "Z" and not (
        len(rest) == 6 and rest[0] in "+-" and rest[1:3].isdigit() and rest[3] == ":" and rest[4:6].isdigit()
    ):
        return None
    return (*fields, fraction, rest)
_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@record
class GoTime:
    """A `time.Time` as far as JSON is concerned: wall-clock fields plus the zone offset.

    Go keeps the parsed offset and prints it back (`Z` for a zero offset).
    """

    year: int = 1
    month: int = 1
    day: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    nanosecond: int = 0
    offset_minutes: int = 0

    @classmethod
    def parse(cls, text: object, *, what: str) -> GoTime:
        """Parse like Go's `Time.UnmarshalJSON` (RFC 3339); raise `ManifestError` if invalid."""
        fields = _rfc3339_fields(text) if isinstance(text, str) else None
        if fields is None:
            import json  # an error message only (jsonscan: json is not imported to parse)

            raise ManifestError(f"{what}: invalid RFC 3339 time {json.dumps(text)[:80]}")
        year, month, day, hour, minute, second = (int(field) for field in fields[:6])
        frac = fields[6]
        nanos = int((frac[:9]).ljust(9, "0")) if frac else 0
        zone = fields[7]
        offset = 0
        if zone != "Z":
            zh, zm = int(zone[1:3]), int(zone[4:6])
            if zh > 23 or zm > 59:
                raise ManifestError(f"{what}: invalid time zone offset in {text!r}")
            offset = (zh * 60 + zm) * (-1 if zone[0] == "-" else 1)
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        if not 1 <= month <= 12:
            raise ManifestError(f"{what}: month out of range in {text!r}")
        days = 29 if (month == 2 and leap) else _DAYS[month - 1]
        if not 1 <= day <= days or hour > 23 or minute > 59 or second > 59:
            raise ManifestError(f"{what}: time field out of range in {text!r}")
        return cls(year, month, day, hour, minute, second, nanos, offset)

    @classmethod
    def from_unix(cls, seconds: int, nanoseconds: int = 0, *, local: bool = True) -> GoTime:
        """Go's `time.Unix(seconds, nanoseconds)`, in the local zone (else UTC), as JSON shows it.

        Takes any integers (values from files are untrusted). Like Go, the wall clock uses the
        zone's whole offset and the printed offset is that offset in minutes, truncated.
        Raises `ManifestError` for a year outside 0..9999, which Go's `Time.MarshalJSON` refuses.
        """
        extra, nanos = divmod(nanoseconds, 1_000_000_000)
        seconds += extra
        offset = 0
        if local:
            try:
                offset = time.localtime(seconds).tm_gmtoff
            except (OverflowError, OSError, ValueError):
                offset = 0  # beyond the platform's time_t: the year check below refuses it anyway
        days, rest = divmod(seconds + offset, 86_400)
        year, month, day = _civil_from_days(days)
        if not 0 <= year <= 9999:
            raise ManifestError("Time.MarshalJSON: year outside of range [0,9999]")
        minutes = abs(offset) // 60
        return cls(
            year, month, day, rest // 3600, rest // 60 % 60, rest % 60, nanos, -minutes if offset < 0 else minutes
        )

    def format(self) -> str:
        """RFC3339Nano, as Go's `Time.MarshalJSON` writes it."""
        text = (
            f"{self.year:04d}-{self.month:02d}-{self.day:02d}T"
            f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"
        )
        if self.nanosecond:
            text += "." + f"{self.nanosecond:09d}".rstrip("0")
        if self.offset_minutes == 0:
            return text + "Z"
        sign = "-" if self.offset_minutes < 0 else "+"
        off = abs(self.offset_minutes)
        return f"{text}{sign}{off // 60:02d}:{off % 60:02d}"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian date `days` after 1970-01-01 (any int)."""
    # H. Hinnant's civil_from_days; Python's floor division makes it exact for negative days.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


# --- lenient, Go-like parsing -------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def _lenient_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} out of range")
    return value


def loads_go(raw: bytes) -> Any:
    """Parse `raw` as Go's decoder would see it; raise `ManifestError` where Go would fail.

    Objects become `GoPairs` (all pairs, in order), so callers can apply Go's "last
    case-insensitively matching key wins" rule. A UTF-8 BOM or NaN is an error (as in Go);
    invalid UTF-8 is replaced by U+FFFD (as Go does).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ManifestError("invalid character 'ï' looking for beginning of value")
    text = raw.decode("utf-8", "replace")
    try:
        return loads(
            text,
            object_pairs_hook=GoPairs,
            parse_constant=_reject_constant,
            parse_float=_lenient_float,
        )
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"invalid JSON: {exc}") from None


def fold_equal(key: str, name: str) -> bool:
    """Go's `encoding/json` key match for an ASCII field `name`: exact, else Unicode simple folding.

    Besides ASCII case, U+017F (long s) folds to `s` and U+212A (Kelvin) to `k`, as in Go.
    """
    if key == name:
        return True
    if len(key) != len(name):
        return False
    for a, b in zip(key, name, strict=True):
        lb = b.lower()
        if a.lower() == lb:
            continue
        if (a == "\u017f" and lb == "s") or (a == "\u212a" and lb == "k"):
            continue
        return False
    return True


_MISSING: Final = object()


def go_field(obj: Any, name: str, default: Any = None) -> Any:
    """The value Go would decode into struct field `name` from a `GoPairs` object.

    Go processes keys in order and each matching key overwrites the field, so the last key
    that matches (exactly or case-insensitively) wins. Returns `default` if none matches or
    `obj` is not an object.
    """
    if not isinstance(obj, GoPairs):
        return default
    found: Any = _MISSING
    for key, value in obj:
        if fold_equal(key, name):
            found = value
    return default if found is _MISSING else found


def indent(compact_json: bytes, prefix_unit: str = "    ", depth: int = 0) -> bytes:
    """Go's `json.Indent(dst, src, "", prefix_unit)` applied to compact JSON
    (what `json.MarshalIndent` writes): empty `{}`/`[]` stay on one line. `depth`: the
    nesting the text starts at (a value inside an indented document)."""
    text = compact_json.decode("utf-8", "surrogateescape")
    out: list[str] = []
    in_string = False
    escaped = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch in "{[":
            closing = "}" if ch == "{" else "]"
            if i + 1 < n and text[i + 1] == closing:
                out.append(ch + closing)
                i += 2
                continue
            depth += 1
            out.append(ch + "\n" + prefix_unit * depth)
        elif ch in "}]":
            depth -= 1
            out.append("\n" + prefix_unit * depth + ch)
        elif ch == ",":
            out.append(",\n" + prefix_unit * depth)
        elif ch == ":":
            out.append(": ")
        else:
            out.append(ch)
        i += 1
    return "".join(out).encode("utf-8", "surrogateescape")


def marshal_indent(value: Any, prefix_unit: str = "    ") -> bytes:
    """Go `json.MarshalIndent(value, "", prefix_unit)`: `indent(marshal(value), prefix_unit)`,
    written in one pass (re-reading the compact text character by character cost as much
    as all the rest of a short `inspect`)."""
    out: list[str] = []
    _encode(value, out, prefix_unit)
    return "".join(out).encode("utf-8", "surrogateescape")
