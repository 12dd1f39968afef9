"""Plain frozen value types shared by every layer (stdlib only).

Contract: instances are immutable and hold only validated values (a `Digest` is always
valid). Options are keyword-only so call sites stay readable and new fields never shift
positional meaning.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from toolkit._record import field, record
from toolkit.digest import Digest

__all__ = [
    "BlobInfo",
    "Compression",
    "LayerCompression",
    "LayerCrypto",
    "Platform",
    "SystemContext",
    "Credentials",
    "OptionalBool",
    "TLSDetails",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


class Compression(enum.Enum):
    """Compression algorithm of a blob's bytes."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


class LayerCompression(enum.Enum):
    """What a destination wants done with layers (containers/image LayerCompression)."""

    PRESERVE = "preserve"
    COMPRESS = "compress"
    DECOMPRESS = "decompress"


class LayerCrypto(enum.Enum):
    """What a copy did to a layer's encryption (c/image `types.LayerCrypto`)."""

    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"


class OptionalBool(enum.Enum):
    """A tri-state flag: absent (use configuration) / true / false."""

    UNDEFINED = "undefined"
    TRUE = "true"
    FALSE = "false"

    @classmethod
    def of(cls, value: bool | None) -> OptionalBool:
        if value is None:
            return cls.UNDEFINED
        return cls.TRUE if value else cls.FALSE


@record(kw_only=True)
class BlobInfo:
    """A blob as described by a manifest descriptor (or learnt while copying).

    `digest` is None only for a blob whose digest is not known yet (a stream the
    destination must hash). `size` is -1 when unknown. `media_type` is the descriptor's
    media type ("" if none). `urls` are foreign-layer URLs (untrusted; never fetched
    unless a transport opts in). `compression` is what the copy engine knows of the
    bytes' compression (None: unknown / not determined). `crypto_operation` says the copy
    encrypted or decrypted the layer (None: left as it was), so its media type follows.
    """

    digest: Digest | None
    size: int = -1
    media_type: str = ""
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    compression: Compression | None = None
    crypto_operation: LayerCrypto | None = None


@record(kw_only=True)
class Platform:
    """An OCI platform (os/architecture/variant and the optional extras)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@record(kw_only=True)
class Credentials:
    """A username/password pair, or an identity token (username empty).

    `__repr__` never shows the secret.
    """

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


@record(kw_only=True)
class TLSDetails:
    """Base TLS settings of containers-tls-details.yaml(5), already validated and resolved
    to what Python's `ssl` module takes (`toolkit.config.tls_details` builds them).

    - `min_version`: the lowest TLS version allowed, `"1.0"` to `"1.3"` (None: skopo's
      default, TLS 1.2);
    - `ciphers`: OpenSSL names of the allowed TLS 1.0-1.2 cipher suites, for
      `SSLContext.set_ciphers` (None: the defaults). An empty tuple allows none of them,
      so only TLS 1.3 can be negotiated (its suites cannot be chosen, as in Go);
    - `group`: the one allowed named group (OpenSSL's short name, for
      `SSLContext.set_ecdh_curve`); None: the defaults.
    """

    min_version: str | None = None
    ciphers: tuple[str, ...] | None = None
    group: str | None = None


@record(kw_only=True)
class SystemContext:
    """Everything a transport may need to know about its environment, for one image.

    Paths that are None mean "use the default search" (done by `toolkit.config`); tests
    set them all to temporary paths. A `SystemContext` is built once per image by the CLI
    (with the `--src-*` or `--dest-*` flags) and passed down unchanged.
    """

    # Platform choice (--override-*).
    override_os: str = ""
    override_arch: str = ""
    override_variant: str = ""
    # Temporary files (--tmpdir); None: the platform default (/var/tmp).
    tmpdir: Path | None = None
    # Configuration locations.
    registries_d_path: Path | None = None
    registries_conf_path: Path | None = None
    auth_file_path: Path | None = None
    # Registry access.
    credentials: Credentials | None = None
    no_credentials: bool = False
    registry_token: str = ""
    cert_dir: Path | None = None
    tls_verify: OptionalBool = OptionalBool.UNDEFINED
    user_agent: str = ""
    # oci: shared blob directory (--src-shared-blob-dir / --dest-shared-blob-dir).
    oci_shared_blob_dir: Path | None = None
    oci_accept_uncompressed_layers: bool = False
    # docker-archive: extra RepoTags (--additional-tag), as normalised reference strings.
    docker_archive_additional_tags: tuple[str, ...] = ()
    # docker-daemon: engine endpoint (--src-daemon-host / --dest-daemon-host).
    daemon_host: str = ""
    # Upper bound on decompressed bytes from one compressed input (gzip-bomb guard);
    # None means the default budget of the component doing the decompression.
    max_decompressed_size: int | None = None
    # docker://: seconds without any byte from a registry before a read fails (idle-read
    # timeout; a trickling server cannot hang a copy). None: the transport's default (60 s).
    registry_read_timeout: float | None = None
    # docker://: TLS verification from a deprecated `--tls-verify` (the root-level one, or
    # copy's and sync's unprefixed one); `tls_verify` wins when defined. Registries only, as
    # skopeo: a docker daemon's TLS is never affected by it.
    deprecated_tls_verify: OptionalBool = OptionalBool.UNDEFINED
    # Base TLS settings (--tls-details, containers-tls-details.yaml(5)) for every TLS
    # connection (registries, docker daemons); None: the defaults.
    tls_details: TLSDetails | None = None
    # docker://: stream a layer without a known digest to a temporary file first, so that a
    # blob the registry already has is not uploaded again (--dest-precompute-digests).
    precompute_digests: bool = False
