"""Sigstore key files: the cosign encrypted private key envelope, public keys, and
`skopo generate-sigstore-key` (skopeo-reference.md §1.3, §5.2)."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from helpers.cli import SkopoRunner, assert_clean_error
from helpers.tty import run_on_pty
from toolkit.errors import InvalidInputError, InvalidSignatureError
from toolkit.signature._pem import pem_decode, pem_encode
from toolkit.signature.sigstore_keys import (
    COSIGN_PRIVATE_KEY_PEM_TYPE,
    SIGSTORE_PRIVATE_KEY_PEM_TYPE,
    decrypt_private_key,
    encrypt_private_key,
    generate_key_pair,
    load_public_key,
    marshal_public_key,
    verify_signature,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/sigstore"


def _envelope(pem: bytes) -> dict[str, object]:
    block, _ = pem_decode(pem)
    assert block is not None
    return json.loads(block.data)  # type: ignore[no-any-return]


def _rewrap(pem: bytes, envelope_bytes: bytes, pem_type: str = COSIGN_PRIVATE_KEY_PEM_TYPE) -> bytes:
    return pem_encode(pem_type, envelope_bytes)


# --- the envelope format ---------------------------------------------------------------------------------------


def test_generated_private_key_has_cosign_envelope_layout() -> None:
    pair = generate_key_pair(b"pass")
    text = pair.private_key_pem.decode()
    assert text.startswith("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    assert text.endswith("-----END ENCRYPTED COSIGN PRIVATE KEY-----\n")
    lines = text.splitlines()[1:-1]
    assert all(len(line) == 64 for line in lines[:-1]) and 0 < len(lines[-1]) <= 64
    block, rest = pem_decode(pair.private_key_pem)
    assert block is not None and rest == b""
    raw = block.data
    # go-securesystemslib `encrypted.Encrypt` marshals its struct in this exact shape and order.
    env = json.loads(raw)
    salt, nonce, ciphertext = env["kdf"]["salt"], env["cipher"]["nonce"], env["ciphertext"]
    assert (
        raw
        == (
            '{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"' + salt + '"},'
            '"cipher":{"name":"nacl/secretbox","nonce":"' + nonce + '"},"ciphertext":"' + ciphertext + '"}'
        ).encode()
    )
    assert len(base64.b64decode(salt)) == 32
    assert len(base64.b64decode(nonce)) == 24
    # secretbox adds a 16-byte Poly1305 tag to the PKCS#8 DER (138 bytes for P-256).
    assert len(base64.b64decode(ciphertext)) == 138 + 16


def test_public_key_file_is_pkix_pem_readable_by_cryptography() -> None:
    pair = generate_key_pair(b"")
    assert pair.public_key_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    key = serialization.load_pem_public_key(pair.public_key_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_round_trip_sign_verify() -> None:
    pair = generate_key_pair(b"some passphrase")
    private = decrypt_private_key(pair.private_key_pem, b"some passphrase")
    public = load_public_key(pair.public_key_pem)
    signature = private.sign(b"payload")
    verify_signature(public, signature, b"payload")
    with pytest.raises(InvalidSignatureError, match="invalid signature"):
        verify_signature(public, signature, b"other payload")


def test_empty_passphrase_allowed() -> None:
    pair = generate_key_pair(b"")
    decrypt_private_key(pair.private_key_pem, b"")
    with pytest.raises(InvalidInputError, match="wrong passphrase"):
        decrypt_private_key(pair.private_key_pem, b"x")


def test_wrong_passphrase_is_a_clear_error() -> None:
    pair = generate_key_pair(b"right")
    with pytest.raises(InvalidInputError, match="decryption failed: wrong passphrase or corrupted key"):
        decrypt_private_key(pair.private_key_pem, b"wrong")


def test_decrypted_der_is_pkcs8_readable_by_cryptography() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = encrypt_private_key(key, b"pw")
    loaded = decrypt_private_key(pem, b"pw")
    assert loaded.public_key_pem() == marshal_public_key(key.public_key())


def test_both_pem_types_are_read() -> None:
    pair = generate_key_pair(b"pw")
    block, _ = pem_decode(pair.private_key_pem)
    assert block is not None
    sigstore_pem = pem_encode(SIGSTORE_PRIVATE_KEY_PEM_TYPE, block.data)
    decrypt_private_key(sigstore_pem, b"pw")
    other = pem_encode("EC PRIVATE KEY", block.data)
    with pytest.raises(InvalidInputError, match="unsupported pem type: EC PRIVATE KEY"):
        decrypt_private_key(other, b"pw")
    with pytest.raises(InvalidInputError, match="invalid pem block"):
        decrypt_private_key(b"not a key", b"pw")


def test_key_generated_by_cosign_is_read() -> None:
    # Written by cosign (go-securesystemslib, N=65536), empty passphrase: proves scrypt,
    # secretbox and the envelope interoperate with the Go implementation.
    pem = (FIXTURES / "cosign-generated-empty-passphrase.key").read_bytes()
    assert _envelope(pem)["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}  # type: ignore[index]
    key = decrypt_private_key(pem, b"")
    verify_signature(key.public_key, key.sign(b"x"), b"x")
    with pytest.raises(InvalidInputError, match="wrong passphrase"):
        decrypt_private_key(pem, b"not-empty")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["kdf"]["params"].update(N=1 << 24), "unsupported scrypt parameters"),
        (lambda e: e["kdf"]["params"].update(r=1), "unsupported scrypt parameters"),
        (lambda e: e["kdf"]["params"].update(N="32768"), "must be an integer"),
        (lambda e: e["kdf"].update(name="argon2"), 'unknown kdf name "argon2"'),
        (lambda e: e["cipher"].update(name="aes"), 'unknown cipher name "aes"'),
        (lambda e: e["cipher"].update(nonce=base64.b64encode(b"short").decode()), "incorrect nonce size"),
        (lambda e: e["cipher"].update(nonce="!!!"), "not valid base64"),
        (lambda e: e.pop("ciphertext"), 'missing field "ciphertext"'),
        (lambda e: e.update(ciphertext=base64.b64encode(b"\0" * 40).decode()), "wrong passphrase"),
    ],
)
def test_malformed_envelopes_are_refused(mutate: object, message: str) -> None:
    pair = generate_key_pair(b"pw")
    env = _envelope(pair.private_key_pem)
    mutate(env)  # type: ignore[operator]
    pem = _rewrap(pair.private_key_pem, json.dumps(env).encode())
    with pytest.raises(InvalidInputError, match=message):
        decrypt_private_key(pem, b"pw")


def test_envelope_with_duplicate_keys_is_refused() -> None:
    pair = generate_key_pair(b"pw")
    block, _ = pem_decode(pair.private_key_pem)
    assert block is not None
    doubled = block.data[:-1] + b',"ciphertext":"AAAA"}'
    with pytest.raises(InvalidInputError, match="(?i)duplicate"):
        decrypt_private_key(_rewrap(pair.private_key_pem, doubled), b"pw")


def test_hostile_scrypt_parameters_fail_fast() -> None:
    pair = generate_key_pair(b"pw")
    env = _envelope(pair.private_key_pem)
    env["kdf"]["params"]["N"] = 1 << 30  # type: ignore[index]
    start = time.monotonic()
    with pytest.raises(InvalidInputError):
        decrypt_private_key(_rewrap(pair.private_key_pem, json.dumps(env).encode()), b"pw")
    assert time.monotonic() - start < 1


def test_private_key_repr_leaks_nothing() -> None:
    key = decrypt_private_key(generate_key_pair(b"").private_key_pem, b"")
    assert "SigstorePrivateKey" in repr(key) and "BEGIN" not in repr(key)


# --- public keys -------------------------------------------------------------------------------------------------


def _spki_pem(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_fixture_public_keys() -> None:
    for name in ("cosign.pub", "cosign2.pub", "rekor.pub"):
        key = load_public_key((FIXTURES / name).read_bytes())
        assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(load_public_key((FIXTURES / "some-rsa-key.pub").read_bytes()), rsa.RSAPublicKey)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ec.generate_private_key(ec.SECP521R1()),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ed25519.Ed25519PrivateKey.generate,
    ],
    ids=["p256", "p384", "p521", "rsa2048", "ed25519"],
)
def test_accepted_key_types_sign_and_verify(make: object, tmp_path: Path) -> None:
    private = make()  # type: ignore[operator]
    public = load_public_key(_spki_pem(private.public_key()))
    pem = encrypt_private_key(private, b"pw")
    signer = decrypt_private_key(pem, b"pw")
    verify_signature(public, signer.sign(b"data"), b"data")


def test_pkcs1_rsa_public_key_pem_is_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert pem.startswith(b"-----BEGIN RSA PUBLIC KEY-----")
    assert isinstance(load_public_key(pem), rsa.RSAPublicKey)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ec.generate_private_key(ec.SECP224R1()).public_key(), "unsupported ECDSA curve"),
        (lambda: ec.generate_private_key(ec.SECP256K1()).public_key(), "unsupported ECDSA curve"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(), "too small"),
        (lambda: dsa.generate_private_key(key_size=2048).public_key(), "unsupported public key type"),
    ],
    ids=["p224", "secp256k1", "rsa1024", "dsa"],
)
def test_refused_public_keys(make: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_public_key(_spki_pem(make()))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "PEM decoding failed"),
        (b"garbage", "PEM decoding failed"),
        (pem_encode("CERTIFICATE", b"\x30\x00"), "unknown public key PEM block type"),
        (pem_encode("PUBLIC KEY", b"\x30\x03\x02\x01\x00"), "invalid public key"),
        ((FIXTURES / "image.signature").read_bytes(), "PEM decoding failed"),
    ],
)
def test_malformed_public_keys(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_public_key(data)


# --- skopo generate-sigstore-key ------------------------------------------------------------------------------


def test_cli_generates_a_usable_pair(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    passfile = tmp_path / "pass"
    passfile.write_bytes(b"line one\nline two\n")
    prefix = tmp_path / "key"
    result = run_skopo("generate-sigstore-key", "--output-prefix", prefix, "--passphrase-file", passfile)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f'Key written to "{prefix}.private" and "{prefix}.pub"\n'
    private = Path(f"{prefix}.private")
    public = Path(f"{prefix}.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) & 0o644 == stat.S_IMODE(public.stat().st_mode)
    key = decrypt_private_key(private.read_bytes(), b"line one")  # first line, newline stripped
    assert key.public_key_pem() == public.read_bytes()


def test_cli_empty_passphrase_file(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    passfile = tmp_path / "empty"
    passfile.write_bytes(b"")
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "k", "--passphrase-file", passfile)
    assert result.returncode == 0, result.stderr
    decrypt_private_key((tmp_path / "k.private").read_bytes(), b"")


@pytest.mark.parametrize("existing", [".pub", ".private"])
def test_cli_refuses_to_overwrite(run_skopo: SkopoRunner, tmp_path: Path, existing: str) -> None:
    passfile = tmp_path / "pass"
    passfile.write_bytes(b"pw\n")
    victim = tmp_path / f"k{existing}"
    victim.write_bytes(b"precious")
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "k", "--passphrase-file", passfile)
    assert_clean_error(result, match=f'Refusing to overwrite existing ".*k{existing}"')
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pass", victim.name])


def test_cli_refuses_to_follow_a_dangling_symlink(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    passfile = tmp_path / "pass"
    passfile.write_bytes(b"pw\n")
    (tmp_path / "k.pub").symlink_to(tmp_path / "elsewhere")
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "k", "--passphrase-file", passfile)
    assert_clean_error(result, match="Refusing to overwrite existing")
    assert not (tmp_path / "elsewhere").exists()


def test_cli_without_tty_fails_clearly(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "k", input=b"pw\npw\n")
    assert_clean_error(result, match="Cannot prompt for a passphrase for key .*k.private, standard input is not a TTY")
    assert list(tmp_path.iterdir()) == []


def test_cli_requires_output_prefix(run_skopo: SkopoRunner) -> None:
    assert_clean_error(run_skopo("generate-sigstore-key"), match="Usage: generate-sigstore-key --output-prefix PREFIX")


def test_cli_missing_passphrase_file(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    result = run_skopo(
        "generate-sigstore-key", "--output-prefix", tmp_path / "k", "--passphrase-file", tmp_path / "nope"
    )
    assert_clean_error(result, match="reading passphrase file")
    assert list(tmp_path.iterdir()) == []


def test_cli_prompts_twice_on_a_tty(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    env = {k: v for k, v in run_skopo.env.items()}
    prefix = str(tmp_path / "k")
    code, output = run_on_pty(
        ["generate-sigstore-key", "--output-prefix", prefix], [b"tty-pass\n", b"tty-pass\n"], env
    )
    assert code == 0, output
    assert b"Passphrase for key" in output and b"Repeat passphrase" in output
    decrypt_private_key(Path(prefix + ".private").read_bytes(), b"tty-pass")


def test_cli_tty_mismatch_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    env = {k: v for k, v in run_skopo.env.items()}
    prefix = str(tmp_path / "k")
    code, output = run_on_pty(["generate-sigstore-key", "--output-prefix", prefix], [b"one\n", b"two\n"], env)
    assert code != 0
    assert b"passphrases do not match" in output
    assert not Path(prefix + ".private").exists()
