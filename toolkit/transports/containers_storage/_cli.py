"""The `containers-storage` command (c/storage's own CLI) as skopo's layer writer.

Only layer creation and deletion go through it: `import-layer` is c/storage's `PutLayer`
(the same code `podman pull` runs: the `incomplete` flag protocol, the graph driver's
extraction of the untrusted tar with its whiteout, xattr and ownership rules, tar-split,
digests, locks), `delete-layer` / `delete-image` are `DeleteLayer` / `DeleteImage`.
Each call is one short process given the store's location explicitly (`StoreLocation
.cli_args`), so it opens exactly the store skopo resolved. skopo never holds a store lock
while the command runs (it takes the same locks itself).

The command prints c/storage's errors on stderr (and start-up errors on stdout); the first
non-empty line becomes a one-line `ToolkitError`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from toolkit.errors import NotSupportedError, ToolkitError, safe_text
from toolkit.transports.containers_storage._store import StoreLocation

__all__ = ["StorageCommand", "CLI_NAME", "find_cli"]

log = logging.getLogger(__name__)

CLI_NAME: Final = "containers-storage"


def find_cli() -> str | None:
    """The `containers-storage` binary on PATH."""
    return shutil.which(CLI_NAME)


class StorageCommand:
    """`containers-storage` bound to one store."""

    def __init__(self, location: StoreLocation) -> None:
        binary = find_cli()
        if binary is None:
            raise NotSupportedError(
                "writing to containers-storage needs the containers-storage command (Debian/Ubuntu/Fedora "
                f'package "containers-storage"), which skopo runs to create layers; "{CLI_NAME}" is not on PATH'
            )
        self._argv = [binary, *location.cli_args()]

    def _run(self, args: Sequence[str], what: str) -> str:
        argv = [*self._argv, *args]
        log.debug("running %s", " ".join(argv))
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        except OSError as exc:
            raise ToolkitError(f"{what}: running {CLI_NAME}: {exc.strerror or exc}") from exc
        if result.returncode != 0:
            raise ToolkitError(f"{what}: {_first_line(result.stderr) or _first_line(result.stdout) or 'failed'}")
        return result.stdout.decode("utf-8", "replace")

    def initialise(self) -> None:
        """Open the store once (c/storage creates its directories and lock files)."""
        self._run(["layers"], "containers-storage: initialising the store")

    def import_layer(self, layer_id: str, parent: str, diff: Path) -> None:
        """Create read-only layer `layer_id` on `parent` ("" for a base layer) from the
        tar in `diff` (compressed or not)."""
        args = ["import-layer", "--readonly", "--id", layer_id, "--file", str(diff)]
        if parent:
            args.append(parent)
        self._run(args, f"containers-storage: creating layer {layer_id}")

    def delete_layer(self, layer_id: str) -> None:
        self._run(["delete-layer", layer_id], f"containers-storage: deleting layer {layer_id}")

    def delete_image(self, image_id: str) -> None:
        self._run(["delete-image", image_id], f"containers-storage: deleting image {image_id}")


def _first_line(output: bytes) -> str:
    for line in output.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            return safe_text(line, 400)
    return ""
