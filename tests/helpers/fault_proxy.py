"""A fault-injecting HTTP proxy in front of a real registry (a Python thread on loopback).

`FaultProxy(upstream_url)` listens on 127.0.0.1:PORT and forwards every request to the
upstream registry, Host header unchanged (so the registry builds upload `Location`s that
point back at the proxy). A test installs `proxy.rule = fn(request) -> Action | None` to
change what a request gets; `None` forwards it untouched.

Actions: `Forward(cut_after=N, trickle=S, extra_headers=..., extra_headers_on_success=...,
drop_headers=..., body_transform=fn, add_query=...)` forwards and tampers with the response;
`Reply(status, headers, body)` answers directly. `proxy.served` records, for each blob GET forwarded, the byte range
of the body actually written (`ServedRange`), so tests can check that each byte of a
blob was sent once. `proxy.requests` logs (method, path, headers, body); the rule sees the
request body too.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "Forward", "Reply", "ProxyRequest", "ServedRange"]


@dataclass
class ProxyRequest:
    method: str
    path: str
    headers: dict[str, str]
    index: int
    body: bytes = b""


@dataclass
class Forward:
    cut_after: int | None = None
    trickle: float | None = None
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    #: Added only when the upstream answered 2xx.
    extra_headers_on_success: list[tuple[str, str]] = field(default_factory=list)
    drop_headers: tuple[str, ...] = ()
    body_transform: Callable[[bytes], bytes] | None = None
    add_query: str | None = None


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@dataclass
class ServedRange:
    path: str
    start: int
    sent: int
    status: int


Rule = Callable[[ProxyRequest], "Forward | Reply | None"]


class FaultProxy:
    """See the module docstring. Use as a context manager or call `stop()`."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.rule: Rule | None = None
        self.requests: list[ProxyRequest] = []
        self.served: list[ServedRange] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def blob_bytes_served(self, digest: str) -> int:
        return sum(r.sent for r in self.served if r.path.endswith(digest))

    # ------------------------------------------------------------------

    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", "0") or "0")
        chunked = h.headers.get("Transfer-Encoding", "").lower() == "chunked"
        body = h.rfile.read(length) if length else (self._read_chunked(h) if chunked else b"")
        with self._lock:
            req = ProxyRequest(h.command, h.path, {k: v for k, v in h.headers.items()}, len(self.requests), body)
            self.requests.append(req)
        action = self.rule(req) if self.rule is not None else None
        if isinstance(action, Reply):
            h.send_response(action.status)
            names = {k.lower() for k, _ in action.headers}
            for k, v in action.headers:
                h.send_header(k, v)
            if "content-length" not in names and "transfer-encoding" not in names:  # a framed body has none
                h.send_header("Content-Length", str(len(action.body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(action.body)
            return
        fwd = action if isinstance(action, Forward) else Forward()
        path = h.path
        if fwd.add_query:
            path += ("&" if "?" in path else "?") + fwd.add_query
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("transfer-encoding", "content-length")}
        if body or h.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn.request(h.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read() if fwd.body_transform is not None else None
        if data is not None and fwd.body_transform is not None:
            data = fwd.body_transform(data)
        h.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in fwd.drop_headers or k.lower() in ("transfer-encoding", "connection"):
                continue
            if data is not None and k.lower() == "content-length":
                v = str(len(data))
            h.send_header(k, v)
        for k, v in fwd.extra_headers:
            h.send_header(k, v)
        if 200 <= resp.status < 300:
            for k, v in fwd.extra_headers_on_success:
                h.send_header(k, v)
        if resp.getheader("Content-Length") is None and data is None and h.command != "HEAD":
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        if h.command == "HEAD":
            conn.close()
            return
        start = 0
        content_range = resp.getheader("Content-Range")
        if content_range and content_range.startswith("bytes "):
            start = int(content_range[6:].split("-", 1)[0])
        sent = 0
        try:
            if data is not None:
                h.wfile.write(data)
                sent = len(data)
                return
            while True:
                want = 1 if fwd.trickle is not None else 1 << 16
                if fwd.cut_after is not None:
                    want = min(want, fwd.cut_after - sent)
                    if want <= 0:
                        h.wfile.flush()
                        h.close_connection = True
                        h.connection.shutdown(socket.SHUT_RDWR)
                        return
                chunk = resp.read(want)
                if not chunk:
                    return
                h.wfile.write(chunk)
                sent += len(chunk)
                if fwd.trickle is not None:
                    h.wfile.flush()
                    time.sleep(fwd.trickle)
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True
        finally:
            conn.close()
            if h.command == "GET" and "/blobs/" in h.path:
                with self._lock:
                    self.served.append(ServedRange(h.path, start, sent, resp.status))

    @staticmethod
    def _read_chunked(h: http.server.BaseHTTPRequestHandler) -> bytes:
        out = bytearray()
        while True:
            line = h.rfile.readline()
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += h.rfile.read(size)
            h.rfile.readline()
