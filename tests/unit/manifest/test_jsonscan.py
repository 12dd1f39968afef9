"""toolkit.manifest.jsonscan: the same value, or the same exception, as `json.loads`."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from toolkit.manifest import jsonscan


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


def _short_int(text: str) -> int:
    if len(text) > 20:
        raise ValueError("too long")
    return int(text)


HOOKS: list[dict[str, Any]] = [
    {"parse_constant": _constant},
    {"object_pairs_hook": _pairs, "parse_constant": _constant, "parse_int": _short_int, "parse_float": float},
    {"object_pairs_hook": list, "parse_constant": lambda name: name},
]

DOCUMENTS = [
    '{"a": [1, -2.5e3, "x\\u00e9\\n", true, false, null, {}], "b": {"c": []}}',
    " \t\r\n[1, 2]\n\n ",
    '"just a string"',
    "12",
    "-0.0",
    "[NaN, Infinity, -Infinity]",
    '{"a": 1, "a": 2}',
    "1" * 30,
    '{"a": 1} x',
    '{"a": 1}{}',
    "",
    "   ",
    "\ufeff{}",
    '{"a" 1}',
    '["\x01"]',
    '"\\ud800"',
    "[" * 100_000,
    '{"a": [1, 2,]}',
    "nul",
    '{"k": "\\x"}',
]


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as exc:  # the exception, compared by type, text and position
        return "error", (type(exc), str(exc), getattr(exc, "pos", None))


@pytest.mark.parametrize("hooks", HOOKS, ids=["defaults", "strict", "pairs-list"])
@pytest.mark.parametrize("text", DOCUMENTS)
def test_loads_is_json_loads(text: str, hooks: dict[str, Any]) -> None:
    assert _outcome(lambda: jsonscan.loads(text, **hooks)) == _outcome(lambda: json.loads(text, **hooks))


def test_without_the_c_scanner_json_loads_does_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonscan, "_c_make_scanner", None)
    assert jsonscan.loads('{"a": [1]}', parse_constant=_constant) == {"a": [1]}
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        jsonscan.loads("[", parse_constant=_constant)


def test_a_valid_document_does_not_import_json() -> None:
    code = (
        "import sys\nfrom toolkit.manifest import jsonscan\n"
        "assert jsonscan.loads('{\"a\": [1, 2.5]}', parse_constant=str) == {'a': [1, 2.5]}\n"
        "assert 'json' not in sys.modules, 'json imported'\n"
        "try:\n    jsonscan.loads('{', parse_constant=str)\nexcept ValueError as exc:\n"
        "    assert type(exc).__name__ == 'JSONDecodeError'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
