"""Placeholders for skopeo transports that skopo does not implement (yet).

They are registered under their real names so that `skopo` recognises every skopeo
transport name, and refuse clearly instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from toolkit.errors import NotSupportedError, PolicyError

__all__ = ["UnsupportedTransport"]


@dataclass(frozen=True, slots=True)
class UnsupportedTransport:
    """A transport name that is known but not available in skopo."""

    name: str
    reason: str = "is not supported yet"

    def parse_reference(self, reference: str) -> NoReturn:
        raise NotSupportedError(f'transport "{self.name}" {self.reason}')

    def validate_policy_configuration_scope(self, scope: str) -> None:
        # Policies written for other tools may mention these transports; they are valid
        # configuration even if skopo cannot use them.
        if not isinstance(scope, str):
            raise PolicyError(f"invalid scope for transport {self.name}")


DOCKER = UnsupportedTransport("docker")
DOCKER_ARCHIVE = UnsupportedTransport("docker-archive")
OCI = UnsupportedTransport("oci")
OCI_ARCHIVE = UnsupportedTransport("oci-archive")
DIR = UnsupportedTransport("dir")
DOCKER_DAEMON = UnsupportedTransport("docker-daemon")
TARBALL = UnsupportedTransport("tarball")
ATOMIC = UnsupportedTransport("atomic", "is not supported (deprecated OpenShift transport)")
OSTREE = UnsupportedTransport("ostree", "is not supported in this build")
