"""Conversions and edits: exact bytes, checked against skopeo 1.9.3 outputs (fixtures/conv)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from toolkit.digest import Digest
from toolkit.errors import DigestMismatchError, InvalidDigestError, ManifestError
from toolkit.manifest import (
    OCI1,
    ListUpdate,
    Schema1,
    Schema2,
    convert,
    convert_list,
    docker_config_to_oci,
    mime,
    parse_config,
    parse_list,
    parse_manifest,
    reserialize_list,
    update_config,
    update_layer_infos,
    update_list_instances,
)
from toolkit.manifest.gojson import GoTime, compact, marshal, quote
from toolkit.manifest.platform import host_from
from toolkit.types import BlobInfo, Compression

D = [Digest.from_bytes(bytes([i])) for i in range(8)]


def conv(fixtures: Path, name: str) -> bytes:
    return (fixtures / "conv" / name).read_bytes()


def test_s2_to_oci_matches_skopeo(fixtures: Path) -> None:
    view = parse_manifest(conv(fixtures, "s2.manifest.json"), mime.DOCKER_V2S2)
    result = convert(view, mime.OCI_MANIFEST, config_bytes=conv(fixtures, "s2.config.json"))
    assert result.mime_type == mime.OCI_MANIFEST
    assert result.manifest == conv(fixtures, "s2-to-oci.manifest.json")
    assert result.config == conv(fixtures, "s2-to-oci.config.json")


def test_s2_to_oci_needs_matching_config(fixtures: Path) -> None:
    view = parse_manifest(conv(fixtures, "s2.manifest.json"), mime.DOCKER_V2S2)
    with pytest.raises(ManifestError):
        convert(view, mime.OCI_MANIFEST)
    cfg = bytearray(conv(fixtures, "s2.config.json"))
    cfg[5] ^= 1
    with pytest.raises(DigestMismatchError):
        convert(view, mime.OCI_MANIFEST, config_bytes=bytes(cfg))


def test_oci_to_s2_matches_skopeo(fixtures: Path) -> None:
    view = parse_manifest(conv(fixtures, "s2-to-oci.manifest.json"), mime.OCI_MANIFEST)
    result = convert(view, mime.DOCKER_V2S2)
    assert result.manifest == conv(fixtures, "oci-to-s2.manifest.json")
    assert result.config is None


@pytest.mark.parametrize(
    ("target", "stem"), [(mime.DOCKER_V2S2, "s1-to-s2"), (mime.OCI_MANIFEST, "s1-to-oci")]
)
def test_s1_conversions_match_skopeo(fixtures: Path, target: str, stem: str) -> None:
    view = parse_manifest(conv(fixtures, "s1.manifest.json"), mime.DOCKER_V2S1)
    assert isinstance(view, Schema1)
    layers = json.loads(conv(fixtures, "s1.layers.json"))
    infos = [BlobInfo(digest=Digest.parse(x["digest"]), size=x["size"]) for x in layers]
    diff_ids = [Digest.parse(x["diff_id"]) for x in layers]
    result = convert(view, target, diff_ids=diff_ids, layer_infos=infos)
    assert result.manifest == conv(fixtures, f"{stem}.manifest.json")
    assert result.config == conv(fixtures, f"{stem}.config.json")
    with pytest.raises(ManifestError):
        convert(view, target, layer_infos=infos)


def _oci(layers: list[tuple[str, int]], config_type: str = mime.OCI_CONFIG) -> OCI1:
    doc = {
        "schemaVersion": 2,
        "mediaType": mime.OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": str(D[0]), "size": 3},
        "layers": [{"mediaType": mt, "digest": str(D[i]), "size": i} for mt, i in layers],
    }
    view = parse_manifest(json.dumps(doc).encode(), mime.OCI_MANIFEST)
    assert isinstance(view, OCI1)
    return view


@pytest.mark.parametrize(
    ("layer_type", "fragment"),
    [
        (mime.OCI_LAYER_ZSTD, "zstd compression is not supported for docker images"),
        (mime.OCI_LAYER_NONDIST_ZSTD, "zstd compression is not supported for docker images"),
        (mime.OCI_LAYER_GZIP_ENC, "encrypted layers"),
        ("application/x-custom", "Unknown media type during manifest conversion"),
    ],
)
def test_oci_to_s2_refusals(layer_type: str, fragment: str) -> None:
    with pytest.raises(ManifestError, match=fragment):
        convert(_oci([(layer_type, 1)]), mime.DOCKER_V2S2)


def test_oci_artifact_refused() -> None:
    with pytest.raises(ManifestError, match="unsupported image-specific operation on artifact"):
        convert(
            _oci([(mime.OCI_LAYER_GZIP, 1)], config_type="application/vnd.example+json"), mime.DOCKER_V2S2
        )


def test_to_schema1_needs_a_signer_and_the_config() -> None:
    with pytest.raises(ManifestError, match="needs a signer"):
        convert(_oci([(mime.OCI_LAYER_GZIP, 1)]), mime.DOCKER_V2S1_SIGNED)
    with pytest.raises(ManifestError, match="needs the config blob"):
        convert(_oci([(mime.OCI_LAYER_GZIP, 1)]), mime.DOCKER_V2S1_SIGNED, sign=lambda b: b)
    # OCI goes through schema2 first, with its refusals.
    with pytest.raises(ManifestError, match="zstd compression is not supported for docker images"):
        convert(_oci([(mime.OCI_LAYER_ZSTD, 1)]), mime.DOCKER_V2S1_SIGNED, sign=lambda b: b)


def test_same_type_keeps_bytes(fixtures: Path) -> None:
    raw = (fixtures / "v2s2.json").read_bytes()
    assert convert(parse_manifest(raw, mime.DOCKER_V2S2), mime.DOCKER_V2S2).manifest is raw


def test_update_layer_infos_oci_exact_bytes() -> None:
    view = _oci([(mime.OCI_LAYER_GZIP, 1), (mime.OCI_LAYER, 2)])
    out = update_layer_infos(
        view,
        [
            BlobInfo(digest=D[5], size=50, compression=Compression.ZSTD, annotations={"k": "<v>"}),
            BlobInfo(digest=D[6], size=60, compression=None),
        ],
    )
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D[0]}","size":3}},'
        f'"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"{D[5]}","size":50,'
        '"annotations":{"k":"\\u003cv\\u003e"}},'
        f'{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D[6]}","size":60}}]}}'
    ).encode()
    assert out == expected


def _s2(layer_types: list[str]) -> Schema2:
    doc = {
        "schemaVersion": 2,
        "mediaType": mime.DOCKER_V2S2,
        "config": {"mediaType": mime.DOCKER_CONFIG, "size": 3, "digest": str(D[0])},
        "layers": [{"mediaType": mt, "size": i, "digest": str(D[i])} for i, mt in enumerate(layer_types, 1)],
    }
    view = parse_manifest(json.dumps(doc, indent=4).encode(), mime.DOCKER_V2S2)
    assert isinstance(view, Schema2)
    return view


def test_update_layer_infos_schema2() -> None:
    view = _s2([mime.DOCKER_LAYER_GZIP, mime.DOCKER_LAYER_FOREIGN_GZIP])
    out = update_layer_infos(
        view,
        [
            BlobInfo(digest=D[3], size=30, compression=Compression.NONE),
            BlobInfo(digest=D[4], size=40, urls=("https://x/y",)),
        ],
    )
    assert (
        out
        == (
            '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
            f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":3,"digest":"{D[0]}"}},'
            f'"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","size":30,"digest":"{D[3]}"}},'
            '{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":40,'
            f'"digest":"{D[4]}","urls":["https://x/y"]}}]}}'
        ).encode()
    )
    with pytest.raises(ManifestError, match="zstd compression is not supported"):
        update_layer_infos(view, [BlobInfo(digest=D[3], size=1, compression=Compression.ZSTD)] * 2)
    with pytest.raises(ManifestError, match="layer count changed from 2 to 1"):
        update_layer_infos(view, [BlobInfo(digest=D[3], size=1)])
    with pytest.raises(ManifestError):
        update_layer_infos(view, [BlobInfo(digest=None, size=1)] * 2)


def test_update_config() -> None:
    view = _s2([mime.DOCKER_LAYER_GZIP])
    out = parse_manifest(update_config(view, BlobInfo(digest=D[7], size=70)), mime.DOCKER_V2S2)
    assert isinstance(out, Schema2)
    assert out.config.digest == D[7] and out.config.size == 70 and out.layers == view.layers


def _list_doc() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mime.DOCKER_V2LIST,
        "manifests": [
            {
                "mediaType": mime.DOCKER_V2S2,
                "size": 1,
                "digest": str(D[1]),
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8", "features": ["f"]},
            },
            {
                "mediaType": mime.DOCKER_V2S2,
                "size": 2,
                "digest": str(D[2]),
                "urls": ["u"],
                "platform": {"architecture": "amd64", "os": "linux", "os.features": ["x"]},
            },
        ],
        "extra": True,
    }


def test_docker_list_to_oci_index_and_back() -> None:
    lst = parse_list(json.dumps(_list_doc(), indent=2).encode(), mime.DOCKER_V2LIST)
    out = convert_list(lst, mime.OCI_INDEX)
    assert (
        out
        == (
            '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
            f'{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{D[1]}","size":1,'
            '"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},'
            f'{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{D[2]}","size":2,'
            '"urls":["u"],"platform":{"architecture":"amd64","os":"linux","os.features":["x"]}}]}'
        ).encode()
    )
    back = convert_list(parse_list(out, mime.OCI_INDEX), mime.DOCKER_V2LIST)
    assert parse_list(back, mime.DOCKER_V2LIST).instances()[0].platform == lst.instances()[0].platform
    assert convert_list(lst, mime.DOCKER_V2LIST) is lst.raw
    with pytest.raises(ManifestError):
        convert_list(lst, mime.OCI_MANIFEST)


def test_oci_index_without_platform_to_docker_list_uses_host() -> None:
    doc = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": mime.OCI_MANIFEST, "digest": str(D[1]), "size": 1}],
    }
    idx = parse_list(json.dumps(doc).encode(), mime.OCI_INDEX)
    out = convert_list(idx, mime.DOCKER_V2LIST, host=host_from("Linux", "ppc64le"))
    assert b'"platform":{"architecture":"ppc64le","os":"linux"}' in out
    # c/image pre-fills the index mediaType when re-serializing
    assert reserialize_list(idx).startswith(
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"'
    )


def test_update_list_instances() -> None:
    lst = parse_list(json.dumps(_list_doc()).encode(), mime.DOCKER_V2LIST)
    out = update_list_instances(
        lst,
        [
            ListUpdate(digest=D[5], size=5, media_type=mime.OCI_MANIFEST),
            ListUpdate(digest=D[2], size=2, media_type=mime.DOCKER_V2S2),
        ],
    )
    view = parse_list(out, mime.DOCKER_V2LIST)
    assert [(e.digest, e.size, e.media_type) for e in view.instances()] == [
        (D[5], 5, mime.OCI_MANIFEST),
        (D[2], 2, mime.DOCKER_V2S2),
    ]
    assert b'"features":["f"]' in out and b"extra" not in out
    with pytest.raises(ManifestError, match="invalid size"):
        update_list_instances(lst, [ListUpdate(digest=D[5], size=-1, media_type="x")] * 2)
    with pytest.raises(ManifestError, match="no media type"):
        update_list_instances(lst, [ListUpdate(digest=D[5], size=1, media_type="")] * 2)
    with pytest.raises(ManifestError):
        update_list_instances(lst, [])


def test_docker_config_to_oci_field_rules() -> None:
    cfg = {
        "os": "linux",
        "architecture": "amd64",
        "Author": "me",
        "config": {
            "env": ["A=1"],
            "Volumes": {"/v": {}},
            "Hostname": "dropped",
            "Labels": {"b": "1", "a": None},
        },
        "rootfs": {"type": "layers", "diff_ids": [str(D[1])]},
        "history": [{"created": "2020-01-01T00:00:00.000+00:00", "created_by": "x"}],
        "unknown": 1e300,
    }
    out = docker_config_to_oci(json.dumps(cfg).encode())
    assert (
        out
        == (
            '{"author":"me","architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Volumes":{"/v":{}},'
            '"Labels":{"a":"","b":"1"}},"rootfs":{"type":"layers","diff_ids":["' + str(D[1]) + '"]},'
            '"history":[{"created":"2020-01-01T00:00:00Z","created_by":"x"}]}'
        ).encode()
    )
    assert (
        docker_config_to_oci(b"{}")
        == b'{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}'
    )
    for bad in (
        b'{"created":"yesterday"}',
        b'{"config":{"Env":"x"}}',
        b'{"rootfs":{"diff_ids":["sha256:x"]}}',
        b'{"history":{}}',
        b'{"config":{"ArgsEscaped":"yes"}}',
    ):
        with pytest.raises((ManifestError, InvalidDigestError)):
            docker_config_to_oci(bad)


def test_parse_config() -> None:
    cfg = parse_config(
        b'{"architecture":"arm","variant":"v7","os":"linux","config":{"Env":["A=1"],'
        b'"Labels":{"l":"v"}},"rootfs":{"type":"layers","diff_ids":["' + str(D[1]).encode() + b'"]},'
        b'"history":[{"created_by":"a"},{"empty_layer":true}]}'
    )
    assert (cfg.architecture, cfg.variant, cfg.env, dict(cfg.labels)) == ("arm", "v7", ("A=1",), {"l": "v"})
    assert cfg.diff_ids == (D[1],) and [h.empty_layer for h in cfg.history] == [False, True]
    with pytest.raises(InvalidDigestError):
        parse_config(b'{"rootfs":{"diff_ids":["SHA256:AB"]}}')
    with pytest.raises(ManifestError):
        parse_config(b'{"history":[{"empty_layer":"no"}]}')


@pytest.mark.parametrize(
    ("text", "formatted"),
    [
        ("2023-01-02T03:04:05Z", "2023-01-02T03:04:05Z"),
        ("2023-01-02T03:04:05.100000000+00:00", "2023-01-02T03:04:05.1Z"),
        ("2023-01-02T03:04:05.5-07:30", "2023-01-02T03:04:05.5-07:30"),
        ("2023-01-02T03:04:05.1234567891Z", "2023-01-02T03:04:05.123456789Z"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
    ],
)
def test_go_time(text: str, formatted: str) -> None:
    assert GoTime.parse(text, what="t").format() == formatted


@pytest.mark.parametrize(
    "text", ["2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z", "2023-01-01 00:00:00Z", "", 5]
)
def test_go_time_rejects(text: object) -> None:
    with pytest.raises(ManifestError):
        GoTime.parse(text, what="t")


@pytest.mark.parametrize(
    ("zone", "seconds", "nanos", "formatted"),
    [
        ("UTC", 1_700_000_000, 0, "2023-11-14T22:13:20Z"),
        ("UTC", 0, 1_500_000_000, "1970-01-01T00:00:01.5Z"),
        ("UTC", -1, 0, "1969-12-31T23:59:59Z"),
        ("UTC", -62135596800, 0, "0001-01-01T00:00:00Z"),  # Go's zero time (deterministic SIF files)
        ("UTC", 951_782_400, 0, "2000-02-29T00:00:00Z"),
        ("UTC", 253402300799, 0, "9999-12-31T23:59:59Z"),
        ("Asia/Kolkata", 1_700_000_000, 0, "2023-11-15T03:43:20+05:30"),
        ("America/New_York", 1_700_000_000, 0, "2023-11-14T17:13:20-05:00"),
        ("America/New_York", 1_690_000_000, 0, "2023-07-22T00:26:40-04:00"),
    ],
)
def test_go_time_from_unix(
    zone: str, seconds: int, nanos: int, formatted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Go's `time.Unix(s, ns)` in the local zone (TZ), as `json.Marshal` writes it."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert GoTime.from_unix(seconds, nanos).format() == formatted
        if zone == "UTC":
            assert GoTime.from_unix(seconds, nanos, local=False) == GoTime.from_unix(seconds, nanos)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("seconds", [253402300800, -62167219201, 1 << 62, -(1 << 62)])
def test_go_time_from_unix_refuses_what_go_cannot_marshal(seconds: int) -> None:
    with pytest.raises(ManifestError, match=r"year outside of range \[0,9999\]"):
        GoTime.from_unix(seconds, local=False)


def test_go_encoding_rules() -> None:
    assert quote('<a>&\u2028\x01\x08\n"\\é') == '"\\u003ca\\u003e\\u0026\\u2028\\u0001\\u0008\\n\\"\\\\é"'
    assert marshal({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'
    assert compact(b'{ "a" : "<x> \\u003c \xe2\x80\xa8" ,\n "b":[1, 2] }') == (
        b'{"a":"\\u003cx\\u003e \\u003c \\u2028","b":[1,2]}'
    )


def test_edit_list_instances_deletes_and_updates_keeping_the_rest() -> None:
    import json as _json

    from toolkit.manifest import ListUpdate, edit_list_instances, mime, parse_list

    digests = ["sha256:" + c * 64 for c in "abc"]
    doc = {
        "schemaVersion": 2,
        "mediaType": mime.OCI_INDEX,
        "manifests": [
            {"mediaType": mime.OCI_MANIFEST, "digest": d, "size": 10 + i, "annotations": {"n": str(i)}}
            for i, d in enumerate(digests)
        ],
        "annotations": {"top": "kept"},
    }
    view = parse_list(_json.dumps(doc).encode(), mime.OCI_INDEX)
    new = "sha256:" + "d" * 64
    edited = _json.loads(
        edit_list_instances(
            view,
            [
                None,
                ListUpdate(digest=Digest.parse(new), size=99, media_type=mime.OCI_MANIFEST),
                ListUpdate(digest=Digest.parse(digests[2]), size=12, media_type=mime.OCI_MANIFEST),
            ],
        )
    )
    assert [m["digest"] for m in edited["manifests"]] == [new, digests[2]]
    assert [m["annotations"]["n"] for m in edited["manifests"]] == ["1", "2"]
    assert edited["manifests"][0]["size"] == 99
    assert edited["annotations"] == {"top": "kept"}
