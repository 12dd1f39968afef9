"""The `docker-daemon:` transport: images in a Docker engine, through its HTTP API
(containers/image `docker/daemon/`). Works with Docker and podman's compatible service.

Reference syntax (c/image `ParseReference`, same texts): a docker reference with a tag or
a digest (`busybox:latest`, `quay.io/a/b@sha256:...`; never an implied `:latest`), or an
image ID `sha256:<64 hex>` (sources only). Both a tag and a digest are refused, as is a
repository called `sha256`. Named references use the docker policy scopes
(`docker.io/library/busybox:latest`, `docker.io/library/busybox`, ...); image IDs only the
transport's "" scope.

Engine endpoint: `--src-daemon-host`/`--dest-daemon-host`, else `$DOCKER_HOST`, else
`unix:///var/run/docker.sock`; TLS with `--*-cert-dir` (`ca.pem`, `cert.pem`, `key.pem`),
see `_engine.py`.

Source: `GET /images/{name}/get` is the engine's `docker save` stream. Both Docker and
podman write `manifest.json` (which says which member is the config and which are the
layers) at the END of the archive, after every layer, and the copy engine needs the
manifest first and then reads blobs in its own order and in parallel. So the stream is
spooled ONCE, as it arrives, into an unnamed temp file in `--tmpdir` (bounded by the
decompression budget and the free space; deleted on close or crash), then read in place
through the shared `docker-archive` reader (`_docker_tar.ArchiveReader`). Memory stays
flat. The archive MUST hold exactly one image.

Destination: `POST /images/load` whose body is produced on the fly by the shared
`docker-archive` writer (`_docker_tar.ArchiveWriter`) and sent with chunked transfer
encoding: no temp tar. Layers are sent as they come (compressed ones stay compressed, as
c/image does for this transport: the engine decompresses them). The image is tagged with
the destination's `name:tag` (the archive's RepoTags, fully qualified). `commit()` ends
the upload and checks the engine's answer. Leaving without `commit()` drops the
connection before the end of the body, so the engine loads nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import BinaryIO, Final

from toolkit.config.paths import DEFAULT_DOCKER_HOST, docker_daemon_host
from toolkit.digest import Digest
from toolkit.errors import (
    DestinationError,
    InvalidDigestError,
    InvalidImageNameError,
    InvalidReferenceError,
    NotSupportedError,
    PolicyError,
    safe_text,
)
from toolkit.reference import NamedReference, parse_normalized_named, policy_identity, policy_namespaces
from toolkit.transports._docker_tar import (
    ArchiveImageDestination,
    ArchiveImageSource,
    ArchiveReader,
    ArchiveWriter,
    archive_capabilities,
)
from toolkit.transports.base import (
    DestinationCapabilities,
)
from toolkit.transports.docker_daemon._engine import (
    DaemonError,
    DaemonUnavailableError,
    EngineClient,
    ImageLoadUpload,
)
from toolkit.types import LayerCompression, SystemContext

__all__ = [
    "TRANSPORT",
    "DaemonError",
    "DaemonUnavailableError",
    "DockerDaemonTransport",
    "DockerDaemonReference",
    "DockerDaemonImageSource",
    "DockerDaemonImageDestination",
]

log = logging.getLogger(__name__)

_NAME: Final = "docker-daemon"
# go-digest's syntax for the algorithms it knows (a "digest" here is anything it parses).
_GO_DIGEST: Final = re.compile(r"(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})")


def _looks_like_digest(text: str) -> bool:
    return _GO_DIGEST.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class DockerDaemonTransport:
    """The `docker-daemon` transport."""

    name: str = _NAME

    def parse_reference(self, reference: str) -> DockerDaemonReference:
        """Parse `name:tag`, `name@digest` or `sha256:<id>`; raise `InvalidImageNameError`
        with c/image's texts (see the module docstring)."""
        if _looks_like_digest(reference):
            # An image ID. The daemon only refuses to use `sha256` as a repository name, so
            # other algorithms would be ambiguous with `repo:tag`.
            if not reference.startswith("sha256:"):
                raise InvalidImageNameError(
                    f"Invalid docker-daemon: reference {reference}: only digest algorithm sha256 accepted"
                )
            return DockerDaemonReference(image_id=Digest.parse(reference), ref=None)
        try:
            ref = parse_normalized_named(reference)
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise InvalidImageNameError(str(exc.message)) from exc
        if ref.familiar_name() == "sha256":
            raise InvalidImageNameError(
                f"Invalid docker-daemon: reference {safe_text(reference)}: The sha256 repository name is "
                "reserved for (non-shortened) digest references"
            )
        if ref.is_name_only():
            raise InvalidImageNameError(
                f"docker-daemon: reference {ref.familiar_string()} has neither a tag nor a digest"
            )
        if ref.tag is not None and ref.digest is not None:
            raise InvalidImageNameError(
                "docker-daemon: references with both a tag and digest are currently not supported"
            )
        return DockerDaemonReference(image_id=None, ref=ref)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """Docker scopes are accepted; an `algo:hex` image ID cannot be a namespace."""
        if _looks_like_digest(scope):
            raise PolicyError(f"docker-daemon: can not use algo:digest value {safe_text(scope)} as a namespace")


TRANSPORT = DockerDaemonTransport()


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerDaemonReference:
    """Exactly one of `image_id` (a sha256 config digest) and `ref` (a docker reference
    with exactly one of a tag and a digest). Made only by `TRANSPORT.parse_reference`."""

    image_id: Digest | None
    ref: NamedReference | None

    @property
    def transport(self) -> DockerDaemonTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        """The image ID, or the familiar form of the reference (`busybox:latest`)."""
        if self.image_id is not None:
            return str(self.image_id)
        assert self.ref is not None
        return self.ref.familiar_string()

    def docker_reference(self) -> NamedReference | None:
        return self.ref

    def policy_configuration_identity(self) -> str:
        if self.ref is None:
            return ""  # image IDs fall into the transport's "" scope
        return policy_identity(self.ref)

    def policy_configuration_namespaces(self) -> list[str]:
        if self.ref is None:
            return []
        return policy_namespaces(self.ref)

    def new_image_source(self, ctx: SystemContext) -> DockerDaemonImageSource:
        return DockerDaemonImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> DockerDaemonImageDestination:
        return DockerDaemonImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        raise NotSupportedError("Deleting images not implemented for docker-daemon: images")

    def __str__(self) -> str:
        return f"{_NAME}:{self.string_within_transport()}"


def _client(ctx: SystemContext) -> EngineClient:
    host = docker_daemon_host(ctx.daemon_host)
    return EngineClient.connect(host, cert_dir=ctx.cert_dir, tls_verify=ctx.tls_verify, tls_details=ctx.tls_details)


class DockerDaemonImageSource(ArchiveImageSource):
    """Reads one image out of the engine (see the module docstring for the spooling).

    Construction does all the I/O: it raises `DaemonUnavailableError` (engine not
    reachable), `ImageNotFoundError` (exit 2: no such image in the engine), `DaemonError`
    (any other refusal or a broken stream), and what the archive reader raises for a
    malformed archive (`ArchiveError`, `SizeLimitError`). Blobs can then be read from
    several threads at once; `close()` deletes the temporary copy.
    """

    def __init__(self, ref: DockerDaemonReference, ctx: SystemContext) -> None:
        self._ref = ref
        client = _client(ctx)
        with client.image_save(ref.string_within_transport()) as stream:
            log.debug("docker-daemon: spooling the engine's save stream of %s", ref)
            archive = ArchiveReader.from_stream(stream, ctx, f"docker-daemon {ref}")
        try:
            # c/image: no reference and no index, so the archive must hold exactly one image.
            image = archive.open_image(None, None)
        except BaseException:
            archive.close()
            raise
        super().__init__(archive, image, "docker-daemon")

    @property
    def reference(self) -> DockerDaemonReference:
        return self._ref


def _capabilities(must_match_runtime_os: bool) -> DestinationCapabilities:
    # c/image daemon_dest.go: PreserveOriginal; the engine decompresses layer files.
    return archive_capabilities(
        desired_layer_compression=LayerCompression.PRESERVE, must_match_runtime_os=must_match_runtime_os
    )


class DockerDaemonImageDestination(ArchiveImageDestination):
    """Loads one image into the engine, streaming the archive as it is written.

    Opening refuses an image-ID or digest reference (`DestinationError("Invalid
    destination docker-daemon:X: a destination must be a name:tag")`), then reaches the
    engine and starts the upload (`DaemonUnavailableError` if it cannot). `commit()`
    raises `DaemonError` with the engine's message if the engine refuses the image.
    Without `commit()`, the upload is cut off and nothing is loaded.
    """

    def __init__(self, ref: DockerDaemonReference, ctx: SystemContext) -> None:
        if ref.ref is None or ref.ref.tag is None:
            raise DestinationError(
                f"Invalid destination docker-daemon:{ref.string_within_transport()}: a destination must be a name:tag"
            )
        self._ref = ref
        self._repo_tags: list[NamedReference] = [ref.ref]
        host = docker_daemon_host(ctx.daemon_host)
        # As c/image: only the local default engine must run images of this machine's OS.
        self._capabilities = _capabilities(must_match_runtime_os=host == DEFAULT_DOCKER_HOST)
        self._upload: ImageLoadUpload = _client(ctx).start_image_load()
        self._writer = ArchiveWriter(self._upload_io(), seekable=False, ctx=ctx)

    def _upload_io(self) -> BinaryIO:
        # ArchiveWriter only calls write() (and flush()); the upload provides both.
        return self._upload  # type: ignore[return-value]

    @property
    def reference(self) -> DockerDaemonReference:
        return self._ref

    @property
    def capabilities(self) -> DestinationCapabilities:
        return self._capabilities

    def commit(self) -> None:
        """Finish the archive, end the upload and check the engine's answer."""
        if self._committed:
            return
        self._finish_archive("docker-daemon")
        # As c/image: once the body is complete the engine decides; we only report.
        self._committed = True
        self._upload.finish()
        for message in self._upload.messages:
            log.info("docker engine: %s", message)

    def _abort(self) -> None:
        log.debug("docker-daemon: cutting the upload short to abort loading")
        self._upload.abort()
