"""The sigstore signing parameter file of `copy --sign-by-sigstore PARAMFILE`
(containers-sigstore-signing-params.yaml(5), containers/image
`signature/sigstore/paramfile/paramfile.go`).

```yaml
privateKeyFile: /path/to/key.private
privateKeyPassphraseFile: /path/to/passphrase   # optional; else a prompt on a TTY
fulcio:                                         # keyless signing (needs the network)
  fulcioURL: https://fulcio.sigstore.dev
  oidcMode: interactive | deviceGrant | staticToken
  oidcIssuerURL: ...
  oidcClientID: ...
  oidcClientSecret: ...
  oidcIDToken: ...
rekorURL: https://rekor.sigstore.dev            # upload to Rekor (needs the network)
```

Parsed as containers/image does: one YAML document, unknown fields refused (Go
`KnownFields(true)`), no trailing document. `load_signing_params(path)` raises
`ConfigError` ("parsing "PATH": ...") for an unreadable or invalid file. Deciding what
is supported (skopo has no network signing: `fulcio` and `rekorURL` are refused by the
caller) is not this module's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from toolkit.config._yaml import load_yaml
from toolkit.errors import ConfigError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_FILE_SIZE, read_file_limited

__all__ = ["SigstoreSigningParams", "load_signing_params", "parse_signing_params"]

_TOP_KEYS: Final = frozenset({"privateKeyFile", "privateKeyPassphraseFile", "fulcio", "rekorURL"})
_FULCIO_KEYS: Final = frozenset(
    {"fulcioURL", "oidcMode", "oidcIssuerURL", "oidcClientID", "oidcClientSecret", "oidcIDToken"}
)


@dataclass(frozen=True, slots=True)
class SigstoreSigningParams:
    """A parsed parameter file; empty strings for absent fields, as Go's zero values."""

    private_key_file: str = ""
    private_key_passphrase_file: str = ""
    #: The `fulcio` section (string fields), or None when absent.
    fulcio: Mapping[str, str] | None = None
    rekor_url: str = ""


def _strings(obj: Mapping[Any, Any], allowed: frozenset[str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or key not in allowed:
            raise ConfigError(f"{where}: field {safe_text(str(key), 80)} not found in type")
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{where}: field {key} must be a string")
        out[key] = value
    return out


def parse_signing_params(data: bytes, path: str) -> SigstoreSigningParams:
    """Parse the bytes of a parameter file named `path` (for messages)."""
    where = f'parsing "{safe_text(path)}"'
    documents = load_yaml(data, where, multi=True)
    if len(documents) > 1:
        raise ConfigError(f'unexpected trailing data in "{safe_text(path)}"')
    doc = documents[0] if documents else None
    if doc is None:
        return SigstoreSigningParams()
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: a mapping of parameters expected")
    fulcio_value = doc.pop("fulcio", None)
    top = _strings(doc, _TOP_KEYS - {"fulcio"}, where)
    fulcio: Mapping[str, str] | None = None
    if fulcio_value is not None:
        if not isinstance(fulcio_value, dict):
            raise ConfigError(f"{where}: fulcio must be a mapping")
        fulcio = MappingProxyType(_strings(fulcio_value, _FULCIO_KEYS, f"{where}: fulcio"))
    return SigstoreSigningParams(
        private_key_file=top.get("privateKeyFile", ""),
        private_key_passphrase_file=top.get("privateKeyPassphraseFile", ""),
        fulcio=fulcio,
        rekor_url=top.get("rekorURL", ""),
    )


def load_signing_params(path: str) -> SigstoreSigningParams:
    """Read (at most `MAX_CONFIG_FILE_SIZE`) and parse the parameter file at `path`."""
    try:
        data = read_file_limited(path, MAX_CONFIG_FILE_SIZE, "sigstore signing parameter file")
    except ConfigError:
        raise
    except ToolkitError as exc:
        raise ConfigError(f'parsing "{safe_text(path)}": {exc}') from exc
    return parse_signing_params(data, path)
