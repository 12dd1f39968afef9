"""The public Python API against real peers: a registry (tags, delete, sync) and gpg
(standalone sign/verify), with the same results the commands give."""

from __future__ import annotations

from pathlib import Path

import pytest

import toolkit
from helpers import GnupgHome, SkopoRunner
from helpers.images import build_image
from helpers.registry import RegistryServer, push_image

PLAIN_HTTP = toolkit.SystemContext(tls_verify=toolkit.OptionalBool.FALSE)
INSECURE = toolkit.policy_context(insecure=True)


def test_list_tags_delete_and_sync_with_a_registry(registry_server: RegistryServer, tmp_path: Path) -> None:
    image = build_image(seed=77, layer_count=1)
    for tag in ("b", "a"):
        push_image(registry_server, "pyapi/tags", tag, image)
    repo = f"docker://{registry_server.host}/pyapi/tags"
    assert sorted(toolkit.list_tags(repo, ctx=PLAIN_HTTP)) == ["a", "b"]
    with pytest.raises(toolkit.InvalidInputError, match="tag listing"):
        toolkit.list_tags("oci:somewhere", ctx=PLAIN_HTTP)

    result = toolkit.sync(f"{registry_server.host}/pyapi/tags", str(tmp_path / "mirror"), source_kind="docker",
                          dest_kind="dir", policy=INSECURE, options=toolkit.CopyOptions(source_ctx=PLAIN_HTTP))
    assert result.count(toolkit.ItemStatus.COPIED) == 2
    assert (tmp_path / "mirror" / "tags:a" / "manifest.json").read_bytes() == image.manifest

    toolkit.delete(f"{repo}:a", ctx=PLAIN_HTTP)  # the manifest, so both tags
    with pytest.raises(toolkit.ImageNotFoundError):
        toolkit.inspect(f"{repo}:b", ctx=PLAIN_HTTP)


def test_sign_and_verify_standalone_signatures(gnupg_home: GnupgHome, run_skopo: SkopoRunner, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fingerprint = gnupg_home.make_key("Py Api <py@example.com>", algo="ed25519")
    public = gnupg_home.export_public(fingerprint)
    monkeypatch.setenv("GNUPGHOME", str(gnupg_home.path))
    manifest = build_image(seed=78).manifest
    signature = toolkit.sign(manifest, "registry.example/app:v1", fingerprint)

    verified = toolkit.verify(manifest, "registry.example/app:v1", signature, fingerprints=fingerprint)
    assert verified.key_fingerprint == fingerprint
    assert toolkit.verify(manifest, "registry.example/app:v1", signature, fingerprints="any",
                          public_keys=public).key_fingerprint == fingerprint
    with pytest.raises(toolkit.SignatureError, match="does not match"):
        toolkit.verify(manifest, "registry.example/other:v1", signature, fingerprints=[fingerprint])

    # The command accepts what the library made.
    (tmp_path / "manifest.json").write_bytes(manifest)
    (tmp_path / "signature").write_bytes(signature)
    cli = run_skopo("standalone-verify", tmp_path / "manifest.json", "registry.example/app:v1", fingerprint,
                    tmp_path / "signature", env={"GNUPGHOME": str(gnupg_home.path)})
    assert cli.returncode == 0, cli.stderr
    assert f"fingerprint {fingerprint}" in cli.stdout.decode()
