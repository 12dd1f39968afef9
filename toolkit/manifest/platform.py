"""Platform selection for manifest lists (c/image `internal/pkg/platform/platform_matcher.go`).

- `Host` describes the machine as Go would see it (GOOS, GOARCH, /proc/cpuinfo text).
  `host_from(system, machine, cpuinfo)` is pure and used by tests; `current_host()` probes
  the running machine (reads /proc/cpuinfo only on Linux arm/arm64: the one place this
  package touches the file system).
- `wanted_platforms(ctx, host)` lists acceptable platforms, most preferred first:
  the override flags win; the CPU variant is auto-detected only when the architecture was
  not overridden; a known variant expands to its compatibility tail (arm: v8, v7, v6, v5;
  arm64: v8) followed by ""; no variant gives "" followed by every known variant.
- `matches(image, wanted)` requires equal OS, architecture and variant.
- `PlatformFilter` is one entry of a platform subset (`--multi-arch linux/amd64,linux/arm64/v8`):
  OS and architecture must be equal; a variant, when given, too (c/image's
  `InstancePlatformFilter` has none and takes every variant: so does a filter without one).
"""

from __future__ import annotations

import functools
import platform as _pyplatform
import struct
import sys
from typing import Final

from toolkit._record import record
from toolkit.types import Platform, SystemContext

__all__ = [
    "Host",
    "host_from",
    "current_host",
    "goarch_from_machine",
    "goos_from_system",
    "cpu_variant",
    "wanted_platforms",
    "matches",
    "PlatformFilter",
    "COMPATIBILITY",
]

#: Known variants per architecture, most capable first (c/image `compatibility`).
COMPATIBILITY: Final[dict[str, tuple[str, ...]]] = {
    "arm": ("v8", "v7", "v6", "v5"),
    "arm64": ("v8",),
}

_MACHINE_TO_GOARCH: Final = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "x64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "x86": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "aarch64_be": "arm64be",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "ppc": "ppc",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips": "mips",
    "mipsel": "mipsle",
    "mips64": "mips64",
    "mips64el": "mips64le",
    "loongarch64": "loong64",
}


@record(kw_only=True)
class Host:
    """The running machine in Go terms; `cpuinfo` is the text of /proc/cpuinfo ("" if unknown)."""

    goos: str
    goarch: str
    cpuinfo: str = ""


def goarch_from_machine(machine: str, *, pointer_bits: int = 64) -> str:
    """Map `platform.machine()` to GOARCH (x86_64 -> amd64, aarch64 -> arm64, armv7l -> arm ...).

    A 64-bit kernel running a 32-bit process (`pointer_bits == 32`) is reported as the 32-bit
    architecture, as a 32-bit Go binary would. Unknown names are lower-cased and returned.
    """
    name = machine.strip().lower()
    if name.startswith("arm") and name not in ("arm64",):
        arch = "arm"
    else:
        arch = _MACHINE_TO_GOARCH.get(name, name)
    if pointer_bits == 32:
        arch = {"amd64": "386", "arm64": "arm"}.get(arch, arch)
    return arch


def goos_from_system(system: str) -> str:
    """Map `platform.system()` / `sys.platform` to GOOS (Linux -> linux, Darwin -> darwin ...)."""
    name = system.strip().lower()
    if name.startswith("win") or name == "cygwin":
        return "windows"
    if name.startswith("freebsd"):
        return "freebsd"
    return name


def host_from(system: str, machine: str, cpuinfo: str = "", *, pointer_bits: int = 64) -> Host:
    """A `Host` from the given facts (pure)."""
    return Host(
        goos=goos_from_system(system),
        goarch=goarch_from_machine(machine, pointer_bits=pointer_bits),
        cpuinfo=cpuinfo,
    )


@functools.cache
def current_host() -> Host:
    """The running machine (cached). Reads /proc/cpuinfo only for Linux on arm/arm64."""
    bits = struct.calcsize("P") * 8
    host = host_from(_pyplatform.system() or sys.platform, _pyplatform.machine(), pointer_bits=bits)
    if host.goos == "linux" and host.goarch in ("arm", "arm64"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                text = handle.read(1 << 20)
        except OSError:
            text = ""
        host = Host(goos=host.goos, goarch=host.goarch, cpuinfo=text)
    return host


def _cpuinfo_field(cpuinfo: str, pattern: str) -> str | None:
    # Go: split each line on ":"; first line whose trimmed key equals `pattern`, ignoring case.
    for line in cpuinfo.splitlines():
        parts = line.split(":")
        if len(parts) > 1 and parts[0].strip().lower() == pattern.lower():
            return parts[1].strip()
    return None


def _arm_variant(cpuinfo: str) -> str:
    value = _cpuinfo_field(cpuinfo, "Cpu architecture")
    if value is None:
        return ""
    value = value.lower()
    if value in ("8", "aarch64"):
        return "v8"
    if value in ("7m", "?(12)", "?(13)", "?(14)", "?(15)", "?(16)", "?(17)"):
        return "v7"
    if value == "7":
        # Raspberry Pi Zero/1: the kernel says 7 for an ARMv6 CPU.
        model = _cpuinfo_field(cpuinfo, "model name")
        if model is None:
            return ""
        return "v6" if model.lower().startswith("armv6-compatible") else "v7"
    if value in ("6", "6tej"):
        return "v6"
    if value in ("5", "5t", "5te", "5tej"):
        return "v5"
    if value in ("4", "4t"):
        return "v4"
    if value == "3":
        return "v3"
    return ""


def cpu_variant(host: Host) -> str:
    """c/image `getCPUVariant` for `host`."""
    if host.goos in ("darwin", "windows"):
        return {"arm64": "v8", "arm": "v7"}.get(host.goarch, "")
    if host.goarch in ("arm", "arm64"):
        if host.goos != "linux":
            return ""
        return _arm_variant(host.cpuinfo)
    return ""


def wanted_platforms(ctx: SystemContext | None, host: Host | None = None) -> list[Platform]:
    """c/image `WantedPlatforms`: the acceptable platforms, most preferred first (never empty)."""
    host = host if host is not None else current_host()
    wanted_arch = host.goarch
    wanted_variant = ""
    if ctx is not None and ctx.override_arch:
        wanted_arch = ctx.override_arch
    else:
        # Only auto-detect the variant for the host's own architecture.
        wanted_variant = cpu_variant(host)
    if ctx is not None and ctx.override_variant:
        wanted_variant = ctx.override_variant
    wanted_os = ctx.override_os if ctx is not None and ctx.override_os else host.goos

    variants: list[str]
    if wanted_variant:
        order = COMPATIBILITY.get(wanted_arch, ())
        variants = list(order[order.index(wanted_variant) :]) if wanted_variant in order else [wanted_variant]
        variants.append("")
    else:
        variants = ["", *COMPATIBILITY.get(wanted_arch, ())]
    return [Platform(os=wanted_os, architecture=wanted_arch, variant=v) for v in variants]


def matches(image: Platform, wanted: Platform) -> bool:
    """c/image `MatchesPlatform`: same architecture, OS and variant (extras ignored)."""
    return (
        image.architecture == wanted.architecture
        and image.os == wanted.os
        and image.variant == wanted.variant
    )


@record
class PlatformFilter:
    """Instances of one platform to copy from a list: `os`/`architecture` must match exactly;
    `variant` too when it is not "" (then only that variant), else every variant."""

    os: str
    architecture: str
    variant: str = ""

    def matches(self, platform: Platform | None) -> bool:
        """Whether a list entry with `platform` (None: the entry has none) is selected."""
        if platform is None:
            return not self.os and not self.architecture and not self.variant
        return (
            platform.os == self.os
            and platform.architecture == self.architecture
            and (not self.variant or platform.variant == self.variant)
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p) or "/"
