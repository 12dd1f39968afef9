"""Sigstore attachments (`sha256-<hex>.sig` OCI manifests): tag, parsing with the layer cap,
and building/appending with containers/image's bytes (docker/docker_image_dest.go)."""

from __future__ import annotations

import json

import pytest

from helpers.sigstore_fixtures import fixture_bytes
from toolkit.digest import Digest
from toolkit.errors import InvalidDigestError, InvalidSignatureError, ManifestError, SizeLimitError
from toolkit.manifest import Descriptor, mime
from toolkit.signature.sigstore import (
    SIGSTORE_SIGNATURE_ANNOTATION,
    SIGSTORE_SIGNATURE_MIME_TYPE,
    SigstoreTrustRoot,
    sigstore_from_blob,
    sigstore_from_components,
    verify_sigstore_signatures,
)
from toolkit.signature.sigstore_attachments import (
    MAX_ATTACHMENT_LAYERS,
    attachment_tag,
    build_attachment,
    parse_attachment_manifest,
    signature_from_layer,
    signatures_in_attachment,
)

HEX = "634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"


def test_attachment_tag() -> None:
    assert attachment_tag(f"sha256:{HEX}") == f"sha256-{HEX}.sig"
    assert attachment_tag(Digest.parse(f"sha256:{HEX}")) == f"sha256-{HEX}.sig"
    assert attachment_tag("sha512:" + "b" * 128) == "sha512-" + "b" * 128 + ".sig"
    for bad in ("sha256:../evil", f"SHA256:{HEX}", "md5:abc", ""):
        with pytest.raises(InvalidDigestError):
            attachment_tag(bad)


def _layer(i: int) -> dict[str, object]:
    return {
        "mediaType": SIGSTORE_SIGNATURE_MIME_TYPE,
        "digest": f"sha256:{i:064x}",
        "size": 1,
        "annotations": {SIGSTORE_SIGNATURE_ANNOTATION: "x"},
    }


def _manifest(layers: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mime.OCI_MANIFEST,
            "config": {"mediaType": mime.OCI_CONFIG, "digest": f"sha256:{'c' * 64}", "size": 2},
            "layers": [_layer(i) for i in range(layers)],
        }
    ).encode()


def test_parse_attachment_manifest_limits() -> None:
    assert len(parse_attachment_manifest(_manifest(MAX_ATTACHMENT_LAYERS)).layers) == MAX_ATTACHMENT_LAYERS
    with pytest.raises(SizeLimitError, match="has 129 layers, more than the maximum of 128"):
        parse_attachment_manifest(_manifest(129))


def test_ten_thousand_layer_attachment_is_capped() -> None:
    with pytest.raises(SizeLimitError, match="has 10000 layers, more than the maximum of 128"):
        parse_attachment_manifest(_manifest(10_000))


def test_parse_attachment_manifest_refusals() -> None:
    with pytest.raises(ManifestError, match="unexpected MIME type for sigstore attachment manifest"):
        parse_attachment_manifest(_manifest(1), mime.DOCKER_V2S2)
    bad = json.loads(_manifest(1))
    bad["layers"][0]["digest"] = "sha256:../../etc/passwd"
    with pytest.raises(InvalidDigestError):
        parse_attachment_manifest(json.dumps(bad).encode())
    with pytest.raises(ManifestError):
        parse_attachment_manifest(b'{"schemaVersion":2,"layers":{}}')


def _desc(blob: bytes, annotations: dict[str, str] | None = None) -> Descriptor:
    return Descriptor(
        media_type=SIGSTORE_SIGNATURE_MIME_TYPE,
        digest=Digest.from_bytes(blob),
        size=len(blob),
        annotations=annotations or {},
    )


def test_signature_from_layer() -> None:
    blob = b'{"critical":{}}'
    sig = signature_from_layer(_desc(blob, {"k": "v"}), blob)
    assert sig.untrusted_payload == blob and dict(sig.untrusted_annotations) == {"k": "v"}
    with pytest.raises(InvalidSignatureError, match="digest mismatch"):
        signature_from_layer(_desc(blob), blob + b" ")
    big = b"x" * ((4 << 20) + 1)
    with pytest.raises(InvalidSignatureError, match="exceeded maximum allowed size"):
        signature_from_layer(_desc(big), big)


def _fixture_sig(name: str = "dir-img-cosign-valid/signature-1"):  # type: ignore[no-untyped-def]
    return sigstore_from_blob(fixture_bytes(name))


def test_new_attachment_has_containers_image_bytes() -> None:
    sig = _fixture_sig()
    update = build_attachment(None, None, [sig])
    payload_digest = Digest.from_bytes(sig.untrusted_payload)
    assert update.config.data == (
        b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["'
        + str(payload_digest).encode()
        + b'"]}}'
    )
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{update.config.descriptor.digest}",'
        f'"size":{len(update.config.data)}}},'
        f'"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload_digest}",'
        f'"size":{len(sig.untrusted_payload)},'
        f'"annotations":{{"dev.cosignproject.cosign/signature":"{sig.untrusted_annotations[SIGSTORE_SIGNATURE_ANNOTATION]}"}}}}]}}'
    )
    assert update.manifest == expected.encode()
    assert [b.data for b in update.new_blobs] == [sig.untrusted_payload]
    assert update.config.descriptor.digest == Digest.from_bytes(update.config.data)


def test_attachment_round_trip_verifies() -> None:
    sig = _fixture_sig()
    update = build_attachment(None, None, [sig])
    blobs = {b.descriptor.digest: b.data for b in update.new_blobs}
    parsed = parse_attachment_manifest(update.manifest)
    sigs = signatures_in_attachment(parsed, lambda d: blobs[d.digest])
    assert sigs == [sig]
    root = SigstoreTrustRoot.from_config(key_pems=[fixture_bytes("cosign.pub")])
    payload = verify_sigstore_signatures(
        sigs,
        root,
        untrusted_manifest=fixture_bytes("dir-img-cosign-valid/manifest.json"),
        identity_matches=lambda ref: ref == "192.168.64.2:5000/cosign-signed-single-sample",
    )
    assert payload.docker_manifest_digest == Digest.parse(f"sha256:{HEX}")


# A cosign-written attachment (go-containerregistry layout: size before digest, and a config
# with created/history), as found on registries.
COSIGN_CONFIG = (
    b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
    b'"os":"","rootfs":{"type":"layers","diff_ids":["sha256:' + b"d" * 64 + b'"]},"config":{}}'
)


def _cosign_manifest(config: bytes) -> bytes:
    return (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
        f'{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{len(config)},'
        f'"digest":"{Digest.from_bytes(config)}"}},"layers":[{{"mediaType":'
        f'"application/vnd.dev.cosign.simplesigning.v1+json","size":10,"digest":"sha256:{"d" * 64}",'
        '"annotations":{"dev.cosignproject.cosign/signature":"c2ln"}}]}'
    ).encode()


def test_append_to_cosign_attachment() -> None:
    sig = _fixture_sig()
    update = build_attachment(_cosign_manifest(COSIGN_CONFIG), COSIGN_CONFIG, [sig])
    new_digest = Digest.from_bytes(sig.untrusted_payload)
    # Go's v1.Image round trip: field order of the struct, existing values kept.
    assert update.config.data == (
        b'{"created":"0001-01-01T00:00:00Z","architecture":"","os":"","config":{},"rootfs":{"type":"layers",'
        b'"diff_ids":["sha256:' + b"d" * 64 + b'","' + str(new_digest).encode() + b'"]},'
        b'"history":[{"created":"0001-01-01T00:00:00Z"}]}'
    )
    manifest = json.loads(update.manifest)
    assert [layer["digest"] for layer in manifest["layers"]] == [f"sha256:{'d' * 64}", str(new_digest)]
    assert list(manifest["layers"][0]) == ["mediaType", "digest", "size", "annotations"]
    assert manifest["config"]["digest"] == str(Digest.from_bytes(update.config.data))
    assert len(update.new_blobs) == 1


def test_identical_signature_is_not_added_twice() -> None:
    sig = _fixture_sig()
    first = build_attachment(None, None, [sig])
    again = build_attachment(first.manifest, first.config.data, [sig, sig])
    assert again.new_blobs == ()
    assert again.manifest == first.manifest and again.config.data == first.config.data
    # Same payload, different annotations: a different signature, appended.
    other = sigstore_from_components(
        sig.untrusted_mime_type, sig.untrusted_payload, {SIGSTORE_SIGNATURE_ANNOTATION: "b3RoZXI="}
    )
    third = build_attachment(first.manifest, first.config.data, [other])
    assert len(json.loads(third.manifest)["layers"]) == 2
    assert len(third.new_blobs) == 1


def test_two_new_signatures_in_one_call() -> None:
    a, b = _fixture_sig(), _fixture_sig("dir-img-cosign-key-rekor-valid/signature-1")
    update = build_attachment(None, None, [a, b])
    assert [layer.digest for layer in parse_attachment_manifest(update.manifest).layers] == [
        Digest.from_bytes(a.untrusted_payload),
        Digest.from_bytes(b.untrusted_payload),
    ]


def test_append_refusals() -> None:
    sig = _fixture_sig()
    full = json.loads(_manifest(MAX_ATTACHMENT_LAYERS))
    config = b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}'
    full["config"] = {"mediaType": mime.OCI_CONFIG, "digest": str(Digest.from_bytes(config)), "size": len(config)}
    with pytest.raises(SizeLimitError, match="would have 129 layers"):
        build_attachment(json.dumps(full).encode(), config, [sig])
    with pytest.raises(ManifestError, match="does not match its digest"):
        build_attachment(json.dumps(full).encode(), config + b" ", [sig])
    with pytest.raises(ManifestError, match="given together"):
        build_attachment(json.dumps(full).encode(), None, [sig])


def test_empty_attachment_matches_go_nil_slices() -> None:
    update = build_attachment(None, None, [])
    assert update.config.data.endswith(b'"rootfs":{"type":"layers","diff_ids":null}}')
    assert update.manifest.endswith(b'"layers":null}')
