"""Strict JSON loader and typed getters: security.md corpus 3, 6-9 and row 19."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError, ManifestError, SizeLimitError, ToolkitError
from toolkit.manifest.strictjson import (
    MAX_DEPTH,
    get_dict,
    get_int,
    get_list,
    get_str,
    get_str_map,
    loads_strict,
)


def load(raw: bytes, limit: int = 1 << 20) -> object:
    return loads_strict(raw, what="doc", limit=limit)


def test_accepts_plain_object() -> None:
    assert load(b' {"a": [1, 2.5, "x", null, true]} \n') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'\xef\xbb\xbf{"a":1}', "byte order mark"),
        (b'{"a":"\xff"}', "invalid UTF-8"),
        (b'{"a":1,"a":2}', 'duplicate key "a"'),
        (b'{"x":{"config":1,"config":2}}', 'duplicate key "config"'),
        (b'{"a":NaN}', "NaN"),
        (b'{"a":Infinity}', "Infinity"),
        (b'{"a":-Infinity}', "Infinity"),
        (b'{"a":1e400}', "out of range"),
        (b'{"a":' + b"9" * 400 + b"}", "out of range"),
        (b'{"a":1} {"b":2}', "Extra data"),
        (b'{"a":1}x', "Extra data"),
        (b"", "invalid JSON"),
        (b'{"a":"\\ud800"}', "surrogate"),
        (b'{"a":"x\ny"}', "invalid JSON"),
    ],
)
def test_rejects(raw: bytes, fragment: str) -> None:
    with pytest.raises(ManifestError) as info:
        load(raw)
    assert fragment in str(info.value)


def test_size_limit_exact_and_plus_one() -> None:
    body = b'{"a":"' + b"x" * 100 + b'"}'
    assert load(body, limit=len(body)) == {"a": "x" * 100}
    with pytest.raises(SizeLimitError, match=f"exceeded maximum allowed size of {len(body) - 1} bytes"):
        load(body, limit=len(body) - 1)


def test_four_mib_plus_one() -> None:
    limit = 4 << 20
    body = b'{"a":"' + b"x" * (limit - 8) + b'"}'
    assert len(body) == limit
    load(body, limit=limit)
    with pytest.raises(SizeLimitError):
        load(body + b" ", limit=limit)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting(depth: int) -> None:
    with pytest.raises(ManifestError, match="nesting"):
        load(b"[" * depth + b"]" * depth)
    with pytest.raises(ManifestError, match="nesting"):
        load(b'{"a":' * depth + b"1" + b"}" * depth)


def test_depth_at_limit_is_fine() -> None:
    load(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)


def test_error_class_parameter() -> None:
    with pytest.raises(ConfigError):
        loads_strict(b'{"a":1,"a":1}', what="policy.json", limit=100, error_cls=ConfigError)


def test_non_bytes_input() -> None:
    with pytest.raises(ManifestError):
        loads_strict("text", what="doc", limit=10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [-1, "12", 1.0, 1e300, True, False, [], {}, 1 << 63, 10**399],
)
def test_get_int_rejects(value: object) -> None:
    with pytest.raises(ManifestError, match='"size"'):
        get_int({"size": value}, "size", what="layer")


def test_get_int_accepts() -> None:
    assert get_int({"size": 0}, "size", what="x") == 0
    assert get_int({"size": (1 << 63) - 1}, "size", what="x") == (1 << 63) - 1
    assert get_int({}, "size", what="x", default=5) == 5
    with pytest.raises(ManifestError, match="missing"):
        get_int({}, "size", what="x")


def test_type_confusion_is_clean() -> None:
    with pytest.raises(ManifestError, match='"layers" must be an array'):
        get_list({"layers": {}}, "layers", what="m")
    with pytest.raises(ManifestError, match='"mediaType" must be a string'):
        get_str({"mediaType": 5}, "mediaType", what="m")
    with pytest.raises(ManifestError, match='"config" must be an object'):
        get_dict({"config": []}, "config", what="m")
    with pytest.raises(ManifestError):
        get_str_map({"annotations": {"a": 1}}, "annotations", what="m")
    assert get_str({"mediaType": None}, "mediaType", what="m") == ""
    assert issubclass(ManifestError, ToolkitError)
