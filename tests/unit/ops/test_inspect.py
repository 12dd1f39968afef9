"""`ops.inspect` through its library API with local transports (`dir:`, `oci:`): skopeo's
`inspect` fields computed from images built by helpers.images (the independent yardstick),
the output structs' field order and omissions (skopeo `cmd/skopeo/inspect/output.go`), and
the list fallback. The peer test compares with skopeo 1.9.3's own output (which predates
`LayersData`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers.images import (
    DOCKER_LAYER_GZIP,
    BuiltImage,
    Platform,
    build_image,
    build_multiarch,
    sha256_digest,
    write_dir,
    write_oci_layout,
)
from toolkit.digest import Digest
from toolkit.errors import ManifestError
from toolkit.manifest.gojson import marshal
from toolkit.ops.inspect import (
    InspectInfo,
    InspectLayer,
    NoMatchingInstanceError,
    image_config,
    inspect_image,
    list_platforms,
    platform_struct,
    raw_manifest,
)
from toolkit.transports import parse_image_name
from toolkit.types import SystemContext

CTX = SystemContext()
LABELS = {"org.example.team": "infra", "version": "1.2"}
#: Platforms no test machine is: a list of only these has no instance for the host.
FOREIGN = (Platform("linux", "s390x"), Platform("windows", "amd64"))


def go_json(info: InspectInfo) -> dict[str, Any]:
    """What skopeo would print, parsed (Go's encoding, through the struct's own marshalling)."""
    result: dict[str, Any] = json.loads(marshal(info.go_struct()))
    return result


@pytest.fixture
def arm_image() -> BuiltImage:
    return build_image(layer_count=2, layer_size=1000, seed=5, labels=LABELS, platform=Platform("linux", "arm64", "v8"))


def test_inspect_image_reports_config_and_layers(tmp_path: Path, arm_image: BuiltImage) -> None:
    ref = parse_image_name(f"dir:{write_dir(arm_image, tmp_path / 'img')}")
    info = inspect_image(ref, CTX)
    assert info.digest == Digest.parse(arm_image.manifest_digest)
    assert (info.name, info.tag, info.repo_tags) == ("", "", [])  # dir: has no docker reference
    assert (info.os, info.architecture, info.variant) == ("linux", "arm64", "v8")
    assert info.labels == LABELS
    assert info.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert info.layers == arm_image.layer_digests
    assert info.layers_data == [
        InspectLayer(mime_type=DOCKER_LAYER_GZIP, digest=Digest.parse(layer.digest), size=layer.size, annotations=None)
        for layer in arm_image.layers
    ]


def test_output_struct_order_and_omissions(tmp_path: Path, arm_image: BuiltImage) -> None:
    info = inspect_image(parse_image_name(f"dir:{write_dir(arm_image, tmp_path / 'img')}"), CTX)
    out = go_json(info)
    # Name and Tag are omitempty; Variant is not part of skopeo's Output.
    assert list(out) == [
        "Digest", "RepoTags", "Created", "DockerVersion", "Labels", "Architecture", "Os", "Layers", "LayersData", "Env",
    ]
    assert out["Created"] == "2024-01-01T00:00:00Z"
    assert out["RepoTags"] == [] and out["DockerVersion"] == ""
    assert out["LayersData"][0] == {
        "MIMEType": DOCKER_LAYER_GZIP, "Digest": arm_image.layers[0].digest, "Size": arm_image.layers[0].size,
        "Annotations": None,
    }
    named = InspectInfo(name="docker.io/library/x", tag="v1", digest=info.digest)
    named_out = go_json(named)
    assert list(named_out)[:3] == ["Name", "Tag", "Digest"]
    assert (named_out["Labels"], named_out["Env"], named_out["Created"], named_out["Layers"]) == (None, None, None, [])


def test_config_raw_and_as_oci(tmp_path: Path, arm_image: BuiltImage) -> None:
    ref = parse_image_name(f"dir:{write_dir(arm_image, tmp_path / 'img')}")
    assert image_config(ref, CTX, raw=True) == arm_image.config
    oci = json.loads(image_config(ref, CTX, raw=False))
    assert (oci["architecture"], oci["os"], oci["variant"]) == ("arm64", "linux", "v8")
    assert oci["rootfs"] == {"type": "layers", "diff_ids": arm_image.diff_ids}
    assert oci["config"]["Labels"] == LABELS


def test_a_list_is_inspected_through_the_instance_for_the_platform(tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", seed=8)
    layout = write_oci_layout(index, tmp_path / "layout", "multi")
    ref = parse_image_name(f"oci:{layout}:multi")
    assert raw_manifest(ref, CTX) == index.manifest  # the list itself, unchanged
    arm = index.image_for("arm", "v7")
    info = inspect_image(ref, SystemContext(override_arch="arm", override_variant="v7"))
    # Digest is the top-level manifest's (as skopeo); the rest is the chosen instance's.
    assert info.digest == Digest.parse(index.manifest_digest)
    assert info.layers == arm.layer_digests and (info.architecture, info.variant) == ("arm", "v7")
    entries = list_platforms(ref, CTX)
    assert [(str(e.platform), str(e.digest), e.size) for e in entries] == [
        (str(image.platform), image.manifest_digest, len(image.manifest)) for image in index.images
    ]
    assert json.loads(marshal(platform_struct(entries[1]))) == {
        "Platform": "linux/arm64/v8", "Digest": index.images[1].manifest_digest, "Size": len(index.images[1].manifest),
        "MIMEType": "application/vnd.oci.image.manifest.v1+json",
    }


def test_single_image_has_no_platform_list(tmp_path: Path, arm_image: BuiltImage) -> None:
    assert list_platforms(parse_image_name(f"dir:{write_dir(arm_image, tmp_path / 'img')}"), CTX) == []


def test_list_without_an_instance_for_this_host(tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", platforms=FOREIGN, seed=9)
    ref = parse_image_name(f"oci:{write_oci_layout(index, tmp_path / 'layout', 'x')}:x")
    with pytest.raises(NoMatchingInstanceError) as info:
        inspect_image(ref, CTX)
    assert info.value.exit_code == 1  # an image exists; not for this platform (as skopeo)
    assert str(info.value).startswith("Error parsing manifest for image: choosing image instance: no image found")
    assert "(it has: linux/s390x, windows/amd64)" in str(info.value)
    # An explicit platform choice: the instance, or the error.
    chosen = inspect_image(ref, SystemContext(override_arch="s390x"))
    assert chosen.architecture == "s390x"
    with pytest.raises(NoMatchingInstanceError):
        inspect_image(ref, SystemContext(override_arch="mips64"))


def test_schema1_fields_come_from_the_top_history_entry(tmp_path: Path) -> None:
    base, upper = b"base layer (inspect never reads it)", b"upper layer"
    top = {
        "id": "b" * 64, "parent": "a" * 64, "created": "2023-05-06T07:08:09.123456789Z", "docker_version": "20.10.7",
        "os": "linux", "config": {"Labels": {"k": "v"}, "Env": ["A=1"]},
    }
    bottom = {"id": "a" * 64, "created": "2023-01-01T00:00:00Z"}
    manifest = json.dumps({
        "schemaVersion": 1, "name": "ns/app", "tag": "v7", "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256_digest(upper)}, {"blobSum": sha256_digest(base)}],  # top first
        "history": [{"v1Compatibility": json.dumps(top)}, {"v1Compatibility": json.dumps(bottom)}],
    }, indent=3).encode()
    path = tmp_path / "s1"
    path.mkdir()
    (path / "version").write_bytes(b"Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(manifest)
    for blob in (base, upper):
        (path / sha256_digest(blob)[7:]).write_bytes(blob)
    info = inspect_image(parse_image_name(f"dir:{path}"), CTX)
    assert (info.tag, info.architecture, info.os, info.docker_version) == ("v7", "amd64", "linux", "20.10.7")
    assert info.labels == {"k": "v"} and info.env == ["A=1"]
    assert go_json(info)["Created"] == "2023-05-06T07:08:09.123456789Z"
    assert info.digest == Digest.parse(sha256_digest(manifest))
    assert info.layers == [sha256_digest(base), sha256_digest(upper)]  # base first, as c/image LayerInfos
    with pytest.raises(ManifestError, match="schema1"):
        image_config(parse_image_name(f"dir:{path}"), CTX, raw=True)


def test_peer_same_fields_as_skopeo(tmp_path: Path, arm_image: BuiltImage, skopeo: Any) -> None:
    path = write_dir(arm_image, tmp_path / "img")
    theirs = json.loads(skopeo.run("inspect", f"dir:{path}").stdout)
    ours = go_json(inspect_image(parse_image_name(f"dir:{path}"), CTX))
    del ours["LayersData"]  # newer than skopeo 1.9.3 (c/image's ImageInspectLayer)
    assert list(ours.items()) == list(theirs.items())  # same fields, values and order
