"""Reading registry responses: capped bodies, `Content-Length`, typed errors.

Shared by the HTTP client (`_client`) and the token fetch (`_auth`), so neither imports
the other's module for them. Everything here treats the response as untrusted:
- bodies are read raw (never decoded by the library) and refused past a size cap
  (`SizeLimitError`, security.md row 2); a broken connection is a `TransientRegistryError`;
- `Content-Length` must be a single non-negative integer (repeated equal values allowed);
- error bodies are read with the 1 MiB cap and classified: `UnauthorizedError` for 401 or
  UNAUTHORIZED, `TransientRegistryError` for 429/502/503/504 and errcodes other than
  UNAUTHORIZED, DENIED, NAME_UNKNOWN, MANIFEST_UNKNOWN, `RegistryError` otherwise; server
  text goes through `safe_text` (`_errors`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from toolkit.errors import CommandTimeoutError, RegistryError, SizeLimitError, ToolkitError, safe_text
from toolkit.limits import MAX_ERROR_BODY_SIZE
from toolkit.transports.docker._errors import (
    NON_RETRYABLE_CODES,
    TransientRegistryError,
    UnauthorizedError,
    describe_errors,
    parse_error_body,
)
from toolkit.transports.docker._neterr import network_error

__all__ = ["Response", "read_limited_body", "error_from_response", "check_content_length", "unauthorized_text"]

Response = requests.Response



def read_limited_body(resp: Response, limit: int, what: str) -> bytes:
    """Read a whole (raw, undecoded) body, refusing more than `limit` bytes. Closes `resp`."""
    try:
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = resp.raw.read(min(1 << 20, limit + 1 - total), decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise SizeLimitError(f"reading {what}: exceeded maximum allowed size of {limit} bytes")
        return b"".join(chunks)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        host = urlsplit(resp.url or "").netloc or "the registry"
        error = network_error(exc, host, read_timeout=0, connect_timeout=0)
        if isinstance(error, CommandTimeoutError):
            raise error from exc
        raise TransientRegistryError(f"reading {what}: {error}") from exc
    finally:
        resp.close()


def error_from_response(resp: Response, what: str) -> RegistryError:
    """A typed error for an unexpected response (body read with the 1 MiB cap)."""
    try:
        body = read_limited_body(resp, MAX_ERROR_BODY_SIZE, "error body")
    except ToolkitError:
        body = b""
    entries = parse_error_body(body)
    text = f"{what}: {describe_errors(entries, resp.status_code, resp.reason or '')}"
    codes = frozenset(e.code for e in entries)
    err: RegistryError
    if resp.status_code == 401 or "UNAUTHORIZED" in codes:
        err = UnauthorizedError(unauthorized_text(resp, text))
    elif resp.status_code in (429, 502, 503, 504) or (entries and not codes & NON_RETRYABLE_CODES):
        err = TransientRegistryError(text)
    else:
        err = RegistryError(text)
    err.codes = codes
    return err


def unauthorized_text(resp: Response, text: str) -> str:
    """`text`, plus which credentials were refused when the client noted it (`auth_note`)."""
    note = getattr(resp, "auth_note", "")
    return f"{text} ({note})" if note else text


def check_content_length(resp: Response) -> int:
    """The response's Content-Length (-1 if absent); raises `RegistryError` if malformed."""
    values = resp.raw.headers.getlist("Content-Length") if resp.raw is not None else []
    parsed: set[int] = set()
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not (0 < len(part) <= 19 and part.isascii() and part.isdigit()):  # [0-9]{1,19}, no regex
                raise RegistryError(f"invalid Content-Length {safe_text(part, 40)!r} from registry")
            parsed.add(int(part))
    if len(parsed) > 1:
        raise RegistryError("conflicting Content-Length headers from registry")
    return parsed.pop() if parsed else -1
