"""auth.json, certs.d and registries.conf parsing (pure file handling, no network)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from toolkit.config.auth import (
    NotLoggedInError,
    get_credentials,
    remove_credentials,
    set_credentials,
    validate_key,
)
from toolkit.config.certs import read_cert_dir
from toolkit.config.registries_conf import load_registries_conf, ref_matching_prefix
from toolkit.errors import ConfigError, InvalidInputError
from toolkit.reference import parse_normalized_named
from toolkit.types import Credentials, SystemContext


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
            "XDG_CONFIG_HOME": str(tmp_path / "cfg")}


def test_lookup_most_specific_first_and_search_order(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    primary = tmp_path / "run/containers/auth.json"
    primary.parent.mkdir(parents=True)
    primary.write_text(json.dumps({"auths": {
        "reg.example": {"auth": _b64("host:1")},
        "reg.example/ns": {"auth": _b64("ns:2")},
    }}))
    docker = tmp_path / "home/.docker/config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": _b64("hub:3")}}}))
    ctx = SystemContext()
    assert get_credentials(ctx, "reg.example/ns/repo", env) == Credentials(username="ns", password="2")
    assert get_credentials(ctx, "reg.example/other", env) == Credentials(username="host", password="1")
    assert get_credentials(ctx, "docker.io/library/busybox", env) == Credentials(username="hub", password="3")
    # No docker.io fallback for other hosts.
    assert get_credentials(ctx, "other.example/x", env) is None
    assert get_credentials(SystemContext(no_credentials=True), "reg.example/x", env) is None


def test_malformed_file_names_the_file_not_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text('{"auths": {"h": {"auth": "!!!secret!!!"}}}')
    with pytest.raises(ConfigError) as info:
        get_credentials(SystemContext(auth_file_path=path), "h/x")
    assert str(path) in str(info.value) and "secret" not in str(info.value)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        get_credentials(SystemContext(auth_file_path=path), "h/x")


def test_write_is_atomic_0600(tmp_path: Path) -> None:
    path = tmp_path / "d" / "auth.json"
    ctx = SystemContext(auth_file_path=path)
    set_credentials(ctx, "reg.example:5000", "u", "p")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert get_credentials(ctx, "reg.example:5000/x") == Credentials(username="u", password="p")
    remove_credentials(ctx, "reg.example:5000")
    with pytest.raises(NotLoggedInError, match="not logged into reg.example:5000"):
        remove_credentials(ctx, "reg.example:5000")
    for bad in ("https://x", "x@y", "host/repo:tag"):
        with pytest.raises(InvalidInputError):
            validate_key(bad)


def test_certs_dir(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    (tmp_path / "client.cert").write_text("x")
    (tmp_path / "client.key").write_text("x")
    files = read_cert_dir(tmp_path)
    assert files.ca_files == (tmp_path / "ca.crt",)
    assert files.client_pairs == ((tmp_path / "client.cert", tmp_path / "client.key"),)
    (tmp_path / "lone.key").write_text("x")
    with pytest.raises(ConfigError, match="missing client certificate lone.cert"):
        read_cert_dir(tmp_path)
    assert read_cert_dir(tmp_path / "missing").ca_files == ()


def test_registries_conf_mirrors_and_blocked(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text("""
[[registry]]
prefix = "docker.io/library"
location = "primary.example/lib"
[[registry.mirror]]
location = "mirror.example/lib"
[[registry.mirror]]
location = "digests.example/lib"
pull-from-mirror = "digest-only"

[[registry]]
location = "bad.example"
blocked = true
""")
    dropins = tmp_path / "registries.conf.d"
    dropins.mkdir()
    (dropins / "10-x.conf").write_text('[[registry]]\nprefix = "*.insecure.example"\ninsecure = true\n')
    parsed = load_registries_conf(SystemContext(registries_conf_path=conf))
    ref = parse_normalized_named("busybox:1")
    reg = parsed.find(str(ref))
    assert reg is not None
    assert [str(s.reference) for s in reg.pull_sources(ref)] == [
        "mirror.example/lib/busybox:1",
        "primary.example/lib/busybox:1",
    ]
    digested = parse_normalized_named("busybox@sha256:" + "a" * 64)
    assert len(reg.pull_sources(digested)) == 3
    with pytest.raises(ConfigError, match="blocked"):
        parsed.check_not_blocked(parse_normalized_named("bad.example/x:1"))
    assert parsed.is_insecure("a.insecure.example")
    assert ref_matching_prefix("example.com:5000/x", "example.com") == len("example.com")
    assert ref_matching_prefix("example.community/x", "example.com") == -1
    conf.write_text("[[registry]\n")
    with pytest.raises(ConfigError, match="registries"):
        load_registries_conf(SystemContext(registries_conf_path=conf))


def test_interrupted_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interruption mid-write (not only an OSError) keeps the old file and removes the temp file."""
    path = tmp_path / "auth.json"
    ctx = SystemContext(auth_file_path=path)
    set_credentials(ctx, "example.com", "user", "old")
    before = path.read_bytes()

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        set_credentials(ctx, "example.com", "user", "new")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json"]


@pytest.mark.parametrize("output", ["not json", "[" * 100000 + "]" * 100000, '{"Username": 5}'])
def test_helper_printing_garbage_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    (tmp_path / "out").write_text(output)
    helper = tmp_path / "docker-credential-fake"
    helper.write_text(f"#!/bin/sh\ncat '{tmp_path / 'out'}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {"example.com": "fake"}}))
    with pytest.raises(ConfigError, match="printed invalid JSON"):
        get_credentials(SystemContext(auth_file_path=auth), "example.com/repo")
