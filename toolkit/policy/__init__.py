"""The trust policy gate (layer 6).

`PolicyContext` is what the copy engine asks before it reads anything but the source's
manifest and signatures, and before it touches the destination.
"""

from __future__ import annotations

from typing import Protocol

from toolkit.image import UnparsedImage

__all__ = ["PolicyContext", "InsecureAcceptAnything"]


class PolicyContext(Protocol):
    """Decides whether an image may be used."""

    def is_running_image_allowed(self, image: UnparsedImage) -> None:
        """Return if allowed; raise `PolicyRejectedError` naming every reason otherwise."""
        ...


class InsecureAcceptAnything:
    """The `--insecure-policy` context: accepts every image without looking at it."""

    def is_running_image_allowed(self, image: UnparsedImage) -> None:
        return None
