"""tarball: synthesised OCI image from layer files; digests match skopeo 1.9.3."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard

from helpers.images import tar_bytes
from helpers.transfer import read_image
from toolkit.digest import Digest
from toolkit.errors import (
    DigestMismatchError,
    InvalidImageNameError,
    NotSupportedError,
    PolicyError,
    SizeLimitError,
)
from toolkit.manifest import mime
from toolkit.transports import parse_image_name
from toolkit.transports.tarball import TRANSPORT, go_arch
from toolkit.types import BlobInfo, SystemContext

LAYER = tar_bytes({"x": b"abc"})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    plain = tmp_path / "l.tar"
    plain.write_bytes(LAYER)
    gz = tmp_path / "l.tar.gz"
    gz.write_bytes(gzip.compress(LAYER, mtime=0))
    zst = tmp_path / "l.tar.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(LAYER))
    for n, p in enumerate((plain, gz, zst)):
        os.utime(p, ns=(1_600_000_000_123_456_789 + n, 1_600_000_000_123_456_789 + n))
    return {"plain": plain, "gzip": gz, "zstd": zst}


def read_all(name: str, ctx: SystemContext | None = None) -> tuple[bytes, dict[str, Any], dict[str, bytes]]:
    raw, mime_type, blobs = read_image(parse_image_name(name), ctx)
    assert mime_type == mime.OCI_MANIFEST
    return raw, json.loads(raw), blobs


def test_reference_and_policy(files: dict[str, Path], tmp_path: Path) -> None:
    ref = TRANSPORT.parse_reference(f"{files['plain']}:{files['gzip']}")
    assert ref.string_within_transport() == f"{files['plain']}:{files['gzip']}"
    assert ref.docker_reference() is None
    assert ref.policy_configuration_identity() == ""
    assert ref.policy_configuration_namespaces() == []
    TRANSPORT.validate_policy_configuration_scope("")
    with pytest.raises(PolicyError):
        TRANSPORT.validate_policy_configuration_scope("/x")
    with pytest.raises(InvalidImageNameError, match="error opening"):
        TRANSPORT.parse_reference(str(tmp_path / "missing.tar"))
    with pytest.raises(NotSupportedError, match="can only be read from"):
        ref.new_image_destination(SystemContext())


def test_synthesised_image(files: dict[str, Path]) -> None:
    _raw, doc, blobs = read_all(f"tarball:{files['plain']}:{files['gzip']}:{files['zstd']}")
    diff_id = "sha256:" + hashlib.sha256(LAYER).hexdigest()
    assert [layer["mediaType"] for layer in doc["layers"]] == [mime.OCI_LAYER, mime.OCI_LAYER_GZIP, mime.OCI_LAYER_ZSTD]
    assert [layer["digest"] for layer in doc["layers"]] == [
        "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for p in files.values()
    ]
    assert list(doc) == ["schemaVersion", "config", "layers"]
    config_raw = blobs[doc["config"]["digest"]]
    config = json.loads(config_raw)
    assert list(config) == ["created", "architecture", "os", "config", "rootfs", "history"]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id] * 3}
    assert config["architecture"] == go_arch()
    assert config["config"] == {}
    assert config["history"][0]["created_by"] == f"/bin/sh -c #(nop) ADD file:{diff_id[7:]} in /"
    assert config["history"][0]["comment"] == "imported from tarball"
    assert ".123456791" in config["created"]  # the newest mtime, nanoseconds kept
    assert blobs[doc["layers"][1]["digest"]] == files["gzip"].read_bytes()  # served as stored


def test_changed_file_is_detected(files: dict[str, Path]) -> None:
    ref = parse_image_name(f"tarball:{files['plain']}")
    with ref.new_image_source(SystemContext()) as src:
        doc = json.loads(src.get_manifest()[0])
        files["plain"].write_bytes(LAYER[:-1] + b"\1")
        stream, _ = src.get_blob(BlobInfo(digest=Digest.parse(doc["layers"][0]["digest"])))
        with pytest.raises(DigestMismatchError):
            stream.read()


def test_stdin_and_bomb(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(files["gzip"].read_bytes())))
    _, doc, _blobs = read_all("tarball:-:-", SystemContext(tmpdir=spool))
    assert [layer["mediaType"] for layer in doc["layers"]] == [mime.OCI_LAYER_GZIP] * 2
    assert list(spool.iterdir()) == []
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"\0" * (8 << 20)))
    with pytest.raises(SizeLimitError):
        read_all(f"tarball:{bomb}", SystemContext(max_decompressed_size=1 << 20))


@pytest.mark.parametrize("which", [["plain"], ["gzip"], ["plain", "gzip", "plain"]])
@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_peer_digests_match_skopeo(
    files: dict[str, Path], skopeo: Any, which: list[str], tz: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        name = "tarball:" + ":".join(str(files[w]) for w in which)
        theirs = skopeo.run("inspect", "--raw", name, env={"TZ": tz}).stdout
        their_config = skopeo.run("inspect", "--config", "--raw", name, env={"TZ": tz}).stdout
        ours, doc, blobs = read_all(name)
        assert blobs[doc["config"]["digest"]] == their_config
        assert ours == theirs
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
