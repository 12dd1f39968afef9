"""A minimal Docker Engine API client (stdlib `http.client`), for `docker-daemon:`.

It speaks only what the transport needs: `GET /_ping` (and `GET /version` as a fallback)
to negotiate the API version, `GET /vX.Y/images/{name}/get` (image save, streamed) and
`POST /vX.Y/images/load` (image load, request body streamed with chunked transfer
encoding). It works with Docker and with podman's Docker-compatible service.

Endpoints (`parse_daemon_host`, as the docker client and containers/image accept them):
- `unix:///path/to.sock`: a unix socket (the default, `unix:///var/run/docker.sock`);
- `tcp://host[:port]` and `https://host[:port]`: TLS (default port 2376). With a cert dir
  (`--*-cert-dir`), `ca.pem` is added to the system roots and `cert.pem`/`key.pem` are the
  client certificate, as docker's `tlsconfig` reads them; all three MUST exist.
  `--*-tls-verify=false` skips server verification (c/image's
  `DockerDaemonInsecureSkipTLSVerify`);
- `http://host[:port]`: plain HTTP on TCP (default port 2375).
A path after the address is used as the API base path (as the docker client does).

Version negotiation (docker client `WithAPIVersionNegotiation`): the server's `API-Version`
header from `/_ping` (else `ApiVersion` from `/version`, else 1.24), capped at
`MAX_API_VERSION`; every other request goes to `/v<version>/...`.

Errors are `ToolkitError`s: `DaemonUnavailableError` names the endpoint (and socket path)
that could not be reached; `DaemonError` carries the engine's own message (from a JSON
error document `{"message": ...}` or an `errorDetail` in a JSON progress stream); a
missing image is `ImageNotFoundError` (exit 2). Everything the engine sends is untrusted:
error bodies are read up to 1 MiB and passed through `safe_text`.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

from toolkit.errors import ImageNotFoundError, InvalidInputError, ToolkitError, safe_text
from toolkit.transports._tls import apply_tls_details
from toolkit.types import OptionalBool, TLSDetails

__all__ = [
    "MAX_API_VERSION",
    "FALLBACK_API_VERSION",
    "DaemonEndpoint",
    "DaemonError",
    "DaemonUnavailableError",
    "EngineClient",
    "ImageLoadUpload",
    "SaveStream",
    "parse_daemon_host",
]

log = logging.getLogger(__name__)

#: Highest API version we ask for; everything we use exists since 1.24.
MAX_API_VERSION: Final = "1.47"
#: What the docker client assumes when a server does not announce its version.
FALLBACK_API_VERSION: Final = "1.24"
#: Seconds to wait for a connection to be established.
CONNECT_TIMEOUT: Final = 30.0
#: Seconds a single read or write may block. An engine prepares a whole `save` before the
#: first byte (podman writes it to a temp file), so this is generous.
IO_TIMEOUT: Final = 1800.0
#: Largest error document or load-progress message accepted from the engine.
MAX_ERROR_BODY: Final = 1 << 20
#: Small writes are gathered into chunks of about this size before they are sent.
_CHUNK_TARGET: Final = 1 << 20


class DaemonError(ToolkitError):
    """The Docker engine refused a request or reported an error."""


class DaemonUnavailableError(DaemonError):
    """The Docker engine could not be reached at the configured endpoint."""


@dataclass(frozen=True, slots=True)
class DaemonEndpoint:
    """A parsed `--daemon-host` value. `tls` only for TCP; `address` is the socket path
    for `unix`, else the host name; `base_path` has no trailing slash ("" for none)."""

    text: str
    scheme: str  # "unix" | "tcp"
    address: str
    port: int
    tls: bool
    base_path: str = ""

    def describe(self) -> str:
        """How messages name the endpoint (the text the user gave or the default)."""
        return safe_text(self.text)


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        return None
    return tuple(int(p) for p in parts)


def parse_daemon_host(text: str) -> DaemonEndpoint:
    """Parse a docker host URL (see the module docstring).

    Raises `InvalidInputError` for an unknown scheme, a missing socket path or host, or
    a bad port.
    """
    bad = InvalidInputError(f"unable to parse docker host `{safe_text(text)}`")
    proto, sep, rest = text.partition("://")
    if not sep or not rest:
        raise bad
    proto = proto.lower()
    if proto == "unix":
        return DaemonEndpoint(text=text, scheme="unix", address=rest, port=0, tls=False)
    if proto not in ("tcp", "https", "http"):
        raise InvalidInputError(
            f"unable to parse docker host `{safe_text(text)}`: unsupported scheme {safe_text(proto)!r} "
            "(use unix://, tcp://, https:// or http://)"
        )
    tls = proto != "http"
    try:
        parts = urlsplit(f"//{rest}")
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"unable to parse docker host `{safe_text(text)}`: {exc}") from exc
    if not host or parts.query or parts.fragment or parts.username is not None:
        raise bad
    return DaemonEndpoint(
        text=text,
        scheme="tcp",
        address=host,
        port=port if port is not None else (2376 if tls else 2375),
        tls=tls,
        base_path=parts.path.rstrip("/"),
    )


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix stream socket."""

    def __init__(self, socket_path: str) -> None:
        super().__init__("localhost", timeout=CONNECT_TIMEOUT)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(self._socket_path)
            sock.settimeout(IO_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _tls_context(cert_dir: Path | None, tls_verify: OptionalBool, details: TLSDetails | None = None) -> ssl.SSLContext:
    """docker `tlsconfig.Client`: system roots plus `ca.pem`, client `cert.pem`/`key.pem`;
    `details` (--tls-details) narrows versions, suites and groups."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    apply_tls_details(context, details)
    if tls_verify is OptionalBool.FALSE:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_dir is None:
        return context
    ca = cert_dir / "ca.pem"
    try:
        context.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise DaemonError(f"Could not read CA certificate {safe_text(str(ca))!r}: {exc}") from exc
    cert, key = cert_dir / "cert.pem", cert_dir / "key.pem"
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as exc:
        raise DaemonError(
            f"Could not load X509 key pair {safe_text(str(cert))!r} / {safe_text(str(key))!r}: {exc}"
        ) from exc
    return context


def _one_line(text: str) -> str:
    return safe_text(" ".join(text.split("\n")).strip(), limit=2048)


def _error_message(status: int, reason: str, body: bytes) -> str:
    """The engine's message from an error body (`{"message": ...}`), else the body text;
    on one line (podman's messages list one reason per line)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str) and doc["message"]:
        return _one_line(doc["message"])
    if text:
        return _one_line(text)
    return f"{status} {safe_text(reason)}"


def _read_limited(response: http.client.HTTPResponse, limit: int = MAX_ERROR_BODY) -> bytes:
    try:
        return response.read(limit)
    except (OSError, http.client.HTTPException):
        return b""


class EngineClient:
    """One engine endpoint with a negotiated API version. Each request uses its own
    connection (the API is used for two long requests per image, not many small ones).

    Construct with `EngineClient.connect(host, cert_dir=..., tls_verify=...)`, which
    parses the host, pings the engine and negotiates the version; it raises
    `InvalidInputError`, `DaemonUnavailableError` or `DaemonError`.
    """

    def __init__(self, endpoint: DaemonEndpoint, tls_context: ssl.SSLContext | None, version: str) -> None:
        """Private: use `connect`."""
        self.endpoint = endpoint
        self._tls = tls_context
        self.api_version = version

    @classmethod
    def connect(cls, host: str, *, cert_dir: Path | None = None,
                tls_verify: OptionalBool = OptionalBool.UNDEFINED,
                tls_details: TLSDetails | None = None) -> EngineClient:
        """Reach the engine at `host` and negotiate the API version (see the module docstring)."""
        endpoint = parse_daemon_host(host)
        context = (_tls_context(cert_dir, tls_verify, tls_details)
                   if endpoint.scheme == "tcp" and endpoint.tls else None)
        client = cls(endpoint, context, FALLBACK_API_VERSION)
        client.api_version = client._negotiate()
        log.debug("docker engine at %s: using API version %s", endpoint.describe(), client.api_version)
        return client

    # -- connections

    def _new_connection(self) -> http.client.HTTPConnection:
        ep = self.endpoint
        if ep.scheme == "unix":
            return _UnixHTTPConnection(ep.address)
        if self._tls is not None:
            return http.client.HTTPSConnection(ep.address, ep.port, timeout=CONNECT_TIMEOUT, context=self._tls)
        return http.client.HTTPConnection(ep.address, ep.port, timeout=CONNECT_TIMEOUT)

    def _open(self) -> http.client.HTTPConnection:
        """A connected connection; `DaemonUnavailableError` naming the endpoint otherwise."""
        conn = self._new_connection()
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(IO_TIMEOUT)
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        return conn

    def _unavailable(self, exc: BaseException) -> DaemonUnavailableError:
        ep = self.endpoint
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            why = f"TLS handshake failed: {exc}"
        elif isinstance(exc, OSError) and exc.strerror:
            why = exc.strerror.lower()
            if ep.scheme == "unix":
                why = f"dial unix {safe_text(ep.address)}: {why}"
        else:
            why = str(exc) or type(exc).__name__
        return DaemonUnavailableError(
            f"Cannot connect to the Docker daemon at {ep.describe()}. Is the docker daemon running? ({why})"
        )

    def _path(self, path: str, *, versioned: bool = True) -> str:
        prefix = self.endpoint.base_path
        if versioned:
            prefix += f"/v{self.api_version}"
        return prefix + path

    def _headers(self) -> dict[str, str]:
        return {"Host": "docker" if self.endpoint.scheme == "unix" else self.endpoint.address,
                "User-Agent": "skopo"}

    def _simple_get(self, path: str) -> tuple[int, http.client.HTTPResponse, http.client.HTTPConnection]:
        conn = self._open()
        try:
            conn.request("GET", path, headers=self._headers())
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        return response.status, response, conn

    def _negotiate(self) -> str:
        """The API version to use: min(server's, ours)."""
        server = ""
        status, response, conn = self._simple_get(self._path("/_ping", versioned=False))
        try:
            body = _read_limited(response)
            if status == 200:
                server = response.getheader("API-Version") or ""
            elif status >= 400 and status != 404:
                message = _error_message(status, response.reason, body)
                raise DaemonError(f"pinging docker engine at {self.endpoint.describe()}: {message}")
        finally:
            conn.close()
        if not server:
            status, response, conn = self._simple_get(self._path("/version", versioned=False))
            try:
                body = _read_limited(response)
            finally:
                conn.close()
            if status == 200:
                try:
                    doc: Any = json.loads(body)
                except ValueError:
                    doc = None
                if isinstance(doc, dict) and isinstance(doc.get("ApiVersion"), str):
                    server = doc["ApiVersion"]
        server_version = _version_tuple(server) if server else None
        if server_version is None:
            if server:
                log.debug("ignoring unparsable engine API version %r", server)
            return FALLBACK_API_VERSION
        ours = _version_tuple(MAX_API_VERSION)
        assert ours is not None
        return server.strip() if server_version < ours else MAX_API_VERSION

    # -- image save

    def image_save(self, name: str) -> SaveStream:
        """Start `GET /images/{name}/get`: the returned stream is the engine's (uncompressed)
        `docker save` tar; the caller MUST close it.

        Raises `ImageNotFoundError` on 404, `DaemonError` for other refusals.
        """
        path = self._path(f"/images/{quote(name, safe='/:@')}/get")
        status, response, conn = self._simple_get(path)
        if status == 200:
            return SaveStream(response, conn, self.endpoint)
        try:
            message = _error_message(status, response.reason, _read_limited(response))
        finally:
            conn.close()
        text = f"loading image from docker engine: Error response from daemon: {message}"
        if status == 404:
            raise ImageNotFoundError(text)
        raise DaemonError(text)

    # -- image load

    def start_image_load(self) -> ImageLoadUpload:
        """Start `POST /images/load?quiet=1` with a chunked body; see `ImageLoadUpload`."""
        conn = self._open()
        try:
            conn.putrequest("POST", self._path("/images/load?quiet=1"), skip_host=True, skip_accept_encoding=True)
            for key, value in self._headers().items():
                conn.putheader(key, value)
            conn.putheader("Content-Type", "application/x-tar")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        return ImageLoadUpload(conn, self.endpoint)


class SaveStream:
    """The body of an image save: `read(n)` returns at most `n` bytes, `b""` at the end.

    A connection that breaks or a body cut short raises `DaemonError` (never a foreign
    exception). `close()` closes the connection; usable as a context manager.
    """

    def __init__(self, response: http.client.HTTPResponse, conn: http.client.HTTPConnection,
                 endpoint: DaemonEndpoint) -> None:
        self._response = response
        self._conn = conn
        self._endpoint = endpoint

    def read(self, n: int = -1, /) -> bytes:
        try:
            return self._response.read(None if n < 0 else n)
        except (OSError, http.client.HTTPException) as exc:
            raise DaemonError(
                f"reading the image from docker engine at {self._endpoint.describe()}: "
                f"{getattr(exc, 'strerror', None) or type(exc).__name__} (connection lost or body cut short)"
            ) from exc

    def close(self) -> None:
        try:
            self._response.close()
        finally:
            self._conn.close()

    def __enter__(self) -> SaveStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageLoadUpload:
    """The request body of an image load, written as a stream (a file-like `write`).

    - `write(data)` sends the data as HTTP chunks (small writes are gathered up to about
      1 MiB, so memory stays bounded whatever is written).
    - `finish()` ends the body and reads the engine's answer: an error status (podman
      answers 500 with `{"message": ...}`) or an `errorDetail` in the JSON progress stream
      (Docker answers 200, then reports) raises `DaemonError` with the engine's message.
    - `abort()` closes the connection without the final chunk, so the engine sees a
      truncated body and loads nothing. Idempotent; `finish()` after `abort()` raises.
    A failed write first tries to read an early error answer from the engine, so the
    user sees the engine's reason rather than "broken pipe".
    """

    def __init__(self, conn: http.client.HTTPConnection, endpoint: DaemonEndpoint) -> None:
        self._conn = conn
        self._endpoint = endpoint
        self._buffer = bytearray()
        self._closed = False
        self.messages: list[str] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise DaemonError("internal error: writing to a finished docker engine upload")
        size = len(data)
        if not size:
            return 0
        if len(self._buffer) + size < _CHUNK_TARGET:
            self._buffer += data
            return size
        self._flush()
        self._send_chunk(data)
        return size

    def flush(self) -> None:
        """Kept buffered until enough is gathered; `finish()` sends everything."""

    def _flush(self) -> None:
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            self._send_chunk(data)

    def _send_chunk(self, data: bytes | bytearray | memoryview) -> None:
        self._send(b"%x\r\n" % len(data))
        self._send(data)
        self._send(b"\r\n")

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._conn.send(data)
        except (OSError, http.client.HTTPException) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """A write failed: report the engine's early answer if it sent one."""
        early = ""
        try:
            if self._conn.sock is not None:
                self._conn.sock.settimeout(5)
            response = self._conn.getresponse()
            if response.status != 200:
                early = _error_message(response.status, response.reason, _read_limited(response))
        except (OSError, http.client.HTTPException, ValueError):
            pass
        self.abort()
        why = early or (getattr(exc, "strerror", None) or str(exc))
        raise DaemonError(f"writing image to docker engine at {self._endpoint.describe()}: {why}") from exc

    def finish(self) -> None:
        """End the body and check the engine's answer (see the class docstring)."""
        if self._closed:
            raise DaemonError("internal error: docker engine upload already closed")
        self._flush()
        self._send(b"0\r\n\r\n")
        try:
            try:
                response = self._conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise DaemonError(
                    f"saving image to docker engine at {self._endpoint.describe()}: no answer ({exc})"
                ) from exc
            if response.status != 200:
                message = _error_message(response.status, response.reason, _read_limited(response))
                raise DaemonError(f"docker engine reported: {message}")
            self._check_progress(response)
        finally:
            self.abort()

    def _check_progress(self, response: http.client.HTTPResponse) -> None:
        """Walk the JSON message stream (c/image `imageLoad`): any `errorDetail` fails."""
        decoder = json.JSONDecoder()
        pending = ""
        while True:
            try:
                chunk = response.read1(64 << 10)
            except (OSError, http.client.HTTPException) as exc:
                raise DaemonError(f"reading docker load progress: {exc}") from exc
            pending += chunk.decode("utf-8", "replace")
            while True:
                pending = pending.lstrip()
                if not pending:
                    break
                try:
                    msg, end = decoder.raw_decode(pending)
                except ValueError:
                    break  # incomplete: wait for more
                pending = pending[end:]
                self._check_message(msg)
            if len(pending) > MAX_ERROR_BODY:
                raise DaemonError("parsing docker load progress: message too large")
            if not chunk:
                if pending.strip():
                    raise DaemonError(f"parsing docker load progress: invalid JSON {safe_text(pending[:200])!r}")
                return

    def _check_message(self, msg: object) -> None:
        if not isinstance(msg, dict):
            return
        detail = msg.get("errorDetail")
        if detail is not None:
            text = detail.get("message") if isinstance(detail, dict) else None
            if not isinstance(text, str):
                text = msg.get("error") if isinstance(msg.get("error"), str) else json.dumps(detail)
            raise DaemonError(f"docker engine reported: {_one_line(str(text))!r}")
        stream = msg.get("stream")
        if isinstance(stream, str) and stream.strip():
            self.messages.append(safe_text(stream.strip()))
            log.debug("docker engine: %s", safe_text(stream.strip()))

    def abort(self) -> None:
        """Drop the connection (see the class docstring). Never raises."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        try:
            self._conn.close()
        except OSError:
            log.debug("closing the docker engine connection", exc_info=True)
