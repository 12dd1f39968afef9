"""Typed errors for every layer of skopo.

Contract: every failure that can reach a user is a `ToolkitError` (or a subclass). The CLI
catches `ToolkitError` once, prints `str(error)` as one line on stderr and exits with
`error.exit_code`. Foreign exceptions (OSError, requests, gnupg, ...) are wrapped where the
foreign library is used, with `raise ToolkitError(...) from exc`, so the cause stays
available under `--debug`.

Messages may quote untrusted text (names, server messages); `safe_text` strips control
characters so a hostile registry or archive cannot write escape sequences to a terminal.
"""

from __future__ import annotations

__all__ = [
    "ToolkitError",
    "InvalidInputError",
    "InvalidReferenceError",
    "InvalidImageNameError",
    "InvalidDigestError",
    "DigestMismatchError",
    "SizeMismatchError",
    "SizeLimitError",
    "ManifestError",
    "AmbiguousManifestError",
    "NonImageArtifactError",
    "NoMatchingPlatformError",
    "ImageNotFoundError",
    "NotSupportedError",
    "ConfigError",
    "PolicyError",
    "PolicyRejectedError",
    "SignatureError",
    "InvalidSignatureError",
    "ArchiveError",
    "DestinationError",
    "RegistryError",
    "RetryableError",
    "ManifestTypeRejectedError",
    "CommandTimeoutError",
    "safe_text",
]


def safe_text(text: str, limit: int = 512) -> str:
    """Return `text` with control characters escaped and cut to `limit` characters.

    Used for any untrusted string placed in a message (file names from archives, server
    error bodies, header values). Never raises.
    """
    head = text[:limit]
    if head.isascii() and head.isprintable():  # the usual case: nothing to escape
        return head + "..." if len(text) > limit else head
    import unicodedata  # a C extension that printable ASCII never needs

    out: list[str] = []
    for ch in head:
        if ch in "\t" or not unicodedata.category(ch).startswith("C"):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    if len(text) > limit:
        out.append("...")
    return "".join(out)


class ToolkitError(Exception):
    """Base of all errors skopo reports to users. `exit_code` is the process status.

    `hint` (may be empty) is advice for a person at the command line, printed after the
    message by the CLI; `str()` is the message alone, with skopeo's words, as machine
    interfaces (the image proxy, the Python API) pass it on."""

    exit_code: int = 1
    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        # One line, whatever the message holds.
        return safe_text(" ".join(self.message.splitlines()), limit=4096)


class InvalidInputError(ToolkitError):
    """A user-supplied value (flag, argument, file) is malformed."""


class InvalidReferenceError(InvalidInputError):
    """A docker reference does not follow the distribution reference grammar."""


class InvalidImageNameError(InvalidInputError):
    """A `transport:reference` image name cannot be parsed."""


class InvalidDigestError(ToolkitError):
    """A digest string is not `sha256:<64 hex>` or `sha512:<128 hex>`."""


class DigestMismatchError(ToolkitError):
    """Content does not hash to the digest it was announced with."""


class SizeMismatchError(ToolkitError):
    """Content is longer or shorter than the size it was announced with."""


class SizeLimitError(ToolkitError):
    """A document or stream exceeded a hard size limit."""


class ManifestError(ToolkitError):
    """A manifest, index or image config is malformed or unsupported."""


class AmbiguousManifestError(ManifestError):
    """A document parses as more than one manifest kind (CVE-2021-41190)."""


class NonImageArtifactError(ManifestError):
    """An image-only operation (conversion to a Docker format, reading an image config) was
    asked of an OCI artifact (c/image `NonImageArtifactError`, same message).

    `artifact_type` is the manifest's `artifactType`, else its config media type (untrusted,
    shown through `safe_text`).
    """

    def __init__(self, artifact_type: str, detail: str = "") -> None:
        self.artifact_type = artifact_type
        shown = safe_text(artifact_type, 100)
        if artifact_type == "application/vnd.docker.container.image.v1+json":
            text = f'invalid mixed OCI image with Docker v2s2 config ("{shown}")'
        else:
            text = f'unsupported image-specific operation on artifact with type "{shown}"'
        super().__init__(f"{text}{': ' + detail if detail else ''}")


class NoMatchingPlatformError(ToolkitError):
    """A manifest list has no image for the platform wanted. Exit status 1, as in skopeo (an
    image was found; it is not for this platform)."""


class ImageNotFoundError(ToolkitError):
    """The image (or manifest) does not exist. Exits 2, like skopeo."""

    exit_code = 2


class NotSupportedError(ToolkitError):
    """A feature, transport or combination that skopo does not support (yet)."""


class ConfigError(ToolkitError):
    """A configuration file (policy.json, registries.d, auth.json, ...) is invalid."""


class PolicyError(ConfigError):
    """policy.json is missing or invalid."""


class PolicyRejectedError(ToolkitError):
    """The trust policy refused the image."""


class SignatureError(ToolkitError):
    """A signature is invalid, untrusted or cannot be made."""


class InvalidSignatureError(SignatureError):
    """A signature (or its key, certificate or transparency-log proof) is malformed or does not verify."""


class ArchiveError(ToolkitError):
    """A tar archive or on-disk layout is malformed or hostile."""


class DestinationError(ToolkitError):
    """The destination refuses the write (existing data, wrong kind of path, ...)."""


class RegistryError(ToolkitError):
    """A registry answered with an error or could not be reached.

    `codes` holds the distribution errcodes of the registry's error body (untrusted; empty
    when there was none), for callers that react to one particular code.
    """

    codes: frozenset[str] = frozenset()


class RetryableError(ToolkitError):
    """A transient failure (network, 5xx, rate limit): `--retry-times` may re-run the operation."""


class ManifestTypeRejectedError(DestinationError):
    """The destination refused a manifest of this type; another type may be accepted."""


class CommandTimeoutError(ToolkitError):
    """`--command-timeout` (`toolkit.deadline`) elapsed. Never a `RetryableError` nor a
    `RegistryError`: nothing may mistake it for a failure that another attempt, another
    scheme or another mirror could get past."""
