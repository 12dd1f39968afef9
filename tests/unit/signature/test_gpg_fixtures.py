"""GPG verification against containers/image's fixtures (security.md rows 13-15, corpus 23-25).

Runs the real gpg binary in temporary keyrings; skipped only if gpg is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import GnupgHome
from toolkit.errors import SignatureError
from toolkit.signature.gpg import ephemeral_keyring, sign

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")

F = Path(__file__).resolve().parents[2] / "fixtures/signature"
KEY = "08CD26E446E2E95249B7A405E932F44B23E8DD43"
SUBKEY_PRIMARY = "B9F4CDB9FD8C475BFA340AC38D54A947EE396F36"
SUBKEY = "57D1D95BBC53BA0EAFF0718CD75B3109B3BAAEAF"
REVOKED_PRIMARY = "6D88C5A1993648A17B2BB0DC6B8499AF63388D63"


def keys(*names: str) -> list[tuple[bytes, str]]:
    return [((F / name).read_bytes(), name) for name in names]


def test_import_reports_primary_fingerprints() -> None:
    with ephemeral_keyring(keys("public-key.gpg", "public-key-with-subkey.gpg",
                                "public-key-with-revoked-subkey.gpg")) as keyring:
        assert keyring.fingerprints == (KEY, SUBKEY_PRIMARY, REVOKED_PRIMARY)


@pytest.mark.parametrize("name", ["image.signature", "no-optional-fields.signature", "invalid-blob.signature",
                                  "invalid-reference.signature", "dir-img-valid/signature-1"])
def test_cryptographically_good(name: str) -> None:
    with ephemeral_keyring(keys("public-key.gpg")) as keyring:
        result = keyring.verify((F / name).read_bytes())
    assert result.signing_fingerprint == KEY == result.primary_fingerprint


@pytest.mark.parametrize("name", ["subkey.signature", "subkey.signature-v3"])
def test_subkey_maps_to_primary(name: str) -> None:
    with ephemeral_keyring(keys("public-key-with-subkey.gpg")) as keyring:
        result = keyring.verify((F / name).read_bytes())
    assert (result.signing_fingerprint, result.primary_fingerprint) == (SUBKEY, SUBKEY_PRIMARY)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("corrupt.signature", "bad signature"),
        ("corrupt.signature-v3", "bad signature"),
        ("expired.signature", "expired"),
        ("unknown-key.signature", "not among the trusted keys"),
        ("unknown-key.signature-v3", "not among the trusted keys"),
        ("unsigned-literal.signature", "not signed"),
        ("unsigned-encrypted.signature", "encrypted, not signed"),
        ("subkey-revoked.signature", "revoked"),
        ("subkey-revoked.signature-v3", "revoked"),
        ("unknown-cosign-key.signature", "not signed"),
    ],
)
def test_refused(name: str, message: str) -> None:
    with ephemeral_keyring(keys("public-key.gpg", "public-key-with-revoked-subkey.gpg")) as keyring, \
            pytest.raises(SignatureError, match=message):
        keyring.verify((F / name).read_bytes())


def test_empty_keyring_trusts_nothing() -> None:
    with ephemeral_keyring() as keyring, pytest.raises(SignatureError, match="not among the trusted keys"):
        keyring.verify((F / "image.signature").read_bytes())


# ---------------------------------------------------------------- with keys made here (real gpg)


@pytest.fixture
def signer(gnupg_home: GnupgHome) -> tuple[GnupgHome, str, bytes]:
    fingerprint = gnupg_home.make_key("Skopo Gpg <gpg@example.com>", "pw", algo="ed25519")
    return gnupg_home, fingerprint, gnupg_home.export_public(fingerprint)


def test_sign_then_verify_in_an_ephemeral_keyring(signer: tuple[GnupgHome, str, bytes]) -> None:
    home, fingerprint, public = signer
    blob = sign(b'{"critical": {}}', fingerprint, passphrase="pw", homedir=home.path)
    with ephemeral_keyring([(public, "the key")]) as keyring:
        assert keyring.fingerprints == (fingerprint,)
        result = keyring.verify(blob)
    assert (result.payload, result.signing_fingerprint) == (b'{"critical": {}}', fingerprint)


def test_sign_refuses_bad_passphrases(signer: tuple[GnupgHome, str, bytes]) -> None:
    home, fingerprint, _ = signer
    with pytest.raises(SignatureError, match="must not contain a line break"):
        sign(b"x", fingerprint, passphrase="pw\nmore", homedir=home.path)
    with pytest.raises(SignatureError, match="Bad passphrase"):
        sign(b"x", fingerprint, passphrase="wrong", homedir=home.path)
    with pytest.raises(SignatureError, match="no usable secret key"):
        sign(b"x", "0" * 40, passphrase="pw", homedir=home.path)


def test_a_payload_that_inflates_past_the_cap_is_refused(signer: tuple[GnupgHome, str, bytes]) -> None:
    home, fingerprint, public = signer
    # 5 MiB of zeros compress to a few KiB: gpg must stop at --max-output, not expand it all.
    huge = home.run("--pinentry-mode", "loopback", "--passphrase", "pw", "--compress-level", "9", "--sign",
                    "--local-user", fingerprint, "--output", "-", input=b"\0" * (5 << 20)).stdout
    assert len(huge) < 64 << 10
    with ephemeral_keyring([(public, "the key")]) as keyring, \
            pytest.raises(SignatureError, match="exceeds the maximum of 4194304 bytes"):
        keyring.verify(huge)


def test_garbage_is_refused_with_one_clear_reason() -> None:
    with ephemeral_keyring(keys("public-key.gpg")) as keyring, pytest.raises(SignatureError, match="Invalid GPG"):
        keyring.verify(b"\x99" + b"garbage" * 100_000)
