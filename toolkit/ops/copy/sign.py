"""Signatures of a copy: refused early when the destination cannot store them, made by the
signers, written after the manifest (c/image `copy/sign.go`)."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.digest import Digest
from toolkit.errors import DestinationError, safe_text
from toolkit.ops.copy.copier import Copier
from toolkit.ops.copy.options import CopyOptions
from toolkit.transports.base import ImageDestination

__all__ = ["check_signature_support", "put_signatures"]


def _unsupported(dest: ImageDestination) -> DestinationError:
    reason = dest.capabilities.signatures_unsupported_reason or "the destination does not support signatures"
    return DestinationError(
        f"Can not copy signatures to {dest.reference.transport.name}:"
        f"{safe_text(dest.reference.string_within_transport())}: {reason}"
    )


def check_signature_support(dest: ImageDestination, options: CopyOptions, signatures: Sequence[bytes]) -> None:
    """Refuse, before any blob is written, signatures the destination cannot store
    (carried from the source, or made by `options.signers`)."""
    if (signatures or options.signers) and not dest.capabilities.supports_signatures:
        raise _unsupported(dest)


def put_signatures(
    copier: Copier,
    manifest_raw: bytes,
    signatures: Sequence[bytes],
    *,
    instance: Digest | None,
    list_signatures: bool = False,
    source_digest: Digest | None = None,
) -> None:
    """Write `signatures` plus one new signature per signer (top level only) of `manifest_raw`;
    `source_digest` (the manifest's digest at the source) is noted when anything is written."""
    new_signatures = list(signatures)
    options = copier.options
    if options.signers and instance is None:
        identity = options.sign_identity or copier.dest.reference.docker_reference()
        for signer in options.signers:
            new_signatures.append(signer(manifest_raw, identity))
    # skopeo says it at every copy, signatures or not.
    copier.reporter.message("Storing list signatures" if list_signatures else "Storing signatures")
    if not new_signatures:
        return
    if not copier.caps.supports_signatures:
        raise _unsupported(copier.dest)
    copier.dest.put_signatures(new_signatures, instance)
    if source_digest is not None:
        copier.signatures_written.add(source_digest)
