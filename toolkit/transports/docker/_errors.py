"""Registry error bodies (distribution `errcode` JSON) and the error classes of `docker://`.

Contract: bodies are untrusted: read at most 1 MiB, parsed leniently (anything unexpected
becomes the HTTP status text), and every message is passed through `safe_text` so a
hostile registry cannot write control sequences to a terminal.
"""

from __future__ import annotations

import json

from toolkit._record import record
from toolkit.errors import ImageNotFoundError, ManifestTypeRejectedError, RegistryError, RetryableError, safe_text

__all__ = [
    "ErrorEntry",
    "TransientRegistryError",
    "UnauthorizedError",
    "ManifestRejectedError",
    "parse_error_body",
    "describe_errors",
    "NON_RETRYABLE_CODES",
]

#: errcodes `--retry-times` must not retry (containers/common `pkg/retry`).
NON_RETRYABLE_CODES = frozenset({"UNAUTHORIZED", "DENIED", "NAME_UNKNOWN", "MANIFEST_UNKNOWN"})


class TransientRegistryError(RegistryError, RetryableError):
    """A registry failure that may succeed later (network, 5xx, 429, most errcodes)."""


class UnauthorizedError(RegistryError):
    """The registry refused our credentials (or needs some)."""


class ManifestRejectedError(RegistryError, ManifestTypeRejectedError):
    """The registry refused a manifest upload (the copy engine may try another format)."""


class RegistryNotFoundError(ImageNotFoundError):
    """MANIFEST_UNKNOWN / NAME_UNKNOWN / 404 for a manifest (exit 2)."""


@record
class ErrorEntry:
    """One entry of `{"errors": [...]}`."""

    code: str
    message: str


def parse_error_body(body: bytes) -> list[ErrorEntry]:
    """The errcode entries of a response body (empty if it is not errcode JSON)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    out: list[ErrorEntry] = []
    for entry in errors[:16]:
        if not isinstance(entry, dict):
            continue
        code = entry.get("code")
        message = entry.get("message")
        out.append(
            ErrorEntry(
                code=safe_text(code, 64) if isinstance(code, str) else "UNKNOWN",
                message=safe_text(message, 512) if isinstance(message, str) else "",
            )
        )
    return out


def describe_errors(entries: list[ErrorEntry], status: int, reason: str) -> str:
    """Human text as containers/image prints errcodes: `manifest unknown: manifest unknown`."""
    if not entries:
        if status == 401:
            return "unauthorized: authentication required"
        if status == 403:
            return "denied: requested access to the resource is denied"
        return f"received unexpected HTTP status: {status} {safe_text(reason, 64)}".rstrip()
    parts = []
    for entry in entries:
        code_text = entry.code.lower().replace("_", " ")
        parts.append(f"{code_text}: {entry.message}" if entry.message else code_text)
    return "; ".join(parts)
