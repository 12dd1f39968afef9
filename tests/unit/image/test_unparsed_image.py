"""`toolkit.image`: `UnparsedImage` pins the manifest bytes (read once; checked against the
digest the reference or the list entry names) and `read_config` checks size and digest.

Images are real `dir:` and `oci:` images from helpers.images. The built-in transports check
digests themselves, so the pinning of a reference's digest is checked with a plugin-style
source (as examples/plugin's `example-dir:`): a real `dir:` source under a reference that
carries a digest, the case `UnparsedImage` exists for (CVE-2014-8179: digest and parse the
same bytes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.images import BuiltImage, build_image, build_multiarch, write_dir, write_oci_layout
from toolkit.digest import Digest
from toolkit.errors import DigestMismatchError, ToolkitError
from toolkit.image import UnparsedImage, read_config
from toolkit.limits import MAX_CONFIG_SIZE
from toolkit.manifest import mime
from toolkit.reference import NamedReference, parse_normalized_named
from toolkit.transports import parse_image_name
from toolkit.transports.base import ImageReference, ImageSource
from toolkit.types import BlobInfo, SystemContext

CTX = SystemContext()


@pytest.fixture
def image() -> BuiltImage:
    return build_image(layer_count=1, layer_size=700, seed=12)


@pytest.fixture
def image_dir(tmp_path: Path, image: BuiltImage) -> Path:
    return write_dir(image, tmp_path / "img")


class _NamedReference:
    """A reference that delegates to a real one but names `docker_ref` (a plugin's choice)."""

    def __init__(self, inner: ImageReference, docker_ref: NamedReference) -> None:
        self._inner = inner
        self._docker_ref = docker_ref

    def docker_reference(self) -> NamedReference:
        return self._docker_ref

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


class _PluginSource:
    """A real source whose `reference` is a `_NamedReference` (everything else delegated)."""

    def __init__(self, inner: ImageSource, reference: _NamedReference) -> None:
        self._inner = inner
        self.reference = reference

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def plugin_source(path: Path, docker_name: str) -> ImageSource:
    ref = parse_image_name(f"dir:{path}")
    named = _NamedReference(ref, parse_normalized_named(docker_name))
    return _PluginSource(ref.new_image_source(CTX), named)  # type: ignore[return-value]


# ---------------------------------------------------------------------- manifest pinning


def test_manifest_is_the_exact_bytes_with_a_known_mime(image_dir: Path, image: BuiltImage) -> None:
    with parse_image_name(f"dir:{image_dir}").new_image_source(CTX) as source:
        unparsed = UnparsedImage(source)
        assert unparsed.manifest() == (image.manifest, mime.DOCKER_V2S2)
        assert unparsed.manifest_digest() == Digest.parse(image.manifest_digest)
        assert unparsed.docker_reference() is None
        assert unparsed.reference is source.reference


def test_manifest_and_signatures_are_read_once(image_dir: Path, image: BuiltImage) -> None:
    (image_dir / "signature-1").write_bytes(b"first signature")
    with parse_image_name(f"dir:{image_dir}").new_image_source(CTX) as source:
        unparsed = UnparsedImage(source)
        raw, _ = unparsed.manifest()
        signatures = unparsed.signatures()
        # The image changes under the reader: what was decided on stays what is used.
        (image_dir / "manifest.json").write_bytes(build_image(layer_count=1, seed=13).manifest)
        (image_dir / "signature-2").write_bytes(b"second signature")
        assert unparsed.manifest()[0] == raw == image.manifest
        assert unparsed.signatures() == signatures == [b"first signature"]
        # A new UnparsedImage reads again.
        assert UnparsedImage(source).manifest()[0] != image.manifest
        assert UnparsedImage(source).signatures() == [b"first signature", b"second signature"]


def test_a_list_instance_is_pinned_to_its_digest(tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", seed=4)
    layout = write_oci_layout(index, tmp_path / "layout", "multi")
    with parse_image_name(f"oci:{layout}:multi").new_image_source(CTX) as source:
        top = UnparsedImage(source)
        assert top.manifest() == (index.manifest, mime.OCI_INDEX)
        for instance in index.images:
            unparsed = UnparsedImage(source, Digest.parse(instance.manifest_digest))
            assert unparsed.manifest() == (instance.manifest, mime.OCI_MANIFEST)
            assert unparsed.manifest_digest() == Digest.parse(instance.manifest_digest)


def test_a_reference_by_digest_pins_the_top_manifest(image_dir: Path, image: BuiltImage) -> None:
    good = plugin_source(image_dir, f"example.com/app@{image.manifest_digest}")
    assert UnparsedImage(good).manifest()[0] == image.manifest
    # A tag-only reference pins nothing.
    assert UnparsedImage(plugin_source(image_dir, "example.com/app:v1")).manifest()[0] == image.manifest
    other = build_image(layer_count=1, seed=77)
    lying = plugin_source(image_dir, f"example.com/app@{other.manifest_digest}")
    with pytest.raises(DigestMismatchError) as info:
        UnparsedImage(lying).manifest()
    assert str(info.value) == f"Manifest does not match provided manifest digest {other.manifest_digest}"


def test_a_reference_by_sha512_digest_is_checked_with_sha512(image_dir: Path, image: BuiltImage) -> None:
    sha512 = Digest.from_bytes(image.manifest, "sha512")
    assert UnparsedImage(plugin_source(image_dir, f"example.com/app@{sha512}")).manifest()[0] == image.manifest
    wrong = Digest.from_bytes(b"other", "sha512")
    with pytest.raises(DigestMismatchError):
        UnparsedImage(plugin_source(image_dir, f"example.com/app@{wrong}")).manifest()


# --------------------------------------------------------------------------- read_config


def config_info(image: BuiltImage, *, size: int | None = None) -> BlobInfo:
    return BlobInfo(digest=Digest.parse(image.config_digest), size=len(image.config) if size is None else size)


def test_read_config_returns_the_verified_bytes(image_dir: Path, image: BuiltImage) -> None:
    with parse_image_name(f"dir:{image_dir}").new_image_source(CTX) as source:
        assert read_config(source, config_info(image)) == image.config
        assert read_config(source, config_info(image, size=-1)) == image.config  # size unknown


def test_read_config_refuses_a_wrong_size_or_digest(image_dir: Path, image: BuiltImage) -> None:
    with parse_image_name(f"dir:{image_dir}").new_image_source(CTX) as source:
        with pytest.raises(DigestMismatchError, match="does not match expected"):
            read_config(source, config_info(image, size=len(image.config) - 1))
        with pytest.raises(ToolkitError, match="too large"):
            read_config(source, config_info(image, size=MAX_CONFIG_SIZE + 1))
        with pytest.raises(ToolkitError, match="has no digest"):
            read_config(source, BlobInfo(digest=None))
    # A config file whose bytes changed: the digest no longer matches.
    (image_dir / image.config_digest[7:]).write_bytes(image.config.replace(b"amd64", b"arm64"))
    with parse_image_name(f"dir:{image_dir}").new_image_source(CTX) as source, pytest.raises(DigestMismatchError):
        read_config(source, config_info(image))


def test_read_config_stops_at_the_size_cap(image_dir: Path, image: BuiltImage) -> None:
    big = b"{" + b" " * MAX_CONFIG_SIZE + b"}"
    digest = "sha256:" + Digest.from_bytes(big).hex
    (image_dir / digest[7:]).write_bytes(big)
    with parse_image_name(f"dir:{image_dir}").new_image_source(CTX) as source, pytest.raises(ToolkitError):
        read_config(source, BlobInfo(digest=Digest.parse(digest), size=-1))
