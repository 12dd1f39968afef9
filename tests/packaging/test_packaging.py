"""skopo installs like a package: the wheel and the sdist, built with `python -m build` from a
copy of the checkout, each installed into a fresh venv (dependencies from the configured
package index, nothing else), give a working `skopo`, its man pages, the example data, the
README's Python examples against a registry, a clean `pip check`, and a build log without
a warning. And a distribution that installs its own `toolkit/` over skopo's is named.

One build and one venv per kind serve the whole module (pip's cache makes the installs
quick); the conflict test comes last because it breaks, then repairs, the wheel's venv.
"""

from __future__ import annotations

import base64
import email
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import assert_clean_error, describe_result
from helpers.readme import check_python_api_output, run_python_api_examples
from helpers.registry import RegistryServer

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
_SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                               ".hypothesis", "results")


def _env(**extra: str) -> dict[str, str]:
    """The user's environment (pip's index configuration included), minus what would make
    Python see the checkout or disable byte-compilation, with a throwaway HOME's worth of
    config supplied by the caller."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHOME", "VIRTUAL_ENV"}}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_ROOT_USER_ACTION="ignore", **extra)
    return env


def _run(args: list[str | Path], *, env: Mapping[str, str], cwd: Path | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([os.fspath(a) for a in args], capture_output=True, env=dict(env), cwd=cwd,
                          timeout=timeout, check=False)


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path
    log: str


@dataclass(frozen=True)
class Venv:
    root: Path
    env: dict[str, str]

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def run(self, name: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        return _run([self.bin(name), *args], env=self.env, cwd=cwd)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build` (isolated build environment) of a copy of the checkout."""
    source = tmp_path_factory.mktemp("source") / "skopo"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_SKIP)
    dist = tmp_path_factory.mktemp("dist")
    result = _run([sys.executable, "-m", "build", "--outdir", dist, source], env=_env(), cwd=source)
    log = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, log[-5000:]
    (wheel,) = dist.glob("skopo-*.whl")
    (sdist,) = dist.glob("skopo-*.tar.gz")
    return Built(wheel, sdist, log)


def _venv(root: Path, requirement: Path) -> Venv:
    home = root.parent / f"{root.name}-home"
    home.mkdir()
    env = _env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_RUNTIME_DIR=str(home / "run"),
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    created = _run([sys.executable, "-m", "venv", root], env=env)
    assert created.returncode == 0, describe_result(created)
    venv = Venv(root, env)
    installed = venv.run("pip", "install", "--quiet", requirement)
    assert installed.returncode == 0, describe_result(installed)
    return venv


@pytest.fixture(scope="module")
def wheel_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _venv(tmp_path_factory.mktemp("wheel") / "venv", built.wheel)


@pytest.fixture(scope="module")
def sdist_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _venv(tmp_path_factory.mktemp("sdist") / "venv", built.sdist)


def test_the_build_log_has_no_warning(built: Built) -> None:
    warnings = [line for line in built.log.splitlines() if re.search(r"warn|deprecat", line, re.IGNORECASE)]
    assert warnings == [], "\n".join(warnings)


def test_the_wheel_carries_the_license_and_the_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = email.message_from_bytes(wheel.read("skopo-0.1.0.dist-info/METADATA"))
        license_text = wheel.read("skopo-0.1.0.dist-info/licenses/LICENSE").decode()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert metadata.get_all("Project-URL") and "skopeo" in (metadata["Keywords"] or "")
    assert {"skopo-0.1.0.data/data/share/man/man1/skopo.1", "skopo-0.1.0.data/data/share/man/man5/skopo-policy.json.5",
            "toolkit/data/policies/default.json", "toolkit/data/registries.d/default.yaml", "toolkit/_marker.py",
            "toolkit/py.typed"} <= names
    with_sdist = subprocess.run(["tar", "-tzf", str(built.sdist)], capture_output=True, text=True, check=True).stdout
    assert "skopo-0.1.0/LICENSE" in with_sdist.splitlines()


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_command_man_pages_and_data(kind: str, request: pytest.FixtureRequest) -> None:
    venv: Venv = request.getfixturevalue(f"{kind}_venv")
    version = venv.run("skopo", "--version")
    assert version.returncode == 0 and version.stdout == b"skopo version 0.1.0\n", describe_result(version)
    check = venv.run("pip", "check")
    assert check.returncode == 0, describe_result(check)

    man_root = venv.root / "share" / "man"
    pages = sorted(p.name for p in man_root.glob("man*/skopo*"))
    assert pages == sorted(p.name for p in (ROOT / "man").glob("skopo*")), pages
    for page in ("man1/skopo.1", "man1/skopo-copy.1", "man5/skopo-policy.json.5"):
        shown = _run(["man", "-P", "cat", "-l", man_root / page], env={**venv.env, "MANWIDTH": "100"})
        assert shown.returncode == 0 and b"NAME" in shown.stdout and b"skopo" in shown.stdout, describe_result(shown)
    # What `man skopo` finds once share/man is on the manual path (pipx links it into ~/.local/share/man).
    found = _run(["man", "-w", "skopo"], env={**venv.env, "MANPATH": str(man_root)})
    assert found.stdout.decode().strip() == str(man_root / "man1" / "skopo.1"), describe_result(found)

    # No policy.json anywhere: the error names the installed example policies, which exist.
    no_policy = {**venv.env, "SKOPO_SYSTEM_POLICY_PATH": str(venv.root / "no-such-policy.json")}
    refused = _run([venv.bin("skopo"), "copy", "oci:nowhere:x", "dir:nowhere"], env=no_policy, cwd=venv.root.parent)
    line = assert_clean_error(refused, match="no policy.json file found")
    examples = Path(re.findall(r'example policies to start from: "([^"]+)"', line)[0])
    assert examples.is_relative_to(venv.root) and (examples / "default.json").is_file()
    assert (examples.parent / "registries.d" / "default.yaml").is_file()


def test_readme_python_examples_against_the_installed_wheel(
    wheel_venv: Venv, registry_server: RegistryServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"  # holds only examples/: `import toolkit` must find the installed one
    result = run_python_api_examples(str(wheel_venv.bin("python")), registry_server.host, work, wheel_venv.env)
    check_python_api_output(result, work)
    where = _run([wheel_venv.bin("python"), "-c", "import toolkit; print(toolkit.__file__)"], env=wheel_venv.env,
                 cwd=work)
    assert Path(where.stdout.decode().strip()).is_relative_to(wheel_venv.root)


def _dummy_wheel(directory: Path) -> Path:
    """A wheel of "dummy-toolkit" 1.0 that ships its own `toolkit/` package."""
    files = {
        "toolkit/__init__.py": b'"""Another project\'s toolkit."""\n',
        "toolkit/widgets.py": b"WIDGETS = ()\n",
        "dummy_toolkit-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: dummy-toolkit\nVersion: 1.0\n",
        "dummy_toolkit-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: skopo-tests\nRoot-Is-Purelib: true\n"
                                             b"Tag: py3-none-any\n",
        "dummy_toolkit-1.0.dist-info/top_level.txt": b"toolkit\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("dummy_toolkit-1.0.dist-info/RECORD,,")
    path = directory / "dummy_toolkit-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr("dummy_toolkit-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def test_a_conflicting_toolkit_package_is_named_in_one_line(
    wheel_venv: Venv, built: Built, tmp_path: Path
) -> None:
    installed = wheel_venv.run("pip", "install", "--quiet", "--no-index", "--no-deps", _dummy_wheel(tmp_path))
    assert installed.returncode == 0, describe_result(installed)
    for args in (["--version"], ["inspect", "oci:x:y"]):
        line = assert_clean_error(wheel_venv.run("skopo", *args), expected_exit=1)
        assert 'is not skopo\'s: it was overwritten by the distribution "dummy-toolkit"' in line, line
        assert "pip uninstall dummy-toolkit" in line, line
    # The advice works: without the other distribution, reinstalling skopo repairs it.
    assert wheel_venv.run("pip", "uninstall", "--yes", "--quiet", "dummy-toolkit").returncode == 0
    line = assert_clean_error(wheel_venv.run("skopo", "--version"), expected_exit=1)
    assert "its __init__.py was replaced or removed" in line, line
    repaired = wheel_venv.run("pip", "install", "--quiet", "--no-deps", "--force-reinstall", built.wheel)
    assert repaired.returncode == 0, describe_result(repaired)
    version = wheel_venv.run("skopo", "--version")
    assert version.returncode == 0, describe_result(version)
