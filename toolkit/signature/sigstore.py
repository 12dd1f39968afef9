"""Sigstore (cosign-format) image signatures: the signature object, signing, verification.

This is the API the policy engine (`sigstoreSigned`) and the copy engine call:

- `Sigstore` (the type defined in `toolkit.signature`, re-exported): one signature as
  containers/image models it: a MIME type, the payload bytes and the annotations
  (`dev.cosignproject.cosign/signature`, and optionally `dev.sigstore.cosign/certificate`,
  `.../chain`, `.../bundle`). Everything in it is untrusted until `verify_sigstore`
  accepts it. `sigstore_from_components` builds one with the size checks.
- `sigstore_to_blob(sig)` / `sigstore_from_blob(blob)`: the storage format used by `dir:`,
  lookaside and the like: `\\x00sigstore-json\\n` + `{"mimeType","payload","annotations"}`
  (payload base64; Go `json.Marshal` bytes, as containers/image writes).
- `sign_image_manifest(key, manifest, docker_reference)`: a new signature for a manifest.
- `SigstoreTrustRoot`: a prepared `sigstoreSigned` requirement (public keys, or Fulcio +
  Rekor, or PKI; optional Rekor keys for public keys).
- `verify_sigstore(sig, trust_root, untrusted_manifest=..., identity_matches=...)`: the
  containers/image `prSigstoreSigned.isSignatureAccepted` logic, offline. Returns the
  accepted `SigstorePayload` or raises.
- `verify_sigstore_signatures(...)`: "at least one signature is accepted"
  (`isRunningImageAllowed`), with containers/image's summary messages.

Errors: `InvalidSignatureError` for malformed or cryptographically invalid data (and the
Rekor/certificate refusals), `SignatureError` for a valid signature whose digest or
identity is not accepted, `PolicyError` for an unusable trust configuration. All are
`ToolkitError`s; nothing else escapes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec

from toolkit.errors import (
    InvalidInputError,
    InvalidSignatureError,
    PolicyError,
    SignatureError,
    ToolkitError,
    safe_text,
)
from toolkit.limits import MAX_SIGNATURE_SIZE
from toolkit.manifest import manifest_digest, matches_digest
from toolkit.manifest.gojson import GoStruct, marshal
from toolkit.manifest.strictjson import loads_strict
from toolkit.reference import NamedReference
from toolkit.signature import Sigstore
from toolkit.signature._pem import go_b64decode
from toolkit.signature.fulcio import FulcioTrustRoot, PKITrustRoot
from toolkit.signature.rekor import verify_rekor_set
from toolkit.signature.sigstore_keys import (
    PublicKey,
    SigstorePrivateKey,
    load_public_key,
    marshal_public_key,
    verify_signature,
)
from toolkit.signature.sigstore_payload import SigstorePayload, make_payload, parse_payload

__all__ = [
    "SIGSTORE_SIGNATURE_MIME_TYPE",
    "SIGSTORE_SIGNATURE_ANNOTATION",
    "SIGSTORE_SET_ANNOTATION",
    "SIGSTORE_CERTIFICATE_ANNOTATION",
    "SIGSTORE_CHAIN_ANNOTATION",
    "SIGSTORE_BLOB_PREFIX",
    "MAX_SIGSTORE_BLOB_SIZE",
    "Sigstore",
    "sigstore_from_components",
    "sigstore_blob_chunk",
    "sigstore_to_blob",
    "sigstore_from_blob_chunk",
    "sigstore_from_blob",
    "SigstoreTrustRoot",
    "FulcioTrustRoot",
    "PKITrustRoot",
    "SigstorePayload",
    "sign_image_manifest",
    "verify_sigstore",
    "verify_sigstore_signatures",
]

SIGSTORE_SIGNATURE_MIME_TYPE: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGSTORE_SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
SIGSTORE_SET_ANNOTATION: Final = "dev.sigstore.cosign/bundle"
SIGSTORE_CERTIFICATE_ANNOTATION: Final = "dev.sigstore.cosign/certificate"
SIGSTORE_CHAIN_ANNOTATION: Final = "dev.sigstore.cosign/chain"
SIGSTORE_BLOB_PREFIX: Final = b"\x00sigstore-json\n"
#: A stored signature: a payload of at most 4 MiB, base64-expanded, plus annotations.
MAX_SIGSTORE_BLOB_SIZE: Final = 2 * MAX_SIGNATURE_SIZE

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


def sigstore_from_components(
    untrusted_mime_type: str, untrusted_payload: bytes, untrusted_annotations: Mapping[str, str] | None
) -> Sigstore:
    """A signature from its parts (e.g. an attachment layer: media type, blob, annotations).

    Copies the inputs (containers/image `SigstoreFromComponents`). Raises `SignatureError`
    if the payload exceeds 4 MiB (containers/image `MaxSignatureBodySize`) or an annotation
    is not a string.
    """
    if len(untrusted_payload) > MAX_SIGNATURE_SIZE:
        raise SignatureError(f"sigstore payload exceeds the maximum allowed size of {MAX_SIGNATURE_SIZE} bytes")
    annotations = dict(untrusted_annotations or {})
    for key, value in annotations.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SignatureError("sigstore signature annotations must be strings")
    return Sigstore(
        untrusted_mime_type=untrusted_mime_type,
        untrusted_payload=bytes(untrusted_payload),
        untrusted_annotations=MappingProxyType(annotations) if annotations else _EMPTY,
    )


def sigstore_blob_chunk(sig: Sigstore) -> bytes:
    """The JSON body of the storage format, byte-identical to containers/image's `json.Marshal`.

    Go field order (`mimeType`, `payload`, `annotations`), map keys sorted, Go string
    escaping (`<`, `>`, `&`, U+2028, U+2029 escaped), `null` for no annotations.
    """
    annotations: dict[str, str] | None = dict(sig.untrusted_annotations) if sig.untrusted_annotations else None
    return marshal(
        GoStruct(
            [
                ("mimeType", sig.untrusted_mime_type),
                ("payload", base64.b64encode(sig.untrusted_payload).decode("ascii")),
                ("annotations", annotations),
            ]
        )
    )


def sigstore_to_blob(sig: Sigstore) -> bytes:
    """The long-term storage form (`\\x00sigstore-json\\n` + JSON), as containers/image `signature.Blob`."""
    return SIGSTORE_BLOB_PREFIX + sigstore_blob_chunk(sig)


def sigstore_from_blob_chunk(untrusted_chunk: bytes) -> Sigstore:
    """Parse the JSON part of the storage format. Raises `InvalidSignatureError`.

    Strict JSON (no duplicate keys); `mimeType` a string, `payload` base64 (or null),
    `annotations` an object of strings (or null). Unknown keys are ignored, for forward
    compatibility, as containers/image does.
    """
    what = "sigstore signature"
    try:
        doc = loads_strict(untrusted_chunk, what=what, limit=MAX_SIGSTORE_BLOB_SIZE, error_cls=InvalidSignatureError)
    except InvalidSignatureError:
        raise
    except ToolkitError as exc:
        raise InvalidSignatureError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise InvalidSignatureError(f"{what}: JSON object expected")
    mime_type = doc.get("mimeType")
    if mime_type is None:
        mime_type = ""
    if not isinstance(mime_type, str):
        raise InvalidSignatureError(f'{what}: "mimeType" must be a string')
    payload_text = doc.get("payload")
    payload = b""
    if payload_text is not None:
        if not isinstance(payload_text, str):
            raise InvalidSignatureError(f'{what}: "payload" must be a base64 string')
        try:
            payload = go_b64decode(payload_text)
        except ValueError:
            raise InvalidSignatureError(f'{what}: "payload" is not valid base64') from None
    annotations = doc.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values())
    ):
        raise InvalidSignatureError(f'{what}: "annotations" must be an object of strings')
    try:
        return sigstore_from_components(mime_type, payload, annotations)
    except SignatureError as exc:
        raise InvalidSignatureError(exc.message) from exc


def sigstore_from_blob(untrusted_blob: bytes) -> Sigstore:
    """Parse a stored signature that must be in the `sigstore-json` format.

    Raises `InvalidSignatureError` for another format (e.g. a simple-signing blob), a
    blob over `MAX_SIGSTORE_BLOB_SIZE`, or a malformed body.
    """
    if len(untrusted_blob) > MAX_SIGSTORE_BLOB_SIZE + len(SIGSTORE_BLOB_PREFIX):
        raise InvalidSignatureError(
            f"sigstore signature exceeds the maximum allowed size of {MAX_SIGSTORE_BLOB_SIZE} bytes"
        )
    if not untrusted_blob.startswith(SIGSTORE_BLOB_PREFIX):
        raise InvalidSignatureError("not a sigstore signature (expected the sigstore-json storage format)")
    return sigstore_from_blob_chunk(untrusted_blob[len(SIGSTORE_BLOB_PREFIX) :])


# --- signing ----------------------------------------------------------------------------------------------------


def sign_image_manifest(
    key: SigstorePrivateKey,
    manifest: bytes,
    docker_reference: NamedReference,
    *,
    creator: str | None = None,
    timestamp: int | None = None,
) -> Sigstore:
    """Sign `manifest` (its digest, as `manifest_digest` computes it) for `docker_reference`.

    The payload records `str(docker_reference)` (the full name with its tag or digest, as
    containers/image writes it; cosign itself records the repository only). A name-only
    reference is refused ("reference X can't be signed, it has neither a tag nor a
    digest"), as is a manifest whose digest cannot be computed; signing failures raise
    `SignatureError`.
    """
    if docker_reference.is_name_only():
        raise SignatureError(f"reference {docker_reference} can't be signed, it has neither a tag nor a digest")
    try:
        digest = manifest_digest(manifest)
    except ToolkitError as exc:
        raise SignatureError(f"computing the manifest digest to sign: {exc}") from exc
    kwargs: dict[str, Any] = {"timestamp": timestamp}
    if creator is not None:
        kwargs["creator"] = creator
    payload = make_payload(digest, str(docker_reference), **kwargs)
    signature = key.sign(payload)
    annotations = {SIGSTORE_SIGNATURE_ANNOTATION: base64.b64encode(signature).decode("ascii")}
    return sigstore_from_components(SIGSTORE_SIGNATURE_MIME_TYPE, payload, annotations)


# --- trust roots --------------------------------------------------------------------------------------------------


def _rekor_key(pem: bytes, index: int) -> ec.EllipticCurvePublicKey:
    try:
        key = load_public_key(pem, what=f"Rekor public key {index}")
    except InvalidInputError as exc:
        raise PolicyError(f"parsing Rekor public key {index}: {exc.message}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PolicyError(f"Rekor public key {index} is not using ECDSA")
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class SigstoreTrustRoot:
    """A prepared `sigstoreSigned` requirement (containers/image `sigstoreSignedTrustRoot`).

    Exactly one of `public_keys` (non-empty), `fulcio`, `pki`. `fulcio` requires
    `rekor_public_keys`; `pki` forbids them; with `public_keys`, Rekor keys are optional
    and, if given, each signature must carry a Rekor SET for the key it verifies with.
    Violations raise `PolicyError`.
    """

    public_keys: tuple[PublicKey, ...] = ()
    fulcio: FulcioTrustRoot | None = None
    rekor_public_keys: tuple[ec.EllipticCurvePublicKey, ...] = ()
    pki: PKITrustRoot | None = None

    def __post_init__(self) -> None:
        sources = sum([bool(self.public_keys), self.fulcio is not None, self.pki is not None])
        if sources == 0:
            raise PolicyError("A public key, Fulcio, or PKI must be specified")
        if sources > 1:
            raise PolicyError("More than one of public key, Fulcio, or PKI specified")
        if self.fulcio is not None and not self.rekor_public_keys:
            raise PolicyError("Fulcio CA specified without a Rekor public key")
        if self.pki is not None and self.rekor_public_keys:
            raise PolicyError("PKI specified with a Rekor public key")

    @classmethod
    def from_config(
        cls,
        *,
        key_pems: Sequence[bytes] | None = None,
        fulcio: FulcioTrustRoot | None = None,
        rekor_key_pems: Sequence[bytes] | None = None,
        pki: PKITrustRoot | None = None,
    ) -> SigstoreTrustRoot:
        """Build from raw policy data: `keyPath`/`keyPaths`/`keyData`/`keyDatas` contents as
        `key_pems` (any of them may sign), Rekor key contents as `rekor_key_pems`.

        Raises `PolicyError` naming the bad key ("parsing public key 2: ...") or the bad
        combination. Reading the files is the policy engine's job (it knows the paths).
        """
        public_keys: list[PublicKey] = []
        if key_pems is not None:
            for index, pem in enumerate(key_pems, start=1):
                try:
                    public_keys.append(load_public_key(pem, what=f"public key {index}"))
                except InvalidInputError as exc:
                    raise PolicyError(f"parsing public key {index}: {exc.message}") from exc
            if not public_keys:
                raise PolicyError('"keyPath", "keyPaths", "keyData" and "keyDatas" produced no public keys')
        rekor_keys: list[ec.EllipticCurvePublicKey] = []
        if rekor_key_pems is not None:
            rekor_keys = [_rekor_key(pem, i) for i, pem in enumerate(rekor_key_pems, start=1)]
            if not rekor_keys:
                raise PolicyError("the Rekor public key options produced no public keys")
        return cls(public_keys=tuple(public_keys), fulcio=fulcio, rekor_public_keys=tuple(rekor_keys), pki=pki)


# --- verification -------------------------------------------------------------------------------------------------


def _required(sig: Sigstore, key: str) -> str:
    value = sig.untrusted_annotations.get(key)
    if value is None:
        raise InvalidSignatureError(f"missing {key} annotation")
    return value


def _signer_keys(sig: Sigstore, trust_root: SigstoreTrustRoot, base64_signature: str) -> list[PublicKey]:
    """The public keys the payload signature may be checked with (after Rekor/cert checks)."""
    payload = sig.untrusted_payload
    if trust_root.public_keys:
        if not trust_root.rekor_public_keys:
            return list(trust_root.public_keys)
        untrusted_set = _required(sig, SIGSTORE_SET_ANNOTATION)
        failures = []
        for candidate in trust_root.public_keys:
            try:
                verify_rekor_set(
                    trust_root.rekor_public_keys,
                    untrusted_set.encode("utf-8"),
                    marshal_public_key(candidate),
                    base64_signature,
                    payload,
                )
            except InvalidSignatureError as exc:
                failures.append(exc.message)
                continue
            # A SET names one key; the others either do not match or are duplicates.
            return [candidate]
        raise InvalidSignatureError(f"No public key verified against the RekorSET: {', '.join(failures)}")
    if trust_root.fulcio is not None:
        untrusted_set = _required(sig, SIGSTORE_SET_ANNOTATION)
        untrusted_cert = _required(sig, SIGSTORE_CERTIFICATE_ANNOTATION)
        chain = sig.untrusted_annotations.get(SIGSTORE_CHAIN_ANNOTATION)
        integrated_time = verify_rekor_set(
            trust_root.rekor_public_keys,
            untrusted_set.encode("utf-8"),
            untrusted_cert.encode("utf-8"),
            base64_signature,
            payload,
        )
        try:
            moment = datetime.fromtimestamp(integrated_time, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidSignatureError("Rekor SET integrated time is out of range") from exc
        key = trust_root.fulcio.verify_certificate(
            untrusted_cert.encode("utf-8"), None if chain is None else chain.encode("utf-8"), at=moment
        )
        return [key]
    assert trust_root.pki is not None  # guaranteed by SigstoreTrustRoot.__post_init__
    untrusted_cert = _required(sig, SIGSTORE_CERTIFICATE_ANNOTATION)
    chain = sig.untrusted_annotations.get(SIGSTORE_CHAIN_ANNOTATION)
    key = trust_root.pki.verify_certificate(
        untrusted_cert.encode("utf-8"), None if chain is None else chain.encode("utf-8")
    )
    return [key]


def verify_sigstore(
    sig: Sigstore,
    trust_root: SigstoreTrustRoot,
    *,
    untrusted_manifest: bytes,
    identity_matches: Callable[[str], bool],
) -> SigstorePayload:
    """Decide whether one sigstore signature is accepted for an image.

    - `untrusted_manifest`: the image's manifest bytes as read from the source (the payload's
      `docker-manifest-digest` must match them; schema1 signatures stripped as usual).
    - `identity_matches(signed_docker_reference) -> bool`: the requirement's
      `signedIdentity` check against the image's reference (the policy engine owns it).

    Order of checks, as containers/image: the signature annotation; Rekor SET / Fulcio /
    PKI as the trust root demands; base64 and the cryptographic signature (any accepted
    key); strict payload parsing; digest; identity. Returns the accepted payload.

    Raises `InvalidSignatureError` (malformed, does not verify), `SignatureError`
    ("Signature for digest D does not match", `Signature for identity "R" is not
    accepted`, or a manifest whose digest cannot be computed).
    """
    if sig.untrusted_mime_type != SIGSTORE_SIGNATURE_MIME_TYPE:
        raise InvalidSignatureError(
            f'unexpected sigstore signature MIME type "{safe_text(sig.untrusted_mime_type, 200)}"'
        )
    if len(sig.untrusted_payload) > MAX_SIGNATURE_SIZE:
        raise InvalidSignatureError(f"sigstore payload exceeds the maximum allowed size of {MAX_SIGNATURE_SIZE} bytes")
    base64_signature = _required(sig, SIGSTORE_SIGNATURE_ANNOTATION)
    keys = _signer_keys(sig, trust_root, base64_signature)
    try:
        raw_signature = go_b64decode(base64_signature)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignatureError(f"base64 decoding: {exc}") from exc
    failures = []
    for key in keys:
        try:
            verify_signature(key, raw_signature, sig.untrusted_payload)
        except InvalidSignatureError as exc:
            failures.append(exc.message)
            continue
        break
    else:
        raise InvalidSignatureError("cryptographic signature verification failed: " + ", ".join(failures))
    payload = parse_payload(sig.untrusted_payload)
    try:
        digest_matches = matches_digest(untrusted_manifest, payload.docker_manifest_digest)
    except ToolkitError as exc:
        raise SignatureError(f"computing the image manifest digest: {exc}") from exc
    if not digest_matches:
        raise SignatureError(f"Signature for digest {payload.docker_manifest_digest} does not match")
    if not identity_matches(payload.docker_reference):
        raise SignatureError(f'Signature for identity "{safe_text(payload.docker_reference, 300)}" is not accepted')
    return payload


def verify_sigstore_signatures(
    signatures: Iterable[object],
    trust_root: SigstoreTrustRoot,
    *,
    untrusted_manifest: bytes,
    identity_matches: Callable[[str], bool],
) -> SigstorePayload:
    """Accept the image if at least one of `signatures` is accepted (`isRunningImageAllowed`).

    `signatures` may mix kinds: anything that is not a `Sigstore` (simple signing, ...)
    and sigstore attachments of another MIME type are skipped and counted. Returns the first
    accepted payload; otherwise raises `SignatureError`: "A signature was required, but no
    signature exists" (with counts of skipped items when any), the single rejection's own
    error, or "None of the signatures were accepted, reasons: r1; r2".
    """
    rejections: list[ToolkitError] = []
    non_sigstore = 0
    non_signature = 0
    for sig in signatures:
        if not isinstance(sig, Sigstore):
            non_sigstore += 1
            continue
        if sig.untrusted_mime_type != SIGSTORE_SIGNATURE_MIME_TYPE:
            non_signature += 1
            continue
        try:
            return verify_sigstore(
                sig, trust_root, untrusted_manifest=untrusted_manifest, identity_matches=identity_matches
            )
        except ToolkitError as exc:
            rejections.append(exc)
    if not rejections:
        if non_sigstore == 0 and non_signature == 0:
            raise SignatureError("A signature was required, but no signature exists")
        raise SignatureError(
            f"A signature was required, but no signature exists ({non_sigstore} non-sigstore signatures, "
            f"{non_signature} sigstore non-signature attachments)"
        )
    if len(rejections) == 1:
        raise rejections[0]
    reasons = "; ".join(str(r) for r in rejections)
    raise SignatureError(f"None of the signatures were accepted, reasons: {reasons}")
