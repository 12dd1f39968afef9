"""Signatures of registry images in "lookaside" storage (containers/image
`docker/docker_image_src.go` `getSignaturesFromLookaside`, `docker_image_dest.go`
`putSignaturesToLookaside`, `docker/registries_d.go` `lookasideStorageURL`).

Where they live is registries.d's answer (`toolkit.config.registries_d`: it only parses
and looks up; YAML is loaded only by commands that touch signatures); the I/O is here:
- `lookaside_signature_url` builds `<base>/<repo path without host>@<alg>=<hex>/signature-<index+1>`
  as containers/image does; the digest is a validated `Digest`, so its parts are safe in a
  path (CVE-2024-3727);
- reading (`read_lookaside_signatures`): `signature-1`, `signature-2`, ... until one is
  missing (404 / no file), at most `MAX_SIGNATURES` (128), each at most 4 MiB; `file://`
  through `read_file_lookaside` (regular files only, never through a symlink),
  `http(s)://` with a GET that never carries registry credentials;
- writing (`write_lookaside_signatures`): `file://` only, through `write_file_lookaside`
  (each file atomic: temp + fsync + rename; stale following signatures deleted); an
  http(s) write location is refused as containers/image refuses it. Only simple-signing
  signatures can be stored in a lookaside.

Contract: signature bytes are untrusted (verified by the policy layer). Raises
`SignatureError` / `NotSupportedError` / `ConfigError` / `TransientRegistryError`.
"""

from __future__ import annotations

import errno
import os
import stat
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

from toolkit.config.registries_d import load_registries_d
from toolkit.digest import Digest
from toolkit.errors import ConfigError, NotSupportedError, SignatureError, ToolkitError, safe_text
from toolkit.limits import MAX_SIGNATURE_SIZE, MAX_SIGNATURES, read_limited
from toolkit.reference import NamedReference
from toolkit.transports.docker._response import read_limited_body
from toolkit.types import SystemContext

__all__ = [
    "read_lookaside_signatures",
    "write_lookaside_signatures",
    "lookaside_signature_url",
    "read_file_lookaside",
    "write_file_lookaside",
]


def read_lookaside_signatures(
    ctx: SystemContext,
    ref: NamedReference,
    digest: Digest,
    http_get: Callable[[str], requests.Response],
) -> list[bytes]:
    """Signatures of the manifest `digest` of repository `ref`; [] if none are stored.

    `http_get(url)` fetches an http(s) URL without registry credentials.
    """
    base = load_registries_d(ctx).lookaside_read_url(ref)
    signatures: list[bytes] = []
    for index in range(MAX_SIGNATURES + 1):
        url = lookaside_signature_url(base, ref, digest, index)
        if index == MAX_SIGNATURES:
            # One more would be too many: check whether it exists.
            if _fetch_one(url, http_get) is not None:
                raise SignatureError(
                    f"server provided {MAX_SIGNATURES} signatures, assuming that's unreasonable and a server error"
                )
            break
        data = _fetch_one(url, http_get)
        if data is None:
            break
        signatures.append(data)
    return signatures


def _fetch_one(url: str, http_get: Callable[[str], requests.Response]) -> bytes | None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        # At most MAX_SIGNATURE_SIZE, regular files only: the helper enforces both.
        return read_file_lookaside(url)
    if scheme not in ("http", "https"):
        raise SignatureError(f"unsupported lookaside URL scheme in {safe_text(url)}")
    resp = http_get(url)
    if resp.status_code == 404:
        resp.close()
        return None
    if resp.status_code != 200:
        resp.close()
        raise SignatureError(f"reading signature from {safe_text(url)}: status {resp.status_code}")
    return read_limited_body(resp, MAX_SIGNATURE_SIZE, f"signature {safe_text(url)}")


def write_lookaside_signatures(
    ctx: SystemContext, ref: NamedReference, digest: Digest, signatures: Sequence[bytes]
) -> None:
    """Store `signatures` for manifest `digest` of `ref` in the configured lookaside."""
    base = load_registries_d(ctx).lookaside_write_url(ref)
    if not base.lower().startswith("file:"):
        raise NotSupportedError(
            f"Writing directly to a {safe_text(base.split(':', 1)[0])} lookaside {safe_text(base)} is not supported. "
            "Configure a lookaside-staging: location"
        )
    write_file_lookaside(base, ref, digest, list(signatures))


# ---------------------------------------------------------------- file:// storage


def lookaside_signature_url(base_url: str, ref: NamedReference, digest: Digest, index: int) -> str:
    """`<base>/<repo path>@<alg>=<hex>/signature-<index+1>` (the host is not in the path).

    `digest` is a validated `Digest`, so its parts are safe in a path (CVE-2024-3727).
    """
    if index < 0:
        raise ValueError("signature index must not be negative")
    parts = urllib.parse.urlsplit(base_url)
    path = f"{parts.path}/{ref.path}@{digest.algorithm}={digest.hex}/signature-{index + 1}"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _file_url_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        raise NotSupportedError(f"not a file:// URL: {safe_text(url)}")
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"file:// URL with a host is not supported: {safe_text(url)}")
    path = urllib.parse.unquote(parts.path)
    if not path.startswith("/") or "\0" in path:
        raise ConfigError(f"invalid file:// URL {safe_text(url)}")
    return path


def read_file_lookaside(url: str) -> bytes | None:
    """One signature from a `file://` URL: its bytes, or None if it does not exist.

    Only a regular file (not a symlink, FIFO or device) of at most 4 MiB is read; anything
    else raises `SignatureError`.
    """
    path = _file_url_path(url)
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SignatureError(f"signature {safe_text(path)}: is a symbolic link") from exc
        raise SignatureError(f"reading signature {safe_text(path)}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SignatureError(f"signature {safe_text(path)}: not a regular file")
        os.set_blocking(f.fileno(), True)
        return read_limited(f, MAX_SIGNATURE_SIZE, f"signature {safe_text(path)}")


def write_file_lookaside(base_url: str, ref: NamedReference, digest: Digest, signatures: Sequence[bytes]) -> None:
    """Store `signatures` (simple-signing blobs) as `signature-1..N` under a `file://` base.

    Each file is written atomically (temp + fsync + rename; directories 0755, files 0644);
    then `signature-N+1`, `N+2`, ... are deleted until one is missing, as containers/image
    does. Only simple-signing signatures can live in a lookaside (`SignatureError`).
    """
    from toolkit.signature import SimpleSigning, parse_signature_blob  # only when signatures are written

    raw: list[bytes] = []
    for number, blob in enumerate(signatures, start=1):
        parsed = parse_signature_blob(blob)
        if not isinstance(parsed, SimpleSigning):
            raise SignatureError(
                f"signature {number}: {parsed.format_name} signatures cannot be stored in a lookaside "
                "(only simple signing)"
            )
        raw.append(parsed.untrusted_blob)
    # Imported here: only a write needs it, and it costs a registry read ~6 ms (ctypes).
    from toolkit.safefile import make_dirs
    from toolkit.transports._fs import atomic_write_bytes

    try:
        for index, data in enumerate(raw):
            target = Path(_file_url_path(lookaside_signature_url(base_url, ref, digest, index)))
            make_dirs(target.parent, 0o755)
            atomic_write_bytes(target, data, mode=0o644)
        index = len(raw)
        while True:
            path = _file_url_path(lookaside_signature_url(base_url, ref, digest, index))
            try:
                os.unlink(path)
            except FileNotFoundError:
                break
            index += 1
    except OSError as exc:
        raise _write_error(base_url, exc) from exc
    except ToolkitError as exc:
        if not isinstance(exc.__cause__, OSError):
            raise
        # `_fs` wraps the OSError naming the file; name the lookaside, as for the other steps.
        raise _write_error(base_url, exc.__cause__) from exc


def _write_error(base_url: str, exc: OSError) -> SignatureError:
    return SignatureError(f"writing signatures to {safe_text(base_url)}: {exc.strerror or exc}")
