"""The `sif:` transport: Singularity / Apptainer image files, read only (containers/image `sif/`).

`sif:PATH` names a SIF file. Opening it as a source does what c/image `sif/src.go` does:

- load the header and descriptors (`_format`: every offset and size checked against the
  file; "loading SIF file: ..." errors);
- take the definition file object, if there is exactly one, and keep its `%environment`
  and `%runscript` sections as a script at `/podman/runscript`, which becomes the command
  (`_deffile`; without them the command is `bash`);
- take the one primary system partition (a squashfs) and turn it into one uncompressed
  layer tar, streamed, never extracted (`_squashfs`; "converting rootfs from SquashFS to
  Tarball: ..." errors);
- serve an OCI manifest and config built as c/image builds them, byte for byte: `created`
  = the header's modification time (Go `time.Unix`, local zone), `architecture` = the
  header's architecture (`unknown` for an unknown code), `os` = `linux`, `Cmd`, one diffID,
  and the two history entries (`ADD file:<hex> in /` with `imported from SIF, uuid: <uuid>`;
  `CMD ["bash"]`, which c/image writes whatever the command is).

The layer is c/image's in content, not in bytes: c/image's tar (GNU tar under fakeroot) is
not reproducible even by c/image (it stamps `./` and `./podman/` with the conversion time),
skopo's is (sqfs2tar; the added entries carry the SIF's modification time). So the layer,
config and manifest digests differ from skopeo's; the config differs only in the diffID.

Policy: the identity is the file's absolute path with symlinks resolved, the namespaces its
parent directories (as `dir:`); no docker reference, no signatures, no lists. Writing and
deleting are refused with c/image's messages.

The source needs a temp copy of the squashfs partition (see `_squashfs`) and runs sqfs2tar
twice (once to learn the layer's digest, once for the copy). Nothing is left behind.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from dataclasses import dataclass
from typing import Final, NoReturn

from toolkit.digest import CHUNK_SIZE, Digest, HashingReader, VerifyingReader
from toolkit.errors import (
    ArchiveError,
    ImageNotFoundError,
    InvalidImageNameError,
    ManifestError,
    NotSupportedError,
    SizeLimitError,
    ToolkitError,
    safe_text,
)
from toolkit.manifest import mime
from toolkit.manifest.gojson import GoStruct, GoTime, marshal, quote
from toolkit.transports._fs import wrap_os_error
from toolkit.transports._path_scope import PathReferenceMixin, resolve_existing_path, validate_path_scope
from toolkit.transports.base import BlobStream, ImageSourceBase
from toolkit.transports.sif._deffile import DefFileCommand, command_from_deffile
from toolkit.transports.sif._format import SIFImage, load
from toolkit.transports.sif._squashfs import CONVERTING, SquashfsLayer
from toolkit.types import BlobInfo, SystemContext

__all__ = ["TRANSPORT", "SifTransport", "SifReference", "SifImageSource"]

log = logging.getLogger(__name__)

_NAME: Final = "sif"
_LOADING: Final = "loading SIF file"
#: Largest definition file object read (they are a few KiB; c/image has no limit).
MAX_DEFFILE_SIZE: Final = 16 << 20


@dataclass(frozen=True, slots=True)
class SifTransport:
    """The `sif` transport (source only)."""

    name: str = _NAME

    def parse_reference(self, reference: str) -> SifReference:
        """`reference` is a file path; it need not exist yet (its parent must, as for `dir:`)."""
        if not reference:
            raise InvalidImageNameError("sif: an empty path is not a valid image location")
        return SifReference(reference, resolve_existing_path(reference))

    def validate_policy_configuration_scope(self, scope: str) -> None:
        validate_path_scope(scope)


TRANSPORT = SifTransport()


@dataclass(frozen=True, slots=True)
class SifReference(PathReferenceMixin):
    """A `sif:` image; `path` as given, `resolved_path` absolute and symlink-free (policy)."""

    path: str
    resolved_path: str

    @property
    def transport(self) -> SifTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return self.path

    def new_image_source(self, ctx: SystemContext) -> SifImageSource:
        return SifImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> NoReturn:
        raise NotSupportedError('"sif:" locations can only be read from, not written to')

    def delete_image(self, ctx: SystemContext) -> None:
        raise NotSupportedError("Deleting images not implemented for sif: images")

    def __str__(self) -> str:
        return f"{_NAME}:{self.path}"


def _open_sif(path: str) -> int:
    """A read-only fd of the SIF file (symlinks followed); refuses what is not a regular file."""
    shown = safe_text(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{_LOADING}: open {shown}: no such file or directory") from exc
    except OSError as exc:
        raise wrap_os_error(exc, f"{_LOADING}: open {shown}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ArchiveError(f"{_LOADING}: {shown} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_deffile(fd: int, image: SIFImage) -> DefFileCommand:
    desc = image.definition_file()
    if desc is None:
        return command_from_deffile(None)
    if desc.size > MAX_DEFFILE_SIZE:
        raise SizeLimitError(
            f"reading SIF definition file object: {desc.size} bytes exceed the limit of {MAX_DEFFILE_SIZE} bytes"
        )
    data = os.pread(fd, desc.size, desc.offset)
    if len(data) != desc.size:
        raise ArchiveError("reading SIF definition file object: unexpected EOF")
    return command_from_deffile(data)


class SifImageSource(ImageSourceBase):
    """The image of one SIF file. Construction does the whole conversion once (to learn the
    layer digest), as c/image does; see the module doc. Raises `ImageNotFoundError` for a
    missing file and other `ToolkitError`s (one line each) for anything else."""

    has_thread_safe_get_blob = True

    def __init__(self, ref: SifReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._layer: SquashfsLayer | None = None
        fd = _open_sif(ref.path)
        try:
            self._build(fd, ctx)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(fd)

    def _build(self, fd: int, ctx: SystemContext) -> None:
        try:
            image = load(fd)
        except ArchiveError as exc:
            raise ArchiveError(f"{_LOADING}: {exc.message}") from exc
        except OSError as exc:
            raise wrap_os_error(exc, f"{_LOADING}: reading {safe_text(self._ref.path)}") from exc
        header = image.header
        try:
            command = _read_deffile(fd, image)
            partition = image.primary_partition()
        except ToolkitError as exc:
            raise type(exc)(f"{CONVERTING}: {exc.message}") from exc
        except OSError as exc:
            raise wrap_os_error(exc, f"{CONVERTING}: reading {safe_text(self._ref.path)}") from exc
        try:
            created = GoTime.from_unix(header.modified_at)
        except ManifestError as exc:
            raise ManifestError(
                f"generating configuration blob for {quote(safe_text(self._ref.resolved_path))}: {exc.message}"
            ) from exc
        try:
            self._layer = SquashfsLayer(fd, partition, command.script, header.modified_at, ctx)
        except OSError as exc:
            raise wrap_os_error(exc, f"{CONVERTING}: reading {safe_text(self._ref.path)}") from exc
        log.debug("Computing a digest of the SIF conversion output...")
        with self._layer.open() as stream:
            hashing = HashingReader(stream)
            while hashing.read(CHUNK_SIZE):
                pass
        self._layer_digest = hashing.digest()
        self._layer_size = hashing.size
        self._config = marshal(
            GoStruct(
                [
                    ("created", created),
                    ("architecture", header.arch),
                    ("os", "linux"),
                    ("config", GoStruct([("Cmd", [command.command])])),
                    ("rootfs", GoStruct([("type", "layers"), ("diff_ids", [str(self._layer_digest)])])),
                    (
                        "history",
                        [
                            GoStruct(
                                [
                                    ("created", created),
                                    ("created_by", f"/bin/sh -c #(nop) ADD file:{self._layer_digest.hex} in /"),
                                    ("comment", f"imported from SIF, uuid: {header.id}"),
                                ]
                            ),
                            GoStruct(
                                [
                                    ("created", created),
                                    ("created_by", '/bin/sh -c #(nop) CMD ["bash"]'),
                                    ("empty_layer", True),
                                ]
                            ),
                        ],
                    ),
                ]
            )
        )
        self._config_digest = Digest.from_bytes(self._config)
        self._manifest = marshal(
            GoStruct(
                [
                    ("schemaVersion", 2),
                    ("mediaType", mime.OCI_MANIFEST),
                    (
                        "config",
                        GoStruct(
                            [
                                ("mediaType", mime.OCI_CONFIG),
                                ("digest", str(self._config_digest)),
                                ("size", len(self._config)),
                            ]
                        ),
                    ),
                    (
                        "layers",
                        [
                            GoStruct(
                                [
                                    ("mediaType", mime.OCI_LAYER),
                                    ("digest", str(self._layer_digest)),
                                    ("size", self._layer_size),
                                ]
                            )
                        ],
                    ),
                ]
            )
        )

    @property
    def reference(self) -> SifReference:
        return self._ref

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        if instance_digest is not None:
            raise ManifestError("manifest lists are not supported by the sif transport")
        return self._manifest, mime.OCI_MANIFEST

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest == self._config_digest:
            size = len(self._config)
            return VerifyingReader(io.BytesIO(self._config), self._config_digest, size, "config"), size
        if info.digest == self._layer_digest and self._layer is not None:
            stream = self._layer.open()
            return VerifyingReader(stream, self._layer_digest, self._layer_size, "SIF layer"), self._layer_size
        raise ImageNotFoundError(f"no blob with digest {quote(str(info.digest))} found")

    def close(self) -> None:
        if self._layer is not None:
            self._layer.close()
            self._layer = None
