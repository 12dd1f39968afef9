"""`to_schema1.schema1_from_image`: c/image's schema2 -> schema1 conversion, rule by rule
(the byte-for-byte comparison with skopeo is in tests/integration/test_v2s1_conversion.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from toolkit.digest import Digest
from toolkit.errors import ManifestError
from toolkit.manifest import manifest_digest, mime
from toolkit.manifest.to_schema1 import GZIPPED_EMPTY_LAYER, GZIPPED_EMPTY_LAYER_DIGEST, schema1_from_image
from toolkit.signature.libtrust import add_dummy_schema1_signature
from toolkit.types import BlobInfo, Compression, LayerCrypto

L1 = Digest("sha256", "1" * 64)
L2 = Digest("sha256", "2" * 64)


def config(history: list[dict[str, Any]], **extra: Any) -> bytes:
    doc = {"architecture": "arm64", "os": "linux", "config": {"Env": ["A=<&>"]},
           "rootfs": {"type": "layers", "diff_ids": []}, "history": history, **extra}
    return json.dumps(doc, indent=2).encode()


def v1id(*parts: bytes) -> str:
    return hashlib.sha256(b" ".join(parts)).hexdigest()


def test_empty_layer_constant() -> None:
    assert GZIPPED_EMPTY_LAYER_DIGEST.matches(GZIPPED_EMPTY_LAYER)


def test_history_becomes_reversed_v1_compatibility_with_chained_ids() -> None:
    raw_config = config([
        {"created": "2020-01-02T03:04:05.5+01:00", "created_by": "ADD a", "author": "me", "comment": "c"},
        {"created_by": "ENV x", "empty_layer": True},
        {"created": "2020-01-02T03:04:06Z", "created_by": "ADD b"},
    ])
    out = schema1_from_image(raw_config, [L1, L2], name="ns/repo", tag="v1")
    assert out.uses_empty_layer
    doc = json.loads(out.unsigned)
    assert list(doc) == ["name", "tag", "architecture", "fsLayers", "history", "schemaVersion"]
    assert (doc["name"], doc["tag"], doc["architecture"], doc["schemaVersion"]) == ("ns/repo", "v1", "arm64", 1)
    assert [f["blobSum"] for f in doc["fsLayers"]] == [str(L2), str(GZIPPED_EMPTY_LAYER_DIGEST), str(L1)]
    base_id = v1id(L1.hex.encode(), b"")
    empty_id = v1id(GZIPPED_EMPTY_LAYER_DIGEST.hex.encode(), base_id.encode())
    top_id = v1id(L2.hex.encode(), empty_id.encode(), raw_config)
    compat = [h["v1Compatibility"] for h in doc["history"]]
    assert compat[2] == (
        f'{{"id":"{base_id}","comment":"c","created":"2020-01-02T03:04:05.5+01:00",'
        '"container_config":{"Cmd":["ADD a"]},"author":"me"}'
    )
    assert compat[1] == (
        f'{{"id":"{empty_id}","parent":"{base_id}","created":"0001-01-01T00:00:00Z",'
        '"container_config":{"Cmd":["ENV x"]},"throwaway":true}'
    )
    # The top: the config as a Go map (sorted, compacted, HTML-escaped), rootfs/history dropped.
    assert compat[0] == (
        '{"architecture":"arm64","config":{"Env":["A=\\u003c\\u0026\\u003e"]},'
        f'"id":"{top_id}","os":"linux","parent":"{empty_id}"}}'
    )


def test_empty_top_entry_and_layer_edits() -> None:
    raw_config = config([{"created_by": "ADD a"}, {"created_by": "CMD", "empty_layer": True}])
    edited = Digest("sha256", "9" * 64)
    out = schema1_from_image(raw_config, [L1], layer_infos=[BlobInfo(digest=edited, size=3)])
    doc = json.loads(out.unsigned)
    # blobSums follow the copied layers; the IDs still come from the source's digests (as c/image).
    assert [f["blobSum"] for f in doc["fsLayers"]] == [str(GZIPPED_EMPTY_LAYER_DIGEST), str(edited)]
    top = json.loads(doc["history"][0]["v1Compatibility"])
    assert top["throwaway"] is True
    assert json.loads(doc["history"][1]["v1Compatibility"])["id"] == v1id(L1.hex.encode(), b"")
    assert (doc["name"], doc["tag"]) == ("", "")


@pytest.mark.parametrize(
    ("history", "layers", "infos", "match"),
    [
        ([], [L1], None, "Cannot convert an image with 0 history entries"),
        ([{"created_by": "a"}], [L1, L2], None, "history names 1 layers, the manifest has 2"),
        ([{"created_by": "a"}, {"created_by": "b"}], [L1], None, "needs more than the 1 distributed layers"),
        ([{"created_by": "a"}], [L1], [], "layer edits for 0 layers vs 1 existing layers"),
        ([{"created_by": "a"}], [L1], [BlobInfo(digest=L2, compression=Compression.ZSTD)],
         'zstd compression is not supported for type "application/vnd.docker.image.rootfs.diff.tar.gzip"'),
        ([{"created_by": "a"}], [L1], [BlobInfo(digest=L2, crypto_operation=LayerCrypto.DECRYPT)],
         "encryption change .* is not supported in schema1 manifests"),
    ],
)
def test_refusals(history: list[dict[str, Any]], layers: list[Digest], infos: list[BlobInfo] | None,
                  match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        schema1_from_image(config(history), layers, layer_infos=infos)


def test_signed_result_digest_is_the_payload_digest() -> None:
    out = schema1_from_image(config([{"created_by": "a"}]), [L1])
    signed = add_dummy_schema1_signature(out.unsigned)
    assert signed.startswith(out.unsigned[:-1] + b',"signatures":[')
    assert manifest_digest(signed) == Digest.from_bytes(out.unsigned)
    assert mime.DOCKER_V2S1_SIGNED  # the type the copy writes it as
