"""The sigstore ("cosign container image signature") payload: writing and strict parsing.

Written exactly as containers/image `signature/internal/sigstore_payload.go` marshals it
(Go maps, so keys sorted; compact; Go string escaping):

    {"critical":{"identity":{"docker-reference":REF},"image":{"docker-manifest-digest":D},
     "type":"cosign container image signature"},"optional":{"creator":C,"timestamp":N}}

Parsed as containers/image does, paranoidly: `critical` and `optional` exactly once;
`critical` has exactly `type`, `image`, `identity` (no unknown or duplicate keys, right
types); `type` must be "cosign container image signature"; `image` has exactly
`docker-manifest-digest` (a valid digest); `identity` exactly `docker-reference`.
`optional` may be `null` (cosign writes that) or an object whose unknown keys are ignored;
`creator` must be a string, `timestamp` an integer (a JSON number with a fractional part is
refused). Anything else raises `InvalidSignatureError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from toolkit.digest import Digest
from toolkit.errors import InvalidDigestError, InvalidSignatureError, safe_text
from toolkit.gocompat import INT64_MAX, INT64_MIN
from toolkit.manifest.gojson import marshal
from toolkit.signature._json import exact_object, loads_signature_json

__all__ = [
    "SIGSTORE_SIGNATURE_TYPE",
    "DEFAULT_CREATOR",
    "SigstorePayload",
    "make_payload",
    "parse_payload",
]

SIGSTORE_SIGNATURE_TYPE: Final = "cosign container image signature"
#: What skopo records as `optional.creator` (containers/image writes "containers/image <version>").
DEFAULT_CREATOR: Final = "skopo 0.1.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class SigstorePayload:
    """A parsed payload. Until its signature and rules are verified, every field is untrusted."""

    docker_manifest_digest: Digest
    docker_reference: str
    creator: str | None = None
    timestamp: int | None = None


def make_payload(
    manifest_digest: Digest,
    docker_reference: str,
    *,
    creator: str | None = DEFAULT_CREATOR,
    timestamp: int | None = None,
) -> bytes:
    """The payload bytes to sign for `manifest_digest` as `docker_reference`.

    `timestamp` defaults to now (Unix seconds); `creator=None` omits it. Raises
    `InvalidSignatureError` for an empty reference (containers/image: "Unexpected empty
    signature content").
    """
    if not docker_reference:
        raise InvalidSignatureError("Unexpected empty signature content")
    optional: dict[str, Any] = {}
    if creator is not None:
        optional["creator"] = creator
    optional["timestamp"] = int(time.time()) if timestamp is None else timestamp
    return marshal(
        {
            "critical": {
                "type": SIGSTORE_SIGNATURE_TYPE,
                "image": {"docker-manifest-digest": str(manifest_digest)},
                "identity": {"docker-reference": docker_reference},
            },
            "optional": optional,
        }
    )


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidSignatureError(f"{what} must be a string")
    return value


def _timestamp(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSignatureError("Field optional.timestamp must be a number")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidSignatureError("Field optional.timestamp is not an integer")
        value = int(value)
    result = int(value)
    if not INT64_MIN <= result <= INT64_MAX:
        raise InvalidSignatureError("Field optional.timestamp is out of range")
    return result


def parse_payload(untrusted_payload: bytes) -> SigstorePayload:
    """Strictly parse untrusted payload bytes (module docstring); raise `InvalidSignatureError`."""
    what = "sigstore payload"
    doc = loads_signature_json(untrusted_payload, what)
    top = exact_object(doc, ("critical", "optional"), what)
    creator: str | None = None
    timestamp: int | None = None
    optional = top["optional"]
    if optional is not None:
        if not isinstance(optional, dict):
            raise InvalidSignatureError(f"{what}: optional: JSON object expected")
        if "creator" in optional and optional["creator"] is not None:
            creator = _string(optional["creator"], "Field optional.creator")
        if "timestamp" in optional and optional["timestamp"] is not None:
            timestamp = _timestamp(optional["timestamp"])
    critical = exact_object(top["critical"], ("type", "image", "identity"), f"{what}: critical")
    sig_type = _string(critical["type"], "Field critical.type")
    if sig_type != SIGSTORE_SIGNATURE_TYPE:
        raise InvalidSignatureError(f"Unrecognized signature type {safe_text(sig_type, 100)}")
    image = exact_object(critical["image"], ("docker-manifest-digest",), f"{what}: critical.image")
    digest_text = _string(image["docker-manifest-digest"], "Field critical.image.docker-manifest-digest")
    try:
        digest = Digest.parse(digest_text)
    except InvalidDigestError as exc:
        raise InvalidSignatureError(
            f'invalid docker-manifest-digest value "{safe_text(digest_text, 150)}": {exc}'
        ) from exc
    identity = exact_object(critical["identity"], ("docker-reference",), f"{what}: critical.identity")
    reference = _string(identity["docker-reference"], "Field critical.identity.docker-reference")
    return SigstorePayload(
        docker_manifest_digest=digest, docker_reference=reference, creator=creator, timestamp=timestamp
    )
