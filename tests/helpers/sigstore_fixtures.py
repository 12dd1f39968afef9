"""The sigstore fixtures of tests/fixtures/sigstore and the facts they were made with.

The fixtures come from containers/image signature/fixtures (tests/fixtures/sigstore/README.md
says which image holds what); the identities, issuer, e-mail addresses and host name below
are the ones cosign signed into them (c/image `signature/policy_eval_sigstore_test.go`).
Nothing here imports `toolkit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = [
    "FIXTURES",
    "fixture_bytes",
    "COSIGN_IDENTITY",
    "TAGGED_IDENTITY",
    "KEY_REKOR_IDENTITY",
    "FULCIO_IDENTITY",
    "PKI_IDENTITY",
    "FULCIO_ISSUER",
    "FULCIO_EMAIL",
    "PKI_EMAIL",
    "PKI_HOSTNAME",
    "COSIGN_SIGNATURE_MIME",
    "COSIGN_SIGNATURE_ANNOTATION",
]

#: tests/fixtures/sigstore
FIXTURES: Final = Path(__file__).resolve().parents[1] / "fixtures" / "sigstore"

#: dir-img-cosign-valid, -valid-2, -mixed ... (key cosign.pub)
COSIGN_IDENTITY: Final = "192.168.64.2:5000/cosign-signed-single-sample"
#: dir-img-cosign-valid-with-tag
TAGGED_IDENTITY: Final = "192.168.64.2:5000/skopeo-signed:tag"
#: dir-img-cosign-key-rekor-valid (cosign2.pub + rekor.pub)
KEY_REKOR_IDENTITY: Final = "192.168.64.2:5000/cosign-signed/key-1"
#: dir-img-cosign-fulcio-rekor-valid (fulcio_v1.crt.pem + rekor.pub)
FULCIO_IDENTITY: Final = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1"
#: dir-img-cosign-pki-valid (pki_root_crts.pem, pki_intermediate_crts.pem)
PKI_IDENTITY: Final = "localhost:5000/test"
FULCIO_ISSUER: Final = "https://github.com/login/oauth"
FULCIO_EMAIL: Final = "mitr@redhat.com"
PKI_EMAIL: Final = "qiwan@redhat.com"
PKI_HOSTNAME: Final = "myhost.example.com"

#: What a cosign signature layer is (media type, and the annotation holding the signature).
COSIGN_SIGNATURE_MIME: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"


def fixture_bytes(name: str) -> bytes:
    """The bytes of `tests/fixtures/sigstore/NAME`."""
    return (FIXTURES / name).read_bytes()
