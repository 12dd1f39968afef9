"""Policy identities and namespaces of docker references (containers/image
`docker/policyconfiguration`), shared by every transport whose images are named by docker
references (`docker:`, `docker-daemon:`).

Contract (pure functions, no I/O):
- `docker_reference_identity(ref)`: `name:tag` or `name@digest`, fully expanded
  (`docker.io/library/busybox:latest`). `ref` MUST carry exactly one of a tag and a
  digest; otherwise `InvalidReferenceError` (c/image reports both cases as errors too).
- `docker_reference_namespaces(ref)`: the repository, each parent namespace up to the
  host (with its port), then the host's wildcard domains with the port stripped
  (`*.example.com`, `*.com`), in that order, as c/image lists them.
"""

from __future__ import annotations

from toolkit.errors import InvalidReferenceError
from toolkit.reference import NamedReference

__all__ = ["docker_reference_identity", "docker_reference_namespaces"]


def docker_reference_identity(ref: NamedReference) -> str:
    """The policy identity of a tagged or digested reference (see the module contract)."""
    if ref.tag is not None and ref.digest is not None:
        raise InvalidReferenceError(
            f"Unexpected Docker reference {ref.familiar_string()} with both a name and a digest"
        )
    if ref.tag is not None:
        return f"{ref.name}:{ref.tag}"
    if ref.digest is not None:
        return f"{ref.name}@{ref.digest}"
    raise InvalidReferenceError(
        f"Internal inconsistency: Docker reference {ref.familiar_string()} with neither a tag nor a digest"
    )


def docker_reference_namespaces(ref: NamedReference) -> list[str]:
    """Namespaces to try after the identity, most specific first (see the module contract)."""
    out: list[str] = []
    name = ref.name
    while True:
        out.append(name)
        slash = name.rfind("/")
        if slash < 0:
            break
        name = name[:slash]
    # `name` is now the host[:port]; c/image cuts at the first ":" before wildcarding.
    host = name.split(":", 1)[0]
    while (dot := host.find(".")) >= 0:
        host = host[dot + 1 :]
        out.append(f"*.{host}")
    return out
