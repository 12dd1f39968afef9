"""toolkit.gocompat: Go standard-library behaviour, checked against Go's own test tables.

The path tables are Go's `path/path_test.go` (cleantests, jointests, basetests); the
strconv cases follow `strconv/atoi_test.go` and `atob_test.go`; each expected value is
what the Go function returns.
"""

from __future__ import annotations

import pytest

from toolkit.errors import InvalidImageNameError, InvalidInputError
from toolkit.gocompat import (
    INT64_MAX,
    INT64_MIN,
    NumError,
    atoi,
    atoi_index,
    parse_bool,
    parse_go_bool,
    parse_go_duration,
    path_base,
    path_clean,
    path_join,
)

# ------------------------------------------------------------------------------- path

CLEAN_TESTS = [
    # Already clean
    ("", "."),
    ("abc", "abc"),
    ("abc/def", "abc/def"),
    ("a/b/c", "a/b/c"),
    (".", "."),
    ("..", ".."),
    ("../..", "../.."),
    ("../../abc", "../../abc"),
    ("/abc", "/abc"),
    ("/", "/"),
    # Remove trailing slash
    ("abc/", "abc"),
    ("abc/def/", "abc/def"),
    ("a/b/c/", "a/b/c"),
    ("./", "."),
    ("../", ".."),
    ("../../", "../.."),
    ("/abc/", "/abc"),
    # Remove doubled slash
    ("abc//def//ghi", "abc/def/ghi"),
    ("//abc", "/abc"),
    ("///abc", "/abc"),
    ("//abc//", "/abc"),
    ("abc//", "abc"),
    # Remove . elements
    ("abc/./def", "abc/def"),
    ("/./abc/def", "/abc/def"),
    ("abc/.", "abc"),
    # Remove .. elements
    ("abc/def/ghi/../jkl", "abc/def/jkl"),
    ("abc/def/../ghi/../jkl", "abc/jkl"),
    ("abc/def/..", "abc"),
    ("abc/def/../..", "."),
    ("/abc/def/../..", "/"),
    ("abc/def/../../..", ".."),
    ("/abc/def/../../..", "/"),
    ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
    # Combinations
    ("abc/./../def", "def"),
    ("abc//./../def", "def"),
    ("abc/../../././../def", "../../def"),
]


@pytest.mark.parametrize(("path", "cleaned"), CLEAN_TESTS)
def test_path_clean(path: str, cleaned: str) -> None:
    assert path_clean(path) == cleaned
    assert path_clean(cleaned) == cleaned  # Clean is idempotent (Go's test checks it too)


@pytest.mark.parametrize(
    ("elements", "joined"),
    [
        ((), ""),
        (("",), ""),
        (("a",), "a"),
        (("a", "b"), "a/b"),
        (("a", ""), "a"),
        (("", "b"), "b"),
        (("/", "a"), "/a"),
        (("/", ""), "/"),
        (("a/", "b"), "a/b"),
        (("a/", ""), "a"),
        (("", ""), ""),
    ],
)
def test_path_join(elements: tuple[str, ...], joined: str) -> None:
    assert path_join(*elements) == joined


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("", "."),
        (".", "."),
        ("/.", "."),
        ("/", "/"),
        ("////", "/"),
        ("x/", "x"),
        ("abc", "abc"),
        ("abc/def", "def"),
        ("a/b/.x", ".x"),
        ("a/b/c.", "c."),
        ("a/b/c.x", "c.x"),
    ],
)
def test_path_base(path: str, base: str) -> None:
    assert path_base(path) == base


# ---------------------------------------------------------------------------- strconv


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("-0", 0),
        ("+0", 0),
        ("1", 1),
        ("-1", -1),
        ("+7", 7),
        ("007", 7),
        ("12345", 12345),
        ("-12345", -12345),
        ("9223372036854775807", INT64_MAX),
        ("-9223372036854775808", INT64_MIN),
        ("+0000000000000000000000000000001", 1),  # leading zeros never overflow
    ],
)
def test_atoi(text: str, value: int) -> None:
    assert atoi(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "invalid syntax"),
        ("+", "invalid syntax"),
        ("-", "invalid syntax"),
        ("1_000", "invalid syntax"),  # underscores only with base 0
        (" 1", "invalid syntax"),
        ("1 ", "invalid syntax"),
        ("0x10", "invalid syntax"),
        ("1e3", "invalid syntax"),
        ("\u0661\u0662", "invalid syntax"),  # Arabic-Indic digits: ASCII only
        ("++1", "invalid syntax"),
        ("9223372036854775808", "value out of range"),
        ("-9223372036854775809", "value out of range"),
        ("1" * 100, "value out of range"),
    ],
)
def test_atoi_refuses(text: str, reason: str) -> None:
    with pytest.raises(NumError) as info:
        atoi(text)
    assert info.value.message == f'strconv.Atoi: parsing "{text}": {reason}'


def test_atoi_huge_input_is_out_of_range_not_a_crash() -> None:
    # Python's int() refuses more than 4300 digits with ValueError; Go says out of range.
    with pytest.raises(NumError, match="value out of range$"):
        atoi("9" * 100_000)


@pytest.mark.parametrize(
    ("text", "detail", "message"),
    [
        ("x", "", 'Invalid source index @x: strconv.Atoi: parsing "x": invalid syntax'),
        ("x", "not an integer: ", 'Invalid source index @x: not an integer: strconv.Atoi: parsing "x": invalid syntax'),
        ("", "", 'Invalid source index @: strconv.Atoi: parsing "": invalid syntax'),
        ("99999999999999999999", "",
         'Invalid source index @99999999999999999999: strconv.Atoi: parsing "99999999999999999999": '
         "value out of range"),
        ("-1", "", "Invalid source index @-1: must not be negative"),
        ("-007", "not an integer: ", "Invalid source index @-7: must not be negative"),
        ("a\x1bb", "", r'Invalid source index @a\x1bb: strconv.Atoi: parsing "a\x1bb": invalid syntax'),
    ],
)
def test_atoi_index_messages(text: str, detail: str, message: str) -> None:
    with pytest.raises(InvalidImageNameError) as info:
        atoi_index(text, detail=detail)
    assert str(info.value) == message


def test_atoi_index_values() -> None:
    assert [atoi_index(t) for t in ("0", "+3", "-0", "010")] == [0, 3, 0, 10]


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_true(text: str) -> None:
    assert parse_bool(text) is True
    assert parse_go_bool("--x", text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_go_false(text: str) -> None:
    assert parse_bool(text) is False
    assert parse_go_bool("--x", text) is False


@pytest.mark.parametrize("text", ["", "yes", "no", "tRue", "2", "1 ", "on"])
def test_go_bool_rejects(text: str) -> None:
    with pytest.raises(NumError) as bare:
        parse_bool(text)
    assert bare.value.message == f'strconv.ParseBool: parsing "{text}": invalid syntax'
    with pytest.raises(InvalidInputError) as info:
        parse_go_bool("--tls-verify", text)
    assert info.value.message == (
        f'invalid argument "{text}" for "--tls-verify" flag: strconv.ParseBool: parsing "{text}": invalid syntax'
    )


# ------------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("1h2m3s4ms5us6ns", 3723.004005006),
        ("3µs", 3e-6),
        ("3μs", 3e-6),
    ],
)
def test_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "-1s", "+1s", "1x", "s", "1s2", ".s", "\u0661s", "1 s"])
def test_go_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid duration"):
        parse_go_duration(text)
