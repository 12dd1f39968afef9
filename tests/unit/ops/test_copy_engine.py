"""The copy engine's contract, through its library API with real local transports."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from helpers.images import build_image, build_multiarch, random_layer_tar, write_dir
from toolkit.errors import PolicyRejectedError, ToolkitError
from toolkit.image import UnparsedImage
from toolkit.ops.copy import CopyOptions, MultiArch, copy_image
from toolkit.ops.report import CallbackReporter, ProgressEvent
from toolkit.policy import InsecureAcceptAnything
from toolkit.transports import parse_image_name
from toolkit.types import LayerCompression, SystemContext


def tree_digest(root: Path) -> str:
    """A checksum of every path, type and content under `root`."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


class RecordingRejecter:
    """A policy that looks at the manifest, then refuses."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def is_running_image_allowed(self, image: UnparsedImage) -> None:
        self.seen.append(image.manifest()[0])
        raise PolicyRejectedError("Source image rejected: test policy")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write_dir(build_image(layer_count=3, seed=7), tmp_path / "src")


@pytest.mark.parametrize("dest_kind", ["dir", "oci", "docker-archive", "oci-archive"])
def test_policy_refusal_leaves_destination_untouched(tmp_path: Path, src: Path, dest_kind: str) -> None:
    # An existing destination of each kind, made by a successful copy.
    first = write_dir(build_image(layer_count=1, seed=99), tmp_path / "first")
    target = tmp_path / "dest"
    names = {
        "dir": f"dir:{target}",
        "oci": f"oci:{target}:old",
        "docker-archive": f"docker-archive:{target}.tar:x/y:z",
        "oci-archive": f"oci-archive:{target}.tar:old",
    }
    dest_name = names[dest_kind]
    copy_image(InsecureAcceptAnything(), parse_image_name(dest_name), parse_image_name(f"dir:{first}"))
    before = tree_digest(tmp_path)
    policy = RecordingRejecter()
    if dest_kind == "docker-archive":
        # docker-archive refuses an existing file; a fresh path must stay absent instead.
        dest_name = f"docker-archive:{tmp_path / 'fresh.tar'}:x/y:z"
    with pytest.raises(PolicyRejectedError):
        copy_image(policy, parse_image_name(dest_name), parse_image_name(f"dir:{src}"), options=CopyOptions())
    assert policy.seen, "the policy must have been consulted"
    assert tree_digest(tmp_path) == before
    assert not (tmp_path / "fresh.tar").exists()


def test_corrupt_layer_aborts_and_leaves_no_trace(tmp_path: Path, src: Path) -> None:
    blobs = sorted(p for p in src.iterdir() if len(p.name) == 64)
    victim = max(blobs, key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    target = tmp_path / "out"
    with pytest.raises(ToolkitError):
        copy_image(InsecureAcceptAnything(), parse_image_name(f"oci:{target}:t"), parse_image_name(f"dir:{src}"),
                   options=CopyOptions())
    assert not target.exists(), "a failed first copy must not even create the layout"
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or ".partial-" in p.name]
    assert leftovers == []


def test_second_copy_reuses_blobs_and_keeps_digest(tmp_path: Path, src: Path) -> None:
    dest = parse_image_name(f"oci:{tmp_path / 'layout'}:t")
    first = copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"), options=CopyOptions())
    events: list[ProgressEvent] = []
    second = copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"),
                        options=CopyOptions(reporter=CallbackReporter(events.append)))
    assert first.manifest_digest == second.manifest_digest
    assert [e.text for e in events if e.event == "finish"].count("skipped: already exists") == 3


def test_decompress_then_compress_round_trip(tmp_path: Path, src: Path) -> None:
    plain = tmp_path / "plain"
    copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{plain}"), parse_image_name(f"dir:{src}"),
               options=CopyOptions(layer_compression=LayerCompression.DECOMPRESS))
    sizes = sorted(p.stat().st_size for p in plain.iterdir() if len(p.name) == 64)
    assert all(size % 512 == 0 for size in sizes[-3:]), "layers must be plain tar"
    again = tmp_path / "again"
    result = copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{again}"), parse_image_name(f"dir:{plain}"),
                        options=CopyOptions(layer_compression=LayerCompression.COMPRESS))
    for blob in again.iterdir():
        if len(blob.name) == 64 and blob.stat().st_size > 1000:
            assert blob.read_bytes()[:2] == b"\x1f\x8b"
    assert hashlib.sha256((again / "manifest.json").read_bytes()).hexdigest() == result.manifest_digest.hex


def test_list_system_copies_one_instance(tmp_path: Path) -> None:
    listing = build_multiarch(seed=3)
    src = write_dir(listing, tmp_path / "list")
    ctx = SystemContext(override_arch="arm64", override_os="linux")
    out = tmp_path / "one"
    result = copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{out}"), parse_image_name(f"dir:{src}"),
                        options=CopyOptions(source_ctx=ctx, multi_arch=MultiArch.SYSTEM))
    top = json.loads((src / "manifest.json").read_bytes())
    arm64 = [m["digest"] for m in top["manifests"] if m["platform"]["architecture"] == "arm64"]
    assert str(result.manifest_digest) == arm64[0]
    assert (out / "manifest.json").read_bytes() == result.manifest
    assert not [p for p in out.iterdir() if p.name.endswith(".manifest.json")]


def test_parallel_copies_flag_is_respected(tmp_path: Path, src: Path) -> None:
    result = copy_image(InsecureAcceptAnything(), parse_image_name(f"dir:{tmp_path / 'seq'}"),
                        parse_image_name(f"dir:{src}"), options=CopyOptions(parallel_copies=1))
    assert os.path.exists(tmp_path / "seq" / "manifest.json")
    assert result.manifest == (src / "manifest.json").read_bytes()


def test_pool_starts_largest_layers_first_and_keeps_layer_order(tmp_path: Path) -> None:
    """With fewer workers than layers, the largest layers start first; the manifest keeps
    the source's layer order, and the buffer budget's admission follows the start order
    (admitting by layer index would leave a started layer waiting for a queued one)."""
    sizes = [2048, 96 * 1024, 8192, 48 * 1024]
    image = build_image(layer_tars=[random_layer_tar(40 + i, n, prefix=f"l{i}") for i, n in enumerate(sizes)])
    src = write_dir(image, tmp_path / "src")
    events: list[ProgressEvent] = []
    result: list[object] = []

    def copy() -> None:
        result.append(copy_image(
            InsecureAcceptAnything(), parse_image_name(f"dir:{tmp_path / 'dest'}"), parse_image_name(f"dir:{src}"),
            options=CopyOptions(parallel_copies=2, reporter=CallbackReporter(events.append)),
        ))

    worker = threading.Thread(target=copy, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the copy did not finish (layer admission deadlock?)"
    assert result and result[0].manifest == (src / "manifest.json").read_bytes()  # type: ignore[attr-defined]
    layers = [str(layer.digest) for layer in image.layers]
    by_size = [layers[i] for i in sorted(range(len(sizes)), key=lambda i: -image.layers[i].size)]
    started = [str(e.digest) for e in events if e.event == "start" and e.blob == "blob"]
    assert set(started[:2]) == set(by_size[:2]), (started, by_size)
    assert sorted(started) == sorted(layers)


class _RefusingOCIDestination:
    """A `dir:` destination that, like some registries, refuses OCI manifests."""

    refused: frozenset[str] = frozenset({"application/vnd.oci.image.manifest.v1+json"})

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.attempts: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def __enter__(self) -> _RefusingOCIDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()  # type: ignore[attr-defined]

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: object = None) -> None:
        from toolkit.errors import ManifestTypeRejectedError

        self.attempts.append(mime_type)
        if mime_type in self.refused:
            raise ManifestTypeRejectedError(f"manifest invalid: {mime_type} manifests are not accepted here")
        self._inner.put_manifest(raw, mime_type, instance_digest)  # type: ignore[attr-defined]


class _RefusingOCIReference:
    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.dest: _RefusingOCIDestination | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def new_image_destination(self, ctx: SystemContext) -> _RefusingOCIDestination:
        self.dest = _RefusingOCIDestination(self._inner.new_image_destination(ctx))  # type: ignore[attr-defined]
        return self.dest


def test_refused_manifest_type_falls_back_to_another(tmp_path: Path) -> None:
    src = write_dir(build_image(fmt="oci", layer_count=2, seed=11), tmp_path / "oci-src")
    dest = _RefusingOCIReference(parse_image_name(f"dir:{tmp_path / 'out'}"))
    result = copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"), options=CopyOptions())  # type: ignore[arg-type]
    assert dest.dest is not None
    assert dest.dest.attempts == [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
    assert result.manifest_mime == "application/vnd.docker.distribution.manifest.v2+json"
    assert json.loads((tmp_path / "out" / "manifest.json").read_bytes())["mediaType"] == result.manifest_mime


@pytest.mark.parametrize("history", [True, False])
def test_refused_docker_and_oci_fall_back_to_schema1(tmp_path: Path, history: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """c/image's candidate order after the source's type: v2s2, then signed v2s1 (converted);
    an image v2s1 cannot express ends the list with every attempt named."""
    from toolkit.manifest import mime

    monkeypatch.setattr(_RefusingOCIDestination, "refused", frozenset({mime.OCI_MANIFEST, mime.DOCKER_V2S2}))
    image = build_image(fmt="oci", layer_count=1, seed=13)
    src = write_dir(image, tmp_path / "oci-src")
    if not history:
        config = json.loads(image.config)
        del config["history"]
        data = json.dumps(config).encode()
        doc = json.loads(image.manifest)
        doc["config"].update(digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data))
        (src / doc["config"]["digest"][7:]).write_bytes(data)
        (src / "manifest.json").write_text(json.dumps(doc))
    dest = _RefusingOCIReference(parse_image_name(f"dir:{tmp_path / 'out'}"))
    if not history:
        with pytest.raises(ToolkitError, match=r"attempted the following formats: .*v1\+prettyjws\(Cannot convert"):
            copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"))  # type: ignore[arg-type]
        assert not (tmp_path / "out").exists()
        return
    result = copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"))  # type: ignore[arg-type]
    assert dest.dest is not None
    assert dest.dest.attempts == [mime.OCI_MANIFEST, mime.DOCKER_V2S2, mime.DOCKER_V2S1_SIGNED]
    assert result.manifest_mime == mime.DOCKER_V2S1_SIGNED
    assert json.loads((tmp_path / "out" / "manifest.json").read_bytes())["schemaVersion"] == 1


def test_refused_manifest_type_with_preserve_digests_fails_clearly(tmp_path: Path) -> None:
    src = write_dir(build_image(fmt="oci", layer_count=1, seed=12), tmp_path / "oci-src")
    dest = _RefusingOCIReference(parse_image_name(f"dir:{tmp_path / 'out'}"))
    with pytest.raises(ToolkitError, match="attempted the following formats"):
        copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"),  # type: ignore[arg-type]
                   options=CopyOptions(preserve_digests=True))
    assert not (tmp_path / "out").exists()


def test_forced_v2s1_is_refused_before_any_blob_is_copied(tmp_path: Path) -> None:
    """A schema1 conversion that must fail (a config without history) says so before the
    copy reads a blob, and the destination is never created."""
    from toolkit.manifest import mime
    from toolkit.ops.report import NullReporter

    blobs: list[str] = []

    class RecordingReporter(NullReporter):
        def blob(self, kind: str, digest: object, size: int) -> object:  # type: ignore[override]
            blobs.append(kind)
            return super().blob(kind, digest, size)  # type: ignore[arg-type]

    image = build_image(layer_count=2, seed=7)
    config = json.loads(image.config)
    del config["history"]
    config_bytes = json.dumps(config).encode()
    doc = json.loads(image.manifest)
    doc["config"].update(digest="sha256:" + hashlib.sha256(config_bytes).hexdigest(), size=len(config_bytes))
    src = write_dir(image, tmp_path / "src")
    (src / doc["config"]["digest"][7:]).write_bytes(config_bytes)
    (src / "manifest.json").write_text(json.dumps(doc))
    dest = parse_image_name(f"dir:{tmp_path / 'out'}")
    with pytest.raises(ToolkitError, match="Cannot convert an image with 0 history entries"):
        copy_image(InsecureAcceptAnything(), dest, parse_image_name(f"dir:{src}"),
                   options=CopyOptions(forced_manifest_mime=mime.DOCKER_V2S1_SIGNED, reporter=RecordingReporter()))
    assert blobs == []
    assert not (tmp_path / "out").exists()
