"""The flags `copy` and `sync` share: multi-arch selection and platform lists."""

from __future__ import annotations

import pytest

from toolkit.cli.copying import parse_platform_list
from toolkit.errors import InvalidInputError
from toolkit.manifest.platform import PlatformFilter
from toolkit.types import Platform


def test_platform_lists_parse_with_and_without_variants() -> None:
    assert parse_platform_list("linux/amd64, linux/arm64/v8") == (
        PlatformFilter("linux", "amd64"),
        PlatformFilter("linux", "arm64", "v8"),
    )


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "linux/amd64,", "a/b/c/d", ""])
def test_bad_platform_lists(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid platform format"):
        parse_platform_list(text)


def test_filters_match_os_and_architecture_and_a_given_variant() -> None:
    arm7 = Platform(os="linux", architecture="arm", variant="v7")
    arm6 = Platform(os="linux", architecture="arm", variant="v6")
    any_arm = PlatformFilter("linux", "arm")
    assert any_arm.matches(arm7) and any_arm.matches(arm6)
    assert PlatformFilter("linux", "arm", "v7").matches(arm7)
    assert not PlatformFilter("linux", "arm", "v7").matches(arm6)
    assert not PlatformFilter("windows", "arm").matches(arm7)
    # an entry without a platform is never chosen by a named platform
    assert not any_arm.matches(None)
    assert str(PlatformFilter("linux", "arm64", "v8")) == "linux/arm64/v8"
