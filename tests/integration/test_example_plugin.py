"""The example plugin shipped in `examples/plugin/`: installed with pip as a user would, its
`example-layers` command and read-only `example-dir:` transport work through skopo."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image, write_dir

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"
WIDE = {"COLUMNS": "160", "TERM": "dumb", "NO_COLOR": "1"}


def test_the_plugin_uses_only_the_public_api() -> None:
    import toolkit

    for path in sorted(PLUGIN.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "toolkit" or a.name == "toolkit" for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "toolkit":
                assert node.module == "toolkit", f"{path.name}:{node.lineno} imports {node.module}"
                assert {a.name for a in node.names} <= set(toolkit.__all__), path
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "toolkit":
                assert node.attr in toolkit.__all__, f"{path.name}:{node.lineno} uses toolkit.{node.attr}"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """`pip install --no-deps --no-build-isolation --target SITE examples/plugin` (from a copy,
    so the build leaves nothing in the tree); the environment that puts SITE on PYTHONPATH."""
    tree = tmp_path_factory.mktemp("example-plugin-src") / "plugin"
    shutil.copytree(PLUGIN, tree, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path_factory.mktemp("example-plugin-site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "--root-user-action=ignore", "--quiet", "--target", str(site), str(tree)],
        capture_output=True, env=env, cwd=tree.parent, timeout=300, check=False,
    )
    assert result.returncode == 0, describe_result(result)
    return {**WIDE, "PYTHONPATH": str(site)}


@pytest.fixture
def dir_image(tmp_path: Path) -> tuple[Path, list[tuple[str, int]]]:
    image = build_image(seed=51, layer_count=2, layer_size=1024)
    return write_dir(image, tmp_path / "img"), [(layer.digest, layer.size) for layer in image.layers]


def test_help_lists_the_example_command(run_skopo: SkopoRunner, plugin_env: dict[str, str]) -> None:
    result = run_skopo("--help", env=plugin_env)
    assert result.returncode == 0 and result.stderr == b"", describe_result(result)
    assert "example-layers" in result.stdout.decode()


def test_example_layers_on_the_plugin_transport(
    run_skopo: SkopoRunner, plugin_env: dict[str, str], dir_image: tuple[Path, list[tuple[str, int]]]
) -> None:
    path, layers = dir_image
    result = run_skopo("example-layers", f"example-dir:{path}", env=plugin_env)
    assert result.returncode == 0, describe_result(result)
    lines = result.stdout.decode().splitlines()
    assert [tuple(line.split()[:2]) for line in lines[:-1]] == [(d, str(s)) for d, s in layers]
    assert lines[-1] == f"2 layers, {sum(s for _, s in layers)} bytes"


def test_copy_from_example_dir_to_oci(
    run_skopo: SkopoRunner, plugin_env: dict[str, str], dir_image: tuple[Path, list[tuple[str, int]]],
    tmp_path: Path,
) -> None:
    path, layers = dir_image
    layout = tmp_path / "layout"
    result = run_skopo("--insecure-policy", "copy", "-q", f"example-dir:{path}", f"oci:{layout}:v1", env=plugin_env)
    assert result.returncode == 0, describe_result(result)
    result = run_skopo("inspect", f"oci:{layout}:v1", env=plugin_env)
    assert result.returncode == 0, describe_result(result)
    assert json.loads(result.stdout)["Layers"] == [d for d, _ in layers]
    # The command works on built-in transports too.
    result = run_skopo("example-layers", f"oci:{layout}:v1", env=plugin_env)
    assert result.stdout.decode().splitlines()[-1].startswith("2 layers"), describe_result(result)


def test_the_policy_sees_the_plugin_transport(
    run_skopo: SkopoRunner, plugin_env: dict[str, str], dir_image: tuple[Path, list[tuple[str, int]]],
    tmp_path: Path,
) -> None:
    path, _ = dir_image
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                  "transports": {"example-dir": {"": [{"type": "reject"}]}}}))
    result = run_skopo("--policy", policy, "copy", "-q", f"example-dir:{path}", f"oci:{tmp_path / 'l'}:v1",
                       env=plugin_env)
    assert_clean_error(result, match=r'Source image rejected: Running image example-dir:.*transports\["example-dir"\]')
    assert not (tmp_path / "l").exists()


def test_example_dir_is_read_only(
    run_skopo: SkopoRunner, plugin_env: dict[str, str], dir_image: tuple[Path, list[tuple[str, int]]],
    tmp_path: Path,
) -> None:
    path, _ = dir_image
    result = run_skopo("--insecure-policy", "copy", "-q", f"dir:{path}", f"example-dir:{tmp_path / 'out'}",
                       env=plugin_env)
    assert_clean_error(result, match="read-only")
    assert not (tmp_path / "out").exists()
