"""The sync YAML file (`toolkit.config.sync_file`) and semver matching (`toolkit.config.semver`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.config.semver import parse_constraint, parse_version
from toolkit.config.sync_file import MAX_SYNC_FILE_SIZE, load_sync_file, parse_sync_file
from toolkit.errors import ConfigError
from toolkit.types import Credentials

SKOPEO_EXAMPLE = b"""
registry.example.com:
    images:
        busybox: []
        redis:
            - "1.0"
            - "2.0"
            - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
    images-by-tag-regex:
        nginx: ^1\\.13\\.[12]-alpine-perl$
    images-by-semver:
        alpine: ">= 3.12.0"
    credentials:
        username: john
        password: this is a secret
    tls-verify: true
    cert-dir: /home/john/certs
quay.io:
    tls-verify: false
    images:
        coreos/etcd:
            - latest
"""


def test_skopeo_documentation_example() -> None:
    first, second = parse_sync_file(SKOPEO_EXAMPLE, "sync.yml")
    assert first.registry == "registry.example.com"
    assert first.images == (
        ("busybox", ()),
        ("redis", ("1.0", "2.0", "sha256:0000000000000000000000000000000011111111111111111111111111111111")),
    )
    (repo, pattern), = first.images_by_tag_regex
    assert repo == "nginx"
    assert pattern.search("1.13.2-alpine-perl") and not pattern.search("1.13.3-alpine-perl")
    (repo, constraint), = first.images_by_semver
    assert repo == "alpine" and constraint.check("3.12.0") and not constraint.check("3.11.9")
    assert first.credentials == Credentials(username="john", password="this is a secret")
    assert first.tls_verify is True
    assert first.cert_dir == Path("/home/john/certs")
    assert first.line == 2
    assert second.registry == "quay.io" and second.tls_verify is False
    assert second.images == (("coreos/etcd", ("latest",)),)
    assert second.credentials is None and second.cert_dir is None


def test_tags_keep_their_text() -> None:
    (reg,) = parse_sync_file(b"r.io:\n  images:\n    a: [1.10, 2, 3.0]\n    b:\n", "f")
    assert reg.images == (("a", ("1.10", "2", "3.0")), ("b", ()))
    assert reg.tls_verify is None


def test_empty_file_and_registry_without_images() -> None:
    assert parse_sync_file(b"", "f") == ()
    (reg,) = parse_sync_file(b"r.io:\n", "f")
    assert reg.images == () and reg.images_by_tag_regex == ()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (b"r.io:\n  images:\n    a: latest\n", 3, "expected a list"),
        (b"r.io:\n  imgs: {}\n", 2, "unknown key 'imgs'"),
        (b"r.io:\n  images-by-tag-regex:\n    a: '(unclosed'\n", 3, "invalid regular expression"),
        (b"r.io:\n  images-by-semver:\n    a: '>== 1'\n", 3, "improper constraint"),
        (b"r.io:\n  tls-verify: maybe\n", 2, "expected true or false"),
        (b"r.io:\n  credentials: {user: x}\n", 2, "unknown key 'user'"),
        (b"r.io:\n  images: {}\nr.io:\n  images: {}\n", 3, "duplicate key"),
        (b"r.io:\n  images: [\n", 3, "invalid YAML"),
        (b"- a\n- b\n", 1, "expected a mapping"),
    ],
)
def test_errors_name_file_and_line(text: bytes, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sync_file(text, "sync.yaml")
    message = str(info.value)
    assert message.startswith(f"sync.yaml:{line}:"), message
    assert fragment in message


def test_anchors_and_aliases_are_refused() -> None:
    bomb = b"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    with pytest.raises(ConfigError, match="anchors and aliases"):
        parse_sync_file(bomb, "bomb.yaml")


def test_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_SYNC_FILE_SIZE + 1))
    with pytest.raises(ConfigError, match="exceeded maximum allowed size"):
        load_sync_file(big)
    with pytest.raises(ConfigError, match="sync file .*missing.yaml: no such file"):
        load_sync_file(tmp_path / "missing.yaml")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    """A FIFO (which would block forever) or a directory is refused, not read."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_sync_file(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_sync_file(tmp_path)


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_sync_file(b"r.io: " + b"[" * 20000 + b"]" * 20000, "deep.yaml")


def test_python_objects_are_not_constructed() -> None:
    with pytest.raises(ConfigError):
        parse_sync_file(b"r.io:\n  images:\n    a: !!python/object/apply:os.system ['true']\n", "f")


# ---------------------------------------------------------------------------- semver


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", (1, 2, 3, "")),
        ("v1.2.3", (1, 2, 3, "")),
        ("3.12", (3, 12, 0, "")),
        ("2", (2, 0, 0, "")),
        ("1.2.3-rc.1+build.5", (1, 2, 3, "rc.1")),
        ("latest", None),
        ("1.2.3.4", None),
        ("1.2.3-01", None),
        ("", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int, str] | None) -> None:
    version = parse_version(text)
    if expected is None:
        assert version is None
    else:
        assert version is not None
        assert (version.major, version.minor, version.patch, version.prerelease) == expected


@pytest.mark.parametrize(
    ("constraint", "matching", "not_matching"),
    [
        (">=1.2.0 <2", ["1.2.0", "1.9.9", "v1.5"], ["1.1.9", "2.0.0", "1.5.0-rc1", "latest"]),
        (">= 1.2, < 3", ["1.2.0", "2.9"], ["3.0.0"]),
        ("~1.2", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.9"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("^1.2", ["1.2.0", "1.99.0"], ["2.0.0", "1.1.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "1.0.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0", "1.1.0"]),
        ("1.x", ["1.0.0", "1.9.9"], ["2.0.0"]),
        ("1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
        ("=1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4"]),
        ("!=1.2.3", ["1.2.4"], ["1.2.3"]),
        ("<1 || >=3", ["0.9.0", "3.1.0"], ["1.0.0", "2.5.0"]),
        ("1.2 - 1.4.5", ["1.2.0", "1.4.5"], ["1.4.6", "1.1.9"]),
        (">1.2", ["1.3.0"], ["1.2.9", "1.2.0"]),
        ("<=1.2", ["1.2.9", "1.0.0"], ["1.3.0"]),
        (">=1.0.0-alpha", ["1.0.0-beta", "1.0.0"], ["0.9.0"]),
        ("*", ["0.0.1", "99.0.0"], ["1.0.0-rc1", "latest"]),
    ],
)
def test_constraints(constraint: str, matching: list[str], not_matching: list[str]) -> None:
    parsed = parse_constraint(constraint)
    for tag in matching:
        assert parsed.check(tag), f"{tag} should match {constraint}"
    for tag in not_matching:
        assert not parsed.check(tag), f"{tag} should not match {constraint}"


@pytest.mark.parametrize("bad", ["", ">== 1", "1.2.3.4", "abc", "1.2 ||", ">=1.0 <", "x" * 600, "||".join(["1"] * 40)])
def test_bad_constraints(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_constraint(bad)


def test_prerelease_precedence() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0"]
    versions = [parse_version(v) for v in order]
    keys = [v.key() for v in versions if v is not None]
    assert keys == sorted(keys) and len(keys) == len(order)
