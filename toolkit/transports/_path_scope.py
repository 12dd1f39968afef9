"""Policy scopes for path-based transports (dir:, oci:, oci-archive:, sif:).

As containers/image `internal/image/...explicitfilepath`: the identity is the resolved
absolute path (symlinks resolved; a missing final component is allowed, its parent must
resolve), the namespaces are its parent directories up to but excluding `/`.
`PathReferenceMixin` gives a reference with a `resolved_path` that policy face.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from toolkit.errors import InvalidImageNameError, PolicyError, safe_text
from toolkit.gocompat import path_clean

if TYPE_CHECKING:  # annotations only
    from toolkit.reference import NamedReference

__all__ = ["resolve_existing_path", "path_namespaces", "validate_path_scope", "PathReferenceMixin"]


def resolve_existing_path(path: str) -> str:
    """Absolute, symlink-free form of `path`; only the last component may be missing.

    Raises `InvalidImageNameError` if a parent does not exist.
    """
    absolute = os.path.abspath(path)
    if os.path.lexists(absolute):
        return os.path.realpath(absolute)
    parent, base = os.path.split(absolute)
    if not os.path.exists(parent):
        raise InvalidImageNameError(f'error resolving "{safe_text(path)}": parent directory does not exist')
    resolved_parent = os.path.realpath(parent)
    return os.path.join(resolved_parent, base)


def path_namespaces(identity: str) -> list[str]:
    """Parent directories of `identity`, most specific first, excluding `/`."""
    out: list[str] = []
    current = os.path.dirname(identity)
    while current and current != "/":
        out.append(current)
        current = os.path.dirname(current)
    return out


def validate_path_scope(scope: str) -> None:
    """A policy scope for a path transport must be absolute, clean, and not `/`."""
    if not scope.startswith("/"):
        raise PolicyError(f'Invalid scope "{safe_text(scope)}": must be an absolute path')
    if scope == "/":
        raise PolicyError('Invalid scope "/": Use the generic default scope ""')
    cleaned = path_clean(scope)  # c/image: filepath.Clean, which is path.Clean on Unix
    if cleaned != scope:
        raise PolicyError(f'Invalid scope "{safe_text(scope)}": Uses non-canonical format, perhaps try {cleaned}')


class PathReferenceMixin:
    """The policy face of a path-based reference: no docker reference (c/image: these
    transports have none), identity = `resolved_path`, namespaces = its parent directories.

    The class using it provides `resolved_path` (absolute, symlink-free; see
    `resolve_existing_path`).
    """

    __slots__ = ()
    resolved_path: str

    def docker_reference(self) -> NamedReference | None:
        return None

    def policy_configuration_identity(self) -> str:
        return self.resolved_path

    def policy_configuration_namespaces(self) -> list[str]:
        return path_namespaces(self.resolved_path)
