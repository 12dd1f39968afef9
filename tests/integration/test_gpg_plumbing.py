"""The `gnupg_home` fixture makes keys that skopeo (through gpgme) can sign and verify with."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import GnupgHome, Skopeo
from helpers.images import build_image

pytestmark = pytest.mark.peer


@pytest.mark.parametrize("passphrase", ["", "correct horse"])
def test_skopeo_signs_and_verifies_with_fixture_keys(
    passphrase: str, tmp_path: Path, gnupg_home: GnupgHome, skopeo: Skopeo
) -> None:
    assert gnupg_home.path.stat().st_mode & 0o777 == 0o700
    fingerprint = gnupg_home.make_key("Skopo Test <test@example.com>", passphrase, algo="ed25519")
    assert len(fingerprint) == 40
    assert b"BEGIN PGP PUBLIC KEY BLOCK" in gnupg_home.export_public(fingerprint, armor=True)

    image = build_image(seed=31)
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(image.manifest)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(passphrase)
    signature = tmp_path / "signature"
    gpg_env = {"GNUPGHOME": str(gnupg_home.path)}
    sign_args: list[str | Path] = ["--passphrase-file", passphrase_file] if passphrase else []
    skopeo.run(
        "standalone-sign",
        *sign_args,
        "--output",
        signature,
        manifest,
        "registry.example/skopo/test:v1",
        fingerprint,
        env=gpg_env,
    )
    verified = skopeo.run(
        "standalone-verify", manifest, "registry.example/skopo/test:v1", fingerprint, signature, env=gpg_env
    )
    assert image.manifest_digest in verified.stdout.decode()
