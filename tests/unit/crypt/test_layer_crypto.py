"""toolkit.crypt: the layer cipher, JWE and PKCS#7 key wrapping, key parsing, and opening a
layer from its annotations (bad input of every kind: one clear error, never a traceback).

The byte formats are checked here against their definitions; that Go (skopeo 1.9.3) reads
and writes the same is tests/integration/test_encryption_interop.py's job.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from toolkit.crypt import (
    JWE_ANNOTATION,
    PKCS7_ANNOTATION,
    PUBOPTS_ANNOTATION,
    DecryptConfig,
    EncryptConfig,
    InvalidKeyError,
    JWERecipient,
    LayerDecryptionError,
    LayerEncryptionError,
    _jwe,
    _pkcs7,
    is_encryption_annotation,
    open_layer,
    parse_decryption_keys,
    parse_encryption_keys,
    prepare_encryption,
)
from toolkit.crypt._blockcipher import (
    DecryptingReader,
    EncryptingReader,
    LayerKey,
    new_layer_key,
    parse_private_options,
    parse_public_options,
    private_options,
)

DATA = os.urandom(300_000) + b"layer" * 10_000
DIGEST = "sha256:" + "ab" * 32


def read_all(reader: object, step: int = 65536) -> bytes:
    parts = []
    while chunk := reader.read(step):  # type: ignore[attr-defined]
        parts.append(chunk)
    return b"".join(parts)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(key: rsa.RSAPrivateKey, cn: str = "layer recipient") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )


# ------------------------------------------------------------------------- block cipher


def test_cipher_round_trip_and_option_bytes() -> None:
    key = new_layer_key()
    enc = EncryptingReader(io.BytesIO(DATA), key)
    ciphertext = read_all(enc, 7777)
    assert len(ciphertext) == len(DATA) and ciphertext != DATA
    public = enc.public_options()
    doc = json.loads(public)
    assert list(doc) == ["cipher", "hmac", "cipheroptions"] and doc["cipheroptions"] == {}
    assert public.startswith(b'{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"')
    mac = parse_public_options(public, key)
    assert read_all(DecryptingReader(io.BytesIO(ciphertext), key, mac)) == DATA
    private = private_options(key, DIGEST)
    assert list(json.loads(private)) == ["symkey", "digest", "cipheroptions"]
    assert parse_private_options(private) == key


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_a_bad_hmac_raises_instead_of_eof(damage: str) -> None:
    key = new_layer_key()
    enc = EncryptingReader(io.BytesIO(DATA), key)
    ciphertext = bytearray(read_all(enc))
    mac = parse_public_options(enc.public_options(), key)
    if damage == "flip":
        ciphertext[1000] ^= 1
    elif damage == "truncate":
        del ciphertext[-1:]
    else:
        ciphertext += b"x"
    reader = DecryptingReader(io.BytesIO(bytes(ciphertext)), key, mac)
    with pytest.raises(LayerDecryptionError, match="could not properly decrypt byte stream; exp hmac"):
        read_all(reader)
    with pytest.raises(LayerDecryptionError):  # and it stays failed: EOF is never reported
        reader.read(10)


def test_reading_public_options_too_early_fails() -> None:
    enc = EncryptingReader(io.BytesIO(b"abc"), new_layer_key())
    with pytest.raises(LayerEncryptionError, match="unable to finalize"):
        enc.public_options()


@pytest.mark.parametrize(
    ("public", "message"),
    [
        (b'{"cipher":"","hmac":"AA=="}', "no cipher type provided"),
        (b'{"cipher":"AES_128_GCM","hmac":"AA=="}', "unsupported cipher type: AES_128_GCM"),
        (b'{"cipher":"AES_256_CTR_HMAC_SHA256"}', "HMAC is not provided"),
        (b'{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"AA=="}', "invalid HMAC"),
        (b'{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"!!"}', "not base64"),
        (b"[1]", "could not JSON unmarshal pubOptsData"),
        (b"\xff", "could not JSON unmarshal pubOptsData"),
        (b'{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"' + base64.b64encode(bytes(32))
         + b'","cipheroptions":{"nonce":"' + base64.b64encode(bytes(16)) + b'"}}', "different nonce"),
    ],
)
def test_malformed_public_options(public: bytes, message: str) -> None:
    with pytest.raises(LayerDecryptionError, match=message):
        parse_public_options(public, LayerKey(bytes(32), b"\x01" * 16))


@pytest.mark.parametrize(
    ("private", "message"),
    [
        (b'{"symkey":"AAAA","cipheroptions":{"nonce":"AAAAAAAAAAAAAAAAAAAAAA=="}}', "invalid key length of 3 bytes"),
        (b'{"symkey":"' + base64.b64encode(bytes(32)) + b'","cipheroptions":{}}', "invalid nonce"),
        (b'{"symkey":5}', "invalid symmetric key"),
        (b"null", "could not JSON unmarshal privOptsData"),
    ],
)
def test_malformed_private_options(private: bytes, message: str) -> None:
    with pytest.raises(LayerDecryptionError, match=message):
        parse_private_options(private)


# -------------------------------------------------------------------------------- JWE


def test_jwe_one_rsa_recipient_is_flattened_with_everything_protected(rsa_key: rsa.RSAPrivateKey) -> None:
    message = _jwe.wrap([JWERecipient(rsa_key.public_key(), "RSA-OAEP")], b"secret")
    doc = json.loads(message)
    assert list(doc) == ["protected", "encrypted_key", "iv", "ciphertext", "tag"]
    header = json.loads(base64.urlsafe_b64decode(doc["protected"] + "=="))
    assert header == {"alg": "RSA-OAEP", "enc": "A256GCM"}
    assert _jwe.unwrap(message, [rsa_key]) == b"secret"


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_jwe_ec_recipients(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    for alg in ("ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"):
        message = _jwe.wrap([JWERecipient(key.public_key(), alg)], b"secret")
        header = json.loads(base64.urlsafe_b64decode(json.loads(message)["protected"] + "=="))
        assert list(header) == ["alg", "enc", "epk"] and list(header["epk"]) == ["kty", "crv", "x", "y"]
        assert _jwe.unwrap(message, [key]) == b"secret"


def test_jwe_several_recipients_in_the_general_form(rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    message = _jwe.wrap(
        [JWERecipient(rsa_key.public_key(), "RSA-OAEP-256"), JWERecipient(ec_key.public_key(), "ECDH-ES+A256KW")],
        b"secret",
    )
    doc = json.loads(message)
    assert list(doc) == ["protected", "recipients", "encrypted_key", "iv", "ciphertext", "tag"]
    assert json.loads(base64.urlsafe_b64decode(doc["protected"] + "==")) == {"enc": "A256GCM"}
    assert doc["encrypted_key"] == doc["recipients"][0]["encrypted_key"]  # as go-jose writes it
    assert _jwe.unwrap(message, [rsa_key]) == b"secret"
    assert _jwe.unwrap(message, [ec_key]) == b"secret"


def test_jwe_compact_form_is_read(rsa_key: rsa.RSAPrivateKey) -> None:
    doc = json.loads(_jwe.wrap([JWERecipient(rsa_key.public_key(), "RSA-OAEP")], b"compact"))
    compact = ".".join([doc["protected"], doc["encrypted_key"], doc["iv"], doc["ciphertext"], doc["tag"]])
    assert _jwe.unwrap(compact.encode(), [rsa_key]) == b"compact"


def test_jwe_wrong_key_and_garbage_give_none(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> None:
    message = _jwe.wrap([JWERecipient(rsa_key.public_key(), "RSA-OAEP")], b"secret")
    assert _jwe.unwrap(message, [other_rsa_key, ec.generate_private_key(ec.SECP256R1())]) is None
    doc = json.loads(message)
    doc["tag"] = doc["tag"][::-1]
    assert _jwe.unwrap(json.dumps(doc).encode(), [rsa_key]) is None
    for garbage in (b"", b"{", b"[]", b"a.b.c", b'{"protected":5}', b"\xff" * 10, b'{"recipients":[1]}'):
        assert _jwe.unwrap(garbage, [rsa_key]) is None


# ------------------------------------------------------------------------------ PKCS#7


def test_pkcs7_round_trip_with_go_quirks(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> None:
    cert = certificate(rsa_key)
    message = _pkcs7.wrap([cert, certificate(other_rsa_key, "other")], b"secret")
    # aes128-GCM parameters: SEQUENCE carried in a primitive 0x10, nonce as [4] IMPLICIT.
    assert bytes.fromhex("060960864801650304010610133011840c") in message
    assert _pkcs7.unwrap(message, [rsa_key], [cert]) == b"secret"
    assert _pkcs7.unwrap(message, [other_rsa_key], []) == b"secret"  # no certificate: every recipient is tried
    assert _pkcs7.unwrap(message, [rsa.generate_private_key(public_exponent=65537, key_size=2048)], []) is None
    # A certificate that names another recipient keeps the key off the others.
    assert _pkcs7.unwrap(message, [rsa_key], [certificate(rsa_key, "not the one")]) is None


def test_pkcs7_reads_the_standard_gcm_parameters(rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    cert = certificate(rsa_key)
    real = _pkcs7._tlv

    def standard_tlv(tag: int, content: bytes) -> bytes:
        # RFC 5084: GCMParameters is a plain SEQUENCE { OCTET STRING nonce, INTEGER icvlen }.
        if tag == 0x10:
            return content
        return real(0x04 if tag == 0x84 else tag, content)

    monkeypatch.setattr(_pkcs7, "_tlv", standard_tlv)
    message = _pkcs7.wrap([cert], b"secret")
    monkeypatch.undo()
    assert bytes.fromhex("06096086480165030401063011040c") in message
    assert _pkcs7.unwrap(message, [rsa_key], [cert]) == b"secret"


def test_pkcs7_garbage_gives_none(rsa_key: rsa.RSAPrivateKey) -> None:
    message = _pkcs7.wrap([certificate(rsa_key)], b"secret")
    for garbage in (b"", b"\x30", message[:100], b"\x30\x84\xff\xff\xff\xff", b"\x31\x00", message[:-1] + b"\x00"):
        assert _pkcs7.unwrap(garbage, [rsa_key], []) is None


# ------------------------------------------------------------------------------- keys


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def pem_private(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat,
                password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def jwk_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, private: bool, alg: str | None = None) -> bytes:
    def b64(n: int, size: int | None = None) -> str:
        raw = n.to_bytes(size or (n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        doc = {"kty": "RSA", "n": b64(numbers.public_numbers.n), "e": b64(numbers.public_numbers.e)}
        if private:
            doc["d"] = b64(numbers.d)
    else:
        numbers_ec = key.private_numbers()
        size = (key.curve.key_size + 7) // 8
        doc = {"kty": "EC", "crv": "P-256", "x": b64(numbers_ec.public_numbers.x, size),
               "y": b64(numbers_ec.public_numbers.y, size)}
        if private:
            doc["d"] = b64(numbers_ec.private_value, size)
    if alg:
        doc["alg"] = alg
    return json.dumps(doc).encode()


def test_encryption_key_forms(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    specs = [
        "jwe:" + write(tmp_path / "rsa.pem", rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "jwe:" + write(tmp_path / "rsa.der", spki),
        "jwe:" + write(tmp_path / "ec.pem", ec_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "jwe:" + write(tmp_path / "rsa.jwk", jwk_of(rsa_key, private=False, alg="RSA-OAEP-256")),
        "jwe:" + write(tmp_path / "ec.jwk", jwk_of(ec_key, private=False)),
        "pkcs7:" + write(tmp_path / "cert.pem", certificate(rsa_key).public_bytes(serialization.Encoding.PEM)),
        "pkcs7:" + write(tmp_path / "cert.der", certificate(rsa_key).public_bytes(serialization.Encoding.DER)),
    ]
    config = parse_encryption_keys(specs)
    assert [r.algorithm for r in config.jwe] == ["RSA-OAEP", "RSA-OAEP", "ECDH-ES+A256KW", "RSA-OAEP-256",
                                                 "ECDH-ES+A256KW"]
    assert len(config.pkcs7) == 2 and not config.pgp


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jwe", "Invalid encryption keys: Invalid recipient format"),
        ("rsa:/x", "Provided protocol not recognized"),
        ("jwe:/nonexistent/key.pem", "Unable to read file: open /nonexistent/key.pem"),
        ("jwe:{private}", "File provided is not a public key"),
        ("jwe:{cert}", "File provided is not a public key"),
        ("jwe:{garbage}", "File provided is not a public key"),
        ("jwe:{badalg}", "A128GCM is an unsupported JWE key algorithm"),
        ("pkcs7:{public}", "File provided is not an x509 cert"),
        ("pkcs7:{eccert}", "needs a certificate with an RSA key"),
        ("pgp:", "needs a key name"),
    ],
)
def test_bad_encryption_keys(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, spec: str, message: str) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = datetime.datetime.now(datetime.UTC)
    ec_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
               .sign(ec_key, hashes.SHA256()))
    files = {
        "private": write(tmp_path / "k", pem_private(rsa_key, serialization.PrivateFormat.PKCS8)),
        "cert": write(tmp_path / "c", certificate(rsa_key).public_bytes(serialization.Encoding.PEM)),
        "garbage": write(tmp_path / "g", b"hello"),
        "badalg": write(tmp_path / "j", jwk_of(rsa_key, private=False, alg="A128GCM")),
        "public": write(tmp_path / "p", rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "eccert": write(tmp_path / "e", ec_cert.public_bytes(serialization.Encoding.PEM)),
    }
    with pytest.raises(InvalidKeyError) as info:
        parse_encryption_keys([spec.format(**files)])
    assert message in str(info.value)
    assert str(info.value).startswith("Invalid encryption keys: ")


def test_decryption_key_forms(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(rsa_key)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"fdpass")
    os.close(write_fd)
    (tmp_path / "pw").write_text("filepass\n")
    specs = [
        write(tmp_path / "pkcs8.pem", pem_private(rsa_key, serialization.PrivateFormat.PKCS8)),
        write(tmp_path / "pkcs1.pem", pem_private(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)),
        write(tmp_path / "sec1.pem", pem_private(ec_key, serialization.PrivateFormat.TraditionalOpenSSL)),
        write(tmp_path / "pkcs1.der", rsa_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())),
        write(tmp_path / "enc.pem", pem_private(rsa_key, serialization.PrivateFormat.PKCS8, b"secret")) + ":secret",
        write(tmp_path / "enc2.pem", pem_private(rsa_key, serialization.PrivateFormat.PKCS8, b"filepass"))
        + f":file={tmp_path / 'pw'}",
        write(tmp_path / "enc3.pem", pem_private(rsa_key, serialization.PrivateFormat.PKCS8, b"fdpass"))
        + f":fd={read_fd}",
        write(tmp_path / "enc4.pem", pem_private(rsa_key, serialization.PrivateFormat.PKCS8, b"a:b")) + ":pass=a:b",
        write(tmp_path / "key.jwk", jwk_of(ec_key, private=True)),
        write(tmp_path / "bundle.p12", pkcs12.serialize_key_and_certificates(
            b"me", rsa_key, cert, None, serialization.BestAvailableEncryption(b"p12"))) + ":p12",
        write(tmp_path / "cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
        write(tmp_path / "notes.txt", b"not a key at all"),  # ignored, as ocicrypt ignores it
    ]
    config = parse_decryption_keys(specs)
    assert len(config.private_keys) == 10
    assert len(config.certificates) == 2  # the PEM file and the one inside the PKCS#12 bundle
    assert not config.gpg_secret_keys


@pytest.mark.parametrize(
    ("password", "message"),
    [(None, "Missing password for encrypted private key"), ("wrong", "Wrong password")],
)
def test_encrypted_keys_need_the_right_password(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, password: str | None, message: str
) -> None:
    for name, data in (
        ("enc.pem", pem_private(rsa_key, serialization.PrivateFormat.PKCS8, b"secret")),
        ("bundle.p12", pkcs12.serialize_key_and_certificates(
            b"me", rsa_key, None, None, serialization.BestAvailableEncryption(b"secret"))),
    ):
        spec = write(tmp_path / name, data) + (f":{password}" if password else "")
        with pytest.raises(InvalidKeyError) as info:
            parse_decryption_keys([spec])
        assert message in str(info.value) and str(info.value).startswith("Invalid decryption keys: ")


def test_missing_decryption_key_file() -> None:
    with pytest.raises(InvalidKeyError, match="Invalid decryption keys: Unable to read file: open /nonexistent"):
        parse_decryption_keys(["/nonexistent"])


def test_gpg_secret_keyrings_are_recognised(tmp_path: Path) -> None:
    binary = bytes([0x95, 0x01, 0x00]) + os.urandom(20)  # old-format Secret-Key packet tag
    armored = b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n"
    config = parse_decryption_keys([write(tmp_path / "a.gpg", binary) + ":pw", write(tmp_path / "b.asc", armored)])
    assert [(k.password, k.path.endswith(".gpg")) for k in config.gpg_secret_keys] == [("pw", True), (None, False)]


# ---------------------------------------------------------------------- whole layers


def encrypted_layer(config: EncryptConfig) -> tuple[bytes, dict[str, str]]:
    encryption = prepare_encryption(config, DIGEST)
    reader = encryption.reader(io.BytesIO(DATA))
    ciphertext = read_all(reader)
    return ciphertext, encryption.annotations(reader)


def test_layer_round_trip_for_every_scheme(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = certificate(rsa_key)
    config = EncryptConfig(jwe=(JWERecipient(rsa_key.public_key(), "RSA-OAEP"),), pkcs7=(cert,))
    ciphertext, annotations = encrypted_layer(config)
    assert set(annotations) == {JWE_ANNOTATION, PKCS7_ANNOTATION, PUBOPTS_ANNOTATION}
    assert all(is_encryption_annotation(k) for k in annotations)
    for keys in (DecryptConfig(private_keys=(rsa_key,)), DecryptConfig(private_keys=(rsa_key,), certificates=(cert,))):
        assert read_all(open_layer(annotations, keys).reader(io.BytesIO(ciphertext))) == DATA
    # Only the PKCS#7 item opens: the JWE annotation is tried first and fails quietly.
    only_pkcs7 = {**annotations, JWE_ANNOTATION: base64.b64encode(b'{"protected":""}').decode()}
    opened = open_layer(only_pkcs7, DecryptConfig(private_keys=(rsa_key,)))
    assert read_all(opened.reader(io.BytesIO(ciphertext))) == DATA


def test_comma_separated_items_are_each_tried(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> None:
    ciphertext, annotations = encrypted_layer(EncryptConfig(jwe=(JWERecipient(rsa_key.public_key(), "RSA-OAEP"),)))
    other = base64.b64encode(_jwe.wrap([JWERecipient(other_rsa_key.public_key(), "RSA-OAEP")], b"{}")).decode()
    annotations = {**annotations, JWE_ANNOTATION: other + "," + annotations[JWE_ANNOTATION]}
    opened = open_layer(annotations, DecryptConfig(private_keys=(rsa_key,)))
    assert read_all(opened.reader(io.BytesIO(ciphertext))) == DATA


def test_no_recipients_is_an_error() -> None:
    with pytest.raises(LayerEncryptionError, match="no wrapped keys produced by encryption"):
        prepare_encryption(EncryptConfig(), DIGEST)


@pytest.mark.parametrize(
    ("edit", "keys", "message"),
    [
        (lambda a: {PUBOPTS_ANNOTATION: a[PUBOPTS_ANNOTATION]}, "right", "carries no wrapped key"),
        (lambda a: a, "none", "missing private key needed for decryption"),
        (lambda a: a, "wrong", "no suitable key unwrapper found or none of the private keys could be used"),
        (lambda a: {**a, JWE_ANNOTATION: "%%%"}, "right", "malformed annotation .*could not base64 decode"),
        (lambda a: {k: v for k, v in a.items() if k != PUBOPTS_ANNOTATION}, "right", "no cipher type provided"),
        (lambda a: {**a, PUBOPTS_ANNOTATION: "%%%"}, "right", "malformed annotation .*pubopts"),
        (lambda a: {**a, PUBOPTS_ANNOTATION: base64.b64encode(b'{"cipher":"X"}').decode()}, "right",
         "unsupported cipher type: X"),
    ],
)
def test_layers_that_cannot_be_opened(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey, edit, keys: str, message: str
) -> None:
    _, annotations = encrypted_layer(EncryptConfig(jwe=(JWERecipient(rsa_key.public_key(), "RSA-OAEP"),)))
    config = {"right": DecryptConfig(private_keys=(rsa_key,)), "wrong": DecryptConfig(private_keys=(other_rsa_key,)),
              "none": DecryptConfig(gpg_secret_keys=())}[keys]
    with pytest.raises(LayerDecryptionError, match=message):
        open_layer(edit(annotations), config)


def test_wrapped_private_options_are_validated(rsa_key: rsa.RSAPrivateKey) -> None:
    wrapped = _jwe.wrap([JWERecipient(rsa_key.public_key(), "RSA-OAEP")], b'{"symkey":"AAAA"}')
    annotations = {JWE_ANNOTATION: base64.b64encode(wrapped).decode(), PUBOPTS_ANNOTATION: "e30="}
    with pytest.raises(LayerDecryptionError, match="invalid key length"):
        open_layer(annotations, DecryptConfig(private_keys=(rsa_key,)))
