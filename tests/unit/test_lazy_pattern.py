"""`toolkit._lazy.lazy_pattern`: a regular expression compiled on first use, once."""

from __future__ import annotations

import re

import pytest

from toolkit import _lazy


def test_a_lazy_pattern_compiles_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = re.compile
    monkeypatch.setattr(_lazy.re, "compile", lambda p, f=0: compiled.append(p) or real(p, f))
    get = _lazy.lazy_pattern(r"[a-z]+", re.IGNORECASE)
    assert compiled == []
    assert get().fullmatch("AbC") and get() is get()
    assert compiled == [r"[a-z]+"]
