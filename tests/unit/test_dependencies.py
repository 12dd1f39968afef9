"""Every declared run-time dependency is imported by `toolkit/`, and every third-party
package `toolkit/` imports is declared (not merely brought in by another dependency)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalise(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def imported_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "toolkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in {"toolkit", "__future__"}}


def test_declared_and_imported_dependencies_match() -> None:
    owners = packages_distributions()
    by_distribution: dict[str, set[str]] = {}
    for module in imported_modules():
        assert module in owners, f"{module} is imported but no installed distribution provides it"
        for dist in owners[module]:
            by_distribution.setdefault(_normalise(dist), set()).add(module)
    deps = declared()
    undeclared = {m for m in imported_modules() if not {_normalise(d) for d in owners[m]} & deps}
    assert undeclared == set(), f"imported but not declared in pyproject.toml: {sorted(undeclared)}"
    unused = deps - set(by_distribution)
    assert unused == set(), f"declared but never imported by toolkit/: {sorted(unused)}"
