"""A TCP proxy that adds network latency, so loopback benchmarks can model a registry that
is not on the same machine.

Each direction of each connection is delayed by half the round-trip time: bytes read from
one side are written to the other `rtt / 2` seconds later, in order, without limiting
throughput (reading goes on while earlier bytes wait). A new connection costs one round
trip before its first byte, as a TCP handshake would. Used by `bench/sync.py --rtt-ms`;
not a test helper and not part of skopo.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

CHUNK = 256 * 1024


class LatencyProxy:
    """Listen on a free 127.0.0.1 port and forward every connection to `target` ("host:port")."""

    def __init__(self, target: str, rtt: float) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._one_way = rtt / 2
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        self.connections = 0
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        time.sleep(2 * self._one_way)  # the handshake's round trip
        try:
            upstream = socket.create_connection(self._target)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(client, upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            pending: queue.Queue[tuple[float, bytes]] = queue.Queue()
            threading.Thread(target=self._read, args=(src, pending), daemon=True).start()
            threading.Thread(target=self._write, args=(dst, pair, pending), daemon=True).start()

    def _read(self, src: socket.socket, pending: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            try:
                data = src.recv(CHUNK)
            except OSError:
                data = b""
            pending.put((time.monotonic() + self._one_way, data))
            if not data:
                return

    @staticmethod
    def _write(dst: socket.socket, pair: _Pair, pending: queue.Queue[tuple[float, bytes]]) -> None:
        while True:
            due, data = pending.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    pair.direction_done()
                    return
                dst.sendall(data)
            except OSError:
                pair.close()
                return


class _Pair:
    """The two sockets of one proxied connection, closed once both directions have ended."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self._sockets = (a, b)
        self._open_directions = 2
        self._lock = threading.Lock()

    def direction_done(self) -> None:
        with self._lock:
            self._open_directions -= 1
            last = self._open_directions == 0
        if last:
            self.close()

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
