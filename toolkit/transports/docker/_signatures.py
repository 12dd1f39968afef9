"""Signatures of registry images in "lookaside" storage configured by registries.d.

Where they live comes from registries.d (`toolkit.config.registries_d`, imported on first
use so that YAML is loaded only by commands that touch signatures):
- reading: `signature-1`, `signature-2`, ... until one is missing (404 / no file), at most
  `MAX_SIGNATURES` (128), each at most 4 MiB; `file://` through the registries.d helper,
  `http(s)://` with a GET that never carries registry credentials;
- writing: `file://` only, through the helper; an http(s) write location is refused as
  containers/image refuses it.

Contract: signature bytes are untrusted (verified by the policy layer). Raises
`SignatureError` / `NotSupportedError` / `TransientRegistryError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import requests

from toolkit.digest import Digest
from toolkit.errors import NotSupportedError, SignatureError, safe_text
from toolkit.limits import MAX_SIGNATURE_SIZE, MAX_SIGNATURES
from toolkit.reference import NamedReference
from toolkit.transports.docker._response import read_limited_body
from toolkit.types import SystemContext

__all__ = ["read_lookaside_signatures", "write_lookaside_signatures"]



def read_lookaside_signatures(
    ctx: SystemContext,
    ref: NamedReference,
    digest: Digest,
    http_get: Callable[[str], requests.Response],
) -> list[bytes]:
    """Signatures of the manifest `digest` of repository `ref`; [] if none are stored.

    `http_get(url)` fetches an http(s) URL without registry credentials.
    """
    from toolkit.config.registries_d import load_registries_d, lookaside_signature_url

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
        from toolkit.config.registries_d import read_file_lookaside

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
    from toolkit.config.registries_d import load_registries_d, write_file_lookaside

    base = load_registries_d(ctx).lookaside_write_url(ref)
    if not base.lower().startswith("file:"):
        raise NotSupportedError(
            f"Writing directly to a {safe_text(base.split(':', 1)[0])} lookaside {safe_text(base)} is not supported. "
            "Configure a lookaside-staging: location"
        )
    write_file_lookaside(base, ref, digest, list(signatures))
