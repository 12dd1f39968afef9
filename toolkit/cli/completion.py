"""Shell completion of image names: transport names, then paths after a path transport.

- `complete_image_name` completes every IMAGE-NAME argument (`image_argument`): with no
  colon yet it offers the transports of this installation (`docker://`, `oci:`, ... from
  the `toolkit.transports` entry points, read without importing them); after `dir:`,
  `oci:`, `oci-archive:`, `docker-archive:`, `tarball:` or `sif:` it offers the files and
  directories that continue the path (directories with a trailing `/`). Nothing is
  offered after `docker://` and the other transports (no registry is ever contacted).
- `SkopoBashComplete` replaces Typer's bash completion: bash splits the words at `:` and
  `=` (COMP_WORDBREAKS), so `oci:/tm` reaches the program as three words and readline
  replaces only the part after the last colon. The class reads the whole line
  (`COMP_LINE`/`COMP_POINT`, passed by skopo's completion script; from a script installed
  by an older version it glues `:`/`=` words back together), and answers with the part
  of each candidate that readline replaces. Its script also keeps the cursor right after
  a candidate that ends with `/`, `:` or `//` (no space), so completion can go on.
- `completion_words` gives the words before the cursor for any shell, so that `app.py`
  builds only the command being completed (a TAB must not import every command), and
  `add_command_stubs` the command names alone while the name itself is being completed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from typer import _completion_shared
from typer._click.shell_completion import add_completion_class, split_arg_string
from typer._completion_classes import BashComplete
from typer.core import TyperCommand

from toolkit.plugins import entry_points_of

__all__ = [
    "PATH_TRANSPORTS",
    "add_command_stubs",
    "SkopoBashComplete",
    "complete_image_name",
    "completion_words",
    "image_argument",
    "install_completion_classes",
    "transport_prefixes",
]

#: Transports whose details start with a filesystem path.
PATH_TRANSPORTS = frozenset({"dir", "oci", "oci-archive", "docker-archive", "tarball", "sif"})
#: Entry points of this module name transports skopo only names to refuse.
_UNSUPPORTED_MODULE = "toolkit.transports.unsupported"
#: Enough candidates for a person to read; a huge directory is not listed in full.
_MAX_CANDIDATES = 500


def transport_prefixes() -> list[str]:
    """`docker://`, `oci:` ... for every usable transport, sorted (entry-point names only)."""
    names = {
        ep.name
        for ep in entry_points_of("toolkit.transports")
        if not str(ep.value).startswith(_UNSUPPORTED_MODULE + ":")
    }
    return sorted(f"{name}://" if name == "docker" else f"{name}:" for name in names)


def _paths(partial: str) -> Iterator[str]:
    """Entries of the filesystem that continue `partial` (directories end with `/`)."""
    head, _, tail = partial.rpartition("/")
    directory = os.path.expanduser(head + "/" if head or partial.startswith("/") else ".")
    prefix = head + "/" if head or partial.startswith("/") else ""
    try:
        with os.scandir(directory) as entries:
            for count, entry in enumerate(sorted(entries, key=lambda e: e.name)):
                if count >= _MAX_CANDIDATES:
                    return
                if not entry.name.startswith(tail) or (entry.name.startswith(".") and not tail.startswith(".")):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                yield prefix + entry.name + ("/" if is_dir else "")
    except OSError:  # no such directory, no permission: nothing to offer
        return


def complete_image_name(incomplete: str) -> list[str]:
    """Candidates for an IMAGE-NAME being typed (see the module doc). Never raises."""
    transport, colon, rest = incomplete.partition(":")
    if not colon:
        return [p for p in transport_prefixes() if p.startswith(incomplete)]
    if transport not in PATH_TRANSPORTS or ":" in rest:  # docker://..., or oci:PATH:REFERENCE
        return []
    return [f"{transport}:{path}" for path in _paths(rest)]


def image_argument(metavar: str) -> Any:
    """The `typer.Argument` of an image name (`IMAGE-NAME`...), completed by `complete_image_name`
    (`toolkit.cli.flags.image_argument`, which the commands use: it does not load this module)."""
    from toolkit.cli.flags import image_argument as argument_of_flags

    return argument_of_flags(metavar)


# bash: the script passes the whole line; readline replaces only the text after the last
# word break, so the replies are cut to that.
_BASH_SCRIPT = """
%(complete_func)s() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   COMP_LINE="$COMP_LINE" \\
                   COMP_POINT=$COMP_POINT \\
                   _SKOPO_COMP_CUR="${COMP_WORDS[COMP_CWORD]}" \\
                   %(autocomplete_var)s=complete_bash $1 ) )
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *[/:] ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}

complete -o default -F %(complete_func)s %(prog_name)s
"""


def _glue_breaks(words: list[str]) -> list[str]:
    """Words split by bash at `:` or `=` put back together (`oci`, `:`, `x` -> `oci:x`)."""
    out: list[str] = []
    for word in words:
        if out and (word in (":", "=") or out[-1].endswith((":", "="))):
            out[-1] += word
        else:
            out.append(word)
    return out


class SkopoBashComplete(BashComplete):
    """Typer's bash completion, made right for words holding `:` or `=` (module doc)."""

    source_template = _BASH_SCRIPT

    def _words(self) -> tuple[list[str], str, str]:
        """(arguments before the current word, the current word whole, what readline replaces)."""
        line, point = os.environ.get("COMP_LINE"), os.environ.get("COMP_POINT")
        current = os.environ.get("_SKOPO_COMP_CUR")
        if line is not None and point is not None and point.isdigit():
            before = line[: int(point)]
            words = split_arg_string(before)
            incomplete = "" if not before or before[-1].isspace() or not words else words.pop()
            args = words[1:]
        else:  # a completion script from before: COMP_WORDS only
            cwords = split_arg_string(os.environ.get("COMP_WORDS", ""))
            cword = int(os.environ.get("COMP_CWORD", "0") or 0)
            current = cwords[cword] if cword < len(cwords) else ""
            glued = _glue_breaks(cwords[: cword + 1])
            incomplete = glued.pop() if cword < len(cwords) and glued else ""
            args = glued[1:]
        if current is None or current in (":", "="):
            current = ""
        replaced = incomplete[-len(current) :] if current and incomplete.endswith(current) else ""
        if not current and incomplete and incomplete[-1] not in ":=":
            replaced = incomplete
        return args, incomplete, replaced

    def get_completion_args(self) -> tuple[list[str], str]:
        args, incomplete, _ = self._words()
        return args, incomplete

    def complete(self) -> str:
        args, incomplete, replaced = self._words()
        keep = len(incomplete) - len(replaced)
        out = []
        for item in self.get_completions(args, incomplete):
            value = str(item.value)
            out.append(value[keep:] if keep and value.startswith(incomplete[:keep]) else value)
        return "\n".join(out)


def add_command_stubs(root: Any, names: list[str]) -> Any:
    """`root` with an empty command for each of `names`: what completing a command's name
    needs (the names), without importing any command module. Returns `root`."""
    for name in names:
        if name not in root.commands:
            root.add_command(TyperCommand(name), name)
    return root


def install_completion_classes() -> None:
    """Make `SkopoBashComplete` the bash completion (after Typer registered its own), and
    its script the one `--show-completion bash` / `--install-completion bash` write
    (Typer reads those from a table of its own)."""
    add_completion_class(SkopoBashComplete, "bash")
    _completion_shared._completion_scripts["bash"] = _BASH_SCRIPT


def completion_words() -> list[str]:
    """The words before the cursor of a completion request (any shell), program name excluded."""
    if "COMP_LINE" in os.environ and os.environ.get("COMP_POINT", "").isdigit():
        line = os.environ["COMP_LINE"][: int(os.environ["COMP_POINT"])]
    elif "COMP_WORDS" in os.environ:
        words = split_arg_string(os.environ["COMP_WORDS"])
        return words[1 : int(os.environ.get("COMP_CWORD", "0") or 0)]
    else:  # zsh, fish, powershell: Typer passes the line in _TYPER_COMPLETE_ARGS
        line = os.environ.get("_TYPER_COMPLETE_ARGS", "")
    words = split_arg_string(line)
    if words and line and not line[-1].isspace():
        words.pop()  # the word being completed
    return words[1:]
