"""The docker transport's sigstore attachment I/O (toolkit/transports/docker/_attachments.py)
against an in-memory registry: absent tag, wrong MIME type, tampered or oversized layers,
append order, and the config/manifest written as containers/image writes them."""

from __future__ import annotations

import hashlib
import json

import pytest

from toolkit.digest import Digest
from toolkit.errors import ImageNotFoundError, InvalidSignatureError, ManifestError, SizeLimitError, ToolkitError
from toolkit.manifest import Descriptor, mime
from toolkit.signature import Sigstore, parse_signature_blob
from toolkit.signature.sigstore import SIGSTORE_SIGNATURE_ANNOTATION, SIGSTORE_SIGNATURE_MIME_TYPE
from toolkit.signature.sigstore_attachments import AttachmentBlob
from toolkit.transports.docker._attachments import read_attachment_signatures, write_attachment_signatures

DIGEST = Digest.parse("sha256:" + "ab" * 32)
TAG = "sha256-" + "ab" * 32 + ".sig"


class FakeRepo:
    def __init__(self) -> None:
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.log: list[str] = []

    def fetch_manifest(self, tag: str) -> tuple[bytes, str]:
        if tag not in self.manifests:
            raise ImageNotFoundError(f"manifest {tag} unknown")
        return self.manifests[tag]

    def fetch_blob(self, desc: Descriptor, limit: int) -> bytes:
        data = self.blobs[str(desc.digest)]
        if len(data) > limit:
            raise SizeLimitError("too large")
        return data

    def put_blob(self, blob: AttachmentBlob) -> None:
        self.log.append(f"blob {blob.descriptor.media_type}")
        self.blobs[str(blob.descriptor.digest)] = blob.data

    def put_manifest(self, raw: bytes, mime_type: str, tag: str) -> None:
        self.log.append(f"manifest {tag}")
        self.manifests[tag] = (raw, mime_type)

    def read(self) -> list[bytes]:
        return read_attachment_signatures(self.fetch_manifest, self.fetch_blob, DIGEST, "repo")

    def write(self, *sigs: Sigstore) -> None:
        write_attachment_signatures(self.fetch_manifest, self.fetch_blob, self.put_blob, self.put_manifest, DIGEST,
                                    list(sigs), "repo")


def sig(n: int) -> Sigstore:
    return Sigstore(SIGSTORE_SIGNATURE_MIME_TYPE, f'{{"n":{n}}}'.encode(), {SIGSTORE_SIGNATURE_ANNOTATION: f"c2ln{n}"})


def test_absent_attachment_is_no_signature() -> None:
    assert FakeRepo().read() == []


def test_write_then_read_and_append() -> None:
    repo = FakeRepo()
    repo.write(sig(1))
    assert repo.log == [f"blob {SIGSTORE_SIGNATURE_MIME_TYPE}", f"blob {mime.OCI_CONFIG}", f"manifest {TAG}"]
    raw, mime_type = repo.manifests[TAG]
    assert mime_type == mime.OCI_MANIFEST
    doc = json.loads(raw)
    config = repo.blobs[doc["config"]["digest"]]
    payload_digest = "sha256:" + hashlib.sha256(b'{"n":1}').hexdigest()
    assert config == (b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["'
                      + payload_digest.encode() + b'"]}}')
    assert [parse_signature_blob(b) for b in repo.read()] == [sig(1)]
    repo.write(sig(1), sig(2))  # the identical one is not added again
    assert [parse_signature_blob(b) for b in repo.read()] == [sig(1), sig(2)]
    config_digest = json.loads(repo.manifests[TAG][0])["config"]["digest"]
    assert len(json.loads(repo.blobs[config_digest])["rootfs"]["diff_ids"]) == 2


def test_wrong_mime_type_is_refused() -> None:
    repo = FakeRepo()
    repo.write(sig(1))
    raw, _ = repo.manifests[TAG]
    repo.manifests[TAG] = (raw, mime.DOCKER_V2S2)
    with pytest.raises(ManifestError, match="unexpected MIME type for sigstore attachment manifest"):
        repo.read()
    with pytest.raises(ManifestError, match="unexpected MIME type"):
        repo.write(sig(2))


def test_tampered_layer_is_refused() -> None:
    repo = FakeRepo()
    repo.write(sig(1))
    layer_digest = json.loads(repo.manifests[TAG][0])["layers"][0]["digest"]
    repo.blobs[layer_digest] = b'{"n":9}'
    with pytest.raises(InvalidSignatureError, match="digest mismatch"):
        repo.read()


def test_tampered_config_is_refused_when_appending() -> None:
    repo = FakeRepo()
    repo.write(sig(1))
    config_digest = json.loads(repo.manifests[TAG][0])["config"]["digest"]
    repo.blobs[config_digest] = b"{}"
    with pytest.raises(ToolkitError, match="digest mismatch"):
        repo.write(sig(2))


def test_oversized_layer_is_refused() -> None:
    repo = FakeRepo()
    big = Sigstore(SIGSTORE_SIGNATURE_MIME_TYPE, b"x" * ((4 << 20) + 1), {})
    with pytest.raises(InvalidSignatureError, match="maximum allowed size"):
        repo.write(big)
    repo.write(sig(1))
    layer_digest = json.loads(repo.manifests[TAG][0])["layers"][0]["digest"]
    repo.blobs[layer_digest] = b"x" * ((4 << 20) + 1)
    with pytest.raises(SizeLimitError):
        repo.read()
