"""Policy evaluation: `SignaturePolicyContext` (containers/image `signature/policy_eval*.go`).

Contract of `is_running_image_allowed(image)`:
- the requirements are those of the most specific scope for the image's transport: the
  image's policy identity, then each of its namespaces in order, then the transport's `""`
  scope, then `default`;
- every requirement must accept; a signature-verifying requirement (`signedBy`,
  `sigstoreSigned`) accepts only if at least one of the image's signatures verifies with
  its keys (or certificates), its digest matches the manifest and its identity is accepted;
- on refusal a `PolicyRejectedError` names the image, the scope used and each failing
  requirement's reason. Nothing is cached between calls; keys are read at evaluation time
  (a missing key file rejects, never accepts).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.errors import PolicyRejectedError, SignatureError, ToolkitError, safe_text
from toolkit.image import UnparsedImage
from toolkit.limits import read_file_limited
from toolkit.policy.match import PolicyReferenceMatch
from toolkit.policy.model import (
    Policy,
    PRInsecureAcceptAnything,
    PRReject,
    PRSignedBaseLayer,
    PRSignedBy,
    PRSigstoreSigned,
    Requirement,
)
from toolkit.reference import NamedReference
from toolkit.signature import Signature, Sigstore, SimpleSigning, parse_signature_blob
from toolkit.transports.base import ImageReference

if TYPE_CHECKING:
    from toolkit.signature.sigstore import SigstoreTrustRoot
    from toolkit.signature.simple import VerifiedSignature

# The sigstore modules (and `cryptography` behind them) are imported only when a
# `sigstoreSigned` requirement is evaluated, and the GPG ones (python-gnupg) only when a
# `signedBy` one is: most commands never need them (insecureAcceptAnything, reject).

__all__ = [
    "SignaturePolicyContext",
    "ScopeMatch",
    "RequirementResult",
    "PolicyExplanation",
    "image_name",
    "verifies_signatures",
]

log = logging.getLogger(__name__)


def image_name(ref: ImageReference) -> str:
    """`transport:reference`, as skopeo names images in messages."""
    return f"{ref.transport.name}:{safe_text(ref.string_within_transport())}"


@dataclass(frozen=True, slots=True)
class ScopeMatch:
    """The policy section chosen for an image: a description and its requirements."""

    description: str
    requirements: tuple[Requirement, ...]


@dataclass(frozen=True, slots=True)
class RequirementResult:
    """One requirement's verdict: `reason` is None if it accepted the image."""

    requirement: Requirement
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class PolicyExplanation:
    """Every requirement's verdict for one image, and the scope they came from."""

    scope: ScopeMatch
    results: tuple[RequirementResult, ...]

    @property
    def accepted(self) -> bool:
        """True if every requirement accepted (an empty list cannot be parsed, so never vacuous)."""
        return all(r.accepted for r in self.results)


class SignaturePolicyContext:
    """A `PolicyContext` evaluating a parsed `Policy`."""

    def __init__(self, policy: Policy, *, require_signed: bool = False) -> None:
        self.policy = policy
        #: `--require-signed`: also refuse an image that no signature-verifying
        #: requirement (`signedBy`, `sigstoreSigned`) accepted.
        self.require_signed = require_signed

    def requirements_for(self, ref: ImageReference) -> ScopeMatch:
        """The most specific scope for `ref` (see the module docstring)."""
        transport_name = ref.transport.name
        scopes = self.policy.transports.get(transport_name)
        if scopes is not None:
            identity = ref.policy_configuration_identity()
            candidates = [identity, *ref.policy_configuration_namespaces(), ""]
            for scope in candidates:
                reqs = scopes.get(scope)
                if reqs is not None:
                    desc = f'transports["{transport_name}"]["{safe_text(scope)}"]'
                    log.debug("Using policy section %s for %s", desc, image_name(ref))
                    return ScopeMatch(desc, reqs)
        return ScopeMatch("default", self.policy.default)

    def is_running_image_allowed(self, image: UnparsedImage) -> None:
        """Return if the policy allows `image`; raise `PolicyRejectedError` otherwise."""
        scope = self.requirements_for(image.reference)
        failures: list[tuple[str, str]] = []
        for number, req in enumerate(scope.requirements, start=1):
            reason = self._requirement_reason(req, image)
            if reason is not None:
                label = f"requirement {number} ({req.type_name})" if len(scope.requirements) > 1 else req.type_name
                failures.append((label, reason))
        if failures:
            # skopeo's wording first (c/image: "Source image rejected: %w" with the first
            # refusal), then where the decision came from, and any other refusal.
            (first_label, first_reason), others = failures[0], failures[1:]
            context = (
                f"{image_name(image.reference)}: policy {safe_text(self.policy.source)}, scope {scope.description}, "
                f"{first_label}"
            )
            if others:
                context += "; also " + "; ".join(f"{label}: {reason}" for label, reason in others)
            raise PolicyRejectedError(f"Source image rejected: {first_reason} ({context})")
        if self.require_signed and not any(verifies_signatures(req) for req in scope.requirements):
            # c/image: every requirement allowed the image, but none checked a signature.
            raise PolicyRejectedError(
                f"Source image rejected: No signature verification policy found for image "
                f"{image_name(image.reference)} (policy {safe_text(self.policy.source)}, scope {scope.description}, "
                "--require-signed)"
            )

    def explain(self, image: UnparsedImage) -> PolicyExplanation:
        """Evaluate every requirement of `image`'s scope (not stopping at the first refusal)."""
        scope = self.requirements_for(image.reference)
        return PolicyExplanation(
            scope, tuple(RequirementResult(req, self._requirement_reason(req, image)) for req in scope.requirements)
        )

    # ------------------------------------------------------------------ requirements

    def _requirement_reason(self, req: Requirement, image: UnparsedImage) -> str | None:
        """None if `req` allows `image`, else why not."""
        if isinstance(req, PRInsecureAcceptAnything):
            return None
        if isinstance(req, PRReject):
            return f"Running image {image_name(image.reference)} is rejected by policy."
        if isinstance(req, PRSignedBy):
            return _signed_by_reason(req, image)
        if isinstance(req, PRSignedBaseLayer):
            return "signedBaseLayer requirements are not supported: the base layer's signature cannot be verified"
        if isinstance(req, PRSigstoreSigned):
            return _sigstore_signed_reason(req, image)
        return f"unknown requirement {req!r}"  # pragma: no cover - the union is exhaustive


def verifies_signatures(req: Requirement) -> bool:
    """c/image `verifiesSignatures`: the requirement checks a signature over the whole image."""
    return isinstance(req, PRSignedBy | PRSigstoreSigned)


def _load_keys(req: PRSignedBy) -> list[tuple[bytes, str]]:
    from toolkit.signature.gpg import MAX_KEYRING_SIZE

    if req.key_data is not None:
        return [(req.key_data, "keyData")]
    paths = [req.key_path] if req.key_path is not None else list(req.key_paths or ())
    return [(read_file_limited(p, MAX_KEYRING_SIZE, "key file"), f'key file "{safe_text(p)}"') for p in paths]


def _identity_check(
    matcher: PolicyReferenceMatch, image_ref: NamedReference | None, image_desc: str
) -> Callable[[str], None]:
    def check(signed: str) -> None:
        if matcher.matches(image_ref, signed):
            return
        message = f'Signature for identity "{safe_text(signed)}" is not accepted'
        if image_ref is None and matcher.needs_image_identity:
            message += (
                f" ({image_desc} has no Docker reference identity to compare with; use a signedIdentity "
                "of type exactReference or exactRepository)"
            )
        from toolkit.signature.simple import InvalidSignatureError

        raise InvalidSignatureError(message)

    return check


def _summarize(rejections: Sequence[str]) -> str:
    if len(rejections) == 1:
        return rejections[0]
    return "None of the signatures were accepted, reasons: " + "; ".join(rejections)


def _signed_by_reason(req: PRSignedBy, image: UnparsedImage) -> str | None:
    from toolkit.signature.gpg import ephemeral_keyring
    from toolkit.signature.simple import digest_validator, verify_and_extract

    if req.key_type != "GPGKeys":
        return f'Unimplemented "keyType" value "{req.key_type}"'
    blobs = image.signatures()
    rejections: list[str] = []
    candidates: list[tuple[int, SimpleSigning]] = []
    for index, blob in enumerate(blobs, start=1):
        try:
            parsed = parse_signature_blob(blob)
        except SignatureError as exc:
            rejections.append(f"signature {index}: {exc}")
            continue
        if isinstance(parsed, SimpleSigning):
            candidates.append((index, parsed))
    if not candidates and not rejections:
        if blobs:
            return (f"A signature was required, but no simple-signing signature exists ({len(blobs)} signature(s) "
                    "of other formats ignored)")
        return "A signature was required, but no signature exists"
    try:
        keys = _load_keys(req)
    except ToolkitError as exc:
        return f"reading the policy's public keys: {exc}"
    raw_manifest, _ = image.manifest()
    image_ref = image.docker_reference()
    check_identity = _identity_check(req.signed_identity, image_ref, image_name(image.reference))
    with contextlib.ExitStack() as stack:
        try:
            keyring = stack.enter_context(ephemeral_keyring(keys))
        except ToolkitError as exc:
            return f"loading the policy's public keys: {exc}"
        if not keyring.fingerprints:
            return "No public keys imported"
        for index, sig in candidates:
            try:
                verified = keyring.verify(sig.untrusted_blob)
                result: VerifiedSignature = verify_and_extract(
                    verified.payload,
                    verified.signing_fingerprint,
                    primary_fingerprint=verified.primary_fingerprint,
                    accepted_fingerprints=keyring.fingerprints,
                    validate_digest=digest_validator(raw_manifest),
                    validate_identity=check_identity,
                )
            except ToolkitError as exc:
                rejections.append(f"signature {index}: {exc}" if len(blobs) > 1 else str(exc))
                continue
            log.debug("signature %d accepted: key %s, identity %s", index, result.key_fingerprint,
                      result.docker_reference)
            return None
    return _summarize(rejections)


# ------------------------------------------------------------------ sigstoreSigned


def _read_trust_file(path: str, what: str) -> bytes:
    from toolkit.signature.sigstore_keys import MAX_KEY_FILE_SIZE

    return read_file_limited(path, MAX_KEY_FILE_SIZE, what)


def _pems(
    path: str | None,
    paths: Sequence[str] | None,
    data: bytes | None,
    datas: Sequence[bytes] | None,
    what: str,
) -> list[bytes] | None:
    """The PEM blobs of whichever of the four mutually exclusive policy fields is set."""
    if path is not None:
        return [_read_trust_file(path, what)]
    if paths is not None:
        return [_read_trust_file(p, what) for p in paths]
    if data is not None:
        return [data]
    if datas is not None:
        return list(datas)
    return None


def _sigstore_trust_root(req: PRSigstoreSigned) -> SigstoreTrustRoot:
    """The requirement's trust root, files read now (c/image `prepareTrustRoot`).

    Raises `ToolkitError` (`PolicyError` for unusable keys or certificates, the file error
    for an unreadable file).
    """
    from toolkit.signature.fulcio import FulcioTrustRoot, PKITrustRoot
    from toolkit.signature.sigstore import SigstoreTrustRoot

    key_pems = _pems(req.key_path, req.key_paths, req.key_data, req.key_datas, "public key file")
    rekor_pems = _pems(
        req.rekor_public_key_path,
        req.rekor_public_key_paths,
        req.rekor_public_key_data,
        req.rekor_public_key_datas,
        "Rekor public key file",
    )
    fulcio = None
    if req.fulcio is not None:
        f = req.fulcio
        ca = f.ca_data if f.ca_data is not None else _read_trust_file(f.ca_path or "", "Fulcio CA file")
        fulcio = FulcioTrustRoot.from_pem(ca, oidc_issuer=f.oidc_issuer, subject_email=f.subject_email)
    pki = None
    if req.pki is not None:
        p = req.pki
        roots = p.ca_roots_data if p.ca_roots_data is not None else _read_trust_file(
            p.ca_roots_path or "", "PKI CA roots file"
        )
        intermediates = p.ca_intermediates_data
        if intermediates is None and p.ca_intermediates_path is not None:
            intermediates = _read_trust_file(p.ca_intermediates_path, "PKI CA intermediates file")
        pki = PKITrustRoot.from_pem(
            roots, intermediates, subject_email=p.subject_email, subject_hostname=p.subject_hostname
        )
    return SigstoreTrustRoot.from_config(key_pems=key_pems, fulcio=fulcio, rekor_key_pems=rekor_pems, pki=pki)


def _sigstore_signed_reason(req: PRSigstoreSigned, image: UnparsedImage) -> str | None:
    """c/image `prSigstoreSigned.isRunningImageAllowed`: at least one sigstore signature
    verifies under the trust root, matches the manifest digest and the `signedIdentity`."""
    from toolkit.signature.sigstore import SIGSTORE_SIGNATURE_MIME_TYPE, verify_sigstore_signatures

    blobs = image.signatures()
    rejections: list[str] = []
    parsed: list[Signature] = []
    for index, blob in enumerate(blobs, start=1):
        try:
            parsed.append(parse_signature_blob(blob))
        except SignatureError as exc:
            rejections.append(f"signature {index}: {exc}")
    candidates = [
        s for s in parsed if isinstance(s, Sigstore) and s.untrusted_mime_type == SIGSTORE_SIGNATURE_MIME_TYPE
    ]
    if not candidates and not rejections:
        # As containers/image: said before any key is read (a missing key file must not hide it).
        if not parsed:
            return "A signature was required, but no signature exists"
        non_sigstore = sum(not isinstance(s, Sigstore) for s in parsed)
        return (f"A signature was required, but no signature exists ({non_sigstore} non-sigstore signatures, "
                f"{len(parsed) - non_sigstore} sigstore non-signature attachments)")
    try:
        trust_root = _sigstore_trust_root(req)
    except ToolkitError as exc:
        return f"preparing the sigstore trust root: {exc}"
    raw_manifest, _ = image.manifest()
    check_identity = _identity_check(req.signed_identity, image.docker_reference(), image_name(image.reference))

    def identity_matches(signed: str) -> bool:
        check_identity(signed)  # raises with the reason (and a hint for images without an identity)
        return True

    try:
        payload = verify_sigstore_signatures(
            parsed, trust_root, untrusted_manifest=raw_manifest, identity_matches=identity_matches
        )
    except ToolkitError as exc:
        if not rejections:
            return str(exc)
        return _summarize([*rejections, str(exc)])
    log.debug("sigstore signature accepted: identity %s, digest %s", payload.docker_reference,
              payload.docker_manifest_digest)
    return None
