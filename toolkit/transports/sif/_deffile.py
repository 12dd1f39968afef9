"""The `%environment` / `%runscript` handling of c/image `sif/load.go`, byte for byte.

A SIF image may carry the Singularity definition file it was built from. c/image keeps two
of its sections: the non-empty, non-comment lines of `%environment` and every line of
`%runscript`, and turns them into a script placed at `/podman/runscript` that becomes the
image's command. Without either section the command is `bash` and nothing is added.

Parsing follows Go exactly (`bufio.Scanner` lines, `strings.TrimSpace`): lines split at
`\\n` with one trailing `\\r` dropped, a last line without a newline counts, a line of
64 KiB or more is an error (`bufio.Scanner: token too long`). Each line is trimmed of
Unicode white space; a line equal to `%environment` or `%runscript` opens that section,
any other line starting with `%` ends it. The data is untrusted and handled as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from toolkit.errors import ArchiveError

__all__ = ["INJECTED_SCRIPT_PATH", "DefFileCommand", "command_from_deffile"]

#: Where the generated script goes in the image (c/image `injectedScriptTargetPath`).
INJECTED_SCRIPT_PATH: Final = "/podman/runscript"
#: Go's `bufio.MaxScanTokenSize`: a line this long (without its newline) is refused.
_MAX_LINE: Final = 64 * 1024
# Go's unicode.IsSpace: ASCII \t \n \v \f \r and space, U+0085, U+00A0, and category Zs/Zl/Zp.
_SPACES: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True, slots=True)
class DefFileCommand:
    """The image command, and the script to add at `INJECTED_SCRIPT_PATH` (None: add nothing)."""

    command: str
    script: bytes | None


def _trim_space(line: bytes) -> bytes:
    """Go's `strings.TrimSpace` on bytes (invalid UTF-8 is kept and never counts as space)."""
    text = line.decode("utf-8", "surrogateescape")
    return text.strip(_SPACES).encode("utf-8", "surrogateescape")


def _scan_lines(data: bytes) -> list[bytes]:
    """`bufio.Scanner` with `ScanLines` over `data`."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # data ending in a newline has no empty last token
    out: list[bytes] = []
    for line in lines:
        if len(line) >= _MAX_LINE:
            raise ArchiveError("reading lines from SIF definition file object: bufio.Scanner: token too long")
        out.append(line[:-1] if line.endswith(b"\r") else line)
    return out


def command_from_deffile(data: bytes | None) -> DefFileCommand:
    """c/image `processDefFile`: the command and injected script for a definition file.

    `data` is the definition file object's bytes, or None if the image has none. Raises
    `ArchiveError` only for an over-long line.
    """
    environment: list[bytes] = []
    runscript: list[bytes] = []
    state = ""
    for raw in _scan_lines(data) if data is not None else []:
        line = _trim_space(raw)
        if line == b"%environment":
            state = "environment"
        elif line == b"%runscript":
            state = "runscript"
        elif line.startswith(b"%"):
            state = ""
        elif state == "environment":
            if line and not line.startswith(b"#"):
                environment.append(line)
        elif state == "runscript":
            runscript.append(line)
    if not environment and not runscript:
        return DefFileCommand("bash", None)
    script = b"#!/bin/bash\n" + b"\n".join(environment) + b"\n" + b"\n".join(runscript) + b"\n"
    return DefFileCommand(INJECTED_SCRIPT_PATH, script)
