"""Start-up cost: a command imports only what it runs (checked by module names, never by time).

Each command runs as `python -X importtime -m toolkit ...`; the modules it imported are read
from the importtime lines on stderr. Modules the interpreter imported before skopo's code
(site, `.pth` files such as an editable install's finder) are listed by the same run of
`python -X importtime -c pass` and are not held against skopo.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from toolkit import plugins
from toolkit.cli.commands import BUILTIN as BUILTIN_COMMANDS
from toolkit.transports import BUILTIN as BUILTIN_TRANSPORTS

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "examples" / "image"
DEMO_MANIFEST = DEMO / "blobs/sha256/f79e3cf44074156d87743ddd348fcb4e8d37bd2777ad31b02b2f583b847ea2c8"

#: What no command needs unless it uses the network, signs, verifies or encrypts.
HEAVY = (
    "requests", "urllib3", "charset_normalizer", "idna", "ssl", "http.client", "importlib.metadata",
    "gnupg", "cryptography", "nacl", "yaml", "numpy", "toolkit.transports.docker", "toolkit.signature",
    "toolkit.crypt._keys", "toolkit.crypt._jwe", "toolkit.crypt._pgp", "toolkit.crypt._pkcs7",
)
#: Also kept off the commands that neither copy nor inspect an image.
IMAGE_MACHINERY = (
    "toolkit.policy", "toolkit.image", "toolkit.ops", "toolkit.transports", "toolkit.manifest.edit",
    "toolkit.manifest.formats", "toolkit.manifest.config", "toolkit.compression", "isal", "zstandard", "rich",
)


def _imported(*python_args: str, cwd: Path, env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *python_args],
        capture_output=True, cwd=cwd, env=env, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    names = {
        line.split("|")[2].strip()
        for line in result.stderr.decode(errors="replace").splitlines()
        if line.startswith("import time:") and line.count("|") == 2 and "cumulative" not in line
    }
    assert names, "no -X importtime output"
    return names


@pytest.fixture
def quiet_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SKOPO", "REGISTRY_AUTH"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_RUNTIME_DIR=str(tmp_path))
    return env


def _skopo_imports(tmp_path: Path, env: dict[str, str], *args: str) -> set[str]:
    """Modules `skopo ARGS` imported, less those the bare interpreter imports in this environment."""
    before = _imported("-c", "pass", cwd=tmp_path, env=env)
    return _imported("-m", "toolkit", *args, cwd=tmp_path, env=env) - before


def _offending(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize(
    ("args", "forbidden"),
    [
        (("--version",), HEAVY + IMAGE_MACHINERY + ("toolkit.manifest", "toolkit.types", "toolkit.digest")),
        (("manifest-digest", str(DEMO_MANIFEST)), HEAVY + IMAGE_MACHINERY),
        (("inspect", f"oci:{DEMO}:demo"), (*HEAVY, "toolkit.policy", "toolkit.ops.copy", "rich")),
        (("--insecure-policy", "copy", "-q", f"oci:{DEMO}:demo", "dir:{out}"), HEAVY),
    ],
    ids=["--version", "manifest-digest", "inspect oci:", "copy oci: dir:"],
)
def test_a_command_imports_only_what_it_runs(
    tmp_path: Path, quiet_env: dict[str, str], args: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    args = tuple(a.replace("{out}", str(tmp_path / "out")) for a in args)
    modules = _skopo_imports(tmp_path, quiet_env, *args)
    assert "toolkit.cli.app" in modules
    assert _offending(modules, forbidden) == []


def test_the_check_sees_the_http_stack_of_a_registry_command(tmp_path: Path, quiet_env: dict[str, str]) -> None:
    """The control: a `docker://` command does import requests, so the check above can fail."""
    before = _imported("-c", "pass", cwd=tmp_path, env=quiet_env)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "toolkit", "inspect", "--retry-times", "0",
         "--tls-verify=false", "docker://127.0.0.1:9/none/such:tag"],
        capture_output=True, cwd=tmp_path, env=quiet_env, timeout=120, check=False,
    )
    assert result.returncode != 0  # nothing listens on port 9
    names = {
        line.split("|")[2].strip()
        for line in result.stderr.decode(errors="replace").splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    } - before
    assert "requests" in names and _offending(names, ("toolkit.transports.docker",))
    assert _offending(names, ("toolkit.policy", "cryptography")) == []


def _pyproject_entry_points(group: str) -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(data["project"]["entry-points"][group])


def test_the_builtin_tables_are_the_declared_entry_points() -> None:
    assert _pyproject_entry_points("toolkit.commands") == BUILTIN_COMMANDS
    assert _pyproject_entry_points("toolkit.transports") == BUILTIN_TRANSPORTS


@pytest.mark.parametrize("table", [BUILTIN_COMMANDS, BUILTIN_TRANSPORTS], ids=["commands", "transports"])
def test_every_builtin_loads(table: dict[str, str]) -> None:
    for name, value in table.items():
        assert plugins.BuiltIn(name, value).load() is not None, name


def test_a_builtin_name_needs_no_entry_point_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(group: str) -> tuple[object, ...]:
        raise AssertionError(f"scanned {group}")

    monkeypatch.setattr(plugins, "entry_points_of", no_scan)
    found = plugins.find("toolkit.commands", BUILTIN_COMMANDS, "manifest-digest")
    assert found is not None and found.value == BUILTIN_COMMANDS["manifest-digest"]
    with pytest.raises(AssertionError, match="scanned toolkit.commands"):
        plugins.find("toolkit.commands", BUILTIN_COMMANDS, "not-built-in")


def test_a_plugin_cannot_take_a_builtin_name(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeEntryPoint:
        def __init__(self, name: str, value: str) -> None:
            self.name, self.value = name, value

        def load(self) -> object:
            return self.value

    fakes = (FakeEntryPoint("copy", "evil:copy"), FakeEntryPoint("hello", "plugin:hello"))
    monkeypatch.setattr(plugins, "entry_points_of", lambda group: fakes)
    found = plugins.registered("toolkit.commands", BUILTIN_COMMANDS)
    assert found["copy"].value == BUILTIN_COMMANDS["copy"]
    assert found["hello"].value == "plugin:hello"
    assert set(found) == {*BUILTIN_COMMANDS, "hello"}
