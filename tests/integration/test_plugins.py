"""Third-party plugins through the `toolkit.commands` / `toolkit.transports` entry points.

The distributions under `tests/plugins/` are installed with pip (offline, no build
isolation) into folders put on PYTHONPATH, exactly as a user's plugin would be found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
#: Wide enough that Typer's help table never wraps a command name.
WIDE = {"COLUMNS": "160", "TERM": "dumb", "NO_COLOR": "1"}


def _install(source: Path, factory: pytest.TempPathFactory) -> Path:
    """`pip install --no-deps --no-build-isolation --target DIR` a copy of `source`; return DIR.

    The source is copied first so the build leaves nothing (build/, *.egg-info) in the tree.
    """
    scratch = factory.mktemp(f"{source.name}-src")
    tree = scratch / source.name
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = factory.mktemp(f"{source.name}-site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--no-cache-dir",
            "--root-user-action=ignore",
            "--quiet",
            "--target",
            str(target),
            str(tree),
        ],
        capture_output=True,
        env=env,
        cwd=scratch,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"could not install {source.name}; building it without isolation needs setuptools>=70.1 "
            f"in the test environment (the `dev` extra)\n{describe_result(result)}"
        )
    return target


@pytest.fixture(scope="session")
def hello_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed `skopo-hello-plugin` (put it on PYTHONPATH)."""
    return _install(PLUGINS / "skopo-hello-plugin", tmp_path_factory)


@pytest.fixture(scope="session")
def broken_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed `skopo-broken-plugin` (put it on PYTHONPATH)."""
    return _install(PLUGINS / "skopo-broken-plugin", tmp_path_factory)


def _with_path(*sites: Path) -> Mapping[str, str]:
    return {**WIDE, "PYTHONPATH": os.pathsep.join(str(s) for s in sites)}


def _lists_command(help_text: str, name: str) -> bool:
    """True if the help's command table has a row for `name`."""
    return re.search(rf"^\W*{re.escape(name)}\s", help_text, re.MULTILINE) is not None


def _stderr_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [line for line in result.stderr.decode().splitlines() if line.strip()]


@pytest.fixture
def manifest_file(tmp_path: Path) -> tuple[Path, str]:
    """A schema2 manifest file and its digest."""
    image = build_image(seed=21)
    path = tmp_path / "manifest.json"
    path.write_bytes(image.manifest)
    return path, image.manifest_digest


def test_installed_plugin_is_discovered(hello_plugin_site: Path) -> None:
    dist_infos = sorted(p.name for p in hello_plugin_site.glob("*.dist-info"))
    assert dist_infos == ["skopo_hello_plugin-0.1.0.dist-info"]
    entry_points = (hello_plugin_site / dist_infos[0] / "entry_points.txt").read_text()
    assert "[toolkit.commands]" in entry_points
    assert "[toolkit.transports]" in entry_points


def test_help_lists_plugin_and_builtin_commands(run_skopo: SkopoRunner, hello_plugin_site: Path) -> None:
    result = run_skopo("--help", env=_with_path(hello_plugin_site))
    assert result.returncode == 0, describe_result(result)
    help_text = result.stdout.decode()
    assert _lists_command(help_text, "hello"), help_text
    assert _lists_command(help_text, "manifest-digest"), help_text
    assert result.stderr == b"", describe_result(result)


def test_plugin_command_uses_plugin_transport(run_skopo: SkopoRunner, hello_plugin_site: Path) -> None:
    result = run_skopo("hello", "hello:world", env=_with_path(hello_plugin_site))
    assert result.returncode == 0, describe_result(result)
    assert result.stdout == b"hello world\n"
    assert result.stderr == b""


def test_plugin_command_help(run_skopo: SkopoRunner, hello_plugin_site: Path) -> None:
    result = run_skopo("hello", "--help", env=_with_path(hello_plugin_site))
    assert result.returncode == 0, describe_result(result)
    assert "IMAGE-NAME" in result.stdout.decode()


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("nope:world", r"unknown transport"),
        ("hello:", r"invalid hello reference"),
        ("world", r"expected colon-separated transport:reference"),
    ],
)
def test_plugin_errors_are_clean(
    run_skopo: SkopoRunner, hello_plugin_site: Path, name: str, match: str
) -> None:
    result = run_skopo("hello", name, env=_with_path(hello_plugin_site))
    assert_clean_error(result, expected_exit=1, match=match)


def test_without_plugin_there_is_no_hello(run_skopo: SkopoRunner) -> None:
    help_text = run_skopo("--help", env=WIDE).stdout.decode()
    assert not _lists_command(help_text, "hello")
    result = run_skopo("hello", "hello:world", env=WIDE)
    assert_clean_error(result, match=r"hello")


def test_broken_plugin_warns_once_on_help(run_skopo: SkopoRunner, broken_plugin_site: Path) -> None:
    result = run_skopo("--help", env=_with_path(broken_plugin_site))
    assert result.returncode == 0, describe_result(result)
    lines = _stderr_lines(result)
    assert len(lines) == 1, describe_result(result)
    assert lines[0].startswith("Warning:")
    assert "broken" in lines[0]
    assert "Traceback" not in result.stderr.decode()
    help_text = result.stdout.decode()
    assert _lists_command(help_text, "manifest-digest"), help_text
    assert not _lists_command(help_text, "broken"), help_text


def test_broken_plugin_leaves_builtins_working(
    run_skopo: SkopoRunner, broken_plugin_site: Path, manifest_file: tuple[Path, str]
) -> None:
    path, digest = manifest_file
    result = run_skopo("manifest-digest", path, env=_with_path(broken_plugin_site))
    assert result.returncode == 0, describe_result(result)
    assert result.stdout.decode() == f"{digest}\n"
    # Only the invoked command's module is loaded, so the broken plugin is not even tried.
    assert _stderr_lines(result) == [], describe_result(result)


def test_invoking_the_broken_plugin_says_why(run_skopo: SkopoRunner, broken_plugin_site: Path) -> None:
    result = run_skopo("broken", env=_with_path(broken_plugin_site))
    assert result.returncode == 1, describe_result(result)
    lines = _stderr_lines(result)
    assert lines[0].startswith("Warning:") and "broken" in lines[0], describe_result(result)
    assert "Traceback" not in result.stderr.decode()


def test_good_and_broken_plugins_together(
    run_skopo: SkopoRunner, hello_plugin_site: Path, broken_plugin_site: Path
) -> None:
    result = run_skopo("hello", "hello:both", env=_with_path(hello_plugin_site, broken_plugin_site))
    assert result.returncode == 0, describe_result(result)
    assert result.stdout == b"hello both\n"
    assert _stderr_lines(result) == [], describe_result(result)
