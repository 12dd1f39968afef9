"""Parsing views: every format, and the hostile-manifest corpus (security.md §4 items 1-12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolkit.digest import Digest
from toolkit.errors import (
    AmbiguousManifestError,
    InvalidDigestError,
    ManifestError,
    SizeLimitError,
    ToolkitError,
)
from toolkit.manifest import (
    MAX_LIST_ENTRIES,
    OCI1,
    OCI1Index,
    Schema1,
    Schema2,
    Schema2List,
    check_list_nesting,
    mime,
    parse_any,
    parse_list,
    parse_manifest,
)

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def s2(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mime.DOCKER_V2S2,
        "config": {"mediaType": mime.DOCKER_CONFIG, "size": 7, "digest": D1},
        "layers": [{"mediaType": mime.DOCKER_LAYER_GZIP, "size": 12, "digest": D2}],
    }
    doc.update(over)
    return doc


def oci(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mime.OCI_MANIFEST,
        "config": {"mediaType": mime.OCI_CONFIG, "size": 7, "digest": D1},
        "layers": [{"mediaType": mime.OCI_LAYER_GZIP, "size": 12, "digest": D2}],
    }
    doc.update(over)
    return doc


def index(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mime.OCI_INDEX,
        "manifests": [{"mediaType": mime.OCI_MANIFEST, "size": 7, "digest": D1}],
    }
    doc.update(over)
    return doc


def b(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_schema2_view_keeps_bytes() -> None:
    raw = b(s2()) + b"\n"
    view = parse_manifest(raw, mime.DOCKER_V2S2)
    assert isinstance(view, Schema2)
    assert view.serialize() is raw or view.serialize() == raw
    assert view.config_info().digest == Digest.parse(D1)
    layers = view.layer_infos()
    assert [(li.digest, li.size, li.media_type, li.empty_layer) for li in layers] == [
        (Digest.parse(D2), 12, mime.DOCKER_LAYER_GZIP, False)
    ]


def test_oci_view() -> None:
    view = parse_manifest(b(oci(annotations={"a": "b"})), mime.OCI_MANIFEST)
    assert isinstance(view, OCI1)
    assert view.config.media_type == mime.OCI_CONFIG and view.annotations == {"a": "b"}
    # mediaType may be absent in OCI (image-spec < 1.0.2)
    doc = oci()
    del doc["mediaType"]
    assert isinstance(parse_manifest(b(doc), mime.OCI_MANIFEST), OCI1)


def test_schema1_views(fixtures: Path) -> None:
    raw = (fixtures / "v2s1-signed.json").read_bytes()
    view = parse_manifest(raw, mime.DOCKER_V2S1_SIGNED)
    assert isinstance(view, Schema1)
    assert view.mime_type == mime.DOCKER_V2S1_SIGNED
    layers = view.layer_infos()
    assert [li.empty_layer for li in layers] == [False, False, True]
    assert layers[0].digest == view.fs_layers[-1]
    assert view.config_info().digest is None
    unsigned = parse_manifest((fixtures / "v2s1-unsigned.json").read_bytes(), "text/plain")
    assert isinstance(unsigned, Schema1) and unsigned.mime_type == mime.DOCKER_V2S1


def test_lists(fixtures: Path) -> None:
    lst = parse_list((fixtures / "docker-list.json").read_bytes(), mime.DOCKER_V2LIST)
    assert isinstance(lst, Schema2List)
    entries = lst.instances()
    assert [e.platform.architecture for e in entries if e.platform] == ["amd64", "arm", "arm64"]
    idx = parse_any((fixtures / "oci-index.json").read_bytes(), mime.OCI_INDEX)
    assert isinstance(idx, OCI1Index)
    assert len(idx.instances()) == 3 and idx.annotations == {"a": "b"}


BAD_DIGESTS = [
    "sha256:../../etc/passwd",
    "sha256:..%2f..%2fx",
    "SHA256:" + "A" * 64,
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "md5:" + "a" * 32,
    "",
    "sha256",
    5,
    None,
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_bad_layer_digest(digest: object) -> None:
    doc = s2()
    doc["layers"][0]["digest"] = digest
    with pytest.raises((InvalidDigestError, ManifestError)):
        parse_manifest(b(doc), mime.DOCKER_V2S2)


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_bad_index_digest(digest: object) -> None:
    doc = index()
    doc["manifests"][0]["digest"] = digest
    with pytest.raises((InvalidDigestError, ManifestError)):
        parse_list(b(doc), mime.OCI_INDEX)


@pytest.mark.parametrize("size", [-1, "12", 1.5, True, None, [], 10**400])
def test_bad_sizes(size: object) -> None:
    doc = oci()
    doc["layers"][0]["size"] = size
    with pytest.raises(ManifestError):
        parse_manifest(b(doc), mime.OCI_MANIFEST)


@pytest.mark.parametrize(
    "raw_size", [b"1e400", b"NaN", b"Infinity", b"-1", b'"12"', b"true", b"9" * 400, b"1.0", b"12e0"]
)
def test_bad_sizes_raw(raw_size: bytes) -> None:
    raw = b(s2()).replace(b'"size": 12', b'"size": ' + raw_size)
    with pytest.raises(ManifestError):
        parse_manifest(raw, mime.DOCKER_V2S2)


@pytest.mark.parametrize(
    ("kind", "doc"),
    [
        (mime.DOCKER_V2S2, s2(layers={})),
        (mime.DOCKER_V2S2, s2(layers=[5])),
        (mime.DOCKER_V2S2, s2(config=[])),
        (mime.DOCKER_V2S2, s2(mediaType=5)),
        (mime.DOCKER_V2S2, s2(schemaVersion="2")),
        (mime.DOCKER_V2S2, s2(schemaVersion=1)),
        (mime.OCI_MANIFEST, oci(layers="x")),
        (mime.OCI_MANIFEST, oci(annotations={"a": 1})),
        (mime.OCI_MANIFEST, oci(mediaType=mime.OCI_INDEX)),
        (mime.OCI_MANIFEST, []),
        (mime.OCI_MANIFEST, None),
        (mime.OCI_INDEX, index(manifests={})),
        (mime.OCI_INDEX, index(mediaType=mime.OCI_MANIFEST)),
        (mime.DOCKER_V2LIST, index(mediaType=mime.DOCKER_V2S2)),
        (mime.DOCKER_V2S1, {"schemaVersion": 1, "fsLayers": [], "history": []}),
        (mime.DOCKER_V2S1, {"schemaVersion": 1, "fsLayers": [{"blobSum": D1}], "history": []}),
        (
            mime.DOCKER_V2S1,
            {"schemaVersion": 1, "fsLayers": [{"blobSum": D1}], "history": [{"v1Compatibility": "x"}]},
        ),
        (
            mime.DOCKER_V2S1,
            {
                "schemaVersion": 1,
                "fsLayers": [{"blobSum": D1}],
                "history": [{"v1Compatibility": '{"id":"../x"}'}],
            },
        ),
        (mime.DOCKER_V2S1, {"schemaVersion": 2}),
    ],
)
def test_type_confused_documents(kind: str, doc: Any) -> None:
    with pytest.raises(ManifestError):
        parse_any(b(doc), kind)


def test_schema2_rejects_oci_layer_type() -> None:
    doc = s2()
    doc["layers"][0]["mediaType"] = mime.OCI_LAYER_GZIP
    with pytest.raises(ManifestError, match="unsupported docker v2s2 media type"):
        parse_manifest(b(doc), mime.DOCKER_V2S2)


@pytest.mark.parametrize(
    ("kind", "doc", "field"),
    [
        (mime.OCI_MANIFEST, oci(manifests=[]), "manifests"),
        (mime.DOCKER_V2S2, s2(manifests=[]), "manifests"),
        (mime.OCI_MANIFEST, oci(Manifests=[]), "manifests"),
        (mime.OCI_MANIFEST, oci(fsLayers=[]), "fsLayers"),
        (mime.OCI_INDEX, index(layers=[]), "layers"),
        (mime.OCI_INDEX, index(Layers=[]), "layers"),
        (mime.OCI_INDEX, index(CONFIG={}), "config"),
        (mime.OCI_INDEX, index(config={}), "config"),
        (mime.DOCKER_V2LIST, index(mediaType=mime.DOCKER_V2LIST, layers=[]), "layers"),
        (mime.OCI_INDEX, index(**{"hi\u017ftory": [1]}), "history"),
    ],
)
def test_ambiguous(kind: str, doc: Any, field: str) -> None:
    with pytest.raises(AmbiguousManifestError, match=f'rejecting ambiguous manifest.*"{field}"'):
        parse_any(b(doc), kind)


def test_noncanonical_key_spelling_rejected() -> None:
    doc = oci()
    doc["Annotations"] = {"a": "b"}
    with pytest.raises(ManifestError, match="non-canonical"):
        parse_manifest(b(doc), mime.OCI_MANIFEST)


def test_duplicate_config_rejected() -> None:
    raw = b(s2())[:-1] + b', "config": {"mediaType": "x", "size": 1, "digest": "' + D2.encode() + b'"}}'
    with pytest.raises(ManifestError, match="duplicate key"):
        parse_manifest(raw, mime.DOCKER_V2S2)


def test_bom_rejected() -> None:
    with pytest.raises(ManifestError, match="byte order mark"):
        parse_manifest(b"\xef\xbb\xbf" + b(s2()), mime.DOCKER_V2S2)


def test_size_limits() -> None:
    doc = oci(annotations={"pad": ""})
    base = len(b(doc))
    doc["annotations"]["pad"] = "x" * ((4 << 20) - base)
    raw = b(doc)
    assert len(raw) == 4 << 20
    parse_manifest(raw, mime.OCI_MANIFEST)
    with pytest.raises(SizeLimitError, match="exceeded maximum allowed size of 4194304 bytes"):
        parse_manifest(raw + b" ", mime.OCI_MANIFEST)
    with pytest.raises(SizeLimitError):
        parse_manifest(b" " * (5 << 20), mime.DOCKER_V2S1)


def test_deep_nesting_manifest() -> None:
    raw = b'{"schemaVersion":2,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ManifestError):
        parse_manifest(raw, mime.OCI_MANIFEST)


def test_index_entry_cap() -> None:
    entry = {"mediaType": mime.OCI_MANIFEST, "size": 7, "digest": D1}
    parse_list(b(index(manifests=[entry] * MAX_LIST_ENTRIES)), mime.OCI_INDEX)
    with pytest.raises(ManifestError, match="limit"):
        parse_list(b(index(manifests=[entry] * (MAX_LIST_ENTRIES + 1))), mime.OCI_INDEX)


def test_list_nesting_helper() -> None:
    check_list_nesting(1)
    check_list_nesting(2)
    with pytest.raises(ManifestError):
        check_list_nesting(3)


def test_parse_manifest_refuses_list_and_vice_versa() -> None:
    with pytest.raises(ManifestError):
        parse_manifest(b(index()), mime.OCI_INDEX)
    with pytest.raises(ManifestError):
        parse_list(b(oci()), mime.OCI_MANIFEST)


def test_foreign_urls_are_kept_untrusted_not_validated() -> None:
    doc = s2()
    doc["layers"][0].update(mediaType=mime.DOCKER_LAYER_FOREIGN_GZIP, urls=["file:///etc/passwd"])
    view = parse_manifest(b(doc), mime.DOCKER_V2S2)
    assert view.layer_infos()[0].urls == ("file:///etc/passwd",)


def test_all_errors_are_toolkit_errors() -> None:
    for raw in (b"", b"{", b"[]", b"null", b"1", b'"x"', b"\xff"):
        for kind in sorted(mime.ALL_MANIFEST_TYPES):
            with pytest.raises(ToolkitError):
                parse_any(raw, kind)
