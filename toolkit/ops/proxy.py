"""The image proxy: skopeo's `experimental-image-proxy` protocol, version 0.2.8.

The protocol (containers/common `pkg/json-proxy`, used by skopeo main; clients are
rpm-ostree, bootc and ostree-rs-ext through the containers-image-proxy crate):

- The client makes a `socketpair(AF_UNIX, SOCK_SEQPACKET)` and gives the proxy one end.
  Each packet (at most 32 KiB) is one JSON request `{"method": NAME, "args": [...]}`; each
  reply is one packet `{"success": BOOL, "value": ANY, "pipeid": N, "error_code": CODE,
  "error": TEXT}` (all keys always present; `error_code` is `""`, `"EPIPE"`,
  `"retryable"` or `"other"`), with file descriptors attached as one SCM_RIGHTS message.
- Data travel in pipes. A reply with a non-zero `pipeid` carries the read end of a pipe;
  the proxy writes the data into it from a worker thread, and keeps the write end open
  until the client calls `FinishPipe(pipeid)`, which waits for the worker and returns its
  error (a short blob, a digest mismatch, the client closing the pipe). The client must
  read concurrently with `FinishPipe`. `GetRawBlob` instead gives two fds (data, errors)
  that the worker closes itself; the error fd carries `{"code", "message"}` on failure.
- Methods: `Initialize` (returns "0.2.8"), `OpenImage`/`OpenImageOptional` (an image id;
  0 from the optional form when the image does not exist), `CloseImage`, `GetManifest`
  (the chosen instance, as OCI: docker schema2 is converted; the value is the digest of
  the manifest as stored), `GetFullConfig` (the OCI config), `GetConfig` (its `config`
  member), `GetBlob(id, digest, size)`, `GetRawBlob(id, digest)`, `GetLayerInfo` (inline)
  and `GetLayerInfoPiped` (`[{"digest", "size", "media_type"}]`), `FinishPipe`, `Shutdown`
  (no reply; the proxy exits 0). End of the socket also ends the proxy with status 0.
- `OpenImage` checks the trust policy as skopeo main does: on the top-level manifest and,
  for a list, on the instance chosen for the (overridden) platform; a list is refused only
  if both checks fail, a single image if its check fails. Nothing but the manifest and
  signatures is read before that.

Every image name goes through `toolkit.transports.parse_image_name`, so every transport
works. Error texts are skopeo's where the proxy itself makes them; errors from transports
are skopo's. Bad requests get an error reply, never a crash: unlike skopeo, `FinishPipe`
without arguments is an error reply (skopeo's proxy panics).

Blobs stream in 1 MiB chunks (memory stays flat); the source's stream verifies size and
digest as every skopo source does, and `GetBlob` reports a mismatch through `FinishPipe`
with skopeo's texts (`expected N bytes in blob, got M`, `corrupted blob, expecting D`).
`GetRawBlob` leaves verification to the client in skopeo; here the source still verifies,
so a corrupted blob is reported on the error fd after its bytes.

No printing: the CLI layer (`toolkit.cli.commands.experimental_image_proxy`) makes the
socket and the factories and runs `serve`.
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import re
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from toolkit.digest import CHUNK_SIZE, Digest
from toolkit.errors import (
    DigestMismatchError,
    ImageNotFoundError,
    NonImageArtifactError,
    NotSupportedError,
    RetryableError,
    ToolkitError,
    safe_text,
)
from toolkit.image import UnparsedImage, read_config
from toolkit.manifest import docker_config_to_oci, manifest_digest, mime, parse_list, parse_manifest
from toolkit.manifest.edit import convert
from toolkit.manifest.formats import OCI1, ImageManifest, Schema1
from toolkit.manifest.gojson import GoStruct, marshal
from toolkit.ops._proxy_json import RequestError, decode_request, go_type_name
from toolkit.policy import PolicyContext
from toolkit.transports import parse_image_name
from toolkit.transports.base import BlobStream, ImageSource
from toolkit.types import BlobInfo, SystemContext

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_MESSAGE_SIZE",
    "ProxyError",
    "Reply",
    "ProxyHandler",
    "open_socket",
    "serve",
]

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "0.2.8"
#: Largest request packet read (a longer one is truncated, as by skopeo's 32 KiB buffer).
MAX_MESSAGE_SIZE = 32 * 1024
#: JavaScript's Number.MAX_SAFE_INTEGER: larger numeric arguments are refused.
_MAX_JSON_FLOAT = float((1 << 53) - 1)
_SENTINEL_IMAGE_ID = 0


class ProxyError(ToolkitError):
    """The proxy cannot go on (socket unusable); ends `serve`."""


class _CallError(Exception):
    """A request failed; `message` is the reply's `error`, `code` its `error_code`."""

    def __init__(self, message: str, code: str = "other") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == 32):
        return "EPIPE"
    if isinstance(exc, RetryableError):
        return "retryable"
    return "other"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, BrokenPipeError):
        return "write |1: broken pipe"  # Go's os.File error for a pipe the client closed
    if isinstance(exc, ToolkitError):
        return str(exc)
    if isinstance(exc, OSError):
        return safe_text(exc.strerror or str(exc))
    return safe_text(str(exc))


def _failure(exc: BaseException) -> _CallError:
    if isinstance(exc, _CallError):
        return exc
    return _CallError(_error_text(exc), _error_code(exc))


@dataclass
class Reply:
    """One reply: `value`, the `pipeid`, the fds to pass (owned: closed once sent), or an error."""

    value: Any = None
    pipeid: int = 0
    fds: list[int] = field(default_factory=list)
    error: str = ""
    error_code: str = ""

    @property
    def success(self) -> bool:
        return not self.error_code

    def encode(self) -> bytes:
        """The reply packet: Go's struct order, every key present."""
        return marshal(GoStruct([
            ("success", self.success),
            ("value", None if not self.success else self.value),
            ("pipeid", self.pipeid),
            ("error_code", self.error_code),
            ("error", self.error),
        ]))

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


# --- pipes ------------------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _ActivePipe:
    """A pipe the client reads; the write end stays open until `FinishPipe`."""

    def __init__(self, write_fd: int, work: Callable[[int], None]) -> None:
        self.write_fd = write_fd
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True,
                                        name=f"proxy-pipe-{write_fd}")
        self._thread.start()

    def _run(self, work: Callable[[int], None]) -> None:
        try:
            work(self.write_fd)
        except BaseException as exc:  # reported by FinishPipe, whatever it is
            self.error = exc

    def finish(self) -> BaseException | None:
        self._thread.join()
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        return self.error


def _go_uint64(value: Any) -> int:
    """skopeo's parseUint64: a JSON number, at most 2^53-1, converted as Go's uint64(f) on amd64."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _CallError(f"expecting numeric, not {go_type_name(value)}")
    f = float(value)
    if f > _MAX_JSON_FLOAT:
        raise _CallError(f"out of range integer for numeric {f:f}")
    return int(f) & ((1 << 64) - 1)


# go-digest's Parse: its error texts, then a skopo Digest (sha256/sha512).
_DIGEST_FORMAT = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_ALGORITHM_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _parse_digest(text: str) -> Digest:
    i = text.find(":")
    if i <= 0 or i + 1 == len(text):
        raise _CallError("invalid checksum digest format")
    algorithm, encoded = text[:i], text[i + 1 :]
    size = _ALGORITHM_SIZES.get(algorithm)
    if size is None:
        if not _DIGEST_FORMAT.fullmatch(text):
            raise _CallError("invalid checksum digest format")
        raise _CallError("unsupported digest algorithm")
    if len(encoded) != size * 2:
        raise _CallError("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise _CallError("invalid checksum digest format")
    try:
        return Digest.parse(text)
    except ToolkitError:
        raise _CallError("unsupported digest algorithm") from None


# --- opened images ----------------------------------------------------------------------------


@dataclass
class _OpenImage:
    id: int
    source: ImageSource
    image: UnparsedImage
    view: ImageManifest
    #: Serialises the source's use when it is not thread safe (see `ImageSource`).
    lock: threading.Lock | None

    def blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if self.lock is None:
            return self.source.get_blob(info)
        with self.lock:
            return self.source.get_blob(info)

    def config(self) -> bytes:
        info = self.view.config_info()
        if isinstance(self.view, Schema1) or info.digest is None:
            raise NotSupportedError("the configuration of a docker schema1 image cannot be read without its layers")
        if isinstance(self.view, OCI1) and self.view.non_image_artifact_type is not None:
            raise NonImageArtifactError(self.view.non_image_artifact_type)
        if self.lock is None:
            return read_config(self.source, info)
        with self.lock:
            return read_config(self.source, info)


class _Locked:
    """A stream whose reads hold the image's lock (for sources that are not thread safe)."""

    def __init__(self, stream: BlobStream, lock: threading.Lock) -> None:
        self._stream = stream
        self._lock = lock

    def read(self, n: int = -1, /) -> bytes:
        with self._lock:
            return self._stream.read(n)

    def close(self) -> None:
        self._stream.close()


def _chunks(stream: BlobStream | BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


class ProxyHandler:
    """The protocol's state machine: one call to `process` per request packet.

    `system_context` and `policy_context` are called by `Initialize` (their
    `ToolkitError`s are reported to the client, as skopeo reports a bad flag or policy
    file there). Not thread safe: `serve` calls it from one thread.
    """

    def __init__(
        self,
        *,
        system_context: Callable[[], SystemContext],
        policy_context: Callable[[], PolicyContext],
    ) -> None:
        self._get_system_context = system_context
        self._get_policy_context = policy_context
        self._ctx: SystemContext | None = None
        self._policy: PolicyContext | None = None
        self._serial = 0
        self._images: dict[int, _OpenImage] = {}
        self._pipes: dict[int, _ActivePipe] = {}
        self._methods: dict[str, Callable[[list[Any]], Reply]] = {
            "Initialize": self.initialize,
            "OpenImage": self.open_image,
            "OpenImageOptional": self.open_image_optional,
            "CloseImage": self.close_image,
            "GetManifest": self.get_manifest,
            "GetConfig": self.get_config,
            "GetFullConfig": self.get_full_config,
            "GetBlob": self.get_blob,
            "GetRawBlob": self.get_raw_blob,
            "GetLayerInfo": self.get_layer_info,
            "GetLayerInfoPiped": self.get_layer_info_piped,
            "FinishPipe": self.finish_pipe,
        }

    # -- dispatch --

    def process(self, packet: bytes) -> tuple[Reply | None, bool]:
        """Handle one packet: (the reply, or None for Shutdown; whether to stop serving)."""
        try:
            method, args = decode_request(packet)
        except RequestError as exc:
            return Reply(error=f"invalid request: {exc}", error_code="other"), False
        log.debug("Executing method %s", method)
        if method == "Shutdown":
            return None, True
        handler = self._methods.get(method)
        if handler is None:
            return Reply(error=f"unknown method: {safe_text(method)}", error_code="other"), False
        try:
            return handler(args), False
        except Exception as exc:  # every failure is an error reply, never a crashed proxy
            if not isinstance(exc, (_CallError, ToolkitError, OSError)):
                log.debug("%s failed", method, exc_info=True)
            failure = _failure(exc)
            return Reply(error=failure.message, error_code=failure.code), False

    def close(self) -> None:
        """Close every open image (at the end of `serve`)."""
        for image in self._images.values():
            try:
                image.source.close()
            except Exception as exc:  # not fatal, as in skopeo
                log.warning("Failed to close image: %s", exc)
        self._images.clear()

    def _require_initialized(self) -> tuple[SystemContext, PolicyContext]:
        if self._ctx is None or self._policy is None:
            raise _CallError("client error: must invoke Initialize")
        return self._ctx, self._policy

    def _image(self, value: Any) -> _OpenImage:
        image_id = _go_uint64(value)
        if image_id == _SENTINEL_IMAGE_ID:
            raise _CallError("invalid imageid value of zero")
        image = self._images.get(image_id)
        if image is None:
            raise _CallError(f"no image {image_id}")
        return image

    def _pipe(self, value: Any, work: Callable[[int], None]) -> Reply:
        read_fd, write_fd = os.pipe()
        pipe = _ActivePipe(write_fd, work)
        self._pipes[write_fd] = pipe
        return Reply(value=value, pipeid=write_fd, fds=[read_fd])

    def _bytes(self, value: Any, data: bytes) -> Reply:
        return self._pipe(value, lambda fd: _write_all(fd, data))

    # -- methods --

    def initialize(self, args: list[Any]) -> Reply:
        if args:
            raise _CallError("invalid request, expecting zero arguments")
        if self._ctx is not None:
            raise _CallError("already initialized")
        ctx = self._get_system_context()
        policy = self._get_policy_context()
        self._ctx, self._policy = ctx, policy
        return Reply(value=PROTOCOL_VERSION)

    def open_image(self, args: list[Any]) -> Reply:
        return self._open(args, allow_not_found=False)

    def open_image_optional(self, args: list[Any]) -> Reply:
        return self._open(args, allow_not_found=True)

    def _open(self, args: list[Any], *, allow_not_found: bool) -> Reply:
        ctx, policy = self._require_initialized()
        if len(args) != 1:
            raise _CallError("invalid request, expecting one argument")
        name = args[0]
        if not isinstance(name, str):
            raise _CallError(f"expecting string imageref, not {go_type_name(name)}")
        ref = parse_image_name(name)
        try:
            source = ref.new_image_source(ctx)
        except ImageNotFoundError as exc:
            if allow_not_found and _counts_as_not_found(ref.transport.name, exc):
                return Reply(value=_SENTINEL_IMAGE_ID)
            raise
        try:
            top = UnparsedImage(source)
            try:
                raw, top_mime = top.manifest()
            except ImageNotFoundError as exc:
                # skopo's sources may find out only here what c/image's find when opened.
                if allow_not_found and _counts_as_not_found(ref.transport.name, exc):
                    source.close()
                    return Reply(value=_SENTINEL_IMAGE_ID)
                raise
            top_error = _policy_error(policy, top)
            if mime.is_list_type(top_mime):
                instance = parse_list(raw, top_mime).choose_instance(ctx)
                target = UnparsedImage(source, instance)
                target_error = _policy_error(policy, target)
                if target_error is not None and top_error is not None:
                    raise target_error
            else:
                target = top
                if top_error is not None:
                    raise top_error
            target_raw, target_mime = target.manifest()
            view = parse_manifest(target_raw, target_mime)
        except BaseException:
            source.close()
            raise
        self._serial += 1
        lock = None if source.has_thread_safe_get_blob else threading.Lock()
        self._images[self._serial] = _OpenImage(self._serial, source, target, view, lock)
        return Reply(value=self._serial)

    def close_image(self, args: list[Any]) -> Reply:
        self._require_initialized()
        if len(args) != 1:
            raise _CallError("invalid request, expecting one argument")
        image = self._image(args[0])
        image.source.close()
        del self._images[image.id]
        return Reply()

    def get_manifest(self, args: list[Any]) -> Reply:
        self._require_initialized()
        if len(args) != 1:
            raise _CallError("invalid request, expecting one argument")
        image = self._image(args[0])
        raw, manifest_mime = image.image.manifest()
        if manifest_mime in (mime.DOCKER_V2S1, mime.DOCKER_V2S1_SIGNED):
            raise _CallError(f"unsupported legacy manifest MIME type: {manifest_mime}")
        if manifest_mime not in (mime.OCI_MANIFEST, mime.DOCKER_V2S2):
            raise _CallError(f"unsupported manifest MIME type: {safe_text(manifest_mime)}")
        digest = manifest_digest(raw)
        serialized = raw
        if manifest_mime != mime.OCI_MANIFEST:
            serialized = convert(image.view, mime.OCI_MANIFEST, config_bytes=image.config()).manifest
        return self._bytes(str(digest), serialized)

    def _oci_config(self, args: list[Any]) -> bytes:
        self._require_initialized()
        if len(args) != 1:
            raise _CallError("invalid request, expecting: [imgid]")
        return docker_config_to_oci(self._image(args[0]).config())

    def get_full_config(self, args: list[Any]) -> Reply:
        return self._bytes(None, self._oci_config(args))

    def get_config(self, args: list[Any]) -> Reply:
        full = json.loads(self._oci_config(args), object_pairs_hook=GoStruct)
        inner = next((v for k, v in full if k == "config"), GoStruct())
        return self._bytes(None, marshal(inner))

    def get_blob(self, args: list[Any]) -> Reply:
        self._require_initialized()
        if len(args) != 3:
            raise _CallError(f"found {len(args)} args, expecting (imgid, digest, size)")
        image = self._image(args[0])
        if not isinstance(args[1], str):
            raise _CallError("expecting string blobid")
        size = _go_uint64(args[2])
        digest = _parse_digest(args[1])
        stream, blob_size = image.blob(BlobInfo(digest=digest, size=-1))
        source = stream if image.lock is None else _Locked(stream, image.lock)

        def work(fd: int) -> None:
            n = 0
            verified = True
            try:
                for chunk in _chunks(source):
                    _write_all(fd, chunk)
                    n += len(chunk)
            except DigestMismatchError:
                verified = False
            finally:
                source.close()
            if n != size:
                error: BaseException = _CallError(f"expected {size} bytes in blob, got {n}")
                if verified:
                    raise error
            if not verified:
                raise _CallError(f"corrupted blob, expecting {digest}")

        try:
            return self._pipe(blob_size, work)
        except BaseException:
            source.close()
            raise

    def get_raw_blob(self, args: list[Any]) -> Reply:
        self._require_initialized()
        if len(args) != 2:
            raise _CallError(f"found {len(args)} args, expecting (imgid, digest)")
        image = self._image(args[0])
        if not isinstance(args[1], str):
            raise _CallError("expecting string blobid")
        digest = _parse_digest(args[1])
        stream, blob_size = image.blob(BlobInfo(digest=digest, size=-1))
        source = stream if image.lock is None else _Locked(stream, image.lock)
        try:
            data_r, data_w = os.pipe()
        except BaseException:
            source.close()
            raise
        try:
            err_r, err_w = os.pipe()
        except BaseException:
            os.close(data_r)
            os.close(data_w)
            source.close()
            raise

        def work() -> None:
            try:
                try:
                    for chunk in _chunks(source):
                        _write_all(data_w, chunk)
                except BaseException as exc:
                    failure = _failure(exc)
                    payload = marshal(GoStruct([("code", failure.code), ("message", failure.message)]))
                    try:
                        _write_all(err_w, payload)
                    except OSError as write_error:
                        log.debug("Writing to client: %s", write_error)
            finally:
                source.close()
                for fd in (data_w, err_w):
                    with contextlib.suppress(OSError):
                        os.close(fd)

        threading.Thread(target=work, daemon=True, name="proxy-raw-blob").start()
        return Reply(value=blob_size, fds=[data_r, err_r])

    def _layer_infos(self, args: list[Any]) -> list[GoStruct]:
        self._require_initialized()
        if len(args) != 1:
            raise _CallError(f"found {len(args)} args, expecting (imgid)")
        image = self._image(args[0])
        for_copy = image.source.layer_infos_for_copy(image.image.instance_digest)
        infos: list[BlobInfo] = list(for_copy) if for_copy is not None else list(image.view.layer_infos())
        return [
            GoStruct([("digest", str(info.digest) if info.digest else ""), ("size", info.size),
                      ("media_type", info.media_type)])
            for info in infos
        ]

    def get_layer_info(self, args: list[Any]) -> Reply:
        return Reply(value=self._layer_infos(args))

    def get_layer_info_piped(self, args: list[Any]) -> Reply:
        return self._bytes(None, marshal(self._layer_infos(args)))

    def finish_pipe(self, args: list[Any]) -> Reply:
        if not args:
            raise _CallError("found 0 args, expecting (pipeid)")
        pipe_id = _go_uint64(args[0]) & 0xFFFFFFFF
        pipe = self._pipes.pop(pipe_id, None)
        if pipe is None:
            raise _CallError(f"finishpipe: no active pipe {pipe_id}")
        error = pipe.finish()
        if error is not None:
            raise _failure(error)
        return Reply()


def _counts_as_not_found(transport: str, exc: ImageNotFoundError) -> bool:
    """skopeo's `isNotFoundImageError`: a registry's MANIFEST_UNKNOWN (not NAME_UNKNOWN), an
    image missing from an existing OCI layout or archive. A missing directory, layout, archive
    or file is an error, as are the other transports' not-found errors."""
    text = str(exc)
    if transport == "docker":
        return re.search(r"\bmanifest unknown\b", text) is not None
    if transport in ("oci", "oci-archive"):
        return "no OCI layout here" not in text and "archive file not found" not in text
    return False


def _policy_error(policy: PolicyContext, image: UnparsedImage) -> ToolkitError | None:
    """The policy's verdict on `image`: None if allowed, else the error."""
    try:
        policy.is_running_image_allowed(image)
    except ToolkitError as exc:
        return exc
    return None


# --- the socket -------------------------------------------------------------------------------


def open_socket(fd: int) -> socket.socket:
    """The client's socket end at `fd` (skopeo's `--sockfd`, 0 = stdin).

    Raises `ProxyError` with skopeo's texts when `fd` is not open, not a socket, or not a
    unix socket.
    """
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise ProxyError("file file+net sock: fcntl: bad file descriptor") from None
    if not stat.S_ISSOCK(mode):
        raise ProxyError("file file+net sock: getsockopt: socket operation on non-socket")
    sock = socket.socket(fileno=os.dup(fd))
    if sock.family != socket.AF_UNIX:
        kind = {socket.SOCK_STREAM: "*net.TCPConn", socket.SOCK_DGRAM: "*net.UDPConn"}.get(sock.type, "*net.IPConn")
        sock.close()
        raise ProxyError(f"expected unix connection, got {kind}")
    return sock


def _send(sock: socket.socket, reply: Reply) -> None:
    data = reply.encode()
    try:
        if reply.fds:
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", reply.fds))]
            sent = sock.sendmsg([data], ancillary)
        else:
            sent = sock.send(data)
    except OSError as exc:
        raise ProxyError(f"writing to socket: {exc.strerror or exc}") from exc
    finally:
        reply.close_fds()
    if sent != len(data):
        raise ProxyError("writing to socket: short write")


def serve(sock: socket.socket, handler: ProxyHandler) -> None:
    """Answer requests on `sock` until Shutdown or end of file; raises `ProxyError` when
    the socket fails. Closes the handler's images at the end."""
    try:
        while True:
            try:
                packet = sock.recv(MAX_MESSAGE_SIZE)
            except OSError as exc:
                raise ProxyError(f"reading socket: {exc.strerror or exc}") from exc
            if not packet:
                return  # end of file (also an empty packet, as Go reads it)
            reply, terminate = handler.process(packet)
            if terminate or reply is None:
                log.debug("terminating")
                return
            _send(sock, reply)
    finally:
        handler.close()
