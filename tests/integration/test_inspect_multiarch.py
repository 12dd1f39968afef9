"""`inspect` of multi-architecture images: `--platforms`, and a list without the host's
platform failing as skopeo fails (exit 1), with the platforms the list has in the message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltIndex, Platform, build_multiarch, write_oci_layout

#: Platforms no test machine runs on, so the host never matches.
FOREIGN = (Platform("linux", "s390x"), Platform("linux", "ppc64le"))


@pytest.fixture
def foreign_list(tmp_path: Path) -> tuple[str, BuiltIndex]:
    image = build_multiarch(fmt="oci", platforms=FOREIGN, seed=31)
    write_oci_layout(image, tmp_path / "layout", "v1")
    return f"oci:{tmp_path / 'layout'}:v1", image


def test_platforms_lists_every_instance(run_skopo: SkopoRunner, foreign_list: tuple[str, BuiltIndex]) -> None:
    name, image = foreign_list
    result = run_skopo("inspect", "--platforms", name)
    assert result.returncode == 0, describe_result(result)
    entries = json.loads(result.stdout)
    assert [(e["Platform"], e["Digest"], e["Size"]) for e in entries] == [
        (str(i.platform), i.manifest_digest, len(i.manifest)) for i in image.images
    ]


def test_plain_inspect_fails_when_the_host_is_missing(
    run_skopo: SkopoRunner, skopeo: Skopeo, foreign_list: tuple[str, BuiltIndex]
) -> None:
    name, _image = foreign_list
    for args in ((), ("--format", "{{.Architecture}}")):
        result = run_skopo("inspect", *args, name)
        line = assert_clean_error(result, expected_exit=1)
        assert line.startswith(
            "Error parsing manifest for image: choosing image instance: no image found in image index"
        ), line
        assert "(it has: linux/ppc64le, linux/s390x)" in line and "--platforms" in line
        assert result.stdout == b""
    # skopeo 1.9.3 fails the same way, with the same exit status.
    theirs = skopeo.run("inspect", name, check=False)
    assert theirs.returncode == 1 and b"choosing image instance: no image found" in theirs.stderr


def test_an_explicit_platform_is_still_required_to_exist(
    run_skopo: SkopoRunner, foreign_list: tuple[str, BuiltIndex]
) -> None:
    name, image = foreign_list
    assert_clean_error(run_skopo("inspect", "--override-arch", "arm64", name), expected_exit=1, match="no image found")
    result = run_skopo("--override-arch", "s390x", "inspect", "--format", "{{.Architecture}} {{.Digest}}", name)
    assert result.returncode == 0, describe_result(result)
    assert result.stdout.decode() == f"s390x {image.manifest_digest}\n"
