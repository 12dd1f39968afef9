"""GnuPG for simple signing: the only module that runs gpg (security.md rows 13-15).

gpg is run directly, not through python-gnupg's `GPG` class: python-gnupg reads status
lines from gpg's stderr (`--status-fd 2`), mixed with human-readable messages, and its
`Verify` result is last-wins (an `ERRSIG` followed by a `GOODSIG` reads as valid). Here:

- status lines come from a dedicated pipe (`--status-fd N`) and are parsed here;
- passphrases go through another pipe (`--pinentry-mode loopback --passphrase-fd N`),
  never on a command line, and may not contain a line break;
- verification against policy keys happens in a fresh temporary GNUPGHOME (0700) holding
  only those keys, with `--no-default-keyring --keyring FILE`, `--no-autostart` and no key
  retrieval, so a key in the user's `~/.gnupg` can never vouch for an image;
- a signature is accepted only if gpg exits 0, the message holds exactly one literal data
  packet and exactly one signature (`NEWSIG`, `GOODSIG`, `VALIDSIG` once each), and no
  error or decryption status appears (`ERRSIG`, `BADSIG`, `EXPSIG`, `EXPKEYSIG`,
  `REVKEYSIG`, `KEYREVOKED`, `NO_PUBKEY`, `ENC_TO`, `BEGIN_DECRYPTION`, ...). The caller
  then checks `VALIDSIG`'s fingerprints (field 1: signing key, field 10: primary key)
  against the accepted set (`toolkit.signature.simple.verify_and_extract`);
- the decompressed payload is capped at 4 MiB (a compressed packet could expand forever).

Every failure is a `SignatureError` (`InvalidSignatureError` when the signature itself is
bad); gpg's own diagnostics are included only as escaped text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

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
_STDERR_LIMIT: Final = 64 << 10
_VERIFY_TIMEOUT: Final = 120.0
_SIGN_TIMEOUT: Final = 600.0  # the agent may prompt the user for a passphrase
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


def _read_capped(stream: IO[bytes], limit: int, out: list[bytes], truncated: list[bool]) -> None:
    total = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return
        if total + len(chunk) > limit:
            out.append(chunk[: max(0, limit - total)])
            truncated.append(True)
            # Keep draining so gpg does not block, but drop the data.
            while stream.read(65536):
                pass
            return
        out.append(chunk)
        total += len(chunk)


def _run_gpg(
    args: Sequence[str],
    *,
    stdin: bytes,
    homedir: str | None,
    passphrase: str | None = None,
    stdout_limit: int = MAX_SIGNATURE_SIZE,
    timeout: float = _VERIFY_TIMEOUT,
) -> _GpgResult:
    """Run gpg with a dedicated status pipe (and a passphrase pipe if `passphrase` is set)."""
    status_r, status_w = os.pipe()
    pass_fds = [status_w]
    pass_r: int | None = None
    argv = [gpg_binary(), "--batch", "--no-tty", "--no-verbose", "--no-greeting", "--status-fd", str(status_w)]
    if homedir is not None:
        argv += ["--homedir", homedir]
    if passphrase is not None:
        if "\n" in passphrase or "\r" in passphrase:
            os.close(status_r)
            os.close(status_w)
            raise SignatureError("invalid passphrase: must not contain a line break")
        pass_r, pass_w = os.pipe()
        try:
            os.write(pass_w, passphrase.encode("utf-8") + b"\n")
        finally:
            os.close(pass_w)
        pass_fds.append(pass_r)
        argv += ["--pinentry-mode", "loopback", "--passphrase-fd", str(pass_r)]
    argv += list(args)
    env = dict(os.environ)
    env.pop("GPG_AGENT_INFO", None)
    env["LC_ALL"] = "C"
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
            env=env,
            close_fds=True,
        )
    except OSError as exc:
        os.close(status_r)
        raise SignatureError(f"running gpg: {exc.strerror}") from exc
    finally:
        os.close(status_w)
        if pass_r is not None:
            os.close(pass_r)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    status: list[bytes] = []
    out_trunc: list[bool] = []
    ignored: list[bool] = []
    status_file = os.fdopen(status_r, "rb")
    readers = [
        threading.Thread(target=_read_capped, args=(proc.stdout, stdout_limit, out, out_trunc), daemon=True),
        threading.Thread(target=_read_capped, args=(proc.stderr, _STDERR_LIMIT, err, ignored), daemon=True),
        threading.Thread(target=_read_capped, args=(status_file, _STATUS_LIMIT, status, ignored), daemon=True),
    ]
    for thread in readers:
        thread.start()
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise SignatureError(f"gpg did not finish within {int(timeout)} seconds") from exc
        for thread in readers:
            thread.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        status_file.close()
        proc.stdout.close()
        proc.stderr.close()
    lines = b"".join(status).decode("utf-8", "replace").splitlines()
    parsed = [line[len(_STATUS_PREFIX) :].split(" ") for line in lines if line.startswith(_STATUS_PREFIX)]
    return _GpgResult(
        returncode=returncode,
        stdout=b"".join(out),
        status=parsed,
        stderr=b"".join(err).decode("utf-8", "replace"),
        stdout_truncated=bool(out_trunc),
    )


def _stderr_hint(result: _GpgResult) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return safe_text(lines[-1], 200) if lines else ""


def _judge_verification(result: _GpgResult) -> GPGVerification:
    """Apply the acceptance rules of the module docstring to one `gpg --decrypt` run."""
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
        hint = _stderr_hint(result)
        raise InvalidSignatureError(
            f"Invalid GPG signature: gpg failed (exit status {result.returncode})" + (f": {hint}" if hint else "")
        )
    if result.stdout_truncated:
        raise InvalidSignatureError(
            f"Invalid GPG signature: the signed payload exceeds the maximum of {MAX_SIGNATURE_SIZE} bytes"
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
    """

    def __init__(self, homedir: Path) -> None:
        self._home = homedir
        self._keyring = homedir / "trusted.kbx"
        self.fingerprints: tuple[str, ...] = ()

    def _keyring_args(self) -> list[str]:
        return [
            "--no-default-keyring",
            "--keyring",
            str(self._keyring),
            "--no-autostart",
            "--no-auto-key-retrieve",
            "--no-auto-key-locate",
        ]

    def import_keys(self, key_blob: bytes, what: str) -> None:
        """Import the public keys in `key_blob` (binary or armored); add their fingerprints."""
        result = _run_gpg([*self._keyring_args(), "--import"], stdin=key_blob, homedir=str(self._home))
        found = [f[2].upper() for f in result.status if f[0] == "IMPORT_OK" and len(f) > 2]
        if not found and result.returncode != 0:
            hint = _stderr_hint(result)
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
        result = _run_gpg([*self._keyring_args(), "--decrypt"], stdin=blob, homedir=str(self._home))
        return _judge_verification(result)


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
    result = _run_gpg(
        ["--no-autostart", "--no-auto-key-retrieve", "--decrypt"],
        stdin=blob,
        homedir=str(homedir) if homedir is not None else None,
    )
    return _judge_verification(result)


def sign(payload: bytes, key: str, *, passphrase: str | None = None, homedir: Path | None = None) -> bytes:
    """Make a simple-signing blob: an OpenPGP signed message (binary) of `payload` by `key`.

    `key` is a fingerprint (or any gpg key specification) in the user's keyring
    (`$GNUPGHOME`, `~/.gnupg`, or `homedir`). Without `passphrase`, gpg-agent may prompt.
    Raises `SignatureError` naming the key on failure (`Bad passphrase`, no secret key ...).
    """
    if not key or key.startswith("-") or any(c in key for c in "\r\n\0"):
        raise SignatureError(f'invalid signing key identity "{safe_text(key)}"')
    result = _run_gpg(
        ["--sign", "--local-user", key, "--output", "-"],
        stdin=payload,
        homedir=str(homedir) if homedir is not None else None,
        passphrase=passphrase,
        stdout_limit=MAX_SIGNATURE_SIZE,
        timeout=_SIGN_TIMEOUT,
    )
    keywords = {f[0] for f in result.status}
    if result.returncode == 0 and "SIG_CREATED" in keywords and result.stdout and not result.stdout_truncated:
        return result.stdout
    if "BAD_PASSPHRASE" in keywords or "Bad passphrase" in result.stderr:
        raise SignatureError(f"signing with key {safe_text(key)} failed: Bad passphrase")
    if "INV_SGNR" in keywords or "No secret key" in result.stderr or "No such file" in result.stderr:
        raise SignatureError(f"signing with key {safe_text(key)} failed: no usable secret key for it in the keyring")
    hint = _stderr_hint(result)
    raise SignatureError(f"signing with key {safe_text(key)} failed" + (f": {hint}" if hint else ""))
