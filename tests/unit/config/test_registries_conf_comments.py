"""registries.conf made of comments only is read without the TOML parser, with tomllib's answer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.config.registries_conf import RegistriesConf, _only_comments, load_registries_conf
from toolkit.errors import ConfigError
from toolkit.types import SystemContext

#: Pieces a comments-only file (or a near miss) is made of.
_PIECES = st.lists(
    st.sampled_from(["# c", "#", " ", "\t", "\n", "\r\n", "\r", "\x00", "\x7f", "\x1b", "é", "\ufeff", "a=1",
                     "[[registry]]", 'location="x"', "#\x01", "\u2028", "''", '"""']),
    max_size=12,
).map("".join)


def _tomllib_says_empty(text: str) -> bool:
    try:
        return tomllib.loads(text) == {}
    except tomllib.TOMLDecodeError:
        return False


@given(_PIECES)
def test_only_comments_never_claims_what_tomllib_rejects(text: str) -> None:
    if _only_comments(text):
        assert _tomllib_says_empty(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", True), ("# a\n\n  # b\r\n\t# c\n", True), ("# é\n", True),
     ("#\x00\n", False), ("# x\r", False), ("\ufeff# x\n", False), ("a = 1\n", False), ("# x\n[[registry]]\n", False)],
)
def test_only_comments(text: str, expected: bool) -> None:
    assert _only_comments(text) is expected


def _load(tmp_path: Path, text: str) -> RegistriesConf:
    path = tmp_path / "registries.conf"
    path.write_bytes(text.encode())
    ctx = SystemContext(registries_conf_path=path)
    return load_registries_conf(ctx, env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)})


def test_a_comments_only_file_reads_as_no_registries(tmp_path: Path) -> None:
    assert _load(tmp_path, "# nothing here\n\n").registries == ()
    assert _load(tmp_path, "").registries == ()
    settings = _load(tmp_path, "# a registry\n[[registry]]\nlocation = \"example.com\"\n")
    assert [r.prefix for r in settings.registries] == ["example.com"]


def test_a_control_character_in_a_comment_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loading registries configuration"):
        _load(tmp_path, "# bad \x01 byte\n")
