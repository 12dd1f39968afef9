"""Start-up cost: a command imports only what it runs (checked by module names, never by time).

Each command runs as the console script does (`toolkit.cli.main()`, with `sys.argv` set),
in a fresh interpreter whose atexit handler prints `sys.modules` at the end (`main` runs
the atexit handlers before `os._exit`): every module imported, including those loaded
through `importlib.import_module` (lazy package attributes, the command table), which
`python -X importtime` does not list. Modules the interpreter imported before skopo's code
(site, `.pth` files such as an editable install's finder) are listed by the same kind of
run without skopo and are not held against it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from helpers.registry import RegistryServer
from toolkit import plugins
from toolkit.cli import _deferred
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

#: Not needed by a copy without `--encryption-key`/`--decryption-key` or signatures, nor
#: (on Linux) platformdirs, nor installed-distribution metadata (urllib3 imports it).
#: (tomllib may be: the machine's own registries.conf files, which these runs read, may
#: hold settings.)
PLAIN_COPY = ("toolkit.crypt", "platformdirs", "toolkit.signature", "importlib.metadata")
#: What requests imports at start but the registry client never uses (cli/_deferred.py):
#: character-set guessing, IDNA host names, CA bundles inside zip archives (and with
#: zipfile the bz2 and lzma codecs).
UNUSED_BY_THE_REGISTRY_CLIENT = ("charset_normalizer", "idna", "zipfile", "bz2", "lzma")


#: A deferred standard module (cli/_deferred.py) not used yet is a stand-in, not an import.
_REPORT = (
    "import atexit, sys\n"
    "def _report():\n"
    "    deferred = sys.modules['toolkit.cli._deferred'].pending() if 'toolkit.cli._deferred' in sys.modules else []\n"
    "    sys.stderr.write('\\nMODULES ' + ' '.join(sorted(set(sys.modules) - set(deferred))) + '\\n')\n"
    "atexit.register(_report)\n"
)


def _imported(args: tuple[str, ...] | None, *, cwd: Path, env: dict[str, str]) -> tuple[int, set[str]]:
    """Exit status and modules of `skopo ARGS` (None: the bare interpreter, no skopo)."""
    code = _REPORT if args is None else (
        _REPORT + f"sys.argv = ['skopo', *{list(args)!r}]\nfrom toolkit.cli import main\nmain()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=cwd, env=env, timeout=120, check=False,
    )
    lines = [line for line in result.stderr.decode(errors="replace").splitlines() if line.startswith("MODULES ")]
    assert lines, result.stderr.decode(errors="replace")[-3000:]
    return result.returncode, set(lines[-1].split()[1:])


@pytest.fixture
def quiet_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SKOPO", "REGISTRY_AUTH"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_RUNTIME_DIR=str(tmp_path))
    return env


def _skopo_imports(tmp_path: Path, env: dict[str, str], *args: str, status: int = 0) -> set[str]:
    """Modules `skopo ARGS` imported, less those the bare interpreter imports in this environment."""
    _, before = _imported(None, cwd=tmp_path, env=env)
    code, modules = _imported(args, cwd=tmp_path, env=env)
    assert code == status
    return modules - before


def _offending(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


#: Imported on first use only, and none of the three short commands below uses them: logging
#: (configured once imported, cli/logsetup.py), ctypes (sync_file_range, for large files),
#: secrets and random (temp names use os.urandom; retry jitter), the compression codecs (the
#: CLI's help needs only their names), OpenSSL's hashlib (small documents are hashed by the
#: interpreter's own sha256, also through a verifying reader), the standard modules typer
#: imports but skopo seldom uses (cli/_deferred.py: shutil, and with it bz2 and lzma, ...),
#: base64 (embedded data, schema1 signatures), json (documents are parsed by its C scanner,
#: toolkit.manifest.jsonscan; the package with its regexes is for errors and writing).
#: (typer itself imports traceback.)
DEFERRED = (
    "logging", "ctypes", "secrets", "random", "tempfile", "toolkit.compression", "isal", "zstandard",
    "toolkit.cli.common", "hashlib", "_hashlib", *_deferred.DEFERRED, "bz2", "lzma", "base64", "json",
    "dataclasses",  # records are made without it (toolkit/_record.py); `dataclasses.fields()` & co load it
    "signal",  # its enums: cli/app.py uses the C module `_signal`, and `signal` to name a signal that came
    "math",  # (datetime's import, deferred; a float in a manifest)
)


@pytest.mark.parametrize(
    ("args", "forbidden"),
    [
        (("--version",), HEAVY + IMAGE_MACHINERY + DEFERRED + (
            "toolkit.manifest", "toolkit.types", "toolkit.digest", "toolkit.cli.context", "toolkit.cli.commands.",
        )),
        (("manifest-digest", str(DEMO_MANIFEST)), HEAVY + IMAGE_MACHINERY + DEFERRED),
        (("inspect", f"oci:{DEMO}:demo"), (
            *HEAVY, *(m for m in DEFERRED if m != "toolkit.cli.common"), "toolkit.policy", "toolkit.ops.copy", "rich",
            "toolkit.manifest.select", "toolkit.manifest.platform",  # instance selection: lists only
            "toolkit.streams",  # buffer pools and read-ahead: only commands that write blobs
            "toolkit.reference",  # the docker reference grammar: a layout's images have no docker name
            "toolkit.cli.gotemplate",  # --format only
            "fcntl", "select",  # locks and pipe waits: writers only
            "toolkit.cli.completion",  # a completion request only
        )),
        (("--insecure-policy", "copy", "-q", f"oci:{DEMO}:demo", "dir:{out}"), (*HEAVY, *PLAIN_COPY)),
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
    if args[0] in BUILTIN_COMMANDS:  # the command's own module: the check does see lazy imports
        assert BUILTIN_COMMANDS[args[0]].partition(":")[0] in modules


def test_the_check_sees_the_http_stack_of_a_registry_command(tmp_path: Path, quiet_env: dict[str, str]) -> None:
    """The control: a `docker://` command does import requests, so the check above can fail."""
    names = _skopo_imports(
        tmp_path, quiet_env, "inspect", "--retry-times", "0", "--tls-verify=false", "docker://127.0.0.1:9/none/such:tag",
        status=1,  # nothing listens on port 9
    )
    assert "requests" in names and _offending(names, ("toolkit.transports.docker",))
    assert _offending(names, ("toolkit.policy", "cryptography")) == []


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_a_plain_registry_copy_imports_no_encryption(
    tmp_path: Path, quiet_env: dict[str, str], registry_server: RegistryServer, direction: str
) -> None:
    """A `docker://` copy (either way) without keys imports neither `toolkit.crypt` nor the
    policy's signature machinery; it does import the HTTP stack (the control)."""
    remote = f"docker://{registry_server.host}/startup-imports/demo:{direction}"
    push = ("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{DEMO}:demo", remote)
    if direction == "pull":
        assert _imported(push, cwd=tmp_path, env=quiet_env)[0] == 0
        args: tuple[str, ...] = ("--insecure-policy", "copy", "-q", "--src-tls-verify=false", remote,
                                 f"oci:{tmp_path / 'out'}:demo")
    else:
        args = push
    names = _skopo_imports(tmp_path, quiet_env, *args)
    assert "requests" in names and "toolkit.ops.copy.single" in names
    assert _offending(names, (*PLAIN_COPY, "cryptography", "gnupg", "yaml")) == []
    assert _offending(names, UNUSED_BY_THE_REGISTRY_CLIENT) == []


#: Counts the classes made by `dataclasses.dataclass` (each costs ~4 M instructions: exec of
#: generated code); toolkit's own classes are records (toolkit/_record.py) on this path.
_COUNT_DATACLASSES = (
    "import atexit, dataclasses, sys\n"
    "made = []\n"
    "_real = dataclasses.dataclass\n"
    "def _counting(cls=None, /, **kwargs):\n"
    "    def wrap(c):\n"
    "        made.append(c.__module__ + '.' + c.__qualname__)\n"
    "        return _real(c, **kwargs)\n"
    "    return wrap if cls is None else wrap(cls)\n"
    "dataclasses.dataclass = _counting\n"
    "atexit.register(lambda: sys.stderr.write('\\nDATACLASSES ' + ' '.join(made) + '\\n'))\n"
)


def test_a_registry_copy_makes_no_dataclass_of_its_own(
    tmp_path: Path, quiet_env: dict[str, str], registry_server: RegistryServer
) -> None:
    remote = f"docker://{registry_server.host}/startup-imports/dataclasses:1"
    runs = [
        ("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{DEMO}:demo", remote),
        ("--insecure-policy", "copy", "-q", "--src-tls-verify=false", remote, f"oci:{tmp_path / 'out'}:demo"),
    ]
    for args in runs:
        code = _COUNT_DATACLASSES + f"sys.argv = ['skopo', *{list(args)!r}]\nfrom toolkit.cli import main\nmain()\n"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path, env=quiet_env,
                                timeout=120, check=False)
        err = result.stderr.decode(errors="replace")
        assert result.returncode == 0, err[-3000:]
        lines = [line for line in err.splitlines() if line.startswith("DATACLASSES")]
        assert lines, err[-3000:]
        assert [name for name in lines[-1].split()[1:] if name.startswith("toolkit.")] == []


def test_logging_imported_later_is_still_configured(tmp_path: Path, quiet_env: dict[str, str]) -> None:
    """A command that imports `logging` only after start-up still gets skopo's log lines:
    warnings on stderr as `warning: ...`, no debug lines, Python warnings silenced."""
    code = (
        "import sys\nfrom toolkit.cli import app\n"
        f"status = app.run(['manifest-digest', {str(DEMO_MANIFEST)!r}])\n"
        "assert 'logging' not in sys.modules\n"
        "import warnings\n"
        "warnings.warn('not shown before logging is imported')\n"
        "import logging\n"
        "logging.getLogger('toolkit.x').warning('careful %s', 1)\n"
        "logging.getLogger('toolkit.x').debug('not shown')\n"
        "warnings.warn('not shown either')\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env=quiet_env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "warning: careful 1\n"
    code = code.replace("['manifest-digest'", "['--debug', 'manifest-digest'").replace(
        "assert 'logging' not in sys.modules\n", "")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env=quiet_env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "warning: careful 1\ndebug: not shown\n" in result.stderr
    assert "UserWarning: not shown either" in result.stderr


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


def test_a_debug_logger_forwards_once_logging_is_in_use(caplog: pytest.LogCaptureFixture) -> None:
    """Under pytest `logging` is imported: DebugLogger lines reach the module's real logger."""
    import logging

    from toolkit._lazy import DebugLogger

    with caplog.at_level(logging.DEBUG, logger="toolkit.some.module"):
        DebugLogger("toolkit.some.module").debug("chose %s", "amd64")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("toolkit.some.module", logging.DEBUG, "chose amd64")
    ]


#: Counts the loads of the system CA store (`create_default_context` calls
#: `load_default_certs`, which calls `set_default_verify_paths`).
_COUNT_CA_LOADS = (
    "import atexit, ssl, sys\n"
    "loads = []\n"
    "_real = ssl.SSLContext.set_default_verify_paths\n"
    "def _counting(self):\n"
    "    loads.append(1)\n"
    "    return _real(self)\n"
    "ssl.SSLContext.set_default_verify_paths = _counting\n"
    "atexit.register(lambda: sys.stderr.write(f'\\nCA_LOADS {len(loads)}\\n'))\n"
)


def test_a_copy_without_tls_verification_never_loads_the_ca_store(
    tmp_path: Path, quiet_env: dict[str, str], registry_server: RegistryServer
) -> None:
    """The system trust store (~2 MiB and ~20 ms) is loaded for a verifying TLS context
    only; the control, an https registry with verification, does load it."""
    remote = f"docker://{registry_server.host}/startup-imports/ca:1"
    runs = [
        (("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"oci:{DEMO}:demo", remote), 0),
        (("--insecure-policy", "copy", "-q", "--src-tls-verify=false", remote, f"oci:{tmp_path / 'out'}:demo"), 0),
        # Verified: the store is loaded (then the http-only registry's TLS handshake fails).
        (("inspect", "--retry-times", "0", remote), 1),
    ]
    counts = []
    for args, status in runs:
        code = _COUNT_CA_LOADS + f"sys.argv = ['skopo', *{list(args)!r}]\nfrom toolkit.cli import main\nmain()\n"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path, env=quiet_env,
                                timeout=120, check=False)
        err = result.stderr.decode(errors="replace")
        assert result.returncode == status, err[-3000:]
        lines = [line for line in err.splitlines() if line.startswith("CA_LOADS ")]
        assert lines, err[-3000:]
        counts.append(int(lines[-1].split()[1]))
    assert counts[:2] == [0, 0] and counts[2] >= 1
