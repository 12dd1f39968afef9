"""Every file and directory skopo creates goes through `toolkit.safefile`.

An AST walk over `toolkit/` fails on any other way to create or write a file by name: a
builtin or `Path.open` in a writing mode (or a mode it cannot read), `write_text`,
`write_bytes`, `touch`, `mkdir`/`makedirs`, `mkfifo`/`mknod`, `tempfile.mkstemp`/
`NamedTemporaryFile`/`mktemp`, and `os.open` with a flag that writes or creates.
`os.fdopen(fd, "wb")` is fine: the descriptor came from somewhere this test checks.
Anonymous temporary files (`tempfile.TemporaryFile`) and `tempfile.mkdtemp` (0700, a fresh
name) are safe by construction and allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "toolkit"
HELPER = ROOT / "safefile.py"

_WRITING_FLAGS = {"O_CREAT", "O_WRONLY", "O_RDWR", "O_TRUNC", "O_APPEND", "O_TMPFILE"}
_CREATING_METHODS = {"write_text", "write_bytes", "touch", "mkdir", "makedirs", "mkfifo", "mknod",
                     "mkstemp", "NamedTemporaryFile", "mktemp", "symlink_to", "hardlink_to"}


def _mode_of(call: ast.Call, position: int) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == "mode":
            return kw.value
    return call.args[position] if len(call.args) > position else None


def _writes(mode: ast.expr | None, *, unknown: bool = True) -> bool:
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(set(mode.value) & set("wax+"))
    # A mode computed at run time cannot be checked: route it through safefile. (Not for
    # `X.open(a, b)` in general: most such methods are not file opens at all.)
    return unknown


def _names_in(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            found.add(sub.attr)
        elif isinstance(sub, ast.Name):
            found.add(sub.id)
    return found


#: Put on a line whose call only looks like a file creation (`LockFile.touch()` writes a
#: descriptor opened through safefile).
NOT_A_FILE = "# safefile: not a file"


def problems_in(source: str) -> list[str]:
    """Lines of `source` that create or write a file outside the helper."""
    out: list[str] = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or NOT_A_FILE in lines[node.lineno - 1]:
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            if _writes(_mode_of(node, 1)):
                out.append(f"line {node.lineno}: open() for writing")
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if func.attr == "open" and owner == "os":
                flags = node.args[1] if len(node.args) > 1 else None
                if flags is not None and _names_in(flags) & _WRITING_FLAGS:
                    out.append(f"line {node.lineno}: os.open() with a writing flag")
            elif func.attr == "open" and owner != "os":
                builtin = owner in {"io", "builtins"}
                mode = _mode_of(node, 1 if builtin else 0)
                if _writes(mode, unknown=builtin or any(kw.arg == "mode" for kw in node.keywords)):
                    out.append(f"line {node.lineno}: .open() for writing")
            elif func.attr in _CREATING_METHODS:
                out.append(f"line {node.lineno}: .{func.attr}()")
    return out


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p != HELPER)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_is_created_outside_safefile(path: Path) -> None:
    found = problems_in(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT.parent)} creates files outside toolkit.safefile: {found}"


@pytest.mark.parametrize(
    "snippet",
    [
        'open(p, "w")',
        'open(p, mode="ab")',
        'open(p, "x")',
        'open(p, "r+b")',
        "open(p, m)",
        'Path(p).open("wb")',
        'io.open(p, "w")',
        'p.write_text("x")',
        'p.write_bytes(b"x")',
        "p.touch()",
        "p.mkdir(parents=True)",
        "os.mkdir(p)",
        "os.makedirs(p)",
        "os.mkfifo(p)",
        "tempfile.mkstemp(dir=d)",
        "tempfile.NamedTemporaryFile(delete=False)",
        "os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)",
        "os.open(p, flags | O_TRUNC)",
    ],
)
def test_the_audit_sees_each_way_of_writing(snippet: str) -> None:
    assert problems_in(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    ['open(p)', 'open(p, "rb")', 'Path(p).open()', 'os.fdopen(fd, "wb")',
     "os.open(p, os.O_RDONLY | os.O_NOFOLLOW)", "tempfile.TemporaryFile(dir=d)"],
)
def test_the_audit_lets_reads_through(snippet: str) -> None:
    assert not problems_in(snippet), snippet
