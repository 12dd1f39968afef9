"""Platform selection (ported from c/image platform_matcher_test.go and list tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.digest import Digest
from toolkit.errors import NoMatchingPlatformError
from toolkit.manifest import mime, parse_list
from toolkit.manifest.platform import (
    Host,
    cpu_variant,
    goarch_from_machine,
    host_from,
    matches,
    wanted_platforms,
)
from toolkit.types import Platform, SystemContext

AMD64 = host_from("Linux", "x86_64")
ARM64_CPUINFO = "processor\t: 0\nBogoMIPS\t: 48.00\nCPU architecture: 8\n"


def plats(*triples: tuple[str, str, str]) -> list[Platform]:
    return [Platform(os=o, architecture=a, variant=v) for o, a, v in triples]


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        (SystemContext(override_arch="amd64", override_os="linux"), plats(("linux", "amd64", ""))),
        (
            SystemContext(override_arch="arm", override_os="linux", override_variant="v6"),
            plats(("linux", "arm", "v6"), ("linux", "arm", "v5"), ("linux", "arm", "")),
        ),
        (
            SystemContext(override_arch="arm", override_os="linux"),
            plats(*[("linux", "arm", v) for v in ("", "v8", "v7", "v6", "v5")]),
        ),
        (
            SystemContext(override_arch="arm64", override_os="linux"),
            plats(("linux", "arm64", ""), ("linux", "arm64", "v8")),
        ),
        (
            SystemContext(override_arch="armel", override_os="freeBSD", override_variant="custom"),
            plats(("freeBSD", "armel", "custom"), ("freeBSD", "armel", "")),
        ),
        (SystemContext(), plats(("linux", "amd64", ""))),
        (None, plats(("linux", "amd64", ""))),
        (SystemContext(override_os="windows"), plats(("windows", "amd64", ""))),
    ],
)
def test_wanted_platforms(ctx: SystemContext | None, expected: list[Platform]) -> None:
    assert wanted_platforms(ctx, AMD64) == expected


@pytest.mark.parametrize(
    ("cpuinfo", "variant"),
    [
        ("Cpu architecture: 8", "v8"),
        ("CPU architecture\t: AArch64", "v8"),
        ("CPU architecture: 7\nmodel name: ARMv7 Processor rev 4 (v7l)", "v7"),
        ("model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7", "v6"),
        ("CPU architecture: 7", ""),
        ("CPU architecture: 7M", "v7"),
        ("CPU architecture: 6TEJ", "v6"),
        ("CPU architecture: 5te", "v5"),
        ("CPU architecture: 4t", "v4"),
        ("CPU architecture: 3", "v3"),
        ("CPU architecture: 9", ""),
        ("", ""),
    ],
)
def test_arm_variant_from_cpuinfo(cpuinfo: str, variant: str) -> None:
    assert cpu_variant(Host(goos="linux", goarch="arm", cpuinfo=cpuinfo)) == variant


def test_variant_detection_only_without_arch_override() -> None:
    host = host_from("Linux", "armv7l", "CPU architecture: 7\nmodel name: ARMv7")
    assert wanted_platforms(None, host)[0] == Platform(os="linux", architecture="arm", variant="v7")
    assert [p.variant for p in wanted_platforms(None, host)] == ["v7", "v6", "v5", ""]
    # arch overridden (even to the same value): no detection
    assert [p.variant for p in wanted_platforms(SystemContext(override_arch="arm"), host)] == [
        "",
        "v8",
        "v7",
        "v6",
        "v5",
    ]
    # variant override wins over detection
    assert wanted_platforms(SystemContext(override_variant="v5"), host)[0].variant == "v5"
    arm64 = host_from("Linux", "aarch64", ARM64_CPUINFO)
    assert [p.variant for p in wanted_platforms(None, arm64)] == ["v8", ""]


def test_darwin_windows_variants() -> None:
    assert cpu_variant(host_from("Darwin", "arm64")) == "v8"
    assert cpu_variant(host_from("Windows", "ARM")) == "v7"
    assert cpu_variant(host_from("FreeBSD", "arm64")) == ""


@pytest.mark.parametrize(
    ("machine", "bits", "goarch"),
    [
        ("x86_64", 64, "amd64"),
        ("AMD64", 64, "amd64"),
        ("i686", 32, "386"),
        ("aarch64", 64, "arm64"),
        ("arm64", 64, "arm64"),
        ("armv7l", 32, "arm"),
        ("armv6l", 32, "arm"),
        ("aarch64", 32, "arm"),
        ("x86_64", 32, "386"),
        ("ppc64le", 64, "ppc64le"),
        ("s390x", 64, "s390x"),
        ("riscv64", 64, "riscv64"),
        ("mips64", 64, "mips64"),
        ("loongarch64", 64, "loong64"),
    ],
)
def test_goarch(machine: str, bits: int, goarch: str) -> None:
    assert goarch_from_machine(machine, pointer_bits=bits) == goarch


def test_matches_ignores_extras() -> None:
    img = Platform(os="linux", architecture="amd64", os_version="1", os_features=("x",))
    assert matches(img, Platform(os="linux", architecture="amd64"))
    assert not matches(img, Platform(os="linux", architecture="amd64", variant="v2"))


def d(tag: str) -> str:
    return str(Digest.from_bytes(tag.encode()))


def docker_list(entries: list[tuple[str, str, str, str]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mime.DOCKER_V2LIST,
            "manifests": [
                {
                    "mediaType": mime.DOCKER_V2S2,
                    "size": 1,
                    "digest": d(tag),
                    "platform": {"os": o, "architecture": a, "variant": v},
                }
                for tag, o, a, v in entries
            ],
        }
    ).encode()


LIST = [
    ("amd64", "linux", "amd64", ""),
    ("armv5", "linux", "arm", "v5"),
    ("armv7", "linux", "arm", "v7"),
    ("arm64", "linux", "arm64", "v8"),
    ("armv7-2", "linux", "arm", "v7"),
    ("win", "windows", "amd64", ""),
]


@pytest.mark.parametrize(
    ("ctx", "tag"),
    [
        (SystemContext(), "amd64"),
        (SystemContext(override_os="windows"), "win"),
        (SystemContext(override_arch="arm64"), "arm64"),
        (SystemContext(override_arch="arm", override_variant="v7"), "armv7"),
        (SystemContext(override_arch="arm", override_variant="v6"), "armv5"),
        (SystemContext(override_arch="arm"), "armv7"),
    ],
)
def test_docker_list_choice(ctx: SystemContext, tag: str) -> None:
    view = parse_list(docker_list(LIST), mime.DOCKER_V2LIST)
    assert view.choose_instance(ctx, host=AMD64) == Digest.parse(d(tag))


@pytest.mark.parametrize(
    ("ctx", "message"),
    [
        (
            SystemContext(override_arch="s390x"),
            'no image found in manifest list for architecture "s390x", variant "", OS "linux"',
        ),
        (
            SystemContext(override_arch="arm", override_variant="v4"),
            'no image found in manifest list for architecture "arm", variant "v4", OS "linux"',
        ),
    ],
)
def test_docker_list_no_match(ctx: SystemContext, message: str) -> None:
    view = parse_list(docker_list(LIST), mime.DOCKER_V2LIST)
    with pytest.raises(NoMatchingPlatformError) as info:
        view.choose_instance(ctx, host=AMD64)
    assert str(info.value).startswith(message + " (it has: ")
    assert info.value.exit_code == 1


def test_empty_list() -> None:
    view = parse_list(docker_list([]), mime.DOCKER_V2LIST)
    with pytest.raises(NoMatchingPlatformError, match="no image found in manifest list"):
        view.choose_instance(None, host=AMD64)


def oci_index(entries: list[tuple[str, dict[str, str] | None, bool]]) -> bytes:
    manifests = []
    for tag, platform, zstd in entries:
        entry: dict[str, object] = {"mediaType": mime.OCI_MANIFEST, "size": 1, "digest": d(tag)}
        if platform is not None:
            entry["platform"] = platform
        if zstd:
            entry["annotations"] = {"io.github.containers.compression.zstd": "true"}
        manifests.append(entry)
    return json.dumps({"schemaVersion": 2, "mediaType": mime.OCI_INDEX, "manifests": manifests}).encode()


def test_oci_index_choice(fixtures: Path) -> None:
    linux_amd64 = {"os": "linux", "architecture": "amd64"}
    view = parse_list(oci_index([("gzip", linux_amd64, False), ("zstd", linux_amd64, True)]), mime.OCI_INDEX)
    assert view.choose_instance(None, host=AMD64) == Digest.parse(d("zstd"))
    assert view.choose_instance(None, host=AMD64, prefer_gzip=True) == Digest.parse(d("gzip"))
    # no platform: lowest priority, but better than nothing
    view = parse_list(oci_index([("any", None, False), ("amd64", linux_amd64, False)]), mime.OCI_INDEX)
    assert view.choose_instance(None, host=AMD64) == Digest.parse(d("amd64"))
    view = parse_list(
        oci_index([("any", None, False), ("s390x", {"os": "linux", "architecture": "s390x"}, False)]),
        mime.OCI_INDEX,
    )
    assert view.choose_instance(None, host=AMD64) == Digest.parse(d("any"))
    # platform rank beats zstd
    view = parse_list(
        oci_index(
            [
                ("v8-zstd", {"os": "linux", "architecture": "arm64", "variant": "v8"}, True),
                ("plain", {"os": "linux", "architecture": "arm64"}, False),
            ]
        ),
        mime.OCI_INDEX,
    )
    assert view.choose_instance(SystemContext(override_arch="arm64"), host=AMD64) == Digest.parse(d("plain"))
    view = parse_list((fixtures / "oci-index.json").read_bytes(), mime.OCI_INDEX)
    with pytest.raises(NoMatchingPlatformError) as info:
        view.choose_instance(SystemContext(override_arch="riscv64", override_os="linux"), host=AMD64)
    assert str(info.value).startswith(
        'no image found in image index for architecture "riscv64", variant "", OS "linux" (it has: '
    )


def test_oci_index_never_chooses_an_attestation() -> None:
    linux_amd64 = {"os": "linux", "architecture": "amd64"}
    attestation = {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d("image")}
    entries: list[dict[str, object]] = [
        # without a platform an entry matches anything: an attestation still never does
        {"mediaType": mime.OCI_MANIFEST, "size": 1, "digest": d("att-noplat"), "annotations": attestation},
        {"mediaType": mime.OCI_MANIFEST, "size": 1, "digest": d("image"), "platform": linux_amd64},
        {
            "mediaType": mime.OCI_MANIFEST,
            "size": 1,
            "digest": d("att"),
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": attestation,
        },
    ]
    view = parse_list(json.dumps({"schemaVersion": 2, "manifests": entries}).encode(), mime.OCI_INDEX)
    assert view.choose_instance(None, host=AMD64) == Digest.parse(d("image"))
    with pytest.raises(NoMatchingPlatformError, match='architecture "unknown", variant "", OS "unknown"'):
        view.choose_instance(SystemContext(override_arch="unknown", override_os="unknown"), host=AMD64)
