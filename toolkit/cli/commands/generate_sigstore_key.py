"""`skopo generate-sigstore-key --output-prefix PREFIX`: a new sigstore key pair, as skopeo.

Writes `PREFIX.private` (the cosign encrypted format, mode 0600) and `PREFIX.pub` (PEM
public key, mode 0644 before umask), refusing to overwrite either (`Refusing to overwrite
existing "PREFIX.pub"`), and prints `Key written to "PREFIX.private" and "PREFIX.pub"`.

The passphrase is the first line of `--passphrase-file` (without its trailing newline; an
empty passphrase is allowed, as with cosign); without that option it is asked twice on the
terminal, and the command fails clearly when standard input is not a terminal.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from typing import Annotated

import typer

from toolkit.errors import DestinationError, InvalidInputError, safe_text
from toolkit.limits import read_first_line
from toolkit.safefile import create_new_file
from toolkit.signature.sigstore_keys import generate_key_pair

EXAMPLES = [
    "Generate a key pair, asking for the passphrase on the terminal:\n"
    "$ skopo generate-sigstore-key --output-prefix mykey",
    "Generate a key pair non-interactively (the passphrase is the file's first line):\n"
    "$ skopo generate-sigstore-key --output-prefix mykey --passphrase-file passphrase.txt",
]
SEE_ALSO = ["skopo-copy(1)", "skopo-policy.json(5)"]

def go_quote(text: str) -> str:
    """Go's `%q` for the plain paths skopeo prints (backslashes, quotes, controls escaped)."""
    return '"' + safe_text(text.replace("\\", "\\\\").replace('"', '\\"'), limit=4096) + '"'


def prompt_new_passphrase(key_file: str) -> bytes:
    """Ask twice for a new passphrase on the terminal; refuse without a TTY or on mismatch."""
    if not sys.stdin.isatty():
        raise InvalidInputError(f"Cannot prompt for a passphrase for key {key_file}, standard input is not a TTY")
    try:
        first = getpass.getpass(f"Passphrase for key {key_file}: ")
        second = getpass.getpass(f"Repeat passphrase for key {key_file}: ")
    except (EOFError, OSError) as exc:
        raise InvalidInputError(f"Error reading password: {exc}") from exc
    if first != second:
        raise InvalidInputError("passphrases do not match")
    return first.encode("utf-8")


def _ensure_absent(path: str) -> None:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DestinationError(f"Error checking existence of {go_quote(path)}: {exc.strerror}") from exc
    raise DestinationError(f"Refusing to overwrite existing {go_quote(path)}")


def _write_new(path: str, data: bytes, mode: int) -> None:
    """Create `path` (never replacing anything: O_EXCL, no symlink following) with `data`."""
    try:
        fd = create_new_file(path, mode)
    except FileExistsError as exc:
        raise DestinationError(f"Refusing to overwrite existing {go_quote(path)}") from exc
    except OSError as exc:
        raise DestinationError(f"Error writing {go_quote(path)}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise DestinationError(f"Error writing {go_quote(path)}: {exc.strerror}") from exc


def generate_sigstore_key(
    output_prefix: Annotated[
        str,
        typer.Option(
            "--output-prefix",
            metavar="PREFIX",
            help="Write the keys to PREFIX.pub and PREFIX.private",
            show_default=False,
        ),
    ] = "",
    passphrase_file: Annotated[
        str,
        typer.Option(
            "--passphrase-file",
            metavar="PATH",
            help="Read a passphrase for the private key from PATH",
            show_default=False,
        ),
    ] = "",
) -> None:
    """Generate a sigstore public/private key pair."""
    if not output_prefix:
        raise InvalidInputError("Usage: generate-sigstore-key --output-prefix PREFIX")
    public_path = output_prefix + ".pub"
    private_path = output_prefix + ".private"
    _ensure_absent(public_path)
    _ensure_absent(private_path)
    passphrase = read_first_line(passphrase_file) if passphrase_file else prompt_new_passphrase(private_path)
    keys = generate_key_pair(passphrase)
    _write_new(private_path, keys.private_key_pem, 0o600)
    try:
        _write_new(public_path, keys.public_key_pem, 0o644)
    except DestinationError:
        with contextlib.suppress(OSError):
            os.unlink(private_path)  # no half-written pair
        raise
    typer.echo(f"Key written to {go_quote(private_path)} and {go_quote(public_path)}")
