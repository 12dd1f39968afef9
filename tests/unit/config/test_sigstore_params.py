"""containers-sigstore-signing-params.yaml(5) parsing (c/image signature/sigstore/paramfile)."""

from __future__ import annotations

import pytest

from toolkit.config.sigstore_params import SigstoreSigningParams, parse_signing_params
from toolkit.errors import ConfigError


def test_full_file() -> None:
    params = parse_signing_params(
        b"privateKeyFile: /k\nprivateKeyPassphraseFile: /p\nrekorURL: https://rekor\n"
        b"fulcio:\n  fulcioURL: https://fulcio\n  oidcMode: staticToken\n  oidcIDToken: t\n",
        "params.yaml",
    )
    assert params.private_key_file == "/k"
    assert params.private_key_passphrase_file == "/p"
    assert params.rekor_url == "https://rekor"
    assert dict(params.fulcio or {}) == {"fulcioURL": "https://fulcio", "oidcMode": "staticToken", "oidcIDToken": "t"}


def test_empty_file() -> None:
    assert parse_signing_params(b"", "p.yaml") == SigstoreSigningParams()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"privateKeyFil: /k\n", "privateKeyFil not found"),
        (b"fulcio:\n  fulcioUrl: x\n", "fulcioUrl not found"),
        (b"privateKeyFile: /k\n---\n{}\n", "unexpected trailing data"),
        (b"privateKeyFile: /k\nprivateKeyFile: /j\n", "duplicate key"),
        (b"- a\n", "a mapping of parameters expected"),
        (b"privateKeyFile: 3\n", "must be a string"),
        (b"a: &x 1\nb: *x\n", "anchors and aliases"),
        (b"privateKeyFile: [\n", "invalid YAML"),
        (b"fulcio: " + b"{a: " * 5000 + b"1" + b"}" * 5000 + b"\n", "nested too deeply"),
    ],
)
def test_refused(data: bytes, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_signing_params(data, "p.yaml")
