"""The `hello:` transport: names only, no images behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from toolkit.errors import InvalidImageNameError, NotSupportedError, PolicyError


@dataclass(frozen=True, slots=True)
class HelloReference:
    """`hello:<text>`; `text` is any non-empty string without control characters."""

    text: str

    @property
    def transport(self) -> HelloTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return self.text

    def docker_reference(self) -> None:
        return None

    def policy_configuration_identity(self) -> str:
        return self.text

    def policy_configuration_namespaces(self) -> list[str]:
        return []

    def _unsupported(self) -> NoReturn:
        raise NotSupportedError("the hello transport has no images")

    def new_image_source(self, ctx: object) -> NoReturn:
        self._unsupported()

    def new_image_destination(self, ctx: object) -> NoReturn:
        self._unsupported()

    def delete_image(self, ctx: object) -> NoReturn:
        self._unsupported()


@dataclass(frozen=True, slots=True)
class HelloTransport:
    """The transport object registered under `toolkit.transports` as `hello`."""

    name: str = "hello"

    def parse_reference(self, reference: str) -> HelloReference:
        if not reference or not reference.isprintable():
            raise InvalidImageNameError(f"invalid hello reference {reference!r}")
        return HelloReference(reference)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        if not scope:
            raise PolicyError("empty scope for the hello transport")


TRANSPORT = HelloTransport()
