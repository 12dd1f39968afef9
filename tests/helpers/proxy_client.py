"""A client of skopeo's `experimental-image-proxy` protocol, written from its description
(skopeo's docs-experimental/skopeo-experimental-image-proxy.1.md and the research notes),
for skopo's proxy and for skopeo 1.9.3's alike.

- `ProxyClient.start(argv, sockfd=..., env=...)` spawns `ARGV... experimental-image-proxy`
  with one end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)` as `--sockfd N` (or as stdin with
  `sockfd=None`, as the Rust client does).
- `call(method, *args)` sends one request and returns a `ProxyReply` (value, pipeid, fds);
  a failed call raises `ProxyCallError` (its `error` and `error_code`, `None` when the
  server's protocol has no error_code, as 0.2.3).
- `call_piped(method, *args)` reads the returned pipe in a thread while calling
  `FinishPipe` (the protocol requires both at once) and returns (value, data); a failing
  `FinishPipe` raises `ProxyCallError`, with the data read so far in `.data`.
- `get_raw_blob(image, digest)` reads both fds of `GetRawBlob`: (size, data, error JSON or None).
- `shutdown()` sends Shutdown (no reply) and waits for the exit status.
"""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProxyCallError", "ProxyReply", "ProxyClient", "MAX_MSG_SIZE"]

MAX_MSG_SIZE = 32 * 1024


class ProxyCallError(AssertionError):
    """A request the proxy answered with success=false."""

    def __init__(self, method: str, error: str, error_code: str | None, data: bytes = b"") -> None:
        super().__init__(f"{method}: {error} (error_code={error_code!r})")
        self.method = method
        self.error = error
        self.error_code = error_code
        self.data = data


@dataclass
class ProxyReply:
    value: Any
    pipeid: int
    fds: list[int] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


class ProxyClient:
    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.protocol_version = ""
        #: The proxy's stderr, once it has exited (`wait`, `shutdown`).
        self.stderr_text = ""

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        sockfd: bool = True,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        cwd: str | None = None,
    ) -> ProxyClient:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            args = [*argv, "experimental-image-proxy", *extra_args]
            if sockfd:
                args += ["--sockfd", str(theirs.fileno())]
                process = subprocess.Popen(args, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                           env=dict(env) if env is not None else None, cwd=cwd)
            else:
                process = subprocess.Popen(args, stdin=theirs.fileno(), stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
                                           cwd=cwd)
        finally:
            theirs.close()
        return cls(process, ours)

    # -- raw packets --

    def send_raw(self, packet: bytes) -> None:
        self.sock.send(packet)

    def receive(self, timeout: float = 120) -> tuple[dict[str, Any], list[int]]:
        """One reply packet and the fds passed with it."""
        self.sock.settimeout(timeout)
        fds = array.array("i")
        data, ancillary, _flags, _addr = self.sock.recvmsg(MAX_MSG_SIZE, socket.CMSG_SPACE(16 * fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        if not data:
            raise EOFError("proxy closed the socket")
        return json.loads(data), list(fds)

    def raw_call(self, packet: bytes) -> tuple[dict[str, Any], list[int]]:
        self.send_raw(packet)
        return self.receive()

    # -- calls --

    def call(self, method: str, *args: Any) -> ProxyReply:
        reply, fds = self.raw_call(json.dumps({"method": method, "args": list(args)}).encode())
        if not reply["success"]:
            for fd in fds:
                os.close(fd)
            raise ProxyCallError(method, reply["error"], reply.get("error_code"))
        return ProxyReply(reply["value"], reply["pipeid"], fds, reply)

    def initialize(self) -> str:
        self.protocol_version = self.call("Initialize").value
        return self.protocol_version

    def call_piped(self, method: str, *args: Any) -> tuple[Any, bytes]:
        reply = self.call(method, *args)
        assert reply.pipeid > 0 and len(reply.fds) == 1, reply
        chunks: list[bytes] = []

        def drain() -> None:
            with os.fdopen(reply.fds[0], "rb", buffering=0) as f:
                while chunk := f.read(1 << 20):
                    chunks.append(chunk)

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            self.call("FinishPipe", reply.pipeid)
        except ProxyCallError as exc:
            reader.join(60)
            exc.data = b"".join(chunks)
            raise
        reader.join(60)
        assert not reader.is_alive(), "the pipe did not end after FinishPipe"
        return reply.value, b"".join(chunks)

    def get_raw_blob(self, image: int, digest: str) -> tuple[Any, bytes, dict[str, Any] | None]:
        reply = self.call("GetRawBlob", image, digest)
        assert reply.pipeid == 0 and len(reply.fds) == 2, reply
        data_fd, err_fd = reply.fds
        chunks: list[bytes] = []

        def drain() -> None:
            with os.fdopen(data_fd, "rb", buffering=0) as f:
                while chunk := f.read(1 << 20):
                    chunks.append(chunk)

        reader = threading.Thread(target=drain)
        reader.start()
        with os.fdopen(err_fd, "rb") as f:
            err = f.read()
        reader.join(60)
        return reply.value, b"".join(chunks), json.loads(err) if err else None

    def shutdown(self, timeout: float = 60) -> int:
        self.send_raw(b'{"method":"Shutdown","args":[]}')
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        """The exit status (the proxy must exit within `timeout`); collects `stderr_text`."""
        try:
            status = self.process.wait(timeout)
            if self.process.stderr is not None:
                self.stderr_text = self.process.stderr.read().decode(errors="replace")
            return status
        finally:
            self.close()

    def close(self) -> None:
        self.sock.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stderr is not None and not self.process.stderr.closed:
            self.process.stderr.close()

    def __enter__(self) -> ProxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
