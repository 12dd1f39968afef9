"""storage.conf and the default containers/storage store, as c/storage 1.43 finds them.

skopo must open the store skopeo 1.9.3 (containers/image 5.23 over containers/storage 1.43,
the versions on Debian bookworm) would open for `containers-storage:NAME`, so this is a
line-by-line reading of c/storage `types.DefaultStoreOptionsAutoDetectUID`, quirks included:

- The rootless UID is `$_CONTAINERS_ROOTLESS_UID` (if set), else the effective UID; a
  non-zero UID means rootless.
- Files: `$CONTAINERS_STORAGE_CONF` if set (it must exist), else the "override"
  (`$XDG_CONFIG_HOME/containers/storage.conf` if it exists, else
  `/etc/containers/storage.conf`) if it exists, else `/usr/share/containers/storage.conf`.
  Then, for root, `/usr/share/containers/storage.conf` is read *again* if it exists and
  replaces what the override gave (c/storage 1.43 evaluates `DefaultConfigFile` before
  loading the override; skopeo 1.9.3 on Debian shows it: with both files present the
  `/usr/share` one wins). Rootless users read `$XDG_CONFIG_HOME/containers/storage.conf`
  (else `$HOME/.config/containers/storage.conf`) instead, if it exists.
- Missing roots: `/run/containers/storage` and `/var/lib/containers/storage`; rootless:
  graph root `rootless_storage_path` or `$XDG_DATA_HOME/containers/storage`
  (`$HOME/.local/share/...`), run root `$XDG_RUNTIME_DIR/containers`, else
  `/run/user/UID/containers` (if owned by the user), else `$TMPDIR/containers-user-UID/containers`,
  else `$HOME/rundir/containers`. `$UID` and `$VAR`/`${VAR}` are expanded and symlinks
  resolved in configured paths.
- `$STORAGE_DRIVER` replaces `driver`, `$STORAGE_OPTS` (comma separated) replaces the
  driver options, `overlay2` becomes `overlay`. `[storage.options]` and the per-driver
  tables become `DRIVER.key=value` options exactly as c/storage `ReloadConfigurationFile`
  and `GetGraphDriverOptions` build them (some appear twice there; so they do here).

Nothing here creates a directory (c/storage does; the store's writer does it later).
Contract: the files are untrusted: size-capped and parsed with `tomllib`; a TOML syntax
error or a value of the wrong type raises `ConfigError` naming the file (c/storage fails
too); unknown keys are logged and ignored (c/storage warns). Options c/storage would turn
into ID mappings (`remap-uids`, `remap-gids`, `remap-user`, `remap-group`) are reported
in `StorageOptions.id_mapping_keys` so a writer can refuse them.
"""

from __future__ import annotations

import logging
import os
import posixpath
import pwd
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from toolkit.config.paths import DEFAULT_GRAPH_ROOT, DEFAULT_RUN_ROOT, OVERRIDE_STORAGE_CONF, SYSTEM_STORAGE_CONF
from toolkit.errors import ConfigError, ToolkitError, safe_text
from toolkit.gocompat import NumError, atoi
from toolkit.limits import MAX_CONFIG_FILE_SIZE, read_file_limited

__all__ = [
    "StorageOptions",
    "StorageConfFiles",
    "default_store_options",
    "read_storage_conf",
    "DEFAULT_RUN_ROOT",
    "DEFAULT_GRAPH_ROOT",
    "SYSTEM_STORAGE_CONF",
    "OVERRIDE_STORAGE_CONF",
    "ROOTLESS_DRIVERS",
]

log = logging.getLogger(__name__)

#: Drivers a rootless user inherits from the system configuration (c/storage `isRootlessDriver`).
ROOTLESS_DRIVERS: Final = frozenset({"btrfs", "overlay", "overlay2", "vfs"})
_STORAGE_CONF_ENV: Final = "CONTAINERS_STORAGE_CONF"


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageConfFiles:
    """The system paths c/storage consults (tests point them at temporary files)."""

    system: Path = SYSTEM_STORAGE_CONF
    override: Path = OVERRIDE_STORAGE_CONF
    proc_init_comm: Path = Path("/proc/1/comm")
    run_user_dir: str = "/run/user/{uid}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageOptions:
    """A store's location and driver, as `GetStore` would receive them.

    `driver` may be "" (no driver configured: c/storage then picks one from what the graph
    root holds). `graph_root`/`run_root` may be "" when a configuration file read last
    names none (c/storage fills them from `fallback_*`). `config_file` is the file whose
    values were used (None if none existed).
    """

    driver: str = ""
    graph_root: str = ""
    run_root: str = ""
    driver_options: tuple[str, ...] = ()
    rootless_storage_path: str = ""
    config_file: Path | None = None
    id_mapping_keys: tuple[str, ...] = ()
    fallback_graph_root: str = DEFAULT_GRAPH_ROOT
    fallback_run_root: str = DEFAULT_RUN_ROOT

    @property
    def effective_graph_root(self) -> str:
        return self.graph_root or self.fallback_graph_root

    @property
    def effective_run_root(self) -> str:
        return self.run_root or self.fallback_run_root


@dataclass(slots=True)
class _Loaded:
    """What one `ReloadConfigurationFile` call produces."""

    driver: str = ""
    graph_root: str = ""
    run_root: str = ""
    rootless_storage_path: str = ""
    driver_options: list[str] = field(default_factory=list)
    id_mapping_keys: list[str] = field(default_factory=list)
    path: Path | None = None


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


# --------------------------------------------------------------------------------- parsing

_STR = "a string"


def _expect(value: Any, kind: str, where: str, path: Path) -> Any:
    ok = {
        _STR: isinstance(value, str),
        "an array of strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "an integer": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF,
        "a boolean": isinstance(value, bool),
        "a table of strings": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
    }[kind]
    if not ok:
        raise ConfigError(f"{safe_text(str(path))}: {where} must be {kind}")
    return value


#: `[storage.options]` keys and their TOML types (c/storage `pkg/config.OptionsConfig`).
_OPTION_KEYS: Final = {
    "additionalimagestores": "an array of strings",
    "additionallayerstores": "an array of strings",
    "size": _STR,
    "remap-uids": _STR,
    "remap-gids": _STR,
    "ignore_chown_errors": _STR,
    "force_mask": "an integer",
    "remap-user": _STR,
    "remap-group": _STR,
    "root-auto-userns-user": _STR,
    "auto-userns-min-size": "an integer",
    "auto-userns-max-size": "an integer",
    "skip_mount_home": _STR,
    "mount_program": _STR,
    "mountopt": _STR,
    "pull_options": "a table of strings",
    "disable-volatile": "a boolean",
}
#: Per-driver tables: `[storage.options.NAME]` keys (all strings).
_DRIVER_TABLES: Final = {
    "aufs": ("mountopt",),
    "btrfs": ("min_space", "size"),
    "thinpool": (
        "autoextend_percent",
        "autoextend_threshold",
        "basesize",
        "blocksize",
        "directlvm_device",
        "directlvm_device_force",
        "fs",
        "log_level",
        "metadatasize",
        "min_free_space",
        "mkfsarg",
        "mountopt",
        "size",
        "use_deferred_deletion",
        "use_deferred_removal",
        "xfs_nospace_max_retries",
    ),
    "overlay": ("ignore_chown_errors", "mountopt", "mount_program", "size", "inodes", "skip_mount_home", "force_mask"),
    "vfs": ("ignore_chown_errors",),
    "zfs": ("mountopt", "fsname", "size"),
}
_STORAGE_KEYS: Final = ("driver", "runroot", "graphroot", "rootless_storage_path")


def read_storage_conf(path: Path) -> dict[str, Any]:
    """Parse and type-check one storage.conf; the validated `[storage]` table ({} if none).

    Raises `ConfigError` for unreadable, oversized or malformed files and wrong types.
    """
    try:
        raw = read_file_limited(path, MAX_CONFIG_FILE_SIZE, "storage configuration")
    except ToolkitError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{safe_text(str(path))}: invalid TOML: {exc}") from exc
    undecoded = [k for k in doc if k != "storage"]
    storage = doc.get("storage", {})
    if not isinstance(storage, dict):
        raise ConfigError(f"{safe_text(str(path))}: [storage] must be a table")
    for key, value in storage.items():
        if key in _STORAGE_KEYS:
            _expect(value, _STR, f"storage.{key}", path)
        elif key == "options":
            if not isinstance(value, dict):
                raise ConfigError(f"{safe_text(str(path))}: [storage.options] must be a table")
            undecoded += _check_options(value, path)
        else:
            undecoded.append(f"storage.{key}")
    if undecoded:
        # c/storage: `Failed to decode the keys %q from %q` (a warning).
        log.warning("Failed to decode the keys %s from %s", [safe_text(k) for k in undecoded], safe_text(str(path)))
    return storage


def _check_options(options: dict[str, Any], path: Path) -> list[str]:
    undecoded: list[str] = []
    for key, value in options.items():
        if key in _OPTION_KEYS:
            _expect(value, _OPTION_KEYS[key], f"storage.options.{key}", path)
        elif key in _DRIVER_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{safe_text(str(path))}: [storage.options.{key}] must be a table")
            for sub, sub_value in value.items():
                if sub in _DRIVER_TABLES[key]:
                    _expect(sub_value, _STR, f"storage.options.{key}.{sub}", path)
                else:
                    undecoded.append(f"storage.options.{key}.{sub}")
        else:
            undecoded.append(f"storage.options.{key}")
    return undecoded


def _file_mode_string(mode: int) -> str:
    """Go `os.FileMode.String()` for permission bits (what `%s` prints for `force_mask`)."""
    bits = "rwxrwxrwx"
    return "-" + "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate(bits))


def _graph_driver_options(driver: str, options: Mapping[str, Any]) -> list[str]:
    """c/storage `pkg/config.GetGraphDriverOptions`."""

    def table(name: str) -> Mapping[str, Any]:
        value = options.get(name, {})
        return value if isinstance(value, dict) else {}

    def pick(specific: Mapping[str, Any], key: str) -> str:
        return str(specific.get(key, "") or options.get(key, "") or "")

    out: list[str] = []
    if driver == "aufs":
        if table("aufs").get("mountopt"):
            return [f"aufs.mountopt={table('aufs')['mountopt']}"]
        if options.get("mountopt"):
            out.append(f"aufs.mountopt={options['mountopt']}")
    elif driver == "btrfs":
        btrfs = table("btrfs")
        if btrfs.get("min_space"):
            return [f"btrfs.min_space={btrfs['min_space']}"]
        if size := pick(btrfs, "size"):
            out.append(f"btrfs.size={size}")
    elif driver == "devicemapper":
        thin = table("thinpool")
        for key, opt in (
            ("autoextend_percent", "dm.thinp_autoextend_percent"),
            ("autoextend_threshold", "dm.thinp_autoextend_threshold"),
            ("basesize", "dm.basesize"),
            ("blocksize", "dm.blocksize"),
            ("directlvm_device", "dm.directlvm_device"),
            ("directlvm_device_force", "dm.directlvm_device_force"),
            ("fs", "dm.fs"),
            ("log_level", "dm.libdm_log_level"),
            ("metadatasize", "dm.metadata_size"),
            ("min_free_space", "dm.min_free_space"),
            ("mkfsarg", "dm.mkfsarg"),
        ):
            if thin.get(key):
                out.append(f"{opt}={thin[key]}")
        if mountopt := pick(thin, "mountopt"):
            out.append(f"devicemapper.mountopt={mountopt}")
        if size := pick(thin, "size"):
            out.append(f"devicemapper.size={size}")
        for key, opt in (
            ("use_deferred_deletion", "dm.use_deferred_deletion"),
            ("use_deferred_removal", "dm.use_deferred_removal"),
            ("xfs_nospace_max_retries", "dm.xfs_nospace_max_retries"),
        ):
            if thin.get(key):
                out.append(f"{opt}={thin[key]}")
    elif driver in ("overlay", "overlay2"):
        ov = table("overlay")
        for key in ("ignore_chown_errors", "mount_program", "mountopt", "size"):
            if value := pick(ov, key):
                out.append(f"{driver}.{key}={value}")
        if ov.get("inodes"):
            out.append(f"{driver}.inodes={ov['inodes']}")
        if value := pick(ov, "skip_mount_home"):
            out.append(f"{driver}.skip_mount_home={value}")
        if ov.get("force_mask"):
            out.append(f"{driver}.force_mask={ov['force_mask']}")
        elif options.get("force_mask"):
            out.append(f"{driver}.force_mask={_file_mode_string(int(options['force_mask']))}")
    elif driver == "vfs":
        if value := pick(table("vfs"), "ignore_chown_errors"):
            out.append(f"vfs.ignore_chown_errors={value}")
    elif driver == "zfs":
        zfs = table("zfs")
        if zfs.get("fsname"):
            out.append(f"zfs.fsname={zfs['fsname']}")
        if mountopt := pick(zfs, "mountopt"):
            out.append(f"zfs.mountopt={mountopt}")
        if size := pick(zfs, "size"):
            out.append(f"zfs.size={size}")
    return out


def _reload(path: Path, env: Mapping[str, str]) -> _Loaded:
    """c/storage `ReloadConfigurationFile`: the options one file gives (plus the environment)."""
    storage = read_storage_conf(path)
    options: dict[str, Any] = storage.get("options", {})
    loaded = _Loaded(path=path)
    conf_driver = str(storage.get("driver", ""))
    loaded.driver = conf_driver
    if env.get("STORAGE_DRIVER"):
        conf_driver = env["STORAGE_DRIVER"]
        loaded.driver = conf_driver
    if loaded.driver == "overlay2":
        log.warning("Switching default driver from overlay2 to the equivalent overlay driver")
        loaded.driver = "overlay"
    if not loaded.driver:
        log.error("The storage 'driver' option must be set in %s to guarantee proper operation", safe_text(str(path)))
    loaded.run_root = str(storage.get("runroot", ""))
    loaded.graph_root = str(storage.get("graphroot", ""))
    loaded.rootless_storage_path = str(storage.get("rootless_storage_path", ""))
    opts = loaded.driver_options
    # These use the configuration's driver name (after $STORAGE_DRIVER, before the overlay2 rename).
    opts += [f"{conf_driver}.imagestore={s}" for s in options.get("additionalimagestores", [])]
    opts += [f"{conf_driver}.additionallayerstore={s}" for s in options.get("additionallayerstores", [])]
    for key in ("size", "mount_program", "skip_mount_home", "ignore_chown_errors"):
        if options.get(key):
            opts.append(f"{conf_driver}.{key}={options[key]}")
    if options.get("force_mask"):
        opts.append(f"{conf_driver}.force_mask={int(options['force_mask']):o}")
    if options.get("mountopt"):
        opts.append(f"{conf_driver}.mountopt={options['mountopt']}")
    loaded.id_mapping_keys = [k for k in ("remap-uids", "remap-gids", "remap-user", "remap-group") if options.get(k)]
    opts += _graph_driver_options(loaded.driver, options)
    if "STORAGE_OPTS" in env:
        loaded.driver_options = env["STORAGE_OPTS"].split(",")
    if loaded.driver_options == [""]:
        loaded.driver_options = []
    return loaded


# --------------------------------------------------------------------------------- paths


def _home(env: Mapping[str, str]) -> str:
    """c/storage `homedir.Get` (`$HOME`, else the password database)."""
    home = env.get("HOME", "")
    if home:
        return home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return ""


_EXPAND: Final = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<special>[*#$@!?\-0-9])|(?P<name>[A-Za-z0-9_]+))")


def _expand_env_path(path: str, uid: int, env: Mapping[str, str]) -> str:
    """c/storage `expandEnvPath`: `$UID`, then `os.ExpandEnv`, then EvalSymlinks (else Clean)."""
    path = path.replace("$UID", str(uid))

    def sub(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("special") or match.group("name") or ""
        return env.get(name, "")

    path = _EXPAND.sub(sub, path)
    try:
        return os.path.realpath(path, strict=True)
    except OSError:
        return posixpath.normpath(path) if path else "."


def _owned_runtime_dir(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_uid == os.getuid() and st.st_mode & 0o700 == 0o700 and st.st_mode & 0o066 == 0


def _rootless_runtime_dir(uid: int, env: Mapping[str, str], files: StorageConfFiles) -> str:
    """c/storage `getRootlessRuntimeDir` (without creating anything)."""
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg:
        try:
            return os.path.realpath(xdg, strict=True)
        except OSError:
            pass
    try:
        init = files.proc_init_comm.read_bytes()
    except OSError:
        init = None
    run_user = files.run_user_dir.format(uid=uid)
    if (init is None or init == b"systemd") and _owned_runtime_dir(run_user):
        return run_user
    tmp_root = env.get("TMPDIR") or "/tmp"  # Go's os.TempDir()
    per_user = f"{tmp_root}/containers-user-{uid}"
    if not os.path.lexists(per_user) or _owned_runtime_dir(per_user):
        return per_user
    home = _home(env)
    if not home:
        raise ConfigError("neither XDG_RUNTIME_DIR nor temp dir nor HOME was set non-empty")
    return os.path.join(os.path.realpath(home), "rundir")


def _rootless_defaults(uid: int, system: _Loaded, env: Mapping[str, str], files: StorageConfFiles) -> _Loaded:
    """c/storage `getRootlessStorageOpts`."""
    out = _Loaded(path=system.path)
    out.run_root = os.path.join(_rootless_runtime_dir(uid, env, files), "containers")
    if system.rootless_storage_path:
        out.graph_root = _expand_env_path(system.rootless_storage_path, uid, env)
    else:
        data = env.get("XDG_DATA_HOME", "")
        if not data:
            home = _home(env)
            if not home:
                raise ConfigError("neither XDG_DATA_HOME nor HOME was set non-empty")
            data = os.path.join(home, ".local", "share")
        out.graph_root = os.path.join(data, "containers", "storage")
    if system.driver in ROOTLESS_DRIVERS:
        out.driver = system.driver
    if env.get("STORAGE_DRIVER"):
        out.driver = env["STORAGE_DRIVER"]
    if out.driver == "overlay2":
        out.driver = "overlay"
    if out.driver == "overlay":
        out.driver_options = [o for o in system.driver_options if "ignore_chown_errors" in o][:1]
    if not out.driver:
        out.driver = "vfs"
    if env.get("STORAGE_OPTS"):
        out.driver_options += env["STORAGE_OPTS"].split(",")
    out.id_mapping_keys = list(system.id_mapping_keys)
    return out


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"{safe_text(str(path))}: {exc.strerror}") from exc
    return True


def default_store_options(
    env: Mapping[str, str] | None = None,
    *,
    euid: int | None = None,
    files: StorageConfFiles | None = None,
) -> StorageOptions:
    """The options of the default store (c/storage `DefaultStoreOptionsAutoDetectUID`).

    Raises `ConfigError` for a malformed configuration file or a missing
    `$CONTAINERS_STORAGE_CONF`.
    """
    e = _env(env)
    f = files or StorageConfFiles()
    uid = euid if euid is not None else os.geteuid()
    if e.get("_CONTAINERS_ROOTLESS_UID"):
        try:
            uid = atoi(e["_CONTAINERS_ROOTLESS_UID"])
        except NumError:
            uid = 0  # c/storage ignores Atoi's error, which leaves 0
    rootless = uid != 0

    # DefaultConfigFile(rootless), evaluated before the defaults are loaded.
    if _STORAGE_CONF_ENV in e:
        storage_conf = Path(e[_STORAGE_CONF_ENV])
    elif not rootless:
        storage_conf = f.system
    elif e.get("XDG_CONFIG_HOME"):
        storage_conf = Path(e["XDG_CONFIG_HOME"]) / "containers/storage.conf"
    else:
        home = _home(e)
        if not home:
            raise ConfigError("cannot determine user's homedir")
        storage_conf = Path(home) / ".config/containers/storage.conf"

    # loadDefaultStoreOptions
    defaults = _load_defaults(e, f)
    fallback_run = defaults.run_root or DEFAULT_RUN_ROOT
    fallback_graph = defaults.graph_root or DEFAULT_GRAPH_ROOT
    chosen = _Loaded(
        driver=defaults.driver,
        graph_root=fallback_graph,
        run_root=fallback_run,
        rootless_storage_path=defaults.rootless_storage_path,
        driver_options=list(defaults.driver_options),
        id_mapping_keys=list(defaults.id_mapping_keys),
        path=defaults.path,
    )
    if rootless:
        chosen = _rootless_defaults(uid, chosen, e, f)
    if _exists(storage_conf):
        rootless_run, rootless_graph = chosen.run_root, chosen.graph_root
        try:
            chosen = _reload(storage_conf, e)
        except ConfigError as exc:
            # c/storage ignores this file's errors (it prints them) and uses empty options.
            log.error("%s", exc)
            chosen = _Loaded(path=storage_conf)
        if rootless:
            chosen.run_root = chosen.run_root or rootless_run
            chosen.graph_root = chosen.graph_root or chosen.rootless_storage_path or rootless_graph
    return StorageOptions(
        driver=chosen.driver,
        graph_root=_expand_env_path(chosen.graph_root, uid, e) if chosen.graph_root else "",
        run_root=_expand_env_path(chosen.run_root, uid, e) if chosen.run_root else "",
        driver_options=tuple(chosen.driver_options),
        rootless_storage_path=(
            _expand_env_path(chosen.rootless_storage_path, uid, e) if chosen.rootless_storage_path else ""
        ),
        config_file=chosen.path,
        id_mapping_keys=tuple(chosen.id_mapping_keys),
        fallback_graph_root=fallback_graph,
        fallback_run_root=fallback_run,
    )


def _load_defaults(env: Mapping[str, str], files: StorageConfFiles) -> _Loaded:
    """c/storage `loadDefaultStoreOptions` (the options `GetStore` falls back to)."""
    if _STORAGE_CONF_ENV in env:
        path = Path(env[_STORAGE_CONF_ENV])
        if not _exists(path):
            raise ConfigError(f"{safe_text(str(path))} ({_STORAGE_CONF_ENV}): no such file")
        return _reload(path, env)
    override = files.override
    if "XDG_CONFIG_HOME" in env:
        home_conf = Path(env["XDG_CONFIG_HOME"]) / "containers/storage.conf"
        if _exists(home_conf):
            override = home_conf
    if _exists(override):
        return _reload(override, env)
    if _exists(files.system):
        return _reload(files.system, env)
    return _Loaded()
