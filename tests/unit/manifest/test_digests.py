"""guess_mime_type / manifest_digest / matches_digest (c/image manifest.go semantics)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from toolkit.digest import Digest
from toolkit.errors import ManifestError
from toolkit.manifest import guess_mime_type, manifest_digest, matches_digest, mime
from toolkit.manifest.digests import schema1_payload

# Values printed by `skopeo manifest-digest` 1.9.3 for the fixtures.
EXPECTED = {
    "docker-list.json": "sha256:990a0eed0091723813a0f0d3608a763a7bed9744c0d786393009133e139b3744",
    "oci-index.json": "sha256:0954b91efe9f32e9602379221429af2ce0d05ce23aadf4845d01040f7259549c",
    "oci-manifest-escapes.json": "sha256:ad1735e986f8c1f82571cc21d5430df8fda8bd8b6e6870d59961905a79ecf58b",
    "oci-manifest.json": "sha256:7f4468fbfd7587491d20c7e52678452d29e383ec6c2addc86a61b4e83e66355a",
    "v2s1-signed-two.json": "sha256:20a65dd8fe33b24ad0e7212a8dcdbb436811a2afdc015778585edb497a05dd7b",
    "v2s1-signed.json": "sha256:20a65dd8fe33b24ad0e7212a8dcdbb436811a2afdc015778585edb497a05dd7b",
    "v2s1-unsigned.json": "sha256:20a65dd8fe33b24ad0e7212a8dcdbb436811a2afdc015778585edb497a05dd7b",
    "v2s2-compact.json": "sha256:08ea998eaba73e48d4e0aac9125bc9511226b14d222818a8d2ff51b407520d49",
    "v2s2-crlf.json": "sha256:288182834ad8fb935c70968d8d38cf6b34691d7682290efcd4d2995bc5cbe1ba",
    "v2s2-odd-whitespace.json": "sha256:75fa121501f71f72aa0630c07519813a7aab76ce5571c837bcfd8b672a023626",
    "v2s2.json": "sha256:0c598f2d53a89a3b10a57cc94b8c9ce8c35eeab238f1a3c46d41a0e156b67b76",
    "not-json.bin": "sha256:40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880",
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_fixture_digests(fixtures: Path, name: str, expected: str) -> None:
    raw = (fixtures / name).read_bytes()
    assert str(manifest_digest(raw)) == expected
    assert matches_digest(raw, Digest.parse(expected))
    # (for signed schema1 only the payload counts, so change the first byte)
    assert not matches_digest(b" " + raw, Digest.parse(expected))


def test_sha512(fixtures: Path) -> None:
    raw = (fixtures / "v2s2.json").read_bytes()
    d = manifest_digest(raw, "sha512")
    assert d.algorithm == "sha512" and matches_digest(raw, d)


def test_invalid_signatures_fixture(fixtures: Path) -> None:
    # skopeo: "error unmarshalling signatures: json: cannot unmarshal number ..."
    with pytest.raises(ManifestError, match="error unmarshalling signatures"):
        manifest_digest((fixtures / "v2s1-invalid-signatures.manifest.json").read_bytes())


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"mediaType": mime.DOCKER_V2S2}, mime.DOCKER_V2S2),
        ({"mediaType": mime.OCI_INDEX, "schemaVersion": 1}, mime.OCI_INDEX),
        ({"schemaVersion": 1}, mime.DOCKER_V2S1),
        ({"schemaVersion": 1, "signatures": None}, mime.DOCKER_V2S1),
        ({"schemaVersion": 1, "signatures": []}, mime.DOCKER_V2S1_SIGNED),
        ({"SchemaVersion": 1, "Signatures": 1}, mime.DOCKER_V2S1_SIGNED),
        ({"schemaVersion": 2, "config": {"mediaType": mime.OCI_CONFIG}}, mime.OCI_MANIFEST),
        ({"schemaVersion": 2, "config": {"mediaType": mime.DOCKER_CONFIG}}, mime.DOCKER_V2S2),
        ({"schemaVersion": 2, "manifests": [{"digest": "x"}]}, mime.OCI_INDEX),
        ({"schemaVersion": 2, "manifests": [{"size": "x"}]}, ""),
        ({"schemaVersion": 2, "config": {"mediaType": "a/b"}, "manifests": [{}]}, "a/b"),
        ({"schemaVersion": 2}, mime.OCI_MANIFEST),
        ({"schemaVersion": 3}, ""),
        ({"schemaVersion": "1"}, ""),
        ({"schemaVersion": 1.0}, ""),
        ({"mediaType": 5, "schemaVersion": 1}, ""),
        ([], ""),
        (None, ""),
    ],
)
def test_guess(doc: object, expected: str) -> None:
    assert guess_mime_type(json.dumps(doc).encode()) == expected


@pytest.mark.parametrize("raw", [b"", b"\xef\xbb\xbf{}", b"{", b"[" * 100_000, b"\xff\xfe", b'{"a":NaN}'])
def test_guess_garbage(raw: bytes) -> None:
    assert guess_mime_type(raw) == ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(body: bytes, protected: object, extra: str = "") -> bytes:
    prot = _b64(json.dumps(protected).encode()) if not isinstance(protected, str) else protected
    return (
        body
        + b',"signatures":[{"header":{"alg":"ES256"'
        + extra.encode()
        + b'},"signature":"x","protected":"'
        + prot.encode()
        + b'"}]}'
    )


BODY = b'{"schemaVersion":1,"name":"a"'


def test_payload_reconstruction() -> None:
    raw = _signed(BODY, {"formatLength": len(BODY), "formatTail": _b64(b"}")})
    assert schema1_payload(raw) == BODY + b"}"
    assert manifest_digest(raw) == Digest.from_bytes(BODY + b"}")
    # float formatLength is truncated like Go's int(float64)
    raw2 = _signed(BODY, {"formatLength": len(BODY) + 0.7, "formatTail": _b64(b"}")})
    assert schema1_payload(raw2) == BODY + b"}"


def test_empty_signature_list_digests_empty_payload() -> None:
    # libtrust quirk kept for interop: no signatures -> empty payload.
    raw = BODY + b',"signatures":[]}'
    assert manifest_digest(raw) == Digest.from_bytes(b"")


@pytest.mark.parametrize(
    ("protected", "extra", "fragment"),
    [
        ({"formatTail": "fQ"}, "", "missing formatted length"),
        ({"formatLength": 5}, "", "missing formatted tail"),
        ({"formatLength": "5", "formatTail": "fQ"}, "", "missing formatted length"),
        ({"formatLength": 10**9, "formatTail": "fQ"}, "", "invalid format length"),
        ({"formatLength": -3, "formatTail": "fQ"}, "", "invalid format length"),
        ({"formatLength": 5, "formatTail": "f"}, "", "base64"),
        ({"formatLength": 5, "formatTail": "!!"}, "", "base64"),
        ("%%%%", "", "base64"),
        (_b64(b"[1]"), "", "protected header"),
        ({"formatLength": 5, "formatTail": "fQ"}, ',"jwk":null', "public key"),
        ({"formatLength": 5, "formatTail": "fQ"}, ',"jwk":{"kty":"oct"}', "public key"),
        ({"formatLength": 5, "formatTail": "fQ"}, ',"x5c":"notalist"', "unmarshalling signatures"),
    ],
)
def test_bad_signature_blocks(protected: object, extra: str, fragment: str) -> None:
    with pytest.raises(ManifestError, match=fragment):
        manifest_digest(_signed(BODY, protected, extra))


def test_conflicting_signatures() -> None:
    p1 = _b64(json.dumps({"formatLength": 5, "formatTail": "fQ"}).encode())
    p2 = _b64(json.dumps({"formatLength": 6, "formatTail": "fQ"}).encode())
    raw = (
        BODY
        + (
            f',"signatures":[{{"protected":"{p1}","signature":"x"}},{{"protected":"{p2}","signature":"x"}}]}}'
        ).encode()
    )
    with pytest.raises(ManifestError, match="conflicting format length"):
        manifest_digest(raw)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@pytest.mark.parametrize("size", [0, 1, 4096, (1 << 20), (1 << 20) + 1])
def test_small_and_large_data_hash_as_hashlib_does(algorithm: str, size: int) -> None:
    """Small data takes the interpreter's built-in hash, large data OpenSSL's: same digests."""
    import hashlib

    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    expected = hashlib.new(algorithm, data).hexdigest()
    assert Digest.from_bytes(data, algorithm).hex == expected
    assert Digest(algorithm, expected).matches(data)
    assert not Digest(algorithm, expected).matches(data + b"!")
