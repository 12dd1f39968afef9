"""`toolkit.errors.safe_text`: control characters escaped, the text cut at the limit."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import safe_text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_safe_text_escapes_exactly_the_control_characters(text: str) -> None:
    expected = "".join(
        ch if ch == "\t" or not unicodedata.category(ch).startswith("C") else ch.encode("unicode_escape").decode()
        for ch in text[:10]
    ) + ("..." if len(text) > 10 else "")
    assert safe_text(text, 10) == expected
