"""Policy identities and namespaces of docker references (containers/image
`docker/policyconfiguration`), shared by policy.json, registries.d and every transport
whose images are named by docker references.

- `policy_identity(ref)`: `name:tag` or `name@digest`, fully expanded; `ref` MUST carry
  exactly one of a tag and a digest, else `InvalidReferenceError`.
- `policy_namespaces(ref)`: the repository, each parent namespace up to the host (with
  its port), then the host's wildcard domains with the port stripped (`*.example.com`,
  `*.com`), most specific first. An IPv6 host gives no wildcards.
"""

from __future__ import annotations

from toolkit.errors import InvalidReferenceError
from toolkit.reference._reference import NamedReference

__all__ = ["policy_identity", "policy_namespaces"]


def policy_identity(ref: NamedReference) -> str:
    """The policy identity of a tagged or digested reference."""
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


def policy_namespaces(ref: NamedReference) -> list[str]:
    """Namespaces to try after the identity, most specific first."""
    out: list[str] = []
    name = ref.name
    while True:
        out.append(name)
        if "/" not in name:
            break
        name = name.rsplit("/", 1)[0]
    if name.startswith("["):
        return out  # an IPv6 literal has no parent domains
    host = name.split(":", 1)[0]
    while "." in host:
        host = host.split(".", 1)[1]
        out.append("*." + host)
    return out
