"""Signatures of registry images in "lookaside" storage configured by registries.d.

The registries.d model lives in `toolkit.config.registries_d` (another component). This
module only bridges to it, so that the docker transport keeps working (without
signatures) while that component is absent:
- reading: `signature-1`, `signature-2`, ... until one is missing (404 / no file), at most
  `MAX_SIGNATURES` (128), each at most 4 MiB; `file://` through the registries.d helper,
  `http(s)://` with a GET that never carries registry credentials;
- writing: `file://` only, through the helper; an http(s) write location is refused as
  containers/image refuses it.

Contract: signature bytes are untrusted (verified by the policy layer). Raises
`SignatureError` / `NotSupportedError` / `TransientRegistryError`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import requests

from toolkit.digest import Digest
from toolkit.errors import NotSupportedError, SignatureError, safe_text
from toolkit.limits import MAX_SIGNATURE_SIZE, MAX_SIGNATURES
from toolkit.reference import NamedReference
from toolkit.transports.docker._client import read_limited_body
from toolkit.types import SystemContext

__all__ = ["registries_d_module", "read_lookaside_signatures", "write_lookaside_signatures", "lookaside_configured"]

log = logging.getLogger(__name__)

_MODULE = "toolkit.config.registries_d"


def registries_d_module() -> ModuleType | None:
    """`toolkit.config.registries_d`, or None if this build does not have it yet."""
    try:
        return importlib.import_module(_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == _MODULE:
            return None
        raise


def _config(ctx: SystemContext) -> Any:
    module = registries_d_module()
    if module is None:
        return None
    return module.load_registries_d(ctx)


def lookaside_configured(ctx: SystemContext) -> bool:
    """True if signatures can be stored for docker images in this build."""
    return registries_d_module() is not None


def read_lookaside_signatures(
    ctx: SystemContext,
    ref: NamedReference,
    digest: Digest,
    http_get: Callable[[str], requests.Response],
) -> list[bytes]:
    """Signatures of the manifest `digest` of repository `ref`; [] if none are configured.

    `http_get(url)` fetches an http(s) URL without registry credentials.
    """
    module = registries_d_module()
    if module is None:
        log.debug("registries.d support is not available; no lookaside signatures are read")
        return []
    config = module.load_registries_d(ctx)
    base = config.lookaside_read_url(ref)
    if not base:
        return []
    signatures: list[bytes] = []
    for index in range(MAX_SIGNATURES + 1):
        url: str = module.lookaside_signature_url(base, ref, digest, index)
        if index == MAX_SIGNATURES:
            # One more would be too many: check whether it exists.
            if _fetch_one(module, url, http_get) is not None:
                raise SignatureError(
                    f"server provided {MAX_SIGNATURES} signatures, assuming that's unreasonable and a server error"
                )
            break
        data = _fetch_one(module, url, http_get)
        if data is None:
            break
        signatures.append(data)
    return signatures


def _fetch_one(module: ModuleType, url: str, http_get: Callable[[str], requests.Response]) -> bytes | None:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        data = module.read_file_lookaside(url)
        if data is not None and len(data) > MAX_SIGNATURE_SIZE:
            raise SignatureError(f"signature {safe_text(url)} is larger than {MAX_SIGNATURE_SIZE} bytes")
        return data if data is None else bytes(data)
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
    module = registries_d_module()
    if module is None:
        raise NotSupportedError(
            "storing signatures for docker images needs registries.d (lookaside) support, "
            "which this build does not have"
        )
    config = module.load_registries_d(ctx)
    base = config.lookaside_write_url(ref)
    if not base:
        raise NotSupportedError(f"no lookaside location is configured for {safe_text(str(ref))}")
    if not base.lower().startswith("file:"):
        raise NotSupportedError(
            f"Writing directly to a {safe_text(base.split(':', 1)[0])} lookaside {safe_text(base)} is not supported. "
            "Configure a lookaside-staging: location"
        )
    module.write_file_lookaside(base, ref, digest, list(signatures))
