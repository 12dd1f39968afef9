"""Bad-input corpus, manifests / indexes / configs (security.md §4 cases 1-14).

Each test is one corpus case (variants of a case are looped over inside it) and asserts
the contract of `Guard.check`: clean one-line error, destination unchanged, no temp file.
Sources are `dir:` layouts (the parsers are the same for every transport) except where the
case is about the wire (3: endless body; 10/14: registry), which go through a registry.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus_guard import Guard

from helpers import RegistryServer
from helpers.fault_proxy import FaultProxy, Reply
from helpers.images import (
    OCI_LAYER_GZIP,
    BuiltImage,
    build_image,
    build_multiarch,
    sha256_digest,
    write_dir,
)
from helpers.registry import push_image


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def dir_source(tmp_path: Path, name: str, manifest: bytes, image: BuiltImage | None = None) -> str:
    """A `dir:` image holding `image`'s blobs and the given (hostile) manifest bytes."""
    image = image or build_image(fmt="docker", layer_count=1, layer_size=512, seed=7)
    path = write_dir(image, tmp_path / name)
    (path / "manifest.json").write_bytes(manifest)
    return f"dir:{path}"


def edited(image: BuiltImage, edit: Any) -> bytes:
    doc = json.loads(image.manifest)
    edit(doc)
    return json.dumps(doc).encode()


def _image() -> BuiltImage:
    return build_image(fmt="docker", layer_count=1, layer_size=512, seed=7)


def test_case_01_digest_path_traversal(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_bytes(image.layers[0].data)  # what a traversal would find
    for i, evil in enumerate(["sha256:../../etc/passwd", "sha256:..%2f..%2fetc%2fpasswd"]):
        def edit(doc: dict[str, Any], evil: str = evil) -> None:
            doc["layers"][0]["digest"] = evil
        src = dir_source(tmp_path, f"src{i}", edited(image, edit), image)
        guard.check(guard.copy(src), match="(?i)invalid digest")


def test_case_02_malformed_digests(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    hexpart = _hex(image.layers[0].digest)
    variants = ["sha256:" + hexpart.upper(), "sha256:" + hexpart[:63], "md5:d41d8cd98f00b204e9800998ecf8427e", "",
                "SHA256:" + hexpart, hexpart]
    for i, bad in enumerate(variants):
        def edit(doc: dict[str, Any], bad: str = bad) -> None:
            doc["layers"][0]["digest"] = bad
        src = dir_source(tmp_path, f"src{i}", edited(image, edit), image)
        guard.check(guard.copy(src), match="(?i)digest")
    # The same validator guards the config descriptor.
    src = dir_source(tmp_path, "cfg", edited(image, lambda d: d["config"].update(digest="sha256:../x")), image)
    guard.check(guard.copy(src), match="(?i)invalid digest")


class EndlessServer:
    """A minimal HTTP/1.1 'registry': /v2/ answers 200; a manifest GET gets an endless chunked body."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.host = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.sent = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk or chunk[:1] == b"\x16":  # EOF, or a TLS ClientHello: plain HTTP only
                            return
                        data += chunk
                    path = data.split(b" ", 2)[1]
                    if b"/manifests/" not in path:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                     b"Docker-Distribution-API-Version: registry/2.0\r\n\r\n{}")
                        continue
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                 b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n\r\n")
                    piece = b" " * 65536
                    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
                    while self.sent < (64 << 20):  # "endless" as far as a 4 MiB cap can tell
                        conn.sendall(frame)
                        self.sent += len(piece)
                    return
            except OSError:
                return

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def endless_server() -> Iterator[EndlessServer]:
    server = EndlessServer()
    try:
        yield server
    finally:
        server.close()


def test_case_03_oversized_manifest(guard: Guard, tmp_path: Path, endless_server: EndlessServer,
                                    registry_server: RegistryServer) -> None:
    limit = 4 << 20
    exact = b"{" + b" " * (limit - 2) + b"}"
    # A local manifest of 4 MiB + 1 byte.
    src = dir_source(tmp_path, "big", exact + b" ")
    guard.check(guard.copy(src), match="exceeded maximum allowed size")
    # The same from a registry (through the fault proxy in front of the real registry).
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: (Reply(200, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                                      exact + b" ") if "/manifests/" in r.path else None)
        guard.check(guard.copy("--src-tls-verify=false", f"docker://{proxy.host}/corpus/big:v1"),
                    match="exceeded maximum allowed size")
    # An endless chunked body: refused after reading just past the cap.
    guard.check(guard.copy("--src-tls-verify=false", f"docker://{endless_server.host}/corpus/endless:v1"),
                match="exceeded maximum allowed size")
    assert endless_server.sent < (32 << 20), f"read {endless_server.sent} bytes of an endless body"


def test_case_04_ambiguous_manifest(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    index = build_multiarch(fmt="oci", layer_count=1, layer_size=256)
    both = edited(image, lambda d: d.update(manifests=[]))
    index_with_layers = json.dumps({**json.loads(index.manifest), "layers": []}).encode()
    index_with_config = json.dumps({**json.loads(index.manifest), "config": {}}).encode()
    case_variant = edited(image, lambda d: d.update(Manifests=[]))
    for i, raw in enumerate([both, index_with_layers, index_with_config, case_variant]):
        src = dir_source(tmp_path, f"src{i}", raw, image)
        guard.check(guard.copy(src), match="(?i)ambiguous")


def test_case_05_schema2_with_oci_layer_media_type(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    raw = edited(image, lambda d: d["layers"][0].update(mediaType=OCI_LAYER_GZIP))
    guard.check(guard.copy(dir_source(tmp_path, "src", raw, image)), match="(?i)unsupported docker v2s2 media type")


def test_case_06_size_type_confusion(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    doc = json.loads(image.manifest)
    texts = ['-1', '"12"', '1e400', 'NaN', 'true', '1' * 400, '12.0', 'Infinity', 'null']
    for i, bad in enumerate(texts):
        body = json.dumps(doc).replace(f'"size": {doc["layers"][0]["size"]}', f'"size": {bad}')
        assert bad in body
        src = dir_source(tmp_path, f"src{i}", body.encode(), image)
        guard.check(guard.copy(src), match="(?i)size|invalid|number|JSON")
    # Other type confusions (security.md row 19): `"layers": {}`, `"mediaType": 5`.
    for i, raw in enumerate([edited(image, lambda d: d.update(layers={})),
                             edited(image, lambda d: d.update(mediaType=5)),
                             edited(image, lambda d: d["config"].update(digest=5))]):
        guard.check(guard.copy(dir_source(tmp_path, f"type{i}", raw, image)))


def test_case_07_duplicate_keys(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    doc = json.loads(image.manifest)
    config = json.dumps(doc["config"])
    raw = image.manifest.decode().replace('"config":', f'"config": {config}, "config":', 1).encode()
    assert raw.count(b'"config"') == 2
    guard.check(guard.copy(dir_source(tmp_path, "src", raw, image)), match="(?i)duplicate")
    # Nested duplicate (inside a descriptor).
    raw = image.manifest.decode().replace('"size":', '"size": 1, "size":', 1).encode()
    guard.check(guard.copy(dir_source(tmp_path, "src2", raw, image)), match="(?i)duplicate")


def test_case_08_deep_nesting(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    deep = b'{"schemaVersion":2,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    guard.check(guard.copy(dir_source(tmp_path, "src", deep, image)), match="(?i)nest|deep|depth")
    deep_obj = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    guard.check(guard.copy(dir_source(tmp_path, "src2", deep_obj, image)), match="(?i)nest|deep|depth")


def test_case_09_utf8_bom(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    guard.check(guard.copy(dir_source(tmp_path, "src", b"\xef\xbb\xbf" + image.manifest, image)),
                match="(?i)BOM|invalid|JSON|character")


def test_case_10_index_child_digest_mismatch(guard: Guard, tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", layer_count=1, layer_size=256)
    path = write_dir(index, tmp_path / "src")
    child = index.images[0]
    # Same length, different bytes: only the digest check can notice.
    altered = child.manifest.replace(b'"schemaVersion": 2', b'"schemaVersion":  2', 1)[:-1]
    assert len(altered) == len(child.manifest) and altered != child.manifest
    for instance in index.images:
        (path / f"{instance.manifest_hex}.manifest.json").write_bytes(altered)
    guard.check(guard.copy("--all", f"dir:{path}"), match="(?i)digest|does not match")
    guard.check(guard.copy("--override-arch", "amd64", f"dir:{path}"), match="(?i)digest|does not match")


def test_case_11_index_without_matching_platform(guard: Guard, tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", layer_count=1, layer_size=256)
    empty = json.dumps({"schemaVersion": 2, "mediaType": index.media_type, "manifests": []}).encode()
    src = write_dir(index, tmp_path / "empty")
    (src / "manifest.json").write_bytes(empty)
    guard.check(guard.copy("--override-arch", "amd64", "--override-os", "linux", f"dir:{src}"),
                match="no image found in (manifest list|image index) for architecture")
    src2 = write_dir(index, tmp_path / "other")
    guard.check(guard.copy("--override-arch", "s390x", "--override-os", "linux", f"dir:{src2}"),
                match="no image found in (manifest list|image index) for architecture")


def test_case_12_index_too_many_entries_or_self_reference(guard: Guard, tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", layer_count=1, layer_size=256)
    entry = index.images[0].descriptor()
    many = json.dumps({"schemaVersion": 2, "mediaType": index.media_type,
                       "manifests": [entry] * 100_000}, separators=(",", ":")).encode()
    src = write_dir(index, tmp_path / "many")
    (src / "manifest.json").write_bytes(many)
    guard.check(guard.copy("--all", f"dir:{src}"), match="(?i)entries|too many|maximum|exceeded")
    # An index whose entry is an index pointing at itself (via a child file of itself).
    nested = {"schemaVersion": 2, "mediaType": index.media_type, "manifests": []}
    inner = json.dumps(nested).encode()
    for _ in range(12):  # a chain of indexes, each pointing at the previous
        nested = {"schemaVersion": 2, "mediaType": index.media_type,
                  "manifests": [{"mediaType": index.media_type, "digest": sha256_digest(inner), "size": len(inner),
                                 "platform": {"os": "linux", "architecture": "amd64"}}]}
        src = write_dir(index, tmp_path / "chain")
        (src / f"{hashlib.sha256(inner).hexdigest()}.manifest.json").write_bytes(inner)
        inner = json.dumps(nested).encode()
    (tmp_path / "chain" / "manifest.json").write_bytes(inner)
    guard.check(guard.copy("--all", f"dir:{tmp_path / 'chain'}"), match="(?i)nest|index|list|manifest")
    guard.check(guard.copy("--override-arch", "amd64", f"dir:{tmp_path / 'chain'}"),
                match="(?i)nest|index|list|manifest")


def test_case_13_config_mismatch_or_oversized(guard: Guard, tmp_path: Path) -> None:
    image = _image()
    src = write_dir(image, tmp_path / "bad-config")
    (src / _hex(image.config_digest)).write_bytes(image.config.replace(b"amd64", b"arm64"))
    guard.check(guard.copy(f"dir:{src}"), match="(?i)digest|does not match")
    big = image.config[:-1] + b',"pad":"' + b"x" * (4 << 20) + b'"}'
    raw = edited(image, lambda d: d["config"].update(digest=sha256_digest(big), size=len(big)))
    src2 = write_dir(image, tmp_path / "big-config")
    (src2 / _hex(sha256_digest(big))).write_bytes(big)
    (src2 / "manifest.json").write_bytes(raw)
    guard.check(guard.copy(f"dir:{src2}"), match="(?i)exceeded maximum allowed size|too large|size")


def test_case_14_foreign_urls_not_fetched(guard: Guard, registry_server: RegistryServer) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=512, seed=14)
    push_image(registry_server, "corpus/foreign", "v1", image)
    # The manifest served names a layer the registry does not have, with foreign URLs only.
    missing = sha256_digest(b"not in the registry")
    doc = json.loads(image.manifest)
    doc["layers"][0].update(
        mediaType="application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest=missing, size=19,
        urls=["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "ftp://127.0.0.1/x", "data:,x"])
    raw = json.dumps(doc).encode()
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: (Reply(200, [("Content-Type", image.media_type),
                                            ("Docker-Content-Digest", sha256_digest(raw))], raw)
                                if "/manifests/" in r.path else None)
        result = guard.copy("--src-tls-verify=false", f"docker://{proxy.host}/corpus/foreign:v1")
        seen = list(proxy.requests)
    guard.check(result, match="(?i)blob|unknown|not found|foreign")
    # Only the registry's own API was asked (the proxy is the registry's origin).
    assert all(r.path.startswith("/v2/") for r in seen)
    assert any(missing in r.path for r in seen)
