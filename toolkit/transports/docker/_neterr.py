"""Network failures in plain words: what went wrong, with which host, and what to do.

`network_error(exc, host, ...)` turns an exception raised by requests / urllib3 / ssl /
socket while talking to a registry into one typed error whose message never holds a
library's repr:

- the deadline of `--command-timeout` passed: `CommandTimeoutError`, `timed out after 2s
  waiting for HOST` (never retried, never a reason to fall back to HTTP or a mirror);
- DNS: `no such host: NAME`; connection refused: `connection refused: HOST:PORT`; other
  connect failures: `network is unreachable: HOST:PORT`, `timed out connecting to HOST:PORT`;
- plain HTTP answering a TLS hello: `http: server gave HTTP response to HTTPS client (use
  --tls-verify=false, or mark the registry insecure in registries.conf)`;
- an untrusted, expired or misnamed certificate: `x509: certificate signed by unknown
  authority for HOST (add its CA to ... or pass --cert-dir; --tls-verify=false skips
  verification)`; other handshake failures: `tls: handshake with HOST failed: REASON`;
  these are all `NetworkError`s, which nothing retries;
- a connection cut after the request was sent, or idle past the read timeout:
  `TransientRegistryError` (`connection to HOST was cut (...)`, `no data from HOST for
  60s`), retried for GET/HEAD and by `--retry-times`.

`NetworkError.stage` says how far the attempt got (`STAGE_*`), so that the plain-HTTP
fallback of `--tls-verify=false` reports the attempt that got furthest.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from collections.abc import Iterator

import urllib3.exceptions

from toolkit import deadline
from toolkit.errors import CommandTimeoutError, RegistryError, ToolkitError, safe_text
from toolkit.transports.docker._errors import TransientRegistryError

__all__ = [
    "NetworkError",
    "network_error",
    "stage_of",
    "STAGE_DNS",
    "STAGE_CONNECT",
    "STAGE_TLS",
    "STAGE_RESPONSE",
]

STAGE_DNS = 1
STAGE_CONNECT = 2
STAGE_TLS = 3
#: The request was sent (or a response arrived): any HTTP-level error is at this stage.
STAGE_RESPONSE = 4

#: OpenSSL reasons seen when the peer answers a TLS ClientHello with plain HTTP.
_PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"})
#: X509_V_ERR_* codes meaning "no trusted CA signed this".
_UNKNOWN_AUTHORITY = frozenset({2, 18, 19, 20, 21})
_EXPIRED = frozenset({9, 10})
_HOSTNAME_MISMATCH = 62
_TLS_HINT = "add its CA to /etc/containers/certs.d/{host}/ or pass --cert-dir; --tls-verify=false skips verification"
_CONNECT_ERRNOS = {
    errno.ENETUNREACH: "network is unreachable",
    errno.EHOSTUNREACH: "no route to host",
    errno.EADDRNOTAVAIL: "cannot assign requested address",
}


class NetworkError(RegistryError):
    """The registry could not be reached or spoken to (DNS, connect, TLS); not retried.

    `stage` is one of `STAGE_*`: how far the failed attempt got.
    """

    def __init__(self, message: str, stage: int) -> None:
        super().__init__(message)
        self.stage = stage


class _CutError(TransientRegistryError):
    """The connection broke after the request was sent (retried for GET/HEAD)."""

    stage = STAGE_RESPONSE


def stage_of(error: ToolkitError) -> int:
    """How far the attempt that raised `error` got (HTTP-level errors: `STAGE_RESPONSE`)."""
    return int(getattr(error, "stage", STAGE_RESPONSE))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: `.reason` (urllib3), exception args (requests), `__cause__`
    and `__context__`; each at most once, a bounded walk."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def _authority(host: str, default_port: int) -> str:
    """`host:port` (the default port added for clarity)."""
    return host if ":" in host.rsplit("]", 1)[-1] else f"{host}:{default_port}"


def _hostname(host: str) -> str:
    """`host[:port]` without the port."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _tls_error(cert: ssl.SSLCertVerificationError | None, plain: ssl.SSLError | None, host: str) -> NetworkError:
    hint = _TLS_HINT.format(host=safe_text(host, 300))
    shown = safe_text(host, 300)
    if cert is not None:
        code = cert.verify_code
        if code in _UNKNOWN_AUTHORITY:
            what = "certificate signed by unknown authority"
        elif code in _EXPIRED:
            what = "certificate has expired or is not yet valid"
        elif code == _HOSTNAME_MISMATCH:
            what = "certificate is not valid"
        else:
            what = safe_text(cert.verify_message or "certificate verification failed", 200)
        return NetworkError(f"x509: {what} for {shown} ({hint})", STAGE_TLS)
    assert plain is not None
    reason = str(plain.reason or "")
    if reason in _PLAIN_HTTP_REASONS:
        return NetworkError(
            "http: server gave HTTP response to HTTPS client "
            "(use --tls-verify=false, or mark the registry insecure in registries.conf)",
            STAGE_TLS,
        )
    detail = reason.lower().replace("_", " ") if reason else safe_text(plain.strerror or str(plain), 200)
    return NetworkError(f"tls: handshake with {shown} failed: {detail}", STAGE_TLS)


def network_error(
    exc: BaseException, host: str, *, read_timeout: float, connect_timeout: float, default_port: int = 443
) -> ToolkitError:
    """The typed error for `exc`, raised while talking to `host` (`host[:port]`; the port is
    `default_port` when not given).

    Never raises; the result's message quotes no library repr (`safe_text` on what it
    quotes). A timeout once the command's deadline has passed is `CommandTimeoutError`.
    """
    causes = list(_causes(exc))
    shown = safe_text(host, 300)
    authority = safe_text(_authority(host, default_port), 300)
    cert = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    timeout = any(
        isinstance(c, socket.timeout | TimeoutError | urllib3.exceptions.TimeoutError) for c in causes
    )
    if timeout and deadline.expired():
        error: ToolkitError = deadline.timeout_error(shown)
        return error
    if cert is not None:
        return _tls_error(cert, None, host)
    cut_tls = ssl.SSLEOFError | ssl.SSLZeroReturnError  # the peer hung up: not a handshake refusal
    plain = next((c for c in causes if isinstance(c, ssl.SSLError) and not isinstance(c, cut_tls)), None)
    if plain is not None:
        return _tls_error(None, plain, host)
    if any(isinstance(c, socket.gaierror | urllib3.exceptions.NameResolutionError) for c in causes):
        return NetworkError(f"no such host: {safe_text(_hostname(host), 300)}", STAGE_DNS)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return NetworkError(f"connection refused: {authority}", STAGE_CONNECT)
    if any(isinstance(c, urllib3.exceptions.ConnectTimeoutError) for c in causes):
        return NetworkError(
            f"timed out connecting to {authority} (no answer for {connect_timeout:g}s)",
            STAGE_CONNECT,
        )
    for c in causes:
        if isinstance(c, OSError) and c.errno in _CONNECT_ERRNOS:
            return NetworkError(f"{_CONNECT_ERRNOS[c.errno]}: {authority}", STAGE_CONNECT)
    if any(isinstance(c, urllib3.exceptions.ProxyError) for c in causes):
        return NetworkError(f"the proxy for {shown} refused or failed the connection", STAGE_CONNECT)
    if timeout:
        idle = f" for {read_timeout:g}s" if read_timeout > 0 else " within the read timeout"
        return _CutError(f"no data from {shown}{idle}")
    if any(isinstance(c, ssl.SSLEOFError | ssl.SSLZeroReturnError) for c in causes):
        return _CutError(f"connection to {shown} was cut during the TLS exchange")
    # RemoteDisconnected is a ConnectionResetError: the more precise words first.
    if any(isinstance(c, http.client.RemoteDisconnected | BrokenPipeError) for c in causes):
        return _CutError(f"connection to {shown} was cut (closed by the server without a response)")
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return _CutError(f"connection to {shown} was cut (reset by the server)")
    if any(isinstance(c, http.client.IncompleteRead | urllib3.exceptions.ProtocolError) for c in causes):
        return _CutError(f"connection to {shown} was cut (the response ended early)")
    if isinstance(exc, CommandTimeoutError):
        return exc
    # Something else: name it by its kind and the innermost OS message, never by repr.
    inner = next((c for c in reversed(causes) if isinstance(c, OSError) and c.strerror), None)
    detail = inner.strerror if inner is not None and inner.strerror else type(causes[-1]).__name__
    return _CutError(f"connection to {shown} failed: {safe_text(str(detail), 200)}")
