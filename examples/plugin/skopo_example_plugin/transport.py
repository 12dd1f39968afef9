"""The `example-dir:PATH` transport: a read-only view of a `dir:` image.

It shows how a plugin transport can build on another transport without importing its
internals: the `dir` transport is looked up in skopo's public registry
(`toolkit.get_transport`) and every read is delegated to it. Everything it uses comes from
skopo's public API, the package `toolkit` itself. The wrapper keeps
its own name, so policy.json scopes apply under `"example-dir"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn

from toolkit import (
    BlobInfo,
    BlobStream,
    Digest,
    ImageReference,
    ImageSource,
    NamedReference,
    NotSupportedError,
    SystemContext,
    Transport,
    get_transport,
)

NAME = "example-dir"


def _dir() -> Transport:
    return get_transport("dir")


@dataclass(frozen=True, slots=True)
class ExampleDirReference:
    """`example-dir:PATH`: the `dir:PATH` reference it wraps."""

    inner: ImageReference

    @property
    def transport(self) -> ExampleDirTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return self.inner.string_within_transport()

    def docker_reference(self) -> NamedReference | None:
        return self.inner.docker_reference()

    def policy_configuration_identity(self) -> str:
        return self.inner.policy_configuration_identity()

    def policy_configuration_namespaces(self) -> list[str]:
        return self.inner.policy_configuration_namespaces()

    def new_image_source(self, ctx: SystemContext) -> ExampleDirSource:
        return ExampleDirSource(self, self.inner.new_image_source(ctx))

    def _read_only(self) -> NoReturn:
        raise NotSupportedError(f"{NAME}: is read-only; write to dir:{self.string_within_transport()} instead")

    def new_image_destination(self, ctx: SystemContext) -> NoReturn:
        self._read_only()

    def delete_image(self, ctx: SystemContext) -> NoReturn:
        self._read_only()


class ExampleDirSource:
    """Delegates every read to the `dir:` source, but reports the `example-dir:` reference."""

    def __init__(self, reference: ExampleDirReference, inner: ImageSource) -> None:
        self._reference = reference
        self._inner = inner

    @property
    def reference(self) -> ExampleDirReference:
        return self._reference

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        return self._inner.get_manifest(instance_digest)

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        return self._inner.get_blob(info)

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        return self._inner.get_signatures(instance_digest)

    def layer_infos_for_copy(self, instance_digest: Digest | None = None) -> list[BlobInfo] | None:
        return self._inner.layer_infos_for_copy(instance_digest)

    @property
    def has_thread_safe_get_blob(self) -> bool:
        return self._inner.has_thread_safe_get_blob

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> ExampleDirSource:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class ExampleDirTransport:
    """The object registered under `toolkit.transports` as `example-dir`."""

    name: str = NAME

    def parse_reference(self, reference: str) -> ExampleDirReference:
        return ExampleDirReference(_dir().parse_reference(reference))

    def validate_policy_configuration_scope(self, scope: str) -> None:
        _dir().validate_policy_configuration_scope(scope)


TRANSPORT = ExampleDirTransport()
