"""Bad-input corpus, references and credentials (security.md §4 cases 31-33)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from corpus_guard import Guard

from helpers import RegistryFactory
from helpers.images import build_image, write_dir
from helpers.registry import push_image


def test_case_31_docker_reference_grammar(guard: Guard, tmp_path: Path) -> None:
    digest = "sha256:" + "a" * 64
    cases = {
        "docker://Foo/bar": "repository name must be lowercase",
        "docker://" + "a" * 256: "must not be more than 255 characters",
        "docker://example.com/x:" + "t" * 129: "(?i)invalid|tag",
        f"docker://example.com/x:tag@{digest}": "(?i)both a tag and digest",
        "docker:foo": "(?i)invalid|//",
        "docker://example.com/x@sha256:../x": "(?i)invalid",
    }
    for ref, match in cases.items():
        guard.check(guard.copy(ref), match=match)
    # The normalisation that is right (not an error): shown by inspect's parse of the name.
    result = guard.run_skopo("--insecure-policy", "copy", "-q", "docker://busybox", "docker://Foo/bar")
    guard.check(result, match="repository name must be lowercase")


def test_case_32_local_reference_grammar(guard: Guard, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=321, layer_count=1, layer_size=256), tmp_path / "src")
    layout = tmp_path / "layout"
    for dest in (f"oci:{layout}:../x", f"oci:{layout}:a//b", f"oci:{layout}:-tag", f"oci:{layout}:a/../b",
                 "dir:", "oci:", "oci::x", "oci-archive:", "docker-archive:"):
        result = guard.run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", dest)
        guard.check(result, match="(?i)invalid|empty|reference|tag|path")
    # As sources too (the guard is the destination).
    for ref in ("dir:", f"oci:{layout}:../x", "oci-archive:"):
        guard.check(guard.copy(ref), match="(?i)invalid|empty|reference|tag|path")
    assert not layout.exists()
    # A path holding ':' is not guessed at: like containers/image, `oci:` splits at the first
    # ':' (the rest is the image name, which may itself hold ':' and '/'), so the layout is
    # created at `p`, never at `p:b`.
    result = guard.run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", f"oci:{tmp_path / 'p'}:b:tag")
    assert result.returncode == 0
    assert (tmp_path / "p" / "index.json").exists() and not (tmp_path / "p:b").exists()


def test_case_33_malformed_auth_json(guard: Guard, tmp_path: Path, registry_factory: RegistryFactory) -> None:
    registry = registry_factory(htpasswd=("alice", "s3cret-pw"))
    push_image(registry, "corpus/auth", "v1", build_image(seed=331, layer_count=1, layer_size=256))
    host = registry.host
    good = base64.b64encode(b"alice:s3cret-pw").decode()
    variants = {
        "not-base64": {"auths": {host: {"auth": "!!!s3cret-pw!!!"}}},
        "no-colon": {"auths": {host: {"auth": base64.b64encode(b"alices3cret-pw").decode()}}},
        "with-at": {"auths": {f"alice@{host}": {"auth": good}}},
        "docker-io-only": {"auths": {"docker.io": {"auth": good}}},
        "not-an-object": {"auths": []},
        "not-json": "{",
    }
    for name, doc in variants.items():
        authfile = tmp_path / f"{name}.json"
        authfile.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        authfile.chmod(0o600)
        result = guard.copy("--src-tls-verify=false", "--authfile", authfile, f"docker://{host}/corpus/auth:v1")
        assert b"s3cret-pw" not in result.stderr + result.stdout
        if name == "no-colon":
            # containers/image skips such an entry with a warning naming the file; the
            # anonymous request is then refused: two lines, the first the warning.
            warning, error = result.stderr.decode().splitlines()
            assert str(authfile) in warning and "missing colon" in warning
            assert "authentication required" in error and result.returncode != 0
            continue
        guard.check(result)
    # A world-readable auth file: a warning at most (never the secret), and it still works.
    authfile = tmp_path / "readable.json"
    authfile.write_text(json.dumps({"auths": {host: {"auth": good}}}))
    authfile.chmod(0o644)
    result = guard.run_skopo("--insecure-policy", "copy", "-q", "--src-tls-verify=false", "--authfile", authfile,
                             f"docker://{host}/corpus/auth:v1", f"dir:{tmp_path / 'fresh'}")
    assert b"s3cret-pw" not in result.stderr + result.stdout
