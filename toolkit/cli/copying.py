"""What `copy` and `sync` share: the flags that select what is copied, and the `CopyOptions` that the shared
flags (COPYSHARED and multi-arch groups) describe, built in one place so the two commands
cannot drift apart."""

from __future__ import annotations

import os
import sys
from typing import Any, Final

from toolkit.cli.flags import Flag, FlagValues
from toolkit.cli.signing import Signer, manifest_format
from toolkit.errors import InvalidInputError, safe_text
from toolkit.manifest.platform import PlatformFilter
from toolkit.ops.copy import CopyOptions, MultiArch
from toolkit.ops.report import Reporter
from toolkit.types import SystemContext

__all__ = ["selection_flags", "parse_multi_arch", "parse_platform_list", "shared_copy_options", "limit_malloc_arenas"]

_MULTI_ARCH_CHOICES = "'system', 'all', 'index-only', or a comma-separated platform list like 'linux/amd64,linux/arm64'"


def selection_flags() -> list[Flag]:
    """What to copy: `--all`, `--multi-arch`, `--strip-removed-platforms`, `--referrers`."""
    return [
        Flag("all", bool, False, "Copy all images if SOURCE-IMAGE is a list", short="-a"),
        Flag("multi-arch", str | None, None,
             "How to handle multi-architecture images (system, all, index-only, or a comma-separated "
             "platform list like linux/amd64,linux/arm64/v8)", metavar="OPTION"),
        Flag("strip-removed-platforms", bool, False,
             "With a --multi-arch platform list, write a manifest list holding only the copied platforms"),
        Flag("referrers", bool, False,
             "Also copy what refers to the image: OCI 1.1 referrers (SBOMs, signatures, attestations), "
             "recursively, and cosign's .sig/.att/.sbom tags"),
    ]


def parse_platform_list(text: str) -> tuple[PlatformFilter, ...]:
    """`linux/amd64,linux/arm64/v8` -> filters; each item OS/ARCHITECTURE[/VARIANT] (skopeo
    takes OS/ARCHITECTURE only; a variant narrows the choice to that variant)."""
    filters: list[PlatformFilter] = []
    for item in text.split(","):
        parts = item.strip().split("/")
        if len(parts) not in (2, 3) or any(not p for p in parts):
            raise InvalidInputError(
                f'invalid platform format "{safe_text(item.strip())}" in --multi-arch, expected '
                "OS/Architecture[/Variant] (e.g., linux/amd64 or linux/arm64/v8)"
            )
        filters.append(PlatformFilter(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
    return tuple(filters)


def parse_multi_arch(flags: FlagValues) -> tuple[MultiArch, tuple[PlatformFilter, ...]]:
    """The multi-arch group as (selection, platforms); skopeo main's errors."""
    value: str | None = flags.get("multi-arch")
    copy_all: bool = flags.get("all")
    if value is not None and copy_all:
        raise InvalidInputError("Cannot use --all and --multi-arch flags together")
    if copy_all:
        return MultiArch.ALL, ()
    if value is None:
        return MultiArch.SYSTEM, ()
    if value in ("system", "all", "index-only"):
        return MultiArch(value), ()
    if "/" not in value:
        raise InvalidInputError(
            f'unknown multi-arch option "{safe_text(value)}". '
            f"Choose one of the supported options: {_MULTI_ARCH_CHOICES}"
        )
    return MultiArch.PLATFORMS, parse_platform_list(value)


def shared_copy_options(
    flags: FlagValues,
    *,
    source_ctx: SystemContext,
    dest_ctx: SystemContext,
    reporter: Reporter,
    signers: tuple[Signer, ...],
    **extra: Any,
) -> CopyOptions:
    """`CopyOptions` from the COPYSHARED and multi-arch groups; `extra` sets the fields only
    one command has (compression, parallelism, sign identity ...)."""
    remove_signatures: bool = flags.get("remove-signatures")
    remove_list_signatures: bool = flags.get("remove-list-signatures")
    if remove_signatures and remove_list_signatures:
        raise InvalidInputError("Only one of --remove-signatures and --remove-list-signatures can be specified")
    multi_arch, platforms = parse_multi_arch(flags)
    return CopyOptions(
        source_ctx=source_ctx,
        dest_ctx=dest_ctx,
        reporter=reporter,
        remove_signatures=remove_signatures,
        remove_list_signatures=remove_list_signatures,
        signers=signers,
        forced_manifest_mime=manifest_format(flags),
        multi_arch=multi_arch,
        platforms=platforms,
        strip_removed_platforms=flags.get("strip-removed-platforms"),
        preserve_digests=flags.get("preserve-digests"),
        copy_referrers=flags.get("referrers"),
        **extra,
    )


#: glibc's `mallopt` parameter M_ARENA_MAX (malloc.h).
_M_ARENA_MAX: Final = -8


def limit_malloc_arenas() -> None:
    """Ask glibc's malloc for one arena for the whole process (M_ARENA_MAX = 1), before a
    copy starts its layer threads. A hint for this process only: the library never does it.

    glibc gives each thread that allocates an arena of its own (up to 8 per core), and the
    1 MiB `bytes` chunks a decompressing layer copy's threads allocate and free stay in
    the thread's arena: registry -> `docker-archive:` of a 1 GiB, 6-layer image peaked at
    46.2 MiB, 40.7 with one arena. CPython allocates while holding the GIL (the codecs,
    hashing and socket reads that release it allocate nothing meanwhile), so the threads
    never contend for the one arena: the same CPU time. Arenas already made are kept;
    threads started later share one. Nothing is done off Linux, when the user set
    `MALLOC_ARENA_MAX` or glibc tunables, or when libc has no `mallopt` (not glibc).
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ or "GLIBC_TUNABLES" in os.environ:
        return
    import ctypes  # ~2 ms: a copy imports it anyway once a file is large (toolkit.transports._fs)

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_ARENA_MAX, 1)
