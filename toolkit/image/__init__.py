"""Images as the copy engine and the policy see them (layer 5).

`UnparsedImage` is one image (or list) of a source, with its manifest bytes pinned: the
manifest is read once, and when a digest is expected (a list instance, or a reference by
digest) the bytes MUST hash to it (CVE-2014-8179: digest and parse the same bytes).
`read_config` fetches an image config with a size cap and digest check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.digest import Digest
from toolkit.errors import DigestMismatchError, ToolkitError
from toolkit.limits import MAX_CONFIG_SIZE, read_limited
from toolkit.manifest import guess_mime_type, manifest_digest
from toolkit.manifest.mime import ALL_MANIFEST_TYPES, normalize_mime
from toolkit.types import BlobInfo

if TYPE_CHECKING:  # annotations only
    from toolkit.reference import NamedReference
    from toolkit.transports.base import ImageReference, ImageSource

__all__ = ["UnparsedImage", "read_config"]


class UnparsedImage:
    """One manifest (image or list) of `source`, fetched lazily and cached.

    `instance_digest` selects a list instance (None: the top level). For the top level of
    a reference that carries a digest (`docker_reference()` with a digest), the bytes are
    checked against it.
    """

    def __init__(self, source: ImageSource, instance_digest: Digest | None = None) -> None:
        self.source = source
        self.instance_digest = instance_digest
        self._manifest: tuple[bytes, str] | None = None
        self._signatures: list[bytes] | None = None

    @property
    def reference(self) -> ImageReference:
        return self.source.reference

    def docker_reference(self) -> NamedReference | None:
        return self.source.reference.docker_reference()

    def manifest(self) -> tuple[bytes, str]:
        """The exact manifest bytes and their normalised MIME type."""
        if self._manifest is None:
            raw, mime = self.source.get_manifest(self.instance_digest)
            expected = self.instance_digest
            if expected is None:
                ref = self.docker_reference()
                expected = ref.digest if ref is not None else None
            if expected is not None and manifest_digest(raw, expected.algorithm) != expected:
                raise DigestMismatchError(
                    f"Manifest does not match provided manifest digest {expected}"
                )
            if mime not in ALL_MANIFEST_TYPES:
                mime = guess_mime_type(raw) if not mime else normalize_mime(mime)
            self._manifest = (raw, mime)
        return self._manifest

    def manifest_digest(self) -> Digest:
        """Digest of the manifest bytes (schema1: of the JWS payload)."""
        raw, _ = self.manifest()
        return manifest_digest(raw)

    def signatures(self) -> list[bytes]:
        """The image's signatures (raw blobs), fetched once."""
        if self._signatures is None:
            self._signatures = list(self.source.get_signatures(self.instance_digest))
        return self._signatures


def read_config(source: ImageSource, info: BlobInfo) -> bytes:
    """Read and verify a config blob (at most 4 MiB)."""
    if info.digest is None:
        raise ToolkitError("image config has no digest")
    if info.size > MAX_CONFIG_SIZE:
        raise ToolkitError(f"image config {info.digest} is too large ({info.size} bytes)")
    stream, _ = source.get_blob(info)
    try:
        data = read_limited(stream, MAX_CONFIG_SIZE, f"config {info.digest}")  # type: ignore[arg-type]
    finally:
        stream.close()
    if not info.digest.matches(data):
        raise DigestMismatchError(f"Download config.json digest {info.digest} does not match expected")
    if info.size >= 0 and len(data) != info.size:
        raise DigestMismatchError(f"config {info.digest}: size {len(data)} does not match expected {info.size}")
    return data
