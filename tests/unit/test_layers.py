"""The architecture's import rules (design.md), checked by walking every module's AST.

- Layers import only downward (same layer allowed across packages, except that concrete
  transports never import each other).
- Third-party libraries stay in their rooms: requests in transports/docker/, typer/rich/
  click in cli/, gnupg in signature/gpg.py, platformdirs and yaml in config/,
  cryptography in signature/ and crypt/, isal/zstandard in compression.py (zstandard and numpy
  also in zstd_chunked.py).
- No print() or sys.exit() outside cli/.
- The package face `toolkit/__init__.py` re-exports the public API from every layer, but
  only lazily: at its top level it imports nothing but the standard library (imports
  under `if TYPE_CHECKING:` are for type checkers), so importing any `toolkit.*` module
  never drags in a higher layer, and start-up stays cheap.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "toolkit"

LAYERS: dict[str, int] = {
    "toolkit": 1,
    "toolkit.errors": 1,
    "toolkit.digest": 1,
    "toolkit.types": 1,
    "toolkit.limits": 1,
    "toolkit.safefile": 1,
    "toolkit.compression": 1,
    "toolkit.compression_names": 1,
    "toolkit.zstd_chunked": 1,
    "toolkit.streams": 1,
    "toolkit.gocompat": 1,
    "toolkit.deadline": 1,
    "toolkit.reference": 2,
    "toolkit.manifest": 2,
    "toolkit.signature": 3,
    "toolkit.crypt": 3,
    "toolkit.config": 3,
    "toolkit.transports": 4,
    "toolkit.image": 5,
    "toolkit.policy": 6,
    "toolkit.ops": 7,
    "toolkit.api": 8,
    "toolkit.cli": 9,
    "toolkit.__main__": 9,
}

# Third-party top-level module -> module prefixes allowed to import it.
ROOMS: dict[str, tuple[str, ...]] = {
    "requests": ("toolkit.transports.docker",),
    "urllib3": ("toolkit.transports.docker",),
    "typer": ("toolkit.cli",),
    "click": ("toolkit.cli",),
    "rich": ("toolkit.cli",),
    "gnupg": ("toolkit.signature.gpg",),
    "platformdirs": ("toolkit.config",),
    "yaml": ("toolkit.config",),
    # crypt/: OCI layer encryption (AES-CTR, RSA-OAEP, ECDH-ES, PKCS#7, key parsing) is key
    # material work like signature/'s, kept in its own room so ops/ and cli/ never touch keys.
    "cryptography": ("toolkit.signature", "toolkit.crypt"),
    "nacl": ("toolkit.signature",),
    "isal": ("toolkit.compression",),
    "zstandard": ("toolkit.compression", "toolkit.zstd_chunked"),
    # zstd:chunked's rolling checksum runs over every byte of a layer: vectorised, ~50x pure Python.
    "numpy": ("toolkit.zstd_chunked",),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    best = ""
    for prefix in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    if not best:
        raise AssertionError(f"module {module} is in no layer: add it to LAYERS and design.md")
    return LAYERS[best]


def concrete_transport(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "transports" and not parts[2].startswith("_") and parts[2] not in {
        "base",
        "unsupported",
    }:
        return parts[2]
    return None


def imports_of(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
    return found


SOURCES = sorted(ROOT.rglob("*.py"))
STDLIB = set(sys.stdlib_module_names)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def face_problems(tree: ast.Module) -> list[str]:
    """Top-level run-time imports of the package face that are not the standard library."""
    problems: list[str] = []
    for node in tree.body:
        if _is_type_checking(node):
            continue
        for target, line in imports_of(ast.Module(body=[node], type_ignores=[]), "toolkit", True):
            top = target.split(".")[0]
            if top not in STDLIB and top != "__future__":
                problems.append(f"line {line}: the package face imports {target} at import time (load it lazily)")
    return problems


def test_the_face_imports_only_the_standard_library_eagerly() -> None:
    tree = ast.parse((ROOT / "__init__.py").read_text())
    assert face_problems(tree) == []
    bad = ast.parse("import toolkit.errors\nfrom typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    import toolkit.ops\n")
    assert face_problems(bad) == ["line 1: the package face imports toolkit.errors at import time (load it lazily)"]


def private_import_problem(module: str, target: str) -> str | None:
    """A problem if `module` imports a private module of a package it is not inside."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            if module != owner and not module.startswith(owner + "."):
                return f"imports {target}, private to {owner}"
            return None
    return None


#: Attribute names ops/ may still look up dynamically (not transport capabilities).
PROBE_ALLOWED = frozenset({"close"})


def probe_problems(module: str, tree: ast.AST) -> list[str]:
    """`getattr(x, "name")` / `hasattr(x, "name")` in ops/: undeclared capability probes."""
    if not (module == "toolkit.ops" or module.startswith("toolkit.ops.")):
        return []
    problems: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value not in PROBE_ALLOWED
        ):
            problems.append(
                f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r}) probes a capability: "
                "declare a Protocol in transports/base.py"
            )
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_module_respects_layers(path: Path) -> None:
    module = module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    if module == "toolkit":
        # The face: checked by test_the_face_imports_only_the_standard_library_eagerly.
        return
    own_layer = layer_of(module)
    own_transport = concrete_transport(module)
    problems: list[str] = []
    for target, line in imports_of(tree, module, path.name == "__init__.py"):
        top = target.split(".")[0]
        if top == "toolkit":
            private = private_import_problem(module, target)
            if private is not None:
                problems.append(f"line {line}: {private}")
            if layer_of(target) > own_layer:
                problems.append(f"line {line}: upward import of {target} (layer {layer_of(target)})")
            other = concrete_transport(target)
            if own_transport and other and other != own_transport:
                problems.append(f"line {line}: transport {own_transport} imports transport {other}")
        elif top in ROOMS:
            if not any(module == room or module.startswith(room + ".") for room in ROOMS[top]):
                problems.append(f"line {line}: {top} used outside {', '.join(ROOMS[top])}")
        elif top not in STDLIB and top != "__future__":
            problems.append(f"line {line}: unexpected third-party import {top}: give it a room")
    if not (module == "toolkit.cli" or module.startswith("toolkit.cli.") or module == "toolkit.__main__"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "print":
                    problems.append(f"line {node.lineno}: print() outside cli/")
                if (
                    isinstance(func, ast.Attribute)
                    and func.attr == "exit"
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "sys"
                ):
                    problems.append(f"line {node.lineno}: sys.exit() outside cli/")
    problems.extend(probe_problems(module, tree))
    assert not problems, f"{module}:\n" + "\n".join(problems)


def test_checker_catches_violations(tmp_path: Path) -> None:
    """The walker itself must see relative and absolute upward imports."""
    tree = ast.parse("from ..ops import copy\nimport requests\nfrom toolkit.cli import app\n")
    found = imports_of(tree, "toolkit.manifest.x", is_package=False)
    assert ("toolkit.ops", 1) in found
    assert layer_of("toolkit.ops.copy") > layer_of("toolkit.manifest.x")
    assert ("requests", 2) in found
    assert concrete_transport("toolkit.transports.oci.dest") == "oci"
    assert concrete_transport("toolkit.transports._tar") is None


def test_checker_catches_private_imports_and_probes() -> None:
    assert private_import_problem("toolkit.ops.tags", "toolkit.transports._docker_tar") == (
        "imports toolkit.transports._docker_tar, private to toolkit.transports"
    )
    assert private_import_problem("toolkit.transports.dir", "toolkit.transports._fs") is None
    assert private_import_problem("toolkit.ops.x", "toolkit.transports.docker._client") is not None
    assert private_import_problem("toolkit.transports.docker._source", "toolkit.transports.docker._client") is None
    probe = ast.parse('f = getattr(dest, "set_reuse_source", None)\nok = getattr(r, "close", None)\n')
    assert len(probe_problems("toolkit.ops.copy.x", probe)) == 1
    assert probe_problems("toolkit.cli.x", probe) == []
