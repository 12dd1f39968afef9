"""Docker references with normalisation (distribution's `normalize.go`, `reference.go`,
`helpers.go`): `busybox` means `docker.io/library/busybox`.

Contract:
- Every `str` given to a `parse_*` function is untrusted. The result is a
  `NamedReference` or an `InvalidReferenceError` (`InvalidDigestError` when only the
  `@digest` part is wrong); no other exception, for any `str`, in time linear in its length.
- A `NamedReference` always holds a grammar-valid domain, path, tag and a validated
  `Digest`; its constructor checks that, so `dataclasses.replace` cannot break it either.
  The constructor does not normalise: build references with the `parse_*` functions.
- Error texts are the ones skopeo prints (containers/image's copy of distribution's
  package); see the package docstring for where that copy and distribution differ.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from toolkit._record import record
from toolkit.digest import Digest
from toolkit.errors import InvalidReferenceError
from toolkit.reference._grammar import (
    ERR_DIGEST_INVALID_FORMAT,
    ERR_NAME_CONTAINS_UPPERCASE,
    ERR_NAME_NOT_CANONICAL,
    ERR_NAME_TOO_LONG,
    ERR_REFERENCE_INVALID_FORMAT,
    ERR_TAG_INVALID_FORMAT,
    NAME_TOTAL_LENGTH_MAX,
    is_full_identifier,
    is_valid_domain,
    is_valid_path,
    is_valid_tag,
    parse_raw,
)

__all__ = [
    "DEFAULT_DOMAIN",
    "LEGACY_DEFAULT_DOMAIN",
    "OFFICIAL_REPO_PREFIX",
    "DEFAULT_TAG",
    "NamedReference",
    "parse_normalized_named",
    "parse_named",
    "parse_docker_ref",
    "tag_name_only",
    "validate_tag",
    "split_docker_domain",
]


#: Docker Hub's canonical domain in normalised names.
DEFAULT_DOMAIN: Final = "docker.io"
#: Docker Hub's old name; normalised to `DEFAULT_DOMAIN`.
LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
#: Namespace of Docker Hub's official images (`busybox` is `library/busybox`).
OFFICIAL_REPO_PREFIX: Final = "library/"
#: The tag `tag_name_only` adds.
DEFAULT_TAG: Final = "latest"

_LOCALHOST: Final = "localhost"


@record
class NamedReference:
    """A named docker reference: `domain/path[:tag][@digest]`.

    `domain` is a registry host with optional port (`docker.io`, `localhost:5000`,
    `[::1]:5000`; never empty), `path` the repository inside it (`library/busybox`),
    `tag` and `digest` optional. A reference may carry both a tag and a digest
    (`name:tag@digest`); transports decide whether they accept that.

    Raises `InvalidReferenceError` if a field does not follow the grammar (or `name` is
    longer than 255 characters). Equality and hashing are by value.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if not is_valid_domain(self.domain) or not is_valid_path(self.path):
            raise InvalidReferenceError(ERR_REFERENCE_INVALID_FORMAT)
        if len(self.domain) + 1 + len(self.path) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReferenceError(ERR_NAME_TOO_LONG)
        if self.tag is not None and not is_valid_tag(self.tag):
            raise InvalidReferenceError(ERR_TAG_INVALID_FORMAT)
        if self.digest is not None and not isinstance(self.digest, Digest):
            raise InvalidReferenceError(ERR_DIGEST_INVALID_FORMAT)

    @property
    def name(self) -> str:
        """The repository name without tag or digest: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        """The full canonical form: `name[:tag][@digest]`."""
        return self.name + self._suffix()

    def _suffix(self) -> str:
        text = f":{self.tag}" if self.tag is not None else ""
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def familiar_name(self) -> str:
        """The name as Docker's UI shows it: `docker.io/` and a lone `library/` dropped
        (`busybox`, `foo/bar`, `library/a/b`, `quay.io/x/y`)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        # Only a single component under library/ is an official image; library/a/b stays.
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]:
            return path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar_string(self) -> str:
        """`familiar_name()` plus `:tag` and `@digest` when present."""
        return self.familiar_name() + self._suffix()

    def is_name_only(self) -> bool:
        """True if the reference has neither a tag nor a digest."""
        return self.tag is None and self.digest is None

    def with_tag(self, tag: str) -> NamedReference:
        """This reference with `tag` (replacing any tag). A digest is kept, as
        distribution's `WithTag` does for a canonical reference.

        Raises `InvalidReferenceError("invalid tag format")` for an invalid tag.
        """
        return replace(self, tag=validate_tag(tag))

    def with_digest(self, digest: Digest) -> NamedReference:
        """This reference with `digest` (replacing any digest); a tag is kept, as in
        distribution's `WithDigest`. Raises `InvalidReferenceError("invalid digest format")`
        if `digest` is not a `Digest`."""
        if not isinstance(digest, Digest):
            raise InvalidReferenceError(ERR_DIGEST_INVALID_FORMAT)
        return replace(self, digest=digest)

    def name_only(self) -> NamedReference:
        """This reference without tag and digest (distribution's `TrimNamed`)."""
        if self.is_name_only():
            return self
        return replace(self, tag=None, digest=None)


def validate_tag(tag: str) -> str:
    """Return `tag` if it is a valid tag; raise `InvalidReferenceError("invalid tag
    format")` otherwise. `tag` is untrusted."""
    if not is_valid_tag(tag):
        raise InvalidReferenceError(ERR_TAG_INVALID_FORMAT)
    return tag


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split a familiar name into `(domain, remainder)` the way Docker does (distribution's
    `splitDockerDomain`); the remainder keeps any `:tag` / `@digest`.

    The first `/`-separated component is the domain if it is `localhost` or contains `.`
    or `:`; otherwise the domain is `docker.io` and the whole text is the remainder.
    `index.docker.io` becomes `docker.io`, and on `docker.io` a single-component remainder
    gets `library/`. A name
    with no `/` at all is always on Docker Hub (so `localhost:5000` is `localhost` tagged
    `5000`). Nothing is validated; never raises.
    """
    maybe_domain, slash, maybe_remainder = name.partition("/")
    if not slash:
        # Familiar single-component names ("ubuntu", "ubuntu:22.04"); treating them here
        # keeps "name:tag" from being read as "host:port".
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == _LOCALHOST:
        domain, remainder = maybe_domain, maybe_remainder
    elif maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remainder = DEFAULT_DOMAIN, maybe_remainder
    elif "." in maybe_domain or ":" in maybe_domain:
        domain, remainder = maybe_domain, maybe_remainder
    else:
        # skopeo's copy of the package (containers/image docker/reference) stops here.
        # Current distribution also takes an uppercase first component ("Foo/bar") as a
        # host; we do not, so `Foo/bar` is "must be lowercase" as skopeo says.
        domain, remainder = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized_named(text: str) -> NamedReference:
    """Parse a reference as a user types it and return its normalised form
    (distribution's `ParseNormalizedNamed`): `busybox` -> `docker.io/library/busybox`,
    `foo/bar:1` -> `docker.io/foo/bar:1`. No tag is added (see `tag_name_only`).

    `text` is untrusted. Raises `InvalidReferenceError` with skopeo's messages:
    `invalid repository name (<hex>), cannot specify 64-byte hexadecimal strings`,
    `invalid reference format: repository name must be lowercase`,
    `invalid reference format`, `repository name must not be more than 255 characters`;
    raises `InvalidDigestError` when the `@digest` part is well-formed but not a supported,
    valid digest (only sha256 and sha512 are accepted).
    """
    if not isinstance(text, str):
        raise InvalidReferenceError(ERR_REFERENCE_INVALID_FORMAT)
    if is_full_identifier(text):
        # A bare 64-hex string is an image ID, too ambiguous to be read as a name.
        raise InvalidReferenceError(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_docker_domain(text)
    # As distribution: the text before the first ":" (tag, or the digest's algorithm
    # separator) must be lowercase; this gives a clearer message than "invalid format".
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        # skopeo's text; current distribution also quotes the name.
        raise InvalidReferenceError(f"{ERR_REFERENCE_INVALID_FORMAT}: {ERR_NAME_CONTAINS_UPPERCASE}")
    raw = parse_raw(f"{domain}/{remainder}")
    if not raw.domain:
        # The chosen "domain" was not a valid host, yet domain/remainder is a valid path
        # (e.g. "a_b.c/x"). distribution returns a reference with an empty domain that no
        # registry can serve; refuse it here instead.
        raise InvalidReferenceError(ERR_REFERENCE_INVALID_FORMAT)
    digest = Digest.parse(raw.digest) if raw.digest is not None else None
    return NamedReference(raw.domain, raw.path, raw.tag, digest)


def parse_named(text: str) -> NamedReference:
    """Parse a reference that must already be in canonical form (distribution's
    `ParseNamed`): `docker.io/library/busybox:latest` is accepted, `busybox` is not.

    Raises what `parse_normalized_named` raises, and `InvalidReferenceError("repository
    name must be canonical")` if normalising would change the text.
    """
    ref = parse_normalized_named(text)
    if str(ref) != text:
        raise InvalidReferenceError(ERR_NAME_NOT_CANONICAL)
    return ref


def tag_name_only(ref: NamedReference) -> NamedReference:
    """`ref` with the tag `latest` if it has neither tag nor digest, else `ref` unchanged
    (distribution's `TagNameOnly`)."""
    if ref.is_name_only():
        return ref.with_tag(DEFAULT_TAG)
    return ref


def parse_docker_ref(text: str) -> NamedReference:
    """Docker's convention (distribution's `ParseDockerRef`): normalise, drop the tag when
    a digest is present, add `latest` when neither is. Raises as `parse_normalized_named`.
    """
    ref = parse_normalized_named(text)
    if ref.tag is not None and ref.digest is not None:
        return replace(ref, tag=None)
    return tag_name_only(ref)
