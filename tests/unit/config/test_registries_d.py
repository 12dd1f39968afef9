"""registries.d: parsing, merging and lookup (security.md corpus 30)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.config.registries_d import load_registries_d, parse_registries_d_dir
from toolkit.errors import ConfigError
from toolkit.reference import parse_normalized_named
from toolkit.types import SystemContext

ROOT = Path(__file__).resolve().parents[3]


def write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)


def test_shipped_default_yaml(tmp_path: Path) -> None:
    config = parse_registries_d_dir(ROOT / "registries.d", {"HOME": str(tmp_path)})
    assert config.default_docker is not None
    ref = parse_normalized_named("busybox:latest")
    assert config.lookaside_read_url(ref) == config.lookaside_write_url(ref)
    assert config.lookaside_read_url(ref).startswith("file:///")  # type: ignore[union-attr]


def test_lookup_most_specific_and_fall_through(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """
default-docker:
  lookaside: https://default.example/sigs
docker:
  registry.example.com:
    lookaside: https://host.example/sigs
    use-sigstore-attachments: true
  registry.example.com/ns:
    lookaside-staging: file:///staging
  registry.example.com/ns/repo:tag:
    sigstore: https://old-name.example/sigs
  "*.example.com":
    lookaside: https://wild.example/sigs
  registry.example.com:5000:
    lookaside: https://port.example/sigs
""")
    config = parse_registries_d_dir(tmp_path)
    ref = parse_normalized_named("registry.example.com/ns/repo:tag")
    assert config.lookaside_read_url(ref) == "https://old-name.example/sigs"
    # The most specific section with a usable URL wins, for writing too (no staging there).
    assert config.lookaside_write_url(ref) == "https://old-name.example/sigs"
    other = parse_normalized_named("registry.example.com/ns/other:1")
    # ns has no "lookaside": reading falls through to the host section.
    assert config.lookaside_read_url(other) == "https://host.example/sigs"
    assert config.lookaside_write_url(other) == "file:///staging"
    assert config.use_sigstore_attachments(other) is True
    assert config.lookaside_read_url(parse_normalized_named("sub.example.com/x:1")) == "https://wild.example/sigs"
    # A port-ful host does not fall back to the port-less host section.
    assert config.lookaside_read_url(parse_normalized_named("registry.example.com:5000/x:1")) == (
        "https://port.example/sigs")
    assert config.lookaside_read_url(parse_normalized_named("quay.io/x:1")) == "https://default.example/sigs"
    assert config.use_sigstore_attachments(parse_normalized_named("quay.io/x:1")) is False


def test_builtin_default_when_nothing_configured(tmp_path: Path) -> None:
    config = parse_registries_d_dir(tmp_path / "missing", {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d")})
    url = config.lookaside_write_url(parse_normalized_named("busybox:latest"))
    if os.geteuid() == 0:
        assert url == "file:///var/lib/containers/sigstore"
    else:
        assert url == f"file://{tmp_path / 'd'}/containers/sigstore"


def test_scopes_most_specific_first(tmp_path: Path) -> None:
    """Scopes are the reference's policy identity, then its policy namespaces (wildcards last)."""
    write(tmp_path, "a.yaml", """
docker:
  "*.example.com": {lookaside: "file:///wild"}
  a.b.example.com:5000/ns: {lookaside: "file:///ns"}
  a.b.example.com:5000/ns/repo:tag: {lookaside: "file:///tagged"}
""")
    config = parse_registries_d_dir(tmp_path)
    assert config.lookaside_read_url(parse_normalized_named("a.b.example.com:5000/ns/repo:tag")) == "file:///tagged"
    assert config.lookaside_read_url(parse_normalized_named("a.b.example.com:5000/ns/repo:other")) == "file:///ns"
    assert config.lookaside_read_url(parse_normalized_named("c.example.com/x:1")) == "file:///wild"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.yaml": "default-docker:\n", "b.yaml": "default-docker:\n  lookaside: file:///x\n"},
         r'"default-docker" defined both in ".*a.yaml" and ".*b.yaml"'),
        ({"a.yaml": "docker:\n  example.com:\n    lookaside: file:///a\n",
          "b.yaml": "docker:\n  example.com:\n    lookaside: file:///b\n"},
         r'"docker" namespace "example.com" defined both in ".*a.yaml" and ".*b.yaml"'),
        ({"a.yaml": "docker:\n  example.com:\n    lookaside: ftp://x/y\n"},
         r"a.yaml.*scheme must be file, http or https"),
        ({"a.yaml": "docker:\n  example.com:\n    lookaside: file:relative\n"}, "use file:///absolute/path"),
        ({"a.yaml": "docker:\n  example.com:\n    lookaside: https:///nohost\n"}, "no host"),
        ({"a.yaml": "docker:\n  example.com:\n    lookaside: 5\n"}, "must be a URL string"),
        ({"a.yaml": "docker:\n  example.com:\n    use-sigstore-attachments: maybe\n"}, "must be true or false"),
        ({"a.yaml": "docker: [1, 2]\n"}, "must be a mapping of scopes"),
        ({"a.yaml": "- a list\n"}, "expected a mapping at the top level"),
        ({"a.yaml": "docker:\n  x: &a {lookaside: 'file:///a'}\n  y: *a\n"}, "anchors and aliases are not allowed"),
        ({"a.yaml": "docker:\n  example.com: {}\n  example.com: {}\n"}, "duplicate key"),
        ({"a.yaml": "docker: {\n"}, "invalid YAML"),
        ({"a.yaml": "x: !!python/object/apply:os.system ['true']\n"}, "invalid YAML"),
        ({"a.yaml": "docker: " + "[" * 20000 + "]" * 20000 + "\n"}, "invalid YAML: nested too deeply"),
    ],
)
def test_bad_configurations(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(ConfigError, match=message):
        parse_registries_d_dir(tmp_path)


def test_size_cap_and_non_yaml_ignored(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "garbage: [")
    write(tmp_path, "big.yaml", "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="exceeded maximum allowed size"):
        parse_registries_d_dir(tmp_path)


def test_load_uses_context_directory_and_cache(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "default-docker:\n  lookaside: https://one.example/s\n")
    ctx = SystemContext(registries_d_path=tmp_path)
    ref = parse_normalized_named("busybox:latest")
    first = load_registries_d(ctx)
    assert load_registries_d(ctx) is first
    assert first.lookaside_read_url(ref) == "https://one.example/s"
    write(tmp_path, "a.yaml", "default-docker:\n  lookaside: https://two.example/longer/s\n")
    assert load_registries_d(ctx).lookaside_read_url(ref) == "https://two.example/longer/s"
