"""Docker image references: the distribution reference grammar and Docker's normalisation.

A re-implementation of the docker reference package as skopeo uses it (containers/image
`docker/reference`, a copy of github.com/distribution/reference):
`parse_normalized_named("busybox")` is `docker.io/library/busybox`, `parse_named` insists
on the canonical form, and error texts are the ones skopeo prints.

Where skopeo's copy and current distribution differ, skopo follows skopeo, except that it
also accepts bracketed IPv6 hosts (`[::1]:5000/x`) as current distribution does:
- an uppercase first component (`Foo/bar`) is not a host: "must be lowercase";
- the 255-character limit counts the whole name, domain included;
- the lowercase error does not quote the name.
One more deliberate difference from both: a reference whose host part is not a valid
host but still reads as a path (`a_b.c/x`) is refused here instead of yielding a
reference with an empty domain.

Contract: inputs are untrusted `str`s of any length; parsing is linear-time and raises only
`InvalidReferenceError` (or `InvalidDigestError` for a malformed `@digest`). A
`NamedReference` is immutable and always grammar-valid. Layer 2: imports only
`toolkit.errors`, `toolkit.digest` and the stdlib.
"""

from __future__ import annotations

from toolkit.reference._grammar import (
    ERR_DIGEST_INVALID_FORMAT,
    ERR_NAME_CONTAINS_UPPERCASE,
    ERR_NAME_EMPTY,
    ERR_NAME_NOT_CANONICAL,
    ERR_NAME_TOO_LONG,
    ERR_REFERENCE_INVALID_FORMAT,
    ERR_TAG_INVALID_FORMAT,
    NAME_TOTAL_LENGTH_MAX,
    TAG_MAX_LENGTH,
    is_full_identifier,
    is_valid_domain,
    is_valid_name,
    is_valid_path,
    is_valid_tag,
)
from toolkit.reference._policy import policy_identity, policy_namespaces
from toolkit.reference._reference import (
    DEFAULT_DOMAIN,
    DEFAULT_TAG,
    LEGACY_DEFAULT_DOMAIN,
    OFFICIAL_REPO_PREFIX,
    NamedReference,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    split_docker_domain,
    tag_name_only,
    validate_tag,
)

__all__ = [
    "policy_identity",
    "policy_namespaces",
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "LEGACY_DEFAULT_DOMAIN",
    "OFFICIAL_REPO_PREFIX",
    "NAME_TOTAL_LENGTH_MAX",
    "TAG_MAX_LENGTH",
    "ERR_DIGEST_INVALID_FORMAT",
    "ERR_NAME_CONTAINS_UPPERCASE",
    "ERR_NAME_EMPTY",
    "ERR_NAME_NOT_CANONICAL",
    "ERR_NAME_TOO_LONG",
    "ERR_REFERENCE_INVALID_FORMAT",
    "ERR_TAG_INVALID_FORMAT",
    "NamedReference",
    "parse_normalized_named",
    "parse_named",
    "parse_docker_ref",
    "tag_name_only",
    "validate_tag",
    "is_valid_tag",
    "is_valid_domain",
    "is_valid_path",
    "is_valid_name",
    "is_full_identifier",
    "split_docker_domain",
]
