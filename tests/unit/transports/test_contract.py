"""The transport contract (toolkit/transports/base.py), checked for every registered transport.

Parametrised over `transport_names()`, so a transport registered without an entry in
`CASES` fails here until it is given one. For each:
- a writable transport round-trips an image through the copy engine (what its source
  serves back has the digests that went in: the manifest's where the transport keeps
  manifests, else the config's and every layer's uncompressed content), and a destination
  closed without `commit()` leaves no trace;
- a readable-only one serves an image whose blobs verify;
- a placeholder refuses clearly (`NotSupportedError`) instead of guessing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from helpers.images import build_image, tar_bytes, write_dir
from helpers.trees import snapshot
from toolkit.digest import Digest
from toolkit.errors import NotSupportedError
from toolkit.ops.copy import CopyOptions, copy_image
from toolkit.policy import InsecureAcceptAnything
from toolkit.transports import parse_image_name, transport_names
from toolkit.types import BlobInfo, OptionalBool, SystemContext

Kind = Literal["local", "registry", "daemon", "storage", "read-only", "placeholder"]


@dataclass(frozen=True)
class Case:
    """How to exercise one transport: `kind`, the image format it holds, whether its source
    serves back the very manifest written (else the transport regenerates one)."""

    kind: Kind
    fmt: Literal["docker", "oci"] = "oci"
    keeps_manifest: bool = True


CASES: dict[str, Case] = {
    "dir": Case("local"),
    "oci": Case("local"),
    "oci-archive": Case("local"),
    "docker-archive": Case("local", fmt="docker", keeps_manifest=False),
    "docker": Case("registry"),
    "docker-daemon": Case("daemon", fmt="docker", keeps_manifest=False),
    "tarball": Case("read-only"),
    "sif": Case("read-only"),
    "containers-storage": Case("storage", keeps_manifest=False),  # serves layers uncompressed
    "atomic": Case("placeholder"),
    "ostree": Case("placeholder"),
}


def test_every_registered_transport_has_a_contract_case() -> None:
    missing = sorted(set(transport_names()) - set(CASES))
    assert not missing, f"add a contract case for {missing}"


def _target(name: str, tmp_path: Path, host: str | None) -> str:
    return {
        "dir": f"dir:{tmp_path / 'dir'}",
        "oci": f"oci:{tmp_path / 'layout'}:contract",
        "oci-archive": f"oci-archive:{tmp_path / 'layout.tar'}:contract",
        "docker-archive": f"docker-archive:{tmp_path / 'archive.tar'}:contract/app:1",
        "docker": f"docker://{host}/contract/app:1",
        "docker-daemon": "docker-daemon:contract/app:1",
        "containers-storage": f"containers-storage:[vfs@{tmp_path / 'root'}+{tmp_path / 'runroot'}]contract/app:1",
    }[name]


def _content_digests(name: str, ctx: SystemContext, tmp_path: Path) -> tuple[str, str, list[str]]:
    """(manifest digest, config digest, uncompressed layer digests) of what the source serves."""
    out = tmp_path / ("read-" + hashlib.sha256(name.encode()).hexdigest()[:12])
    copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{out}"), parse_image_name(name),
               options=CopyOptions(source_ctx=ctx))
    manifest = (out / "manifest.json").read_bytes()
    doc = json.loads(manifest)
    diff_ids = []
    for layer in doc["layers"]:
        data = (out / layer["digest"].split(":", 1)[1]).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), doc["config"]["digest"], diff_ids


def _peer_context(request: pytest.FixtureRequest, case: Case) -> tuple[str | None, SystemContext]:
    if case.kind == "registry":
        server = request.getfixturevalue("registry_server")
        return server.host, SystemContext(tls_verify=OptionalBool.FALSE)
    if case.kind == "daemon":
        service = request.getfixturevalue("podman_service")
        return None, SystemContext(daemon_host=service.docker_host)
    if case.kind == "storage" and shutil.which("containers-storage") is None:
        pytest.skip("peer `containers-storage` is not installed; run `make peers`")
    return None, SystemContext()


@pytest.mark.parametrize(
    "name", sorted(n for n, c in CASES.items() if c.kind in ("local", "registry", "daemon", "storage"))
)
def test_writable_transport_round_trip(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    case = CASES[name]
    host, ctx = _peer_context(request, case)
    image = build_image(fmt=case.fmt, layer_count=2, seed=hash(name) % 1000, indent=None)
    src = write_dir(image, tmp_path / "src")
    target = _target(name, tmp_path, host)
    copy_image(InsecureAcceptAnything(), parse_image_name(target), parse_image_name(f"dir:{src}"),
               options=CopyOptions(dest_ctx=ctx, source_ctx=ctx))
    manifest_digest, config_digest, diff_ids = _content_digests(target, ctx, tmp_path)
    if case.keeps_manifest:
        assert manifest_digest == image.manifest_digest
    assert config_digest == image.config_digest
    assert diff_ids == image.diff_ids


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.kind in ("local", "storage")))
def test_abort_leaves_no_trace(name: str, tmp_path: Path) -> None:
    image = build_image(fmt=CASES[name].fmt, layer_count=1, seed=5)
    before = snapshot(tmp_path)
    ref = parse_image_name(_target(name, tmp_path, None))
    with ref.new_image_destination(SystemContext()) as dest:
        for digest, data in image.blobs().items():
            dest.put_blob(io.BytesIO(data), BlobInfo(digest=Digest.parse(digest), size=len(data)))
        # closed without commit()
    assert snapshot(tmp_path) == before


def test_registry_abort_publishes_nothing(request: pytest.FixtureRequest) -> None:
    import requests

    server = request.getfixturevalue("registry_server")
    image = build_image(fmt="oci", layer_count=1, seed=6)
    ref = parse_image_name(f"docker://{server.host}/contract/aborted:1")
    with ref.new_image_destination(SystemContext(tls_verify=OptionalBool.FALSE)) as dest:
        for digest, data in image.blobs().items():
            dest.put_blob(io.BytesIO(data), BlobInfo(digest=Digest.parse(digest), size=len(data)))
    assert requests.get(f"{server.url}/v2/contract/aborted/manifests/1", timeout=30).status_code == 404


def _tarball_image(tmp_path: Path) -> tuple[str, Callable[[str], None]]:
    layer = tmp_path / "layer.tar.gz"
    tar = tar_bytes({"etc/": None, "etc/hello": b"hello\n"})
    layer.write_bytes(gzip.compress(tar, mtime=0))

    def check(diff_id: str) -> None:
        assert diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()

    return f"tarball:{layer}", check


def _sif_image(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Callable[[str], None]]:
    request.getfixturevalue("sif_tools")
    from helpers.sif import build_sif

    sif = build_sif(tmp_path, {"etc/hello": b"hello\n"})

    def check(diff_id: str) -> None:
        assert diff_id.startswith("sha256:")

    return f"sif:{sif}", check


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.kind == "read-only"))
def test_read_only_transport_serves_a_verified_image(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    image_name, check = _tarball_image(tmp_path) if name == "tarball" else _sif_image(tmp_path, request)
    ref = parse_image_name(image_name)
    _manifest, _config, diff_ids = _content_digests(image_name, SystemContext(), tmp_path)
    assert len(diff_ids) == 1
    check(diff_ids[0])
    with pytest.raises(NotSupportedError), ref.new_image_destination(SystemContext()):
        pass


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.kind == "placeholder"))
def test_placeholder_transport_refuses_clearly(name: str) -> None:
    with pytest.raises(NotSupportedError, match=f'transport "{name}"'):
        parse_image_name(f"{name}:anything")
