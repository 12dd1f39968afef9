"""Argument-vector rewrites that make skopo's command line behave like skopeo's (cobra/pflag).

They run on `sys.argv` before Typer parses it, walking the same command tree Typer built:
- `rewrite_bool_flags`: boolean flags accept `--flag`, `--flag=true` and `--flag=false`
  (Go `strconv.ParseBool` spellings, `gocompat.parse_go_bool`). Typer only knows
  `--flag`/`--no-flag`, so the `=value` forms are rewritten into those.
- `hoist_global_flags`: global flags may follow the subcommand (cobra's persistent flags).
- `find_subcommand_name`: the subcommand a command line names.

Go's value syntaxes themselves (booleans, durations) live in `toolkit.gocompat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolkit.errors import InvalidInputError
from toolkit.gocompat import parse_go_bool

__all__ = ["rewrite_bool_flags", "hoist_global_flags", "find_subcommand_name"]

def _param_tables(command: Any) -> tuple[dict[str, tuple[str | None, bool]], set[str]]:
    """For a (Typer-built) command: bool flag name -> (negative name, default), and the
    names of options that take a value."""
    flags: dict[str, tuple[str | None, bool]] = {}
    valued: set[str] = set()
    for param in getattr(command, "params", []):
        opts = list(getattr(param, "opts", [])) + list(getattr(param, "secondary_opts", []))
        if getattr(param, "param_type_name", "") != "option":
            continue
        if getattr(param, "is_flag", False) and getattr(param, "is_bool_flag", False):
            negative = next(iter(getattr(param, "secondary_opts", [])), None)
            for opt in getattr(param, "opts", []):
                flags[opt] = (negative, bool(getattr(param, "default", False)))
        elif not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            valued.update(opts)
    return flags, valued


def rewrite_bool_flags(command: Any, args: Sequence[str]) -> list[str]:
    """Rewrite `--flag=VALUE` for boolean flags into the form Typer parses.

    `--flag=true` becomes `--flag`; `--flag=false` becomes `--no-flag` (or is dropped when
    the flag has no negative form and defaults to false). Subcommands are followed through
    the command tree; everything after `--` is left alone. Raises `InvalidInputError` for a
    value that is not a Go boolean.
    """
    out: list[str] = []
    flags, valued = _param_tables(command)
    i = 0
    args = list(args)
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        if token.startswith("--") and "=" in token:
            name, value = token.split("=", 1)
            if name in flags:
                negative, default = flags[name]
                if parse_go_bool(name, value):
                    out.append(name)
                elif negative is not None:
                    out.append(negative)
                elif default:
                    raise InvalidInputError(f'"{name}" cannot be set to false')
                i += 1
                continue
            out.append(token)
        elif token.startswith("-") and token != "-":
            out.append(token)
            if token in valued and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        else:
            sub = getattr(command, "commands", {}).get(token) if hasattr(command, "commands") else None
            if sub is not None:
                out.append(token)
                out.extend(rewrite_bool_flags(sub, args[i + 1 :]))
                return out
            out.append(token)
        i += 1
    return out


def _option_names(command: Any) -> tuple[set[str], set[str]]:
    """All option spellings of `command`, and those that take a value."""
    flags, valued = _param_tables(command)
    names = set(valued)
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "option":
            names.update(getattr(param, "opts", []))
            names.update(getattr(param, "secondary_opts", []))
    names.update(flags)
    return names, valued


#: Root flags that are not "persistent" in skopeo: only valid before the subcommand (the
#: deprecated root `--tls-verify`; after a subcommand it is that subcommand's flag or unknown).
_ROOT_LOCAL: frozenset[str] = frozenset({"--tls-verify", "--no-tls-verify"})


def hoist_global_flags(command: Any, args: Sequence[str]) -> list[str]:
    """Move global flags given after the subcommand name in front of it.

    skopeo's global flags are "persistent" (cobra): `skopeo inspect --override-arch arm64 X`
    works. A flag the subcommand defines itself keeps its subcommand meaning.
    """
    args = list(args)
    root_names, root_valued = _option_names(command)
    head: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--" or not token.startswith("-") or token == "-":
            break
        head.append(token)
        if token in root_valued and i + 1 < len(args):
            head.append(args[i + 1])
            i += 1
        i += 1
    if i >= len(args) or args[i] == "--":
        return args
    sub = getattr(command, "commands", {}).get(args[i])
    if sub is None:
        return args
    sub_names, sub_valued = _option_names(sub)
    moved: list[str] = []
    rest: list[str] = [args[i]]
    j = i + 1
    while j < len(args):
        token = args[j]
        if token == "--":
            rest.extend(args[j:])
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if name in root_names and name not in sub_names | _ROOT_LOCAL and token not in {"-h", "--help"}:
            moved.append(token)
            if "=" not in token and name in root_valued and j + 1 < len(args):
                moved.append(args[j + 1])
                j += 1
        else:
            rest.append(token)
            if token in sub_valued and j + 1 < len(args):
                rest.append(args[j + 1])
                j += 1
        j += 1
    return head + moved + rest


def find_subcommand_name(command: Any, args: Sequence[str]) -> str | None:
    """The first argument that is not a global option or an option's value: the
    subcommand's name (None if there is none)."""
    _, valued = _option_names(command)
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if not token.startswith("-") or token == "-":
            return token
        if "=" not in token and token in valued:
            i += 1
        i += 1
    return None
