"""Per-registry TLS files: `--cert-dir` or certs.d (containers/image `pkg/tlsclientconfig`).

For `host[:port]`, the directory is `--cert-dir` if given, else the first existing one of
`$HOME/.config/containers/certs.d/HOST`, `/etc/containers/certs.d/HOST`,
`/etc/docker/certs.d/HOST`. In it:
- `*.crt`: CA certificates, added to the system trust store for this registry only;
- `NAME.cert` + `NAME.key`: a client certificate and its key.
A `.cert` without its `.key` (or the reverse) is an error, as in containers/image.

Contract: never raises for a missing directory (no files: system trust only); raises
`ConfigError` naming the file for an orphan cert/key, and for a file that is not a regular
file (a FIFO would block the TLS library forever) or is over `MAX_TLS_FILE_SIZE`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from toolkit._record import field, record
from toolkit.config.paths import certs_d_candidates
from toolkit.errors import ConfigError, safe_text

__all__ = ["TLSFiles", "tls_files_for_host", "read_cert_dir", "MAX_TLS_FILE_SIZE"]

#: A CA bundle (the system's is ~200 KiB), certificate or key larger than this is refused.
MAX_TLS_FILE_SIZE = 16 << 20


@record
class TLSFiles:
    """CA files to trust in addition to the system store, and client (cert, key) pairs."""

    directory: Path | None = None
    ca_files: tuple[Path, ...] = ()
    client_pairs: tuple[tuple[Path, Path], ...] = field(default_factory=tuple)


def read_cert_dir(directory: Path) -> TLSFiles:
    """The TLS files in `directory` (empty if it does not exist or cannot be read)."""
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return TLSFiles()
    except OSError as exc:
        raise ConfigError(f"reading certificate directory {safe_text(str(directory))}: {exc.strerror}") from exc
    present = set(names)
    cas: list[Path] = []
    pairs: list[tuple[Path, Path]] = []
    for name in names:
        if name.endswith(".crt"):
            cas.append(directory / name)
        elif name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            if key not in present:
                raise ConfigError(
                    f"missing key {safe_text(key)} for client certificate {safe_text(name)}. "
                    "Note that CA certificates should use the extension .crt"
                )
            pairs.append((directory / name, directory / key))
        elif name.endswith(".key"):
            cert = name[: -len(".key")] + ".cert"
            if cert not in present:
                raise ConfigError(f"missing client certificate {safe_text(cert)} for key {safe_text(name)}")
    for path in [*cas, *(p for pair in pairs for p in pair)]:
        _check_regular(path)
    return TLSFiles(directory=directory, ca_files=tuple(cas), client_pairs=tuple(pairs))


def _check_regular(path: Path) -> None:
    """Refuse a CA, certificate or key that is not a regular file (links to one are fine):
    OpenSSL would read a FIFO forever, or a device without end. `ConfigError`."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"reading {safe_text(str(path))}: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"reading {safe_text(str(path))}: not a regular file")
    if st.st_size > MAX_TLS_FILE_SIZE:
        raise ConfigError(f"reading {safe_text(str(path))}: exceeded maximum allowed size of {MAX_TLS_FILE_SIZE} bytes")


def tls_files_for_host(host: str, cert_dir: Path | None, env: Mapping[str, str] | None = None) -> TLSFiles:
    """The TLS files for registry `host` (`host[:port]`), per the search order above."""
    for candidate in certs_d_candidates(host, cert_dir, env):
        if cert_dir is not None or candidate.is_dir():
            return read_cert_dir(candidate)
    return TLSFiles()
