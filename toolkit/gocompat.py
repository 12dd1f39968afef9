"""Go standard-library behaviour that skopo must reproduce exactly (layer 1: stdlib only).

skopeo is a Go program, and users (and its tests) see the results of Go functions: how a
path is cleaned, which `@N` index strings are numbers, which words are booleans. These
helpers are the one home of each such rule; each names the Go function it follows.

- `INT64_MIN` / `INT64_MAX`: Go's `math.MinInt64` / `math.MaxInt64` (sizes, JSON integers,
  tar numbers, `strconv.Atoi` on 64-bit platforms).
- `path_clean`, `path_join`, `path_base`: Go's `path.Clean`, `path.Join`, `path.Base`
  (slash-separated, purely lexical: nothing here touches the file system).
- `atoi`: Go's `strconv.Atoi`; `atoi_index`: the `@N` source index of the `oci:` and
  `docker-archive:` transports, with containers/image's messages.
- `parse_bool` / `parse_go_bool`: `strconv.ParseBool` (and pflag's message for a flag);
  `parse_go_duration`: `time.ParseDuration` for the non-negative durations flags take.

Every input is untrusted. Errors are `InvalidInputError` subclasses (`NumError` for the
strconv functions, whose text is Go's), or `InvalidImageNameError` from `atoi_index`.
"""

from __future__ import annotations

from typing import Final

from toolkit._lazy import lazy_pattern
from toolkit.errors import InvalidImageNameError, InvalidInputError, safe_text

__all__ = [
    "INT64_MIN",
    "INT64_MAX",
    "NumError",
    "path_clean",
    "path_join",
    "path_base",
    "atoi",
    "atoi_index",
    "parse_bool",
    "parse_go_bool",
    "parse_go_duration",
]

#: Go's `math.MinInt64` and `math.MaxInt64`.
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1


class NumError(InvalidInputError):
    """A string that a strconv function refuses; the message is Go's `*strconv.NumError`
    text, e.g. `strconv.Atoi: parsing "x": invalid syntax`."""


def _num_error(func: str, text: str, reason: str) -> NumError:
    return NumError(f'strconv.{func}: parsing "{safe_text(text)}": {reason}')


# ------------------------------------------------------------------------------ path


def path_clean(path: str) -> str:
    """Go's `path.Clean`: the shortest equivalent slash-separated path, lexically.

    Repeated slashes become one, `.` elements go, each `..` removes the element before it
    (a leading `..` of a relative path stays; at the root of a rooted path it is dropped),
    and no trailing slash is left except for `/` itself. An empty path is `.`.
    """
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for element in path.split("/"):
        if element in ("", "."):
            continue
        if element == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            # `..` at the root of a rooted path stays at the root.
        else:
            parts.append(element)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def path_join(*elements: str) -> str:
    """Go's `path.Join`: the non-empty elements joined with `/`, then cleaned; `""` if there
    are none."""
    kept = [e for e in elements if e]
    return path_clean("/".join(kept)) if kept else ""


def path_base(path: str) -> str:
    """Go's `path.Base`: the last element, trailing slashes removed; `.` for an empty path
    and `/` for a path of only slashes."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- strconv

# Go's ParseInt syntax for base 10: an optional sign, then ASCII digits (no underscores).
_DECIMAL: Final = lazy_pattern(r"[+-]?[0-9]+")


def atoi(text: str) -> int:
    """Go's `strconv.Atoi` (64-bit `int`): `[+-]digits`, leading zeros allowed.

    Raises `NumError` with Go's text: `strconv.Atoi: parsing "TEXT": invalid syntax`, or
    `... value out of range` outside `INT64_MIN..INT64_MAX`. Never hands `int()` more
    than 19 significant digits (Python refuses very long ones with ValueError).
    """
    if _DECIMAL().fullmatch(text) is None:
        raise _num_error("Atoi", text, "invalid syntax")
    negative = text.startswith("-")
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 19:
        raise _num_error("Atoi", text, "value out of range")
    value = -int(digits) if negative else int(digits)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _num_error("Atoi", text, "value out of range")
    return value


def atoi_index(text: str, *, detail: str = "") -> int:
    """The N of a transport's `@N` source index (`text` is what follows the `@`), read as
    containers/image does: `strconv.Atoi`, then a check that N is not negative.

    Raises `InvalidImageNameError`: `Invalid source index @TEXT: {detail}{Go's Atoi
    error}` (c/image's `oci:` passes `detail="not an integer: "`, `docker-archive:` none),
    or `Invalid source index @N: must not be negative`.
    """
    try:
        value = atoi(text)
    except NumError as exc:
        raise InvalidImageNameError(f"Invalid source index @{safe_text(text)}: {detail}{exc.message}") from exc
    if value < 0:
        raise InvalidImageNameError(f"Invalid source index @{value}: must not be negative")
    return value


_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str) -> bool:
    """Go's `strconv.ParseBool`: 1 t T TRUE true True, 0 f F FALSE false False; else
    `NumError` (`strconv.ParseBool: parsing "VALUE": invalid syntax`)."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _num_error("ParseBool", value, "invalid syntax")


def parse_go_bool(flag: str, value: str) -> bool:
    """`parse_bool` for the value of the command-line flag `flag`, with pflag's message:
    `invalid argument "VALUE" for "FLAG" flag: strconv.ParseBool: ...` (`InvalidInputError`)."""
    try:
        return parse_bool(value)
    except NumError as exc:
        raise InvalidInputError(f'invalid argument "{safe_text(value)}" for "{flag}" flag: {exc.message}') from exc


# ----------------------------------------------------------------------------- time

_DURATION_UNITS: Final = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}
# ASCII digits only, as Go (Python's \d would also take other scripts' digits).
_DURATION_PART: Final = lazy_pattern(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """A Go duration (`1h2m3.5s`, `250ms`, `0`) in seconds, as `time.ParseDuration` reads
    it; a sign (`-1s`) is refused, as no flag takes one. Raises `InvalidInputError`
    (`time: invalid duration "TEXT"`)."""
    if text == "0":
        return 0.0
    rest = text
    total = 0.0
    if not rest:
        raise InvalidInputError(f'time: invalid duration "{safe_text(text)}"')
    while rest:
        match = _DURATION_PART().match(rest)
        if match is None:
            raise InvalidInputError(f'time: invalid duration "{safe_text(text)}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        rest = rest[match.end() :]
    return total
