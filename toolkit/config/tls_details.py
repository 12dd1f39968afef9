"""containers-tls-details.yaml(5): the file of `--tls-details` (c/image `pkg/cli/basetls`).

`load_tls_details(path)` reads and checks the whole file before any connection is made and
returns a `TLSDetails` that every TLS connection of the command applies
(`toolkit.transports._tls.apply_tls_details`). Contract:

- the file is YAML with the optional keys `minVersion` (`"1.0"`..`"1.3"`), `cipherSuites`
  (IANA names, the suites Go knows) and `namedGroups` (IANA names); any other key, a wrong
  type or an unknown name raises `ConfigError` naming the file and the value, with
  c/image's wording (`unrecognized TLS cipher suite "X"`);
- what Python's `ssl` module cannot do is refused with `NotSupportedError`, never ignored:
  more than one named group (`SSLContext` can set only one), a group or a cipher suite this
  Python's OpenSSL lacks;
- `cipherSuites: []` allows no TLS 1.0-1.2 suite (only TLS 1.3 can connect, whose suites
  are not configurable, as in Go); `namedGroups: []` means the defaults, as in Go.

The file is untrusted input: its size is capped and its YAML parsed by the strict loader.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Final

from toolkit.config._yaml import load_yaml
from toolkit.errors import ConfigError, NotSupportedError, safe_text
from toolkit.limits import read_file_limited
from toolkit.types import TLSDetails

__all__ = ["load_tls_details", "parse_tls_details"]

MAX_TLS_DETAILS_SIZE: Final = 64 * 1024

_VERSIONS: Final = ("1.0", "1.1", "1.2", "1.3")

#: The IANA cipher suite names Go's crypto/tls knows (`tls.CipherSuites()` and
#: `tls.InsecureCipherSuites()`), with their IDs.
_SUITES: Final = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": 0xC009,
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": 0xC00A,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013,
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
    "TLS_RSA_WITH_RC4_128_SHA": 0x0005,
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": 0x000A,
    "TLS_RSA_WITH_AES_128_CBC_SHA": 0x002F,
    "TLS_RSA_WITH_AES_256_CBC_SHA": 0x0035,
    "TLS_RSA_WITH_AES_128_CBC_SHA256": 0x003C,
    "TLS_RSA_WITH_AES_128_GCM_SHA256": 0x009C,
    "TLS_RSA_WITH_AES_256_GCM_SHA384": 0x009D,
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": 0xC007,
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": 0xC011,
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": 0xC012,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": 0xC023,
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": 0xC027,
}
_TLS13_SUITES: Final = frozenset({0x1301, 0x1302, 0x1303})

#: IANA TLS Supported Groups names c/image accepts -> OpenSSL short names (None: the
#: group has no name `SSLContext.set_ecdh_curve` takes).
_GROUPS: Final[dict[str, str | None]] = {
    "secp256r1": "prime256v1",
    "secp384r1": "secp384r1",
    "secp521r1": "secp521r1",
    "x25519": "X25519",
    "X25519MLKEM768": None,
}

_KEYS: Final = ("minVersion", "cipherSuites", "namedGroups")


def load_tls_details(path: Path) -> TLSDetails:
    """Read and check the containers-tls-details.yaml(5) file at `path` (see the module
    docstring). Raises `ConfigError` or `NotSupportedError`."""
    name = safe_text(str(path))
    try:
        data = read_file_limited(path, MAX_TLS_DETAILS_SIZE, what="TLS details file")
    except OSError as exc:
        raise ConfigError(f'reading "{name}": {exc.strerror or exc}') from exc
    return parse_tls_details(data, name)


def parse_tls_details(data: bytes, name: str) -> TLSDetails:
    """The `TLSDetails` of a file's bytes; `name` is used in messages."""
    doc = load_yaml(data, f'parsing "{name}"')
    if doc is None:
        return TLSDetails()
    if not isinstance(doc, dict):
        raise ConfigError(f'parsing "{name}": the file must be a YAML mapping')
    for key in doc:
        if key not in _KEYS:
            raise ConfigError(f'parsing "{name}": field {safe_text(str(key))} not found in the TLS details format '
                              f"(expected {', '.join(_KEYS)})")
    prefix = f'parsing TLS details "{name}"'
    min_version = _min_version(doc.get("minVersion"), name, prefix)
    suites = _names(doc.get("cipherSuites"), "cipherSuites", name)
    groups = _names(doc.get("namedGroups"), "namedGroups", name)
    return TLSDetails(
        min_version=min_version,
        ciphers=_ciphers(suites, prefix) if suites is not None else None,
        group=_group(groups, prefix) if groups else None,
    )


def _min_version(value: Any, name: str, prefix: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f'parsing "{name}": minVersion must be a string such as "1.2"')
    text = str(value)
    if text not in _VERSIONS:
        raise ConfigError(f"{prefix}: unrecognized TLS minimum version {_quoted(text)}")
    return text


def _names(value: Any, key: str, name: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f'parsing "{name}": {key} must be a list of names')
    return list(value)


def _quoted(text: str) -> str:
    return '"' + safe_text(text) + '"'


def _openssl_suites() -> dict[int, str]:
    """Cipher suite ID -> OpenSSL name, for every suite this OpenSSL has."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    return {int(c["id"]) & 0xFFFF: str(c["name"]) for c in context.get_ciphers()}


def _ciphers(suites: list[str], prefix: str) -> tuple[str, ...]:
    available = _openssl_suites()
    names: list[str] = []
    for suite in suites:
        suite_id = _SUITES.get(suite)
        if suite_id is None:
            raise ConfigError(f"{prefix}: unrecognized TLS cipher suite {_quoted(suite)}")
        if suite_id in _TLS13_SUITES:
            continue  # TLS 1.3 suites are always on: neither Go nor Python's ssl can choose them
        openssl_name = available.get(suite_id)
        if openssl_name is None:
            raise NotSupportedError(
                f"{prefix}: TLS cipher suite {_quoted(suite)} is not supported by this Python's OpenSSL "
                f"({ssl.OPENSSL_VERSION})"
            )
        names.append(openssl_name)
    return tuple(names)


def _group(groups: list[str], prefix: str) -> str:
    openssl_names: list[str] = []
    for group in groups:
        if group not in _GROUPS:
            raise ConfigError(f"{prefix}: unrecognized TLS named group {_quoted(group)}")
        openssl_name = _GROUPS[group]
        if openssl_name is None:
            raise NotSupportedError(
                f"{prefix}: TLS named group {_quoted(group)} is not supported by Python's ssl module"
            )
        openssl_names.append(openssl_name)
    if len(set(openssl_names)) > 1:
        raise NotSupportedError(
            f"{prefix}: namedGroups with more than one group is not supported: Python's ssl module can "
            "restrict a connection to one named group only"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ecdh_curve(openssl_names[0])
    except (ValueError, ssl.SSLError) as exc:
        raise NotSupportedError(
            f"{prefix}: TLS named group {_quoted(groups[0])} is not supported by this Python's OpenSSL"
        ) from exc
    return openssl_names[0]
