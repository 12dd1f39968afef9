"""Images moved through a transport's own source and destination API, as the copy engine
moves them: for the tests of one transport (oci:, oci-archive: ...).

- `blob_info(digest, size)`: a `BlobInfo` from a digest string.
- `put_image(ref, image, *, ctx, infos)`: every blob, the list instances (for an index) and
  the top manifest through `new_image_destination`, then `commit()`. `infos` says what the
  destination is told about each blob: `"known"` (digest and size), `"no-size"` (digest
  only) or `"no-digest"` (nothing). Each stored blob must come back with its digest and size.
- `read_image(ref, ctx)`: the top manifest and every config/layer blob of a single image
  through `new_image_source`, each blob's size checked against the manifest and the source.
- `exploding(good)`: a stream that yields `good`, then raises `ToolkitError("source died")`
  (a source failing mid-blob).
"""

from __future__ import annotations

import io
import json
from typing import BinaryIO, Literal, cast

from helpers.images import BuiltImage, BuiltIndex
from toolkit.digest import Digest
from toolkit.errors import ToolkitError
from toolkit.transports.base import ImageReference
from toolkit.types import BlobInfo, SystemContext

__all__ = ["BlobInfos", "Exploding", "blob_info", "exploding", "put_image", "read_image"]

BlobInfos = Literal["known", "no-size", "no-digest"]


def blob_info(digest: str, size: int) -> BlobInfo:
    """A `BlobInfo` with a known digest (parsed from `digest`) and size."""
    return BlobInfo(digest=Digest.parse(digest), size=size)


def put_image(
    ref: ImageReference,
    image: BuiltImage | BuiltIndex,
    *,
    ctx: SystemContext | None = None,
    infos: BlobInfos = "known",
) -> None:
    """Write `image` through `ref`'s destination and commit (see the module doc)."""
    with ref.new_image_destination(ctx or SystemContext()) as dest:
        for digest, data in image.blobs().items():
            if infos == "known":
                info = blob_info(digest, len(data))
            elif infos == "no-size":
                info = BlobInfo(digest=Digest.parse(digest))
            else:
                info = BlobInfo(digest=None)
            stored = dest.put_blob(io.BytesIO(data), info)
            assert (str(stored.digest), stored.size) == (digest, len(data))
        if isinstance(image, BuiltIndex):
            for instance in image.images:
                dest.put_manifest(instance.manifest, instance.media_type, Digest.parse(instance.manifest_digest))
        dest.put_manifest(image.manifest, image.media_type)
        dest.commit()


def read_image(ref: ImageReference, ctx: SystemContext | None = None) -> tuple[bytes, str, dict[str, bytes]]:
    """(top manifest bytes, its MIME type, {digest: blob bytes}) of a single image at `ref`."""
    with ref.new_image_source(ctx or SystemContext()) as src:
        raw, mime_type = src.get_manifest()
        doc = json.loads(raw)
        blobs = {}
        for d in [doc["config"], *doc["layers"]]:
            stream, size = src.get_blob(blob_info(d["digest"], d["size"]))
            try:
                data = stream.read()
            finally:
                stream.close()
            assert size == len(data) == d["size"]
            blobs[d["digest"]] = data
    return raw, mime_type, blobs


class Exploding(io.RawIOBase):
    """A stream that yields `good` bytes and then raises."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._good.read(n)
        if not data:
            raise ToolkitError("source died")
        return data


def exploding(good: bytes) -> BinaryIO:
    """An `Exploding` stream, typed as the binary stream `put_blob` takes."""
    return cast(BinaryIO, Exploding(good))
