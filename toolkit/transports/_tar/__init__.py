"""Safe tar reading and streaming tar writing, shared by the archive transports.

Three modules, one idea each: `headers` (the format: parsing untrusted headers, name
cleaning, the constants and limits), `reader` (`TarIndex` random access, `iter_tar_stream`
single pass) and `writer` (`TarStreamWriter`). This package re-exports their public names;
import from here.

Reading (`TarIndex`, `iter_tar_stream`): archives are **untrusted**. Nothing is ever
extracted to disk, and Python's `tarfile` member parsing is not used (Python 3.11.7 lacks
the 2025 fixes: CVE-2025-8194 infinite loop on negative offsets, the extraction-filter
bypasses). Our own header parser (`headers`) understands ustar, GNU (`L` long name, `K`
long link, base-256 numbers, old sparse `S` skipped), PAX (`path`, `linkpath`, `size`;
global headers validated and ignored) and v7, and it:

- validates every header checksum and numeric field (a negative or overflowing size is an
  error), caps PAX and long-name records at `MAX_EXTENSION_SIZE` (1 MiB) and rejects
  zero-length or malformed PAX records, so every archive is parsed in linear time
  (`headers`);
- ends at one or two zero blocks, or at EOF on a block boundary; a truncated header,
  member or padding raises `ArchiveError` (`headers`, `reader`);
- matches names like containers/image docker/internal/tarfile/reader.go: a lookup compares
  `path.Clean(name)` with `path.Clean(wanted)`. Entries whose cleaned name is absolute, `.`
  or starts with `..` are kept but can never be found. Several entries with one cleaned
  name are an error when that name is looked up (`ambiguous`), not when indexing
  (`headers.clean_member_name`, `reader.TarIndex`);
- follows at most ONE symlink or hardlink hop, which must stay inside the archive (no
  absolute target, no `..` escape); the final entry must be a regular file, otherwise
  `ArchiveError("... not a regular file")` (devices, FIFOs, directories, links)
  (`reader.TarIndex.resolve`);
- spools a compressed archive to an unnamed temporary file under the decompression budget,
  the free space of the temporary directory and the `MAX_SPOOL_RATIO` bomb guard
  (`reader.TarIndex.from_stream`).

Every error is a `ToolkitError` subclass (`ArchiveError`, `MemberNotFoundError`,
`SizeLimitError` for the decompression budget, `CompressionError`); member names in
messages pass through `safe_text`.

Writing (`TarStreamWriter`, `writer`): ustar headers like Go's archive/tar as used by
c/image docker/internal/tarfile/writer.go (uid/gid 0, empty uname/gname, mode 0444, mtime 0),
PAX records only for long or non-ASCII names and known sizes of 8 GiB or more. See
`TarStreamWriter.add_file_unknown_size` for the in-place size patch (GNU base-256).
"""

from __future__ import annotations

from toolkit.transports._tar.headers import (
    BLOCK_SIZE,
    MAX_ENTRIES,
    MAX_EXTENSION_SIZE,
    MAX_SPOOL_RATIO,
    SPOOL_RATIO_FLOOR,
    MemberNotFoundError,
    MemberType,
    TarHeader,
    clean_member_name,
)
from toolkit.transports._tar.reader import TarIndex, TarMemberReader, TarStreamMember, iter_tar_stream
from toolkit.transports._tar.writer import TarStreamWriter

__all__ = [
    "BLOCK_SIZE",
    "MAX_EXTENSION_SIZE",
    "MAX_ENTRIES",
    "MAX_SPOOL_RATIO",
    "SPOOL_RATIO_FLOOR",
    "MemberType",
    "MemberNotFoundError",
    "TarHeader",
    "TarIndex",
    "TarMemberReader",
    "TarStreamMember",
    "TarStreamWriter",
    "clean_member_name",
    "iter_tar_stream",
]
