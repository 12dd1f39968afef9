"""Simple-signing payloads (containers-signature(5), containers/image `signature/simple.go`).

A payload is the JSON document inside a GPG signed message:

    {"critical": {"identity": {"docker-reference": REF},
                  "image": {"docker-manifest-digest": DIGEST},
                  "type": "atomic container signature"},
     "optional": {"creator": "...", "timestamp": INT}}

`make_payload` writes it as containers/image does (keys sorted, compact, as Go marshals
maps). `parse_payload` is strict (security.md row 13, corpus 26): the top level has exactly
`critical` and `optional`; `critical` exactly `type`, `image`, `identity`, each of those
exactly its one key; duplicate keys anywhere are refused; `optional` may hold unknown
members, but `creator` must be a string and `timestamp` an integral number. Every failure
is `InvalidSignatureError` (a `SignatureError`).

`verify_and_extract` applies containers/image's acceptance order to an already
cryptographically verified payload: the signing key must be accepted, then the digest
must match the manifest, then the identity must be accepted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

import toolkit
from toolkit.digest import Digest
from toolkit.errors import InvalidDigestError, InvalidSignatureError, SignatureError, safe_text
from toolkit.gocompat import INT64_MAX, INT64_MIN
from toolkit.manifest import manifest_digest, matches_digest
from toolkit.signature._json import exact_object, loads_signature_json

__all__ = [
    "SIGNATURE_TYPE",
    "InvalidSignatureError",
    "UntrustedPayload",
    "VerifiedSignature",
    "default_creator",
    "make_payload",
    "payload_for_manifest",
    "parse_payload",
    "digest_validator",
]

SIGNATURE_TYPE: Final = "atomic container signature"


@dataclass(frozen=True, slots=True)
class UntrustedPayload:
    """A parsed payload; nothing in it is trusted before `verify_and_extract` succeeds."""

    untrusted_docker_manifest_digest: Digest
    untrusted_docker_reference: str
    untrusted_creator: str | None = None
    untrusted_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature accepted by a requirement: what it vouches for and the key that made it."""

    docker_manifest_digest: Digest
    docker_reference: str
    key_fingerprint: str


def default_creator() -> str:
    """The `optional.creator` skopo writes (containers/image writes `atomic <version>`)."""
    return f"atomic skopo {toolkit.__version__}"


def make_payload(
    digest: Digest, docker_reference: str, *, creator: str | None = None, timestamp: int | None = None
) -> bytes:
    """The payload bytes for `digest` and `docker_reference`, as containers/image writes them.

    `creator` defaults to `default_creator()`, `timestamp` to the current Unix time.
    Raises `SignatureError` for an empty reference.
    """
    if not docker_reference:
        raise SignatureError("Unexpected empty signature content")
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": str(digest)},
            "type": SIGNATURE_TYPE,
        },
        "optional": {
            "creator": default_creator() if creator is None else creator,
            "timestamp": int(time.time()) if timestamp is None else int(timestamp),
        },
    }
    # Go's encoding/json: sorted map keys, no spaces, and <, >, & escaped as \u003c ...
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


def payload_for_manifest(manifest: bytes, docker_reference: str, **kwargs: Any) -> bytes:
    """`make_payload` for the digest of `manifest` (schema1: of its JWS payload)."""
    return make_payload(manifest_digest(manifest), docker_reference, **kwargs)


def parse_payload(data: bytes) -> UntrustedPayload:
    """Parse an untrusted payload strictly; raise `InvalidSignatureError` on any deviation."""
    doc = loads_signature_json(data, "signature payload")
    top = exact_object(doc, ("critical", "optional"), "signature payload")
    optional = top["optional"]
    if not isinstance(optional, dict):
        raise InvalidSignatureError("optional must be a JSON object")
    creator = optional.get("creator")
    if "creator" in optional and not isinstance(creator, str):
        raise InvalidSignatureError("Field optional.creator is not a string")
    timestamp: int | None = None
    if "timestamp" in optional:
        raw_ts = optional["timestamp"]
        if isinstance(raw_ts, bool) or not isinstance(raw_ts, int | float):
            raise InvalidSignatureError("Field optional.timestamp is not a number")
        # Go decodes into a float64 and requires it to be integral.
        if isinstance(raw_ts, float):
            if not raw_ts.is_integer():
                raise InvalidSignatureError("Field optional.timestamp is not an integer")
            raw_ts = int(raw_ts)
        if not INT64_MIN <= raw_ts <= INT64_MAX:
            raise InvalidSignatureError("Field optional.timestamp is out of range")
        timestamp = raw_ts
    critical = exact_object(top["critical"], ("type", "image", "identity"), "critical")
    sig_type = critical["type"]
    if not isinstance(sig_type, str):
        raise InvalidSignatureError("Field critical.type is not a string")
    if sig_type != SIGNATURE_TYPE:
        raise InvalidSignatureError(f"Unrecognized signature type {safe_text(sig_type, 100)}")
    image = exact_object(critical["image"], ("docker-manifest-digest",), "critical.image")
    digest_text = image["docker-manifest-digest"]
    try:
        digest = Digest.parse(digest_text)
    except InvalidDigestError as exc:
        raise InvalidSignatureError(f"invalid docker-manifest-digest value: {exc}") from exc
    identity = exact_object(critical["identity"], ("docker-reference",), "critical.identity")
    reference = identity["docker-reference"]
    if not isinstance(reference, str):
        raise InvalidSignatureError("Field critical.identity.docker-reference is not a string")
    return UntrustedPayload(
        untrusted_docker_manifest_digest=digest,
        untrusted_docker_reference=reference,
        untrusted_creator=creator if isinstance(creator, str) else None,
        untrusted_timestamp=timestamp,
    )


def digest_validator(manifest: bytes) -> Callable[[Digest], None]:
    """A digest check for `verify_and_extract`: the signed digest must match `manifest`."""

    def check(digest: Digest) -> None:
        if not matches_digest(manifest, digest):
            raise InvalidSignatureError(f"Signature for digest {digest} does not match")

    return check


def verify_and_extract(
    payload: bytes,
    key_fingerprint: str,
    *,
    accepted_fingerprints: Collection[str],
    validate_digest: Callable[[Digest], None],
    validate_identity: Callable[[str], None],
    primary_fingerprint: str | None = None,
) -> VerifiedSignature:
    """Accept a cryptographically verified `payload` made by `key_fingerprint`.

    The key (or its `primary_fingerprint`, for a subkey) must be in
    `accepted_fingerprints` (compared case-insensitively); then the payload is parsed
    strictly, `validate_digest` and `validate_identity` run (each raises to refuse).
    Returns the accepted key identity as containers/image reports it (the signing key if
    listed, else its primary key).
    """
    accepted = {fpr.upper() for fpr in accepted_fingerprints}
    identity = key_fingerprint.upper()
    if identity not in accepted:
        primary = (primary_fingerprint or "").upper()
        if not primary or primary not in accepted:
            if primary and primary != identity:
                raise InvalidSignatureError(f"signature by key {identity} of {primary} is not accepted")
            raise InvalidSignatureError(f"signature by key {identity} is not accepted")
        identity = primary
    parsed = parse_payload(payload)
    validate_digest(parsed.untrusted_docker_manifest_digest)
    validate_identity(parsed.untrusted_docker_reference)
    return VerifiedSignature(
        docker_manifest_digest=parsed.untrusted_docker_manifest_digest,
        docker_reference=parsed.untrusted_docker_reference,
        key_fingerprint=identity,
    )
