"""`inspect` of multi-architecture images: `--platforms`, and never failing only because the
host's platform is missing from the list (the list is printed instead, with a warning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
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


def test_plain_inspect_prints_the_list_when_the_host_is_missing(
    run_skopo: SkopoRunner, foreign_list: tuple[str, BuiltIndex]
) -> None:
    name, image = foreign_list
    result = run_skopo("inspect", name)
    assert result.returncode == 0, describe_result(result)
    doc = json.loads(result.stdout)
    assert doc["Digest"] == image.manifest_digest
    assert [p["Platform"] for p in doc["Platforms"]] == ["linux/s390x", "linux/ppc64le"]
    stderr = result.stderr.decode()
    assert stderr.startswith("Warning: no image found") and "--override-arch" in stderr
    result = run_skopo("inspect", "--format", "{{.Digest}}", name)
    assert result.stdout.decode() == image.manifest_digest + "\n", describe_result(result)


def test_an_explicit_platform_is_still_required_to_exist(
    run_skopo: SkopoRunner, foreign_list: tuple[str, BuiltIndex]
) -> None:
    name, image = foreign_list
    assert_clean_error(run_skopo("inspect", "--override-arch", "arm64", name), expected_exit=2, match="no image found")
    result = run_skopo("--override-arch", "s390x", "inspect", "--format", "{{.Architecture}} {{.Digest}}", name)
    assert result.returncode == 0, describe_result(result)
    assert result.stdout.decode() == f"s390x {image.manifest_digest}\n"
