"""Checks written without a regex (compiling one costs more than a short command's work)
accept exactly what the regular expression they replace accepts."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from toolkit.digest import Digest
from toolkit.errors import InvalidDigestError, InvalidImageNameError, ManifestError
from toolkit.manifest.gojson import GoTime, _rfc3339, _rfc3339_fields
from toolkit.transports._oci_layout import validate_image_name

SETTINGS = settings(max_examples=400, deadline=None)

DIGEST_RE = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
REF_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdefABCDEF:g", min_size=size - 1, max_size=size + 1)


digest_texts = st.one_of(
    st.builds(lambda a, h: f"{a}:{h}", st.sampled_from(["sha256", "sha512", "sha384", "SHA256", ""]),
              st.one_of(_hex(64), _hex(128))),
    st.text(max_size=80),
)


@SETTINGS
@given(digest_texts)
@example("sha256:" + "a" * 64)
@example("sha512:" + "0" * 128)
@example("sha256:" + "a" * 64 + ":")
@example("md5:abc")
def test_digest_parse_accepts_what_the_regex_accepts(text: str) -> None:
    match = DIGEST_RE.fullmatch(text)
    if match is None:
        with pytest.raises(InvalidDigestError):
            Digest.parse(text)
    else:
        parsed = Digest.parse(text)
        assert str(parsed) == text
        assert (parsed.algorithm, parsed.hex) in {match.group(1, 2), match.group(3, 4)}


ref_names = st.one_of(
    st.text("aZ9-._:@+/é ", max_size=12),
    st.lists(st.text("ab-._", min_size=1, max_size=5), min_size=1, max_size=3).map("/".join),
    st.text(max_size=12),
)


@SETTINGS
@given(ref_names)
@example("a--b")
@example("a---b")
@example("a/b")
@example("a//b")
@example("/a")
@example("a-")
@example("v1.0")
def test_validate_image_name_accepts_what_the_ref_name_regex_accepts(image: str) -> None:
    if not image or REF_RE.fullmatch(image):
        validate_image_name(image)
    else:
        with pytest.raises(InvalidImageNameError):
            validate_image_name(image)


times = st.one_of(
    st.builds(
        lambda y, mo, d, h, mi, s, frac, zone: f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac}{zone}",
        st.text("0123456789", min_size=3, max_size=5), st.text("0123456789", min_size=1, max_size=3),
        st.text("0123456789", min_size=2, max_size=2), st.text("0123456789", min_size=2, max_size=2),
        st.text("0123456789", min_size=2, max_size=2), st.text("0123456789x", min_size=2, max_size=2),
        st.sampled_from(["", ".", ".5", ".123456789012", ".1a"]),
        st.sampled_from(["Z", "z", "+01:30", "-23:59", "+1:30", "+01:3", "Z\n", "", "+01:30Z"]),
    ),
    st.text("0123456789-T:Z.+\u0663", max_size=30),
)


@SETTINGS
@given(times)
@example("2024-01-01T00:00:00Z")
@example("2024-01-01T00:00:00.000000001+05:30")
@example("\u0662024-01-01T00:00:00Z")
def test_rfc3339_fields_are_the_regex_groups(text: str) -> None:
    match = _rfc3339().match(text)
    expected = None if match is None else tuple(group or "" for group in match.groups())
    assert _rfc3339_fields(text) == expected
    if expected is None:
        with pytest.raises(ManifestError):
            GoTime.parse(text, what="t")
