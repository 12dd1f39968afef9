"""The distribution reference grammar, as linear-time checks (no normalisation here).

This is the lexical layer of `toolkit.reference`: it mirrors `regexp.go` and `Parse` of
github.com/distribution/reference (and of skopeo's copy, containers/image
`docker/reference`, which is the same grammar without bracketed IPv6 hosts):

```
reference        := name [ ":" tag ] [ "@" digest ]
name             := [domain "/"] remote-name
domain           := host [":" port-number]
host             := domain-name | "[" IPv6address "]"
domain-name      := domain-component ["." domain-component]*
domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
port-number      := /[0-9]+/
remote-name      := path-component ["/" path-component]*
path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*/
tag              := /[\\w][\\w.-]{0,127}/
digest           := /[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/
```

Contract:
- Every input here is untrusted and may be any `str` of any length. Go uses RE2 (linear
  time); Python's `re` backtracks, so the reference is first cut at its unambiguous
  separators (`@`, the last `/`, `:`) and each piece is checked with a `fullmatch` whose
  pattern cannot backtrack more than linearly (pieces are separated by characters that the
  neighbouring repetitions cannot match; possessive quantifiers where that is not obvious).
- `\\w`, `[0-9]` and friends are spelled out in ASCII: Python's `\\w` and `str.isdigit`
  accept Unicode, Go's do not.
- `fullmatch` is used throughout because `$` in Python also matches before a final newline.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from toolkit._lazy import lazy_pattern
from toolkit.errors import InvalidReferenceError

__all__ = [
    "NAME_TOTAL_LENGTH_MAX",
    "TAG_MAX_LENGTH",
    "ERR_REFERENCE_INVALID_FORMAT",
    "ERR_TAG_INVALID_FORMAT",
    "ERR_DIGEST_INVALID_FORMAT",
    "ERR_NAME_CONTAINS_UPPERCASE",
    "ERR_NAME_EMPTY",
    "ERR_NAME_TOO_LONG",
    "ERR_NAME_NOT_CANONICAL",
    "RawReference",
    "is_valid_tag",
    "is_valid_domain",
    "is_valid_path",
    "is_valid_name",
    "is_full_identifier",
    "split_name",
    "parse_raw",
]

#: Maximum length of a repository name, domain included (`docker.io/library/busybox`), as
#: in skopeo's copy of the package. (distribution since 2024 counts the path only.)
NAME_TOTAL_LENGTH_MAX: Final = 255
#: Maximum length of a tag (one leading character and up to 127 more).
TAG_MAX_LENGTH: Final = 128

# Error texts, verbatim from distribution/reference (they are what users see).
ERR_REFERENCE_INVALID_FORMAT: Final = "invalid reference format"
ERR_TAG_INVALID_FORMAT: Final = "invalid tag format"
ERR_DIGEST_INVALID_FORMAT: Final = "invalid digest format"
ERR_NAME_CONTAINS_UPPERCASE: Final = "repository name must be lowercase"
ERR_NAME_EMPTY: Final = "repository name must have at least one component"
ERR_NAME_TOO_LONG: Final = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_NAME_NOT_CANONICAL: Final = "repository name must be canonical"

# One path component. Possessive quantifiers: an alphanumeric run can only be followed by
# a separator, "/" or the end, so giving characters back can never help a match.
_PATH_COMPONENT_RE: Final = lazy_pattern(r"[a-z0-9]++(?:(?:[._]|__|-++)[a-z0-9]++)*+")
# A DNS-like host name, or a bracketed IPv6 address (no zone, no dotted IPv4 tail), then an
# optional numeric port. Labels are separated by "." which no label character matches, so
# backtracking stays linear.
_DOMAIN_LABEL: Final = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN_RE: Final = lazy_pattern(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*+|\[[a-fA-F0-9:]++\])(?::[0-9]++)?")
_TAG_RE: Final = lazy_pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_SYNTAX_RE: Final = lazy_pattern(r"[A-Za-z][A-Za-z0-9]*+(?:[-_+.][A-Za-z][A-Za-z0-9]*+)*+:[0-9a-fA-F]{32,}+")
_IDENTIFIER_RE: Final = lazy_pattern(r"[a-f0-9]{64}")


def is_valid_tag(tag: str) -> bool:
    """True if `tag` is a valid tag (`[\\w][\\w.-]{0,127}`, ASCII only). Never raises."""
    return isinstance(tag, str) and _TAG_RE().fullmatch(tag) is not None


def is_valid_domain(domain: str) -> bool:
    """True if `domain` is a registry host with an optional port (distribution's
    `DomainRegexp`, anchored): `example.com`, `localhost:5000`, `[::1]:5000`, `Foo`.

    Uppercase letters are allowed in a host. Never raises.
    """
    return isinstance(domain, str) and _DOMAIN_RE().fullmatch(domain) is not None


def is_valid_path(path: str) -> bool:
    """True if `path` is a remote name: lowercase path components joined by `/`.

    The length limit is not checked here. Never raises.
    """
    if not isinstance(path, str) or not path:
        return False
    # str.split is linear; each component is then matched on its own.
    return all(_PATH_COMPONENT_RE().fullmatch(part) is not None for part in path.split("/"))


def is_valid_name(name: str) -> bool:
    """True if `name` matches distribution's `NameRegexp` anchored: `[domain/]remote-name`,
    without tag or digest. Short names (`busybox`) qualify. Never raises."""
    return isinstance(name, str) and split_name(name) is not None


def is_full_identifier(text: str) -> bool:
    """True if `text` is exactly 64 lowercase hex characters (an image ID without
    `sha256:`), which `parse_normalized_named` refuses as a repository name."""
    return isinstance(text, str) and _IDENTIFIER_RE().fullmatch(text) is not None


def split_name(name: str) -> tuple[str, str] | None:
    """Split a name (no tag, no digest) into `(domain, path)`, or None if it is not one.

    As distribution's anchored name regexp (leftmost-first), the first component is the
    domain whenever it *can* be one and something follows; otherwise the domain is `""`
    and the whole name is the path (for example `foo/bar` gives `("foo", "bar")`, `foo`
    gives `("", "foo")`, `a_b.c/d` gives `("", "a_b.c/d")`). Normalisation
    (`split_docker_domain`) is a separate, later question. Never raises.
    """
    first, slash, rest = name.partition("/")
    if slash and _DOMAIN_RE().fullmatch(first) is not None and is_valid_path(rest):
        return first, rest
    if is_valid_path(name):
        return "", name
    return None


class RawReference(NamedTuple):
    """The pieces of a syntactically valid reference (distribution's `Parse`), before any
    normalisation. `domain` may be `""`; `digest` is the digest text, not yet validated."""

    domain: str
    path: str
    tag: str | None
    digest: str | None


def _split_reference(text: str) -> RawReference | None:
    """Match `text` against the whole reference grammar; None if it does not match.

    Cutting points are unambiguous: no part but the digest may follow `@` (and the digest
    holds no `@`), and the tag is what follows a `:` after the last `/` (a port is always
    followed by `/`, path components hold no `:`).
    """
    name_and_tag, at, digest_text = text.partition("@")
    digest: str | None = None
    if at:
        if _DIGEST_SYNTAX_RE().fullmatch(digest_text) is None:
            return None
        digest = digest_text
    last_slash = name_and_tag.rfind("/")
    colon = name_and_tag.find(":", last_slash + 1)
    tag: str | None = None
    name = name_and_tag
    if colon >= 0:
        name, tag = name_and_tag[:colon], name_and_tag[colon + 1 :]
        if _TAG_RE().fullmatch(tag) is None:
            return None
    parts = split_name(name)
    if parts is None:
        return None
    return RawReference(parts[0], parts[1], tag, digest)


def parse_raw(text: str) -> RawReference:
    """Parse `text` exactly like distribution's `Parse`, except that the digest is returned
    as text (the caller validates it with `Digest.parse`).

    Raises `InvalidReferenceError` with distribution's messages: `repository name must
    have at least one component` (empty input), `repository name must be lowercase` (the
    text would parse once lowercased), `invalid reference format` (anything else that does
    not match), `repository name must not be more than 255 characters` (name too long).
    `text` is untrusted; any `str` is handled in linear time.
    """
    if not isinstance(text, str):
        raise InvalidReferenceError(ERR_REFERENCE_INVALID_FORMAT)
    if text == "":
        raise InvalidReferenceError(ERR_NAME_EMPTY)
    raw = _split_reference(text)
    if raw is None:
        lowered = text.lower()
        # Only the path is restricted to lowercase, so "parses once lowercased" means the
        # path held uppercase letters: say so rather than "invalid format".
        if lowered != text and _split_reference(lowered) is not None:
            raise InvalidReferenceError(ERR_NAME_CONTAINS_UPPERCASE)
        raise InvalidReferenceError(ERR_REFERENCE_INVALID_FORMAT)
    name_length = len(raw.domain) + 1 + len(raw.path) if raw.domain else len(raw.path)
    if name_length > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(ERR_NAME_TOO_LONG)
    return raw
