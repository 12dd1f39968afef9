"""`layers` (deprecated in skopeo, hidden): an image's blobs and manifest in a new `dir:` folder.

skopeo `cmd/skopeo/layers.go`: `layers IMAGE [DIGEST...]` creates `./layers-XXXXXX` (a
fresh directory in the current one) and writes there, in the `dir:` layout, either the
named blobs (a digest without an algorithm is `sha256:`) or every layer of the image (each
distinct digest once, in manifest order) and its config, then the manifest. For a
multi-architecture image the blobs are those of the instance for this platform (as for
`inspect`), but the manifest written is the list itself, as skopeo writes it (c/image's
`Image.Manifest()` is the top-level one). Every blob is verified as it is copied.

`download_layers(ref, ctx, digests, parent=...)` returns the new directory. Nothing is left
behind on failure (skopeo leaves a partial directory). Raises what the transports raise,
`InvalidDigestError` for a malformed digest (before anything is read), `ToolkitError`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, cast

from toolkit.digest import Digest
from toolkit.errors import ToolkitError
from toolkit.manifest import parse_manifest
from toolkit.ops.inspect import chosen_instance
from toolkit.transports import parse_image_name
from toolkit.transports.base import ImageReference
from toolkit.types import BlobInfo, SystemContext

__all__ = ["download_layers", "parse_layer_digests"]

log = logging.getLogger(__name__)


def parse_layer_digests(texts: Sequence[str]) -> list[Digest]:
    """The digests named on the command line (`sha256:` added when no algorithm is given)."""
    return [Digest.parse(t if t.startswith("sha256:") else f"sha256:{t}") for t in texts]


def _make_directory(parent: Path) -> Path:
    """Go `os.MkdirTemp(parent, "layers-")`: `layers-` and a random number, mode 0700."""
    for _ in range(10000):
        target = parent / f"layers-{secrets.randbelow(1 << 32)}"
        try:
            target.mkdir(mode=0o700)
            return target
        except FileExistsError:
            continue
        except OSError as exc:
            raise ToolkitError(f"creating {target}: {exc.strerror or exc}") from exc
    raise ToolkitError(f"creating a layers-* directory in {parent}: every name tried exists")


def download_layers(
    ref: ImageReference, ctx: SystemContext, digests: Sequence[Digest], *, parent: Path | None = None
) -> Path:
    """Copy the blobs (`digests`, or all layers and the config) and the manifest of `ref`'s
    image for this platform into a new `layers-*` directory under `parent` (default: the
    current directory); return that directory."""
    with ref.new_image_source(ctx) as source:
        image, _top = chosen_instance(source, ctx)
        blobs: list[tuple[BlobInfo, bool]] = [(BlobInfo(digest=d, size=-1), False) for d in digests]
        if not digests:
            view = parse_manifest(*image.manifest())
            seen: set[Digest] = set()
            for layer in view.layer_infos():
                if layer.digest is not None and layer.digest not in seen:
                    seen.add(layer.digest)
                    blobs.append((BlobInfo(digest=layer.digest, size=-1), False))
            config = view.config_info()
            if config.digest is not None:
                blobs.append((BlobInfo(digest=config.digest, size=-1), True))
        target = _make_directory(parent if parent is not None else Path.cwd())
        try:
            with parse_image_name(f"dir:{target}").new_image_destination(ctx) as dest:
                for info, is_config in blobs:
                    stream, size = source.get_blob(info)
                    try:
                        # The verifying stream raises at EOF on a mismatch (skopeo main: "corrupt blob").
                        dest.put_blob(
                            cast(BinaryIO, stream), BlobInfo(digest=info.digest, size=size), is_config=is_config
                        )
                    finally:
                        stream.close()
                # c/image's image.Manifest(): the top-level manifest (a list stays a list).
                dest.put_manifest(*source.get_manifest())
                dest.commit()
            target.chmod(0o700)  # the dir: writer swaps in its own (0755) staging directory
        except (ToolkitError, OSError, KeyboardInterrupt):
            shutil.rmtree(target, ignore_errors=True)
            raise
    log.info("wrote %s", target)
    return target
