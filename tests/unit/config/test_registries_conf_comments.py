"""The usual registries.conf files (comments only; podman's shortnames.conf of `[aliases]`)
are read without the TOML parser, with tomllib's answer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.config.registries_conf import RegistriesConf, _has_no_registries, load_registries_conf
from toolkit.errors import ConfigError
from toolkit.types import SystemContext

#: Pieces the usual files (and near misses) are made of.
_PIECES = st.lists(
    st.sampled_from([
        "# c", "#", " ", "\t", "\n", "\r\n", "\r", "\x00", "\x7f", "\x1b", "é", "\ufeff", "a=1", "=", "[", "]",
        '"', "\\", "[aliases]", "[a]", "[registry]", "[[registry]]", "registry", "k", '"k"', ' = ', '"v"', '""',
        'location="x"', "#\x01", "\u2028", "''", '"""', ".", "[a.b]", " # c",
    ]),
    max_size=14,
).map("".join)

SHORTNAMES = '# aliases\n[aliases]\n  # centos\n  "centos" = "quay.io/centos/centos"\n  "a-b_c" = "docker.io/x/y"\n'


def _tomllib_says_no_registries(text: str) -> bool:
    try:
        return "registry" not in tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False


@given(_PIECES)
def test_never_claims_what_tomllib_rejects(text: str) -> None:
    if _has_no_registries(text):
        assert _tomllib_says_no_registries(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", True), ("# a\n\n  # b\r\n\t# c\n", True), ("# é\n", True), (SHORTNAMES, True),
     ('[x]\nregistry = "y"\n', True), ('k = "v" # c\n"" = ""\n', True),
     ("#\x00\n", False), ("# x\r", False), ("\ufeff# x\n", False), ("a = 1\n", False), ("# x\n[[registry]]\n", False),
     ('registry = "x"\n', False), ("[registry]\n", False), ('[a]\nk = "1"\nk = "2"\n', False), ("[a]\n[a]\n", False),
     ('k = "a\\"b"\n', False), ('k = "v" x\n', False), ("[ a ]\n", False), ("[a\n", False), ('a.b = "c"\n', False)],
)
def test_has_no_registries(text: str, expected: bool) -> None:
    assert _has_no_registries(text) is expected
    if expected:
        assert _tomllib_says_no_registries(text)


def _load(tmp_path: Path, text: str) -> RegistriesConf:
    path = tmp_path / "registries.conf"
    path.write_bytes(text.encode())
    ctx = SystemContext(registries_conf_path=path)
    return load_registries_conf(ctx, env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)})


def test_the_usual_files_read_as_no_registries(tmp_path: Path) -> None:
    assert _load(tmp_path, "# nothing here\n\n").registries == ()
    assert _load(tmp_path, "").registries == ()
    assert _load(tmp_path, SHORTNAMES).registries == ()
    settings = _load(tmp_path, SHORTNAMES + '# a registry\n[[registry]]\nlocation = "example.com"\n')
    assert [r.prefix for r in settings.registries] == ["example.com"]


@pytest.mark.parametrize("text", ["# bad \x01 byte\n", '[aliases]\n"a" = "b"\n"a" = "c"\n'])
def test_what_tomllib_rejects_is_still_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="loading registries configuration"):
        _load(tmp_path, text)
