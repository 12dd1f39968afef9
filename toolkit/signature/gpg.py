"""GnuPG for simple signing: the only module that runs gpg (security.md rows 13-15).

gpg runs through python-gnupg's `GPG` class, which does soundly what it is for: a
`GPG` per home directory (our fresh temporary GNUPGHOME for policy keys), key import
(`ImportResult.fingerprints`), signing (`Sign`), and the process plumbing (argument
lists, never a shell; the passphrase on stdin with `--pinentry-mode loopback`, refused if
it holds a line break; stdout, stderr and stdin in their own threads). What is not left
to it:

- **Verification status.** python-gnupg reads gpg's status lines from stderr
  (`--status-fd 2`), interleaved with gpg's human-readable messages (the channel that
  CVE-2018-12020 spoofed), and its `Verify.valid` summary is last-wins (`ERRSIG` then
  `GOODSIG` reads as valid). security.md row 14 requires a dedicated status channel, and
  python-gnupg has no way to give gpg one on a pipe. So the `gpg --decrypt` that verifies
  is run by python-gnupg with `--status-file` naming a file in a private temporary
  directory (0700): gpg writes every status record there and nowhere else, and this
  module reads them all (not python-gnupg's summary) and applies the rules below.
- **Trust.** Verification against policy keys happens in a fresh temporary GNUPGHOME
  (0700) holding only those keys, with `--no-default-keyring --keyring FILE`,
  `--no-autostart` and no key retrieval, so a key in the user's `~/.gnupg` can never
  vouch for an image.
- **Acceptance.** A signature is accepted only if gpg exits 0, the message holds exactly
  one literal data packet and exactly one signature (`NEWSIG`, `GOODSIG`, `VALIDSIG` once
  each), and no error or decryption status appears (`ERRSIG`, `BADSIG`, `EXPSIG`,
  `EXPKEYSIG`, `REVKEYSIG`, `KEYREVOKED`, `NO_PUBKEY`, `ENC_TO`, `BEGIN_DECRYPTION`, ...).
  The caller then checks `VALIDSIG`'s fingerprints (field 1: signing key, field 10:
  primary key) against the accepted set (`toolkit.signature.simple.verify_and_extract`).
- **Size.** The decompressed payload is capped at 4 MiB: gpg itself stops at
  `--max-output` (a compressed packet could expand forever), and no more than the cap is
  ever kept in memory.

python-gnupg has no timeout: a verification ends because its input is capped and gpg's
output is (`--max-output`); signing without a passphrase may wait for gpg-agent to ask
the user, as gpg does. python-gnupg logs to the `gnupg` logger (silent unless the
application configures logging). Every failure is a `SignatureError`
(`InvalidSignatureError` when the signature itself is bad); gpg's own diagnostics are
included only as escaped text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import gnupg

from toolkit.errors import SignatureError, safe_text
from toolkit.limits import MAX_SIGNATURE_SIZE
from toolkit.signature.simple import InvalidSignatureError

__all__ = [
    "GPGVerification",
    "EphemeralKeyring",
    "ephemeral_keyring",
    "verify_with_user_keyring",
    "sign",
    "gpg_binary",
    "MAX_KEYRING_SIZE",
]

log = logging.getLogger(__name__)

#: Public keyrings (policy `keyPath`s, `--public-key-file`) are read whole; this bounds them.
MAX_KEYRING_SIZE: Final = 16 << 20
_STATUS_PREFIX: Final = "[GNUPG:] "
_STATUS_LIMIT: Final = 1 << 20
# Options for every run: nothing from the network.
_QUIET_OPTIONS: Final = ["--no-greeting", "--no-auto-key-retrieve", "--no-auto-key-locate"]
#: Verifying needs no secret key: no agent is started for it. Signing does need one (the
#: secret keys are the agent's), so a signing run may start it, as skopeo's gpgme does.
_NO_AGENT: Final = ["--no-autostart"]

# Status keywords that make a verification fail whatever else was reported.
_FATAL_STATUS: Final = {
    "ERRSIG": "the signature could not be checked",
    "BADSIG": "bad signature (the signed data was modified or the signature is corrupt)",
    "EXPSIG": "the signature has expired",
    "EXPKEYSIG": "the signing key has expired",
    "REVKEYSIG": "the signing key has been revoked",
    "KEYREVOKED": "the signing key has been revoked",
    "NO_PUBKEY": "the signing key is not among the trusted keys",
    "ENC_TO": "the message is encrypted, not signed",
    "BEGIN_DECRYPTION": "the message is encrypted, not signed",
    "DECRYPTION_FAILED": "the message is encrypted, not signed",
    "DECRYPTION_OKAY": "the message is encrypted, not signed",
    "NO_SECKEY": "the message is encrypted, not signed",
    "BADMDC": "the message is corrupt",
    "BADARMOR": "the message is corrupt",
    "NODATA": "no OpenPGP data found",
    "UNEXPECTED": "unexpected OpenPGP data",
}


@dataclass(frozen=True, slots=True)
class GPGVerification:
    """A cryptographically valid signed message: its payload (still untrusted JSON) and
    the signing key's and primary key's fingerprints (uppercase hex)."""

    payload: bytes
    signing_fingerprint: str
    primary_fingerprint: str


@dataclass(frozen=True, slots=True)
class _GpgResult:
    returncode: int
    stdout: bytes
    status: list[list[str]]
    stderr: str
    stdout_truncated: bool


def gpg_binary() -> str:
    """Path of gpg (`gpg`, else `gpg2`); raises `SignatureError` if GnuPG is not installed."""
    for name in ("gpg", "gpg2"):
        path = shutil.which(name)
        if path is not None:
            return path
    raise SignatureError("GnuPG (gpg) is not installed: it is needed for simple signing")


def _gpg(homedir: Path | None, keyring: Path | None = None, *, agent: bool = False) -> gnupg.GPG:
    """A python-gnupg `GPG` for `homedir` (None: `$GNUPGHOME` or `~/.gnupg`), with only
    `keyring` as public keyring when given. English messages, no agent from the environment;
    gpg-agent is started only when `agent` (signing)."""
    env = {k: v for k, v in os.environ.items() if k != "GPG_AGENT_INFO"}
    env["LC_ALL"] = "C"
    try:
        return gnupg.GPG(
            gpgbinary=gpg_binary(),
            gnupghome=str(homedir) if homedir is not None else None,
            keyring=str(keyring) if keyring is not None else None,
            options=list(_QUIET_OPTIONS) + ([] if agent else list(_NO_AGENT)),
            env=env,
        )
    except (OSError, ValueError) as exc:
        raise SignatureError(f"running gpg: {safe_text(str(exc), 200)}") from exc


class _CappedOutput:
    """python-gnupg's `on_data` hook: keeps at most `limit` bytes of gpg's stdout."""

    def __init__(self, limit: int) -> None:
        self.limit, self.kept, self.truncated = limit, 0, False

    def __call__(self, chunk: bytes) -> bool:
        if self.kept + len(chunk) > self.limit:
            self.truncated = True
            return False  # drop it; python-gnupg keeps draining so gpg never blocks
        self.kept += len(chunk)
        return True


def _read_status_file(path: Path) -> list[list[str]]:
    try:
        with open(path, "rb") as f:
            raw = f.read(_STATUS_LIMIT + 1)
    except FileNotFoundError:  # gpg failed before it opened the file: no status at all
        return []
    except OSError as exc:
        raise SignatureError(f"reading gpg's status: {exc.strerror}") from exc
    if len(raw) > _STATUS_LIMIT:  # never judge on part of the record: a refusal may follow
        raise InvalidSignatureError("Invalid GPG signature: gpg reported too much (the message is not a signature)")
    lines = raw.decode("utf-8", "replace").splitlines()
    return [line[len(_STATUS_PREFIX) :].split(" ") for line in lines if line.startswith(_STATUS_PREFIX)]


def _decrypt(gpg: gnupg.GPG, blob: bytes) -> _GpgResult:
    """`gpg --decrypt` of `blob`, its status records read from a dedicated status file."""
    capped = _CappedOutput(MAX_SIGNATURE_SIZE)
    workdir = Path(tempfile.mkdtemp(prefix="skopo-gpg-status-"))
    status_file = workdir / "status"
    try:
        os.chmod(workdir, 0o700)
        gpg.on_data = capped
        try:
            result: Any = gpg.decrypt(
                blob, extra_args=["--status-file", str(status_file), "--max-output", str(MAX_SIGNATURE_SIZE + 1)]
            )
        except BrokenPipeError as exc:  # gpg gave up before reading the whole message
            raise InvalidSignatureError("Invalid GPG signature: gpg stopped reading it (not OpenPGP data)") from exc
        except (OSError, ValueError) as exc:
            raise SignatureError(f"running gpg: {safe_text(str(exc), 200)}") from exc
        finally:
            gpg.on_data = None
        status = _read_status_file(status_file)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    stderr = str(result.stderr or "")
    too_large = capped.truncated or "exceeded --max-output limit" in stderr
    return _GpgResult(
        returncode=result.returncode if isinstance(result.returncode, int) else -1,
        stdout=bytes(result.data or b""),
        status=status,
        stderr=stderr,
        stdout_truncated=too_large,
    )


def _stderr_hint(stderr: str) -> str:
    """gpg's last message line (status lines, which python-gnupg mixes in, left out)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith(_STATUS_PREFIX)]
    return safe_text(lines[-1], 200) if lines else ""


def _judge_verification(result: _GpgResult) -> GPGVerification:
    """Apply the acceptance rules of the module docstring to one `gpg --decrypt` run."""
    # First: gpg stops at --max-output, before it reaches the signature packet that follows
    # the literal data, so nothing else it reported would explain the refusal.
    if result.stdout_truncated:
        raise InvalidSignatureError(
            f"Invalid GPG signature: the signed payload exceeds the maximum of {MAX_SIGNATURE_SIZE} bytes"
        )
    counts: dict[str, int] = {}
    for fields in result.status:
        counts[fields[0]] = counts.get(fields[0], 0) + 1
    no_pubkey = [f[1] for f in result.status if f[0] == "NO_PUBKEY" and len(f) > 1]
    if no_pubkey and counts.get("NEWSIG", 0) <= 1:
        raise InvalidSignatureError(
            f"Invalid GPG signature: signed by key {safe_text(no_pubkey[0], 40)}, which is not among the trusted keys"
        )
    signatures = counts.get("NEWSIG", 0)
    if signatures == 0 and counts.get("GOODSIG", 0) == 0 and counts.get("ERRSIG", 0) == 0:
        if counts.get("ENC_TO") or counts.get("BEGIN_DECRYPTION") or counts.get("NO_SECKEY"):
            raise InvalidSignatureError("Invalid GPG signature: the message is encrypted, not signed")
        raise InvalidSignatureError("Invalid GPG signature: the message is not signed (no signature packet)")
    if signatures != 1 or counts.get("GOODSIG", 0) > 1 or counts.get("VALIDSIG", 0) > 1:
        raise InvalidSignatureError(f"Unexpected GPG signature count {max(signatures, counts.get('GOODSIG', 0))}")
    for keyword, reason in _FATAL_STATUS.items():
        if counts.get(keyword):
            raise InvalidSignatureError(f"Invalid GPG signature: {reason}")
    if counts.get("PLAINTEXT", 0) != 1:
        raise InvalidSignatureError("Invalid GPG signature: the message must hold exactly one literal data packet")
    if counts.get("GOODSIG", 0) != 1 or counts.get("VALIDSIG", 0) != 1:
        raise InvalidSignatureError("Invalid GPG signature: no good signature")
    if result.returncode != 0:
        hint = _stderr_hint(result.stderr)
        raise InvalidSignatureError(
            f"Invalid GPG signature: gpg failed (exit status {result.returncode})" + (f": {hint}" if hint else "")
        )
    validsig = next(f for f in result.status if f[0] == "VALIDSIG")
    if len(validsig) < 11:
        raise InvalidSignatureError("Invalid GPG signature: malformed VALIDSIG status")
    signing, primary = validsig[1].upper(), validsig[10].upper()
    for fpr in (signing, primary):
        if not fpr or any(c not in "0123456789ABCDEF" for c in fpr):
            raise InvalidSignatureError("Invalid GPG signature: malformed fingerprint in VALIDSIG status")
    return GPGVerification(payload=result.stdout, signing_fingerprint=signing, primary_fingerprint=primary)


class EphemeralKeyring:
    """A temporary GNUPGHOME holding only trusted public keys. Use `ephemeral_keyring()`.

    `fingerprints` are the primary fingerprints of every imported key (the trusted set).
    One keyring may be used from several threads (its gpg runs are serialised).
    """

    def __init__(self, homedir: Path) -> None:
        self._home = homedir
        self._gpg = _gpg(homedir, keyring=homedir / "trusted.kbx")
        self._lock = threading.Lock()
        self.fingerprints: tuple[str, ...] = ()

    def import_keys(self, key_blob: bytes, what: str) -> None:
        """Import the public keys in `key_blob` (binary or armored); add their fingerprints."""
        with self._lock:
            try:
                result: Any = self._gpg.import_keys(key_blob)
            except (OSError, ValueError) as exc:
                raise SignatureError(f"importing keys from {what} failed: {safe_text(str(exc), 200)}") from exc
        found = [str(fpr).upper() for fpr in result.fingerprints if fpr]
        if not found and result.returncode != 0:
            hint = _stderr_hint(str(result.stderr or ""))
            raise SignatureError(f"importing keys from {what} failed" + (f": {hint}" if hint else ""))
        merged = list(self.fingerprints)
        merged.extend(fpr for fpr in found if fpr not in merged)
        self.fingerprints = tuple(merged)

    def verify(self, blob: bytes) -> GPGVerification:
        """Verify a simple-signing blob against the imported keys only.

        Raises `InvalidSignatureError` unless exactly one good signature by an imported key
        covers the message (see the module docstring). The caller still checks the
        fingerprint against its accepted set.
        """
        with self._lock:
            return _judge_verification(_decrypt(self._gpg, blob))


@contextlib.contextmanager
def ephemeral_keyring(key_blobs: Sequence[tuple[bytes, str]] = ()) -> Iterator[EphemeralKeyring]:
    """A fresh temporary GNUPGHOME (0700) with `key_blobs` ((data, description) pairs)
    imported; removed on exit."""
    home = Path(tempfile.mkdtemp(prefix="skopo-gpg-"))
    try:
        os.chmod(home, 0o700)
        keyring = EphemeralKeyring(home)
        for data, what in key_blobs:
            keyring.import_keys(data, what)
        yield keyring
    finally:
        shutil.rmtree(home, ignore_errors=True)


def verify_with_user_keyring(blob: bytes, *, homedir: Path | None = None) -> GPGVerification:
    """Verify `blob` with the user's keyring (`$GNUPGHOME` or `~/.gnupg`; `homedir` overrides).

    Used only by `standalone-verify` without `--public-key-file`, where the caller then
    requires the key to be one of the fingerprints the user named.
    """
    return _judge_verification(_decrypt(_gpg(homedir), blob))


def sign(payload: bytes, key: str, *, passphrase: str | None = None, homedir: Path | None = None) -> bytes:
    """Make a simple-signing blob: an OpenPGP signed message (binary) of `payload` by `key`.

    `key` is a fingerprint (or any gpg key specification) in the user's keyring
    (`$GNUPGHOME`, `~/.gnupg`, or `homedir`), given as `--local-user` (never
    `--default-key`, which falls back to another key when this one is unusable). Without
    `passphrase` (or with an empty one), gpg-agent may prompt. Raises `SignatureError`
    naming the key on failure (`Bad passphrase`, no secret key ...).
    """
    if not key or key.startswith("-") or any(c in key for c in "\r\n\0"):
        raise SignatureError(f'invalid signing key identity "{safe_text(key)}"')
    if passphrase is not None and any(c in passphrase for c in "\r\n\0"):
        raise SignatureError("invalid passphrase: must not contain a line break")
    try:
        result: Any = _gpg(homedir, agent=True).sign(
            payload, keyid=None, passphrase=passphrase or None, clearsign=False, binary=True,
            extra_args=["--local-user", key],
        )
    except (OSError, ValueError) as exc:
        raise SignatureError(f"signing with key {safe_text(key)} failed: {safe_text(str(exc), 200)}") from exc
    data = bytes(result.data or b"")
    stderr = str(result.stderr or "")
    if result.returncode == 0 and result.fingerprint and data and len(data) <= MAX_SIGNATURE_SIZE:
        return data
    if result.status == "bad passphrase" or "Bad passphrase" in stderr:
        raise SignatureError(f"signing with key {safe_text(key)} failed: Bad passphrase")
    if (str(result.status or "").startswith("invalid signer") or "No secret key" in stderr
            or "No such file" in stderr):
        raise SignatureError(f"signing with key {safe_text(key)} failed: no usable secret key for it in the keyring")
    hint = _stderr_hint(stderr)
    raise SignatureError(f"signing with key {safe_text(key)} failed" + (f": {hint}" if hint else ""))


# --------------------------------------------------------------------------------------------
# Encryption for OCI layer key wrapping (toolkit.crypt._pgp is the only caller). Kept to three
# small functions so the crypt package does not depend on how gpg is run.

#: Largest plaintext a layer-key message may decrypt to (the private options are ~200 bytes).
_MAX_KEY_MESSAGE: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """A key of the user's public keyring: primary fingerprint, user IDs, and whether it
    (or one of its subkeys) can encrypt and is neither revoked nor expired."""

    fingerprint: str
    uids: tuple[str, ...]
    can_encrypt: bool


def list_public_keys(*, homedir: Path | None = None) -> list[PublicKeyInfo]:
    """The keys of the user's public keyring (`$GNUPGHOME`, `~/.gnupg`, or `homedir`)."""
    try:
        keys: Any = _gpg(homedir).list_keys()
    except (OSError, ValueError) as exc:
        raise SignatureError(f"listing the GnuPG public keys failed: {safe_text(str(exc), 200)}") from exc
    out = []
    for key in keys:
        usable = str(key.get("trust", "")) not in ("r", "e", "d", "i")
        out.append(PublicKeyInfo(
            fingerprint=str(key.get("fingerprint", "")).upper(),
            uids=tuple(str(u) for u in key.get("uids", ())),
            can_encrypt=usable and "E" in str(key.get("cap", "")),
        ))
    return [k for k in out if k.fingerprint]


def encrypt(data: bytes, fingerprints: Sequence[str], *, homedir: Path | None = None) -> bytes:
    """A binary OpenPGP message of `data` for the keys `fingerprints` (of the user's keyring):
    AES-256, no compression, an MDC-protected packet that Go's x/crypto/openpgp reads."""
    for fpr in fingerprints:
        if not fpr or any(c not in "0123456789ABCDEF" for c in fpr):
            raise SignatureError(f'invalid key fingerprint "{safe_text(fpr)}"')
    try:
        result: Any = _gpg(homedir).encrypt(
            data, list(fingerprints), always_trust=True, armor=False,
            extra_args=["--compress-algo", "none", "--cipher-algo", "AES256"],
        )
    except (OSError, ValueError) as exc:
        raise SignatureError(f"gpg encryption failed: {safe_text(str(exc), 200)}") from exc
    out = bytes(result.data or b"")
    if result.ok and out:
        return out
    hint = _stderr_hint(str(result.stderr or ""))
    raise SignatureError("gpg encryption failed" + (f": {hint}" if hint else ""))


def decrypt_with_secret_key(message: bytes, secret_key: bytes, *, passphrase: str | None) -> bytes | None:
    """Decrypt `message` with `secret_key` (an exported secret keyring, binary or armored) in
    a temporary GNUPGHOME; None when that key does not open it (or the passphrase is
    wrong). The agent gpg starts for that home is stopped before returning."""
    if passphrase is not None and any(c in passphrase for c in "\r\n\0"):
        return None
    home = Path(tempfile.mkdtemp(prefix="skopo-gpg-"))
    try:
        os.chmod(home, 0o700)
        gpg = _gpg(home, agent=True)  # decryption needs the agent: it holds the secret key
        # python-gnupg sends a passphrase only when it is non-empty (an empty one would make
        # gpg read the key's first line as the passphrase).
        imported: Any = gpg.import_keys(secret_key, passphrase=passphrase or None)
        if not imported.fingerprints:
            log.debug("gpg: the secret key could not be imported: %s", _stderr_hint(str(imported.stderr or "")))
            return None
        capped = _CappedOutput(_MAX_KEY_MESSAGE)
        gpg.on_data = capped
        result: Any = gpg.decrypt(message, passphrase=passphrase or None)
        if result.ok and not capped.truncated:
            return bytes(result.data or b"")
        log.debug("gpg: decryption failed: %s", _stderr_hint(str(result.stderr or "")))
        return None
    except (OSError, ValueError, SignatureError) as exc:
        log.debug("gpg: decryption failed: %s", exc)
        return None
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            import subprocess

            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True,
                               timeout=30, check=False)
        shutil.rmtree(home, ignore_errors=True)
