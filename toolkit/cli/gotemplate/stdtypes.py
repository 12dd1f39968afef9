"""The Go library types skopeo's template data contains: `time.Time` and `digest.Digest`.

- `time.Time` (payload: a `toolkit.manifest.gojson.GoTime`) prints as
  `2016-09-19 18:23:54.9949213 +0000 UTC` and has the methods `String`, `Format`, `Year`,
  `Month`, `Day`, `YearDay`, `Weekday`, `Hour`, `Minute`, `Second`, `Nanosecond`, `Unix`,
  `UnixMilli`, `UnixMicro`, `UnixNano`, `UTC`, `IsZero`, `Date`/`Clock` (three results: a
  template cannot call them, as in Go). A zero offset is the `UTC` zone; another offset
  is a zone without a name (as Go gives a time parsed from RFC 3339 whose offset is not
  the local zone's).
- `digest.Digest` (a named string) has `String`, `Algorithm`, `Encoded`, `Hex`.
"""

from __future__ import annotations

import datetime as _dt

from toolkit.cli.gotemplate.values import (
    BOOL,
    INT,
    INT64,
    STRING,
    GoType,
    Kind,
    Method,
    StructField,
    Value,
    func_type,
    named,
    ptr_to,
    register_zero,
    struct_type,
)
from toolkit.manifest.gojson import GoTime

__all__ = [
    "TIME",
    "TIME_PTR",
    "MONTH",
    "WEEKDAY",
    "DIGEST",
    "ALGORITHM",
    "time_value",
    "time_ptr",
    "digest_value",
    "go_time_string",
    "go_time_format",
]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

_LOCATION = struct_type("time.Location", [])
TIME = struct_type(
    "time.Time",
    [StructField("wall", INT64), StructField("ext", INT64), StructField("loc", ptr_to(_LOCATION))],
)
TIME_PTR = ptr_to(TIME)
MONTH = named("time.Month", INT)
WEEKDAY = named("time.Weekday", INT)
DIGEST = named("digest.Digest", STRING)
ALGORITHM = named("digest.Algorithm", STRING)


def time_value(t: GoTime) -> Value:
    return Value(TIME, t)


def time_ptr(t: GoTime | None) -> Value:
    """A `*time.Time` (nil for None)."""
    return Value(TIME_PTR, None if t is None else time_value(t))


def digest_value(text: str) -> Value:
    return Value(DIGEST, text)


def _datetime(t: GoTime) -> _dt.datetime:
    """The wall-clock fields as a naive datetime (years outside 1..9999 are clamped)."""
    year = min(max(t.year, 1), 9999)
    return _dt.datetime(year, t.month, t.day, t.hour, t.minute, t.second)


def _utc(t: GoTime) -> GoTime:
    if t.offset_minutes == 0:
        return t
    d = _datetime(t) - _dt.timedelta(minutes=t.offset_minutes)
    return GoTime(d.year, d.month, d.day, d.hour, d.minute, d.second, t.nanosecond, 0)


def _zone_name(t: GoTime) -> str:
    return "UTC" if t.offset_minutes == 0 else ""


def _std_chunk(layout: str) -> tuple[str, str, str]:
    """Go's nextStdChunk: (prefix, std token, suffix); std "" when none is left."""
    n = len(layout)
    for i, c in enumerate(layout):
        rest = layout[i:]
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                return layout[:i], "January", layout[i + 7:]
            if not rest[3:4].islower() or not rest[3:4].isascii():
                return layout[:i], "Jan", layout[i + 3:]
        elif c == "M" and n >= i + 3:
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], "Monday", layout[i + 6:]
                if not ("a" <= rest[3:4] <= "z" and rest[3:4] != ""):
                    return layout[:i], "Mon", layout[i + 3:]
            if rest.startswith("MST"):
                return layout[:i], "MST", layout[i + 3:]
        elif c == "0":
            if n >= i + 2 and "1" <= layout[i + 1] <= "6":
                return layout[:i], layout[i : i + 2], layout[i + 2:]
            if rest.startswith("002"):
                return layout[:i], "002", layout[i + 3:]
        elif c == "1":
            if rest.startswith("15"):
                return layout[:i], "15", layout[i + 2:]
            return layout[:i], "1", layout[i + 1:]
        elif c == "2":
            if rest.startswith("2006"):
                return layout[:i], "2006", layout[i + 4:]
            return layout[:i], "2", layout[i + 1:]
        elif c == "_":
            if rest.startswith("_2"):
                if rest.startswith("_2006"):
                    return layout[: i + 1], "2006", layout[i + 5:]
                return layout[:i], "_2", layout[i + 2:]
            if rest.startswith("__2"):
                return layout[:i], "__2", layout[i + 3:]
        elif c in "345":
            return layout[:i], c, layout[i + 1:]
        elif c == "P" and rest.startswith("PM"):
            return layout[:i], "PM", layout[i + 2:]
        elif c == "p" and rest.startswith("pm"):
            return layout[:i], "pm", layout[i + 2:]
        elif c in "-Z":
            for token in ("070000", "07:00:00", "0700", "07:00", "07"):
                if rest.startswith(c + token):
                    return layout[:i], c + token, layout[i + 1 + len(token):]
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not (j < n and layout[j].isdigit() and layout[j].isascii()):
                return layout[:i], layout[i:j], layout[j:]
    return layout, "", ""


def go_time_format(t: GoTime, layout: str) -> str:
    """Go's `Time.Format(layout)`."""
    d = _datetime(t)
    hour = t.hour
    out: list[str] = []
    while layout:
        prefix, std, layout = _std_chunk(layout)
        out.append(prefix)
        if not std:
            break
        offset = t.offset_minutes * 60
        if std == "06":
            out.append(f"{abs(t.year) % 100:02d}")
        elif std == "2006":
            out.append(f"{t.year:04d}")
        elif std == "Jan":
            out.append(_MONTHS[t.month - 1][:3])
        elif std == "January":
            out.append(_MONTHS[t.month - 1])
        elif std == "1":
            out.append(str(t.month))
        elif std == "01":
            out.append(f"{t.month:02d}")
        elif std in ("Mon", "Monday"):
            name = _DAYS[(d.weekday() + 1) % 7]
            out.append(name[:3] if std == "Mon" else name)
        elif std == "2":
            out.append(str(t.day))
        elif std == "_2":
            out.append(f"{t.day:2d}")
        elif std == "02":
            out.append(f"{t.day:02d}")
        elif std == "__2":
            out.append(f"{d.timetuple().tm_yday:3d}")
        elif std == "002":
            out.append(f"{d.timetuple().tm_yday:03d}")
        elif std == "15":
            out.append(f"{hour:02d}")
        elif std in ("3", "03"):
            hr = hour % 12 or 12
            out.append(str(hr) if std == "3" else f"{hr:02d}")
        elif std == "4":
            out.append(str(t.minute))
        elif std == "04":
            out.append(f"{t.minute:02d}")
        elif std == "5":
            out.append(str(t.second))
        elif std == "05":
            out.append(f"{t.second:02d}")
        elif std in ("PM", "pm"):
            text = "PM" if hour >= 12 else "AM"
            out.append(text if std == "PM" else text.lower())
        elif std == "MST":
            name = _zone_name(t)
            if name:
                out.append(name)
            else:
                zone = offset // 60
                sign = "-" if zone < 0 else "+"
                zone = abs(zone)
                out.append(f"{sign}{zone // 60:02d}{zone % 60:02d}")
        elif std[0] in "-Z" and std[1:2] == "0":
            if offset == 0 and std[0] == "Z":
                out.append("Z")
                continue
            zone = offset // 60
            sign = "-" if zone < 0 else "+"
            zone = abs(zone)
            text = f"{sign}{zone // 60:02d}"
            if ":" in std:
                text += ":"
            if std[1:] not in ("07",):
                text += f"{zone % 60:02d}"
            if std[1:] in ("070000", "07:00:00"):
                if ":" in std:
                    text += ":"
                text += f"{abs(offset) % 60:02d}"
            out.append(text)
        elif std[0] in ".,":
            digits = len(std) - 1
            nanos = f"{t.nanosecond:09d}"
            if std[1] == "0":
                out.append(std[0] + nanos[:digits])
            else:
                kept = nanos[:digits].rstrip("0")
                if kept:
                    out.append(std[0] + kept)
    return "".join(out)


def go_time_string(t: GoTime) -> str:
    """`Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`."""
    return go_time_format(t, "2006-01-02 15:04:05.999999999 -0700 MST")


def _unix(t: GoTime) -> int:
    u = _utc(t)
    epoch = _dt.datetime(1970, 1, 1)
    return int((_datetime(u) - epoch).total_seconds())


def _time_method(result: GoType, fn: object, params: tuple[GoType, ...] = ()) -> Method:
    def impl(recv: Value, args: list[Value]) -> Value:
        t: GoTime = recv.v
        return fn(t, *[a.v for a in args])  # type: ignore[operator, no-any-return]

    return Method(func_type(params, (result,)), impl)


def _install_time_methods() -> None:
    add = TIME.add_method
    add("String", _time_method(STRING, lambda t: Value(STRING, go_time_string(t))))
    add("Format", _time_method(STRING, lambda t, layout: Value(STRING, go_time_format(t, layout)), (STRING,)))
    add("Year", _time_method(INT, lambda t: Value(INT, t.year)))
    add("Month", _time_method(MONTH, lambda t: Value(MONTH, t.month)))
    add("Day", _time_method(INT, lambda t: Value(INT, t.day)))
    add("YearDay", _time_method(INT, lambda t: Value(INT, _datetime(t).timetuple().tm_yday)))
    add("Weekday", _time_method(WEEKDAY, lambda t: Value(WEEKDAY, (_datetime(t).weekday() + 1) % 7)))
    add("Hour", _time_method(INT, lambda t: Value(INT, t.hour)))
    add("Minute", _time_method(INT, lambda t: Value(INT, t.minute)))
    add("Second", _time_method(INT, lambda t: Value(INT, t.second)))
    add("Nanosecond", _time_method(INT, lambda t: Value(INT, t.nanosecond)))
    add("Unix", _time_method(INT64, lambda t: Value(INT64, _unix(t))))
    add("UnixMilli", _time_method(INT64, lambda t: Value(INT64, _unix(t) * 1000 + t.nanosecond // 1_000_000)))
    add("UnixMicro", _time_method(INT64, lambda t: Value(INT64, _unix(t) * 1_000_000 + t.nanosecond // 1000)))
    add("UnixNano", _time_method(INT64, lambda t: Value(INT64, _unix(t) * 1_000_000_000 + t.nanosecond)))
    add("UTC", _time_method(TIME, lambda t: Value(TIME, _utc(t))))
    add("IsZero", _time_method(BOOL, lambda t: Value(BOOL, _unix(t) == -62135596800 and t.nanosecond == 0)))
    three = func_type((), (INT, MONTH, INT))
    add("Date", Method(three, lambda recv, args: Value(INT, 0)))
    add("Clock", Method(func_type((), (INT, INT, INT)), lambda recv, args: Value(INT, 0)))
    MONTH.add_method("String", Method(func_type((), (STRING,)),
                                      lambda recv, args: Value(STRING, _month_name(int(recv.v)))))
    WEEKDAY.add_method("String", Method(func_type((), (STRING,)),
                                        lambda recv, args: Value(STRING, _weekday_name(int(recv.v)))))


def _month_name(m: int) -> str:
    return _MONTHS[m - 1] if 1 <= m <= 12 else f"%!Month({m})"


def _weekday_name(d: int) -> str:
    return _DAYS[d] if 0 <= d <= 6 else f"%!Weekday({d})"


def _install_digest_methods() -> None:
    string_method = func_type((), (STRING,))

    def algorithm(recv: Value, args: list[Value]) -> Value:
        text = str(recv.v)
        return Value(ALGORITHM, text[: text.index(":")] if ":" in text else text)

    def encoded(recv: Value, args: list[Value]) -> Value:
        text = str(recv.v)
        return Value(STRING, text[text.index(":") + 1:] if ":" in text else "")

    DIGEST.add_method("String", Method(string_method, lambda recv, args: Value(STRING, str(recv.v))))
    DIGEST.add_method("Algorithm", Method(func_type((), (ALGORITHM,)), algorithm))
    DIGEST.add_method("Encoded", Method(string_method, encoded))
    DIGEST.add_method("Hex", Method(string_method, encoded))
    ALGORITHM.add_method("String", Method(string_method, lambda recv, args: Value(STRING, str(recv.v))))


_install_time_methods()
register_zero(TIME, GoTime())
_install_digest_methods()
assert TIME.kind is Kind.STRUCT
