"""`docker://NAME@@unknown-digest@@`: untagged pushes by digest (containers-transports(5)).

skopeo 1.9.3 predates the suffix (containers/image 5.29), so the pushed images are checked
through the registry's API and read back by skopeo by digest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, build_multiarch, write_dir
from helpers.registry import RegistryServer, get_manifest


def tags_of(registry: RegistryServer, repo: str) -> list[str]:
    """The repository's tags ([] when the registry knows no tag of it)."""
    resp = requests.get(f"{registry.url}/v2/{repo}/tags/list", timeout=30, **registry.requests_kwargs())
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return list(resp.json().get("tags") or [])


@pytest.mark.parametrize("multi", [False, True])
def test_push_by_digest_without_a_tag(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, registry: RegistryServer, multi: bool
) -> None:
    image = build_multiarch(seed=2) if multi else build_image(layer_count=2, seed=1)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    digestfile = tmp_path / "digest"
    args = ["--all"] if multi else []
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", *args,
                       "--digestfile", str(digestfile), src, f"docker://{registry.host}/untagged@@unknown-digest@@")
    assert result.returncode == 0, describe_result(result)
    digest = digestfile.read_text()
    assert digest == image.manifest_digest  # pushed unchanged, under its own digest
    resp = get_manifest(registry, "untagged", digest)
    assert resp.status_code == 200 and resp.content == image.manifest
    assert tags_of(registry, "untagged") == []
    # skopeo reads it by digest (and verifies every blob, each instance with --all).
    skopeo.run("copy", "--src-tls-verify=false", *args, f"docker://{registry.host}/untagged@{digest}",
               f"dir:{tmp_path / 'back'}")
    assert (tmp_path / "back" / "manifest.json").read_bytes() == image.manifest


def test_unknown_digest_is_refused_where_containers_image_refuses_it(
    tmp_path: Path, run_skopo: SkopoRunner, registry: RegistryServer
) -> None:
    name = f"docker://{registry.host}/refused@@unknown-digest@@"
    src = f"dir:{write_dir(build_image(layer_count=1, seed=3), tmp_path / 'src')}"
    source_error = f'reading images from docker: reference "//{registry.host}/refused@@unknown-digest@@" ' \
        "without a tag or digest is not supported"
    for args in (["inspect", "--tls-verify=false", name],
                 ["--insecure-policy", "copy", "-q", "--src-tls-verify=false", name, f"dir:{tmp_path / 'out'}"]):
        line = assert_clean_error(run_skopo(*args), expected_exit=1)
        assert line.endswith(source_error), line
    line = assert_clean_error(run_skopo("delete", "--tls-verify=false", name), expected_exit=1)
    assert line.endswith("Docker reference without a tag or digest cannot be deleted")
    assert_clean_error(
        run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", src,
                  f"docker://{registry.host}/refused:v1@@unknown-digest@@"),
        match="has unknown digest set but it contains either a tag or digest",
    )
    # Signatures have no digest to go under until the push: refused before anything is written.
    sigdir = tmp_path / "signed"
    (sigdir).mkdir()
    line = assert_clean_error(
        run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--sign-by", "nobody@example.com",
                  src, name, env={"GNUPGHOME": str(sigdir)}),
    )
    assert "Unknown manifest digest, can't add signatures" in line
    catalog = requests.get(f"{registry.url}/v2/_catalog", timeout=30, **registry.requests_kwargs()).json()
    assert "refused" not in json.dumps(catalog)
    assert not (tmp_path / "out").exists()
