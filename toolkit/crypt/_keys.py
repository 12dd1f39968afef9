"""Key material for layer encryption: what `--encryption-key` and `--decryption-key` name.

After ocicrypt `helpers/parse_helpers.go` and `utils/utils.go`, with skopeo's messages:

- `parse_encryption_keys(["jwe:FILE", "pkcs7:FILE", "pgp:NAME", ...])` -> `EncryptConfig`.
  `jwe:` takes a public key: DER or PEM SubjectPublicKeyInfo (RSA or EC), or a public JWK
  (its `alg`, if any, one of RSA-OAEP, RSA-OAEP-256, ECDH-ES+A128KW/A192KW/A256KW);
  `pkcs7:` an RSA X.509 certificate (DER or PEM); `pgp:` a name or e-mail address of a key
  in the user's GnuPG keyring (matched exactly, as ocicrypt does; resolved here, so a
  missing recipient fails before anything is copied).
- `parse_decryption_keys(["FILE[:PASSWORD]", ...])` -> `DecryptConfig`. PASSWORD is
  `pass=TEXT`, `file=PATH`, `fd=N` (at most 64 bytes) or the literal text. Each file is,
  in this order: a private key (DER PKCS#8/PKCS#1/SEC1; PEM of those, encrypted PKCS#8 or
  legacy encrypted PEM with the password; a private JWK; a PKCS#12 bundle, whose
  certificate is kept too), a GnuPG secret keyring (binary or armored), and, whatever
  else it is, a certificate when it parses as one (PKCS#7 needs one to find its
  recipient). A file that is none of these is ignored, as ocicrypt ignores it; a missing
  or wrong password for an encrypted key is an error.

Key files are local, chosen by the user, but their contents are still parsed defensively:
every failure is an `InvalidKeyError` naming the file, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from toolkit.crypt._config import DecryptConfig, EncryptConfig, GPGSecretKey, JWERecipient
from toolkit.crypt.errors import InvalidKeyError
from toolkit.errors import SizeLimitError, ToolkitError, safe_text
from toolkit.limits import read_named_input

__all__ = [
    "PublicKey",
    "PrivateKey",
    "JWERecipient",
    "EncryptConfig",
    "DecryptConfig",
    "GPGSecretKey",
    "parse_encryption_keys",
    "parse_decryption_keys",
    "parse_public_key",
    "parse_private_key",
    "b64url_decode",
    "JWE_ALGORITHMS",
]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Key-management algorithms a JWK's `alg` may ask for (ocicrypt >= 1.1.10).
JWE_ALGORITHMS: Final = ("RSA-OAEP", "RSA-OAEP-256", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW")
_MAX_KEY_FILE: Final = 1 << 20
_CURVES: Final[dict[str, ec.EllipticCurve]] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                                "P-521": ec.SECP521R1()}


_PEM_BLOCK: Final = re.compile(
    rb"-----BEGIN ([^\r\n-]+)-----[ \t]*\r?\n(.*?)^-----END \1-----", re.DOTALL | re.MULTILINE
)


def _first_pem_block(data: bytes) -> bytes | None:
    """The bytes of the first well-formed PEM block (Go's `pem.Decode`, which ocicrypt uses:
    any type, `Key: value` headers skipped, a malformed block passed over)."""
    for match in _PEM_BLOCK.finditer(data):
        lines = match.group(2).splitlines()
        while lines and b":" in lines[0]:
            lines.pop(0)
        try:
            return base64.b64decode(b"".join(line.strip() for line in lines), validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _read(path: str, what: str) -> bytes:
    """A key file: a regular file, a character device or a pipe (`<(...)`), at most
    `_MAX_KEY_FILE` bytes; a FIFO nobody writes fails after `PIPE_WAIT` s, never hangs."""
    try:
        return read_named_input(path, _MAX_KEY_FILE, "key file")
    except SizeLimitError as exc:
        raise InvalidKeyError(f"{what}: {safe_text(path)} is too large for a key file") from exc
    except ToolkitError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.strerror:
            raise InvalidKeyError(f"{what}: Unable to read file: open {safe_text(path)}: {cause.strerror}") from exc
        raise InvalidKeyError(f"{what}: {exc}") from exc


def b64url_decode(value: object) -> bytes:
    """JOSE base64url (padding optional); ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def _int(value: object) -> int:
    return int.from_bytes(b64url_decode(value), "big")


def _jwk(data: bytes) -> dict[str, object] | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("kty"), str) else None


def _jwk_public(doc: dict[str, object]) -> PublicKey:
    kty = doc["kty"]
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int(doc.get("e")), _int(doc.get("n"))).public_key()
    if kty == "EC":
        curve = _CURVES.get(str(doc.get("crv")))
        if curve is None:
            raise ValueError(f"unsupported curve {str(doc.get('crv'))[:20]}")
        return ec.EllipticCurvePublicNumbers(_int(doc.get("x")), _int(doc.get("y")), curve).public_key()
    raise ValueError(f"unsupported key type {str(kty)[:20]}")


def _jwk_private(doc: dict[str, object]) -> PrivateKey:
    public = _jwk_public(doc)
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        d = _int(doc.get("d"))
        if all(k in doc for k in ("p", "q", "dp", "dq", "qi")):
            p, q = _int(doc.get("p")), _int(doc.get("q"))
            dp, dq, qi = _int(doc.get("dp")), _int(doc.get("dq")), _int(doc.get("qi"))
        else:
            p, q = rsa.rsa_recover_prime_factors(numbers.n, numbers.e, d)
            dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, numbers).private_key()
    ec_public = public.public_numbers()
    return ec.EllipticCurvePrivateNumbers(_int(doc.get("d")), ec_public).private_key()


def _usable_public(key: object) -> PublicKey:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}")


def parse_public_key(data: bytes) -> tuple[PublicKey, str | None]:
    """A public key (DER or PEM SPKI, or a public JWK) and the JWK's `alg` if any.
    Raises `ValueError` when `data` is none of those."""
    try:
        return _usable_public(serialization.load_der_public_key(data)), None
    except (ValueError, UnsupportedAlgorithm):
        pass
    block = _first_pem_block(data)
    if block is not None:
        try:
            return _usable_public(serialization.load_der_public_key(block)), None
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"Could not parse public key: {exc}") from exc
    doc = _jwk(data)
    if doc is None:
        raise ValueError("not a public key")
    if "d" in doc:
        raise ValueError("JWK is not a public key")
    alg = doc.get("alg")
    return _jwk_public(doc), (alg if isinstance(alg, str) and alg else None)


def _parse_certificate(data: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    block = _first_pem_block(data)
    if block is None:
        return None
    try:
        return x509.load_der_x509_certificate(block)
    except ValueError:
        return None


def _usable_private(key: object) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}")


def parse_private_key(data: bytes, password: bytes | None) -> tuple[PrivateKey, x509.Certificate | None] | None:
    """A private key (and, from a PKCS#12 bundle, its certificate), or None when `data` is
    no private key. Raises `InvalidKeyError`-worthy `ValueError` with ocicrypt's words for a
    missing ("Missing password for encrypted private key") or wrong password."""
    for loader in (serialization.load_der_private_key, serialization.load_pem_private_key):
        try:
            return _usable_private(loader(data, password)), None
        except TypeError as exc:
            # "Password was not given but private key is encrypted" (or given for a plain key)
            if password is None:
                raise ValueError("Missing password for encrypted private key") from exc
            try:
                return _usable_private(loader(data, None)), None
            except (TypeError, ValueError, UnsupportedAlgorithm):
                continue
        except ValueError as exc:
            if password is not None and b"ENCRYPTED" in data[:200] and loader is serialization.load_pem_private_key:
                raise ValueError("Wrong password: could not decrypt private key") from exc
            continue
        except UnsupportedAlgorithm:
            continue
    doc = _jwk(data)
    if doc is not None and "d" in doc:
        try:
            return _jwk_private(doc), None
        except (ValueError, KeyError) as exc:
            raise ValueError(f"Could not parse input as JWK: {exc}") from exc
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        if _looks_like_pkcs12(data):
            if password is None:
                raise ValueError("Missing password for encrypted private key") from exc
            raise ValueError("Wrong password: could not decrypt private key") from exc
        return None
    if key is None:
        return None
    return _usable_private(key), cert


def _looks_like_pkcs12(data: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER (3), ... }
    return len(data) > 8 and data[0] == 0x30 and b"\x02\x01\x03" in data[:8]


def _is_gpg_secret_keyring(data: bytes) -> bool:
    if data.lstrip().startswith(b"-----BEGIN PGP PRIVATE KEY BLOCK-----"):
        return True
    if not data:
        return False
    tag = data[0]
    if not tag & 0x80:
        return False
    packet = (tag & 0x3F) if tag & 0x40 else (tag >> 2) & 0x0F
    return packet == 5  # Secret-Key packet


def _password(spec: str, what: str) -> str:
    if spec.startswith("file="):
        return _read(spec[5:], what).decode("utf-8", "replace").rstrip("\n")
    if spec.startswith("pass="):
        return spec[5:]
    if spec.startswith("fd="):
        try:
            fd = int(spec[3:])
            return os.read(fd, 64).decode("utf-8", "replace")
        except (ValueError, OSError) as exc:
            raise InvalidKeyError(
                f"{what}: could not read the password from file descriptor {safe_text(spec[3:])}"
            ) from exc
    return spec


def parse_decryption_keys(specs: Sequence[str]) -> DecryptConfig:
    """`--decryption-key` values -> `DecryptConfig` (see the module docstring)."""
    what = "Invalid decryption keys"
    keys: list[PrivateKey] = []
    certs: list[x509.Certificate] = []
    gpg: list[GPGSecretKey] = []
    for spec in specs:
        path, sep, pwd_spec = spec.partition(":")
        if sep and os.path.exists(spec) and not os.path.exists(path):
            path, pwd_spec, sep = spec, "", ""
        password = _password(pwd_spec, what) if sep else None
        data = _read(path, what)
        try:
            parsed = parse_private_key(data, password.encode() if password is not None else None)
        except ValueError as exc:
            raise InvalidKeyError(f"{what}: {safe_text(path)}: {exc}") from exc
        cert = _parse_certificate(data)
        if parsed is not None:
            keys.append(parsed[0])
            cert = cert or parsed[1]
        elif _is_gpg_secret_keyring(data):
            gpg.append(GPGSecretKey(data, password, path))
        if cert is not None:
            certs.append(cert)
    return DecryptConfig(private_keys=tuple(keys), certificates=tuple(certs), gpg_secret_keys=tuple(gpg))


def parse_encryption_keys(specs: Sequence[str], *, gpg_homedir: Path | None = None) -> EncryptConfig:
    """`--encryption-key` values -> `EncryptConfig` (see the module docstring). PGP names are
    looked up in the GnuPG keyring (`gpg_homedir`, else `$GNUPGHOME` or `~/.gnupg`)."""
    what = "Invalid encryption keys"
    jwe: list[JWERecipient] = []
    pkcs7: list[x509.Certificate] = []
    pgp_names: list[str] = []
    for spec in specs:
        protocol, sep, value = spec.partition(":")
        if not sep:
            raise InvalidKeyError(f"{what}: Invalid recipient format")
        if protocol == "jwe":
            data = _read(value, what)
            try:
                key, alg = parse_public_key(data)
            except ValueError as exc:
                raise InvalidKeyError(f"{what}: File provided is not a public key ({safe_text(value)}: {exc})") from exc
            jwe.append(JWERecipient(key, _jwe_algorithm(key, alg, what)))
        elif protocol == "pkcs7":
            cert = _parse_certificate(_read(value, what))
            if cert is None:
                raise InvalidKeyError(f"{what}: File provided is not an x509 cert ({safe_text(value)})")
            if not isinstance(cert.public_key(), rsa.RSAPublicKey):
                raise InvalidKeyError(f"{what}: {safe_text(value)}: PKCS#7 needs a certificate with an RSA key")
            pkcs7.append(cert)
        elif protocol == "pgp":
            if not value:
                raise InvalidKeyError(f"{what}: pgp: needs a key name or e-mail address")
            pgp_names.append(value)
        else:
            raise InvalidKeyError(f"{what}: Provided protocol not recognized ({safe_text(protocol)})")
    pgp: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if pgp_names:
        from toolkit.crypt._pgp import resolve_recipients

        pgp = resolve_recipients(pgp_names, homedir=gpg_homedir)
    return EncryptConfig(jwe=tuple(jwe), pkcs7=tuple(pkcs7), pgp=pgp, gpg_homedir=gpg_homedir)


def _jwe_algorithm(key: PublicKey, alg: str | None, what: str) -> str:
    if alg is not None:
        if alg not in JWE_ALGORITHMS:
            raise InvalidKeyError(f"{what}: {safe_text(alg, 40)} is an unsupported JWE key algorithm")
        if alg.startswith("RSA") != isinstance(key, rsa.RSAPublicKey):
            raise InvalidKeyError(f"{what}: the JWK's alg {alg} does not fit its key type")
        return alg
    return "ECDH-ES+A256KW" if isinstance(key, ec.EllipticCurvePublicKey) else "RSA-OAEP"
