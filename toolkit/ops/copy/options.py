"""What a copy is asked to do, and what it reports back (c/image `copy/copy.go` `Options`).

`CopyOptions` is frozen and keyword-only; its defaults are `skopeo copy` without flags.
Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from toolkit._record import field, record
from toolkit.digest import Digest
from toolkit.manifest.platform import PlatformFilter
from toolkit.ops.report import NullReporter, Reporter
from toolkit.reference import NamedReference
from toolkit.types import Compression, LayerCompression, SystemContext

if TYPE_CHECKING:
    # Annotations only: `toolkit.crypt` is imported by the copies that encrypt or decrypt.
    from toolkit.crypt import DecryptConfig, EncryptConfig

__all__ = ["DEFAULT_PARALLEL_COPIES", "Signer", "MultiArch", "CopyOptions", "CopyResult"]

#: Layers copied at once when both ends allow it (c/image's default).
DEFAULT_PARALLEL_COPIES = 6

#: Makes a signature: called with (the manifest bytes written, the docker identity to sign
#: for) and returns the signature in the containers/image blob format.
Signer = Callable[[bytes, NamedReference | None], bytes]


class MultiArch(enum.Enum):
    """What to copy from a manifest list (`--multi-arch`).

    `PLATFORMS`: only the instances `CopyOptions.platforms` selects (c/image
    `CopySpecificImages`), with the attestation manifests that describe them.
    """

    SYSTEM = "system"
    ALL = "all"
    INDEX_ONLY = "index-only"
    PLATFORMS = "platforms"


@record(kw_only=True)
class CopyOptions:
    """How to copy. Defaults match `skopeo copy` without flags."""

    source_ctx: SystemContext = field(default_factory=SystemContext)
    dest_ctx: SystemContext = field(default_factory=SystemContext)
    reporter: Reporter = field(default_factory=NullReporter)
    remove_signatures: bool = False
    #: Signers called for each written image (`--sign-by`, `--sign-by-sigstore*`).
    signers: tuple[Signer, ...] = ()
    sign_identity: NamedReference | None = None
    #: `--format`: the only manifest type allowed at the destination.
    forced_manifest_mime: str | None = None
    multi_arch: MultiArch = MultiArch.SYSTEM
    #: With `MultiArch.PLATFORMS`: the platforms to copy (at least one).
    platforms: tuple[PlatformFilter, ...] = ()
    #: Write a list holding only what was copied (else the other entries stay, dangling).
    strip_removed_platforms: bool = False
    #: Do not copy the list's own signatures (per-instance signatures are kept).
    remove_list_signatures: bool = False
    preserve_digests: bool = False
    #: `--referrers`: also copy what refers to the image (OCI 1.1 subject; cosign tags).
    copy_referrers: bool = False
    #: `--dest-compress` / `--dest-decompress`; None keeps the destination's preference.
    layer_compression: LayerCompression | None = None
    compression_format: Compression | None = None
    #: With `compression_format` ZSTD: write zstd:chunked (`--dest-compress-format zstd:chunked`).
    zstd_chunked: bool = False
    compression_level: int | None = None
    #: `--dest-force-compress-format`: only blobs in `compression_format` end up at the
    #: destination; a blob the destination already has in another format is not reused
    #: (c/image `ForceCompressionFormat`). Without it, such a blob is reused as it is.
    force_compression_format: bool = False
    parallel_copies: int = DEFAULT_PARALLEL_COPIES
    #: `--encryption-key`: encrypt layers for these recipients (OCI manifests only).
    encryption: EncryptConfig | None = None
    #: `--encrypt-layer`: which layers (0-based, negative from the end); None: all of them.
    encrypt_layers: tuple[int, ...] | None = None
    #: `--decryption-key`: decrypt every encrypted layer with these keys.
    decryption: DecryptConfig | None = None


@record
class CopyResult:
    """What was written at the destination's top level."""

    manifest: bytes
    manifest_mime: str
    manifest_digest: Digest
