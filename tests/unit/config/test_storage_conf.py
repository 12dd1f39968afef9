"""storage.conf search and the default store, as c/storage 1.43 resolves them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from toolkit.config.storage_conf import StorageConfFiles, default_store_options, read_storage_conf
from toolkit.errors import ConfigError

DEBIAN_CONF = """\
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
[storage.options]
additionalimagestores = [
]
pull_options = {enable_partial_images = "false", use_hard_links = "false", ostree_repos=""}
[storage.options.overlay]
mountopt = "nodev"
[storage.options.thinpool]
"""


@pytest.fixture
def files(tmp_path: Path) -> StorageConfFiles:
    """System paths that do not exist unless a test writes them."""
    return StorageConfFiles(
        system=tmp_path / "usr-share-storage.conf",
        override=tmp_path / "etc-storage.conf",
        proc_init_comm=tmp_path / "comm",
        run_user_dir=str(tmp_path / "run-user-{uid}"),
    )


def test_no_configuration_gives_the_built_in_roots(files: StorageConfFiles) -> None:
    opts = default_store_options({}, euid=0, files=files)
    assert (opts.driver, opts.effective_graph_root, opts.effective_run_root) == (
        "",
        "/var/lib/containers/storage",
        "/run/containers/storage",
    )
    assert opts.driver_options == ()
    assert opts.config_file is None


def test_debian_default_file(files: StorageConfFiles) -> None:
    files.system.write_text(DEBIAN_CONF)
    opts = default_store_options({}, euid=0, files=files)
    assert opts.driver == "overlay"
    assert opts.driver_options == ("overlay.mountopt=nodev",)
    assert opts.config_file == files.system


def test_root_reads_usr_share_after_the_override(files: StorageConfFiles, tmp_path: Path) -> None:
    # c/storage 1.43 evaluates DefaultConfigFile before loading the override, so for root the
    # /usr/share file wins where both exist; the override fills what it leaves out.
    files.system.write_text('[storage]\ndriver = "overlay"\n')
    files.override.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/etc-graph"\n')
    opts = default_store_options({}, euid=0, files=files)
    assert opts.driver == "overlay"
    assert opts.graph_root == ""
    assert opts.effective_graph_root == f"{tmp_path}/etc-graph"


def test_override_alone_is_used(files: StorageConfFiles, tmp_path: Path) -> None:
    files.override.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/g"\nrunroot = "{tmp_path}/r"\n')
    opts = default_store_options({}, euid=0, files=files)
    assert (opts.driver, opts.graph_root, opts.run_root) == ("vfs", f"{tmp_path}/g", f"{tmp_path}/r")


def test_containers_storage_conf_is_the_only_file(files: StorageConfFiles, tmp_path: Path) -> None:
    files.system.write_text(DEBIAN_CONF)
    conf = tmp_path / "mine.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/mine"\n')
    opts = default_store_options({"CONTAINERS_STORAGE_CONF": str(conf)}, euid=0, files=files)
    assert (opts.driver, opts.effective_graph_root, opts.effective_run_root) == (
        "vfs",
        f"{tmp_path}/mine",
        "/run/containers/storage",
    )
    assert opts.config_file == conf


def test_missing_containers_storage_conf_is_an_error(files: StorageConfFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CONTAINERS_STORAGE_CONF"):
        default_store_options({"CONTAINERS_STORAGE_CONF": str(tmp_path / "nope.conf")}, euid=0, files=files)


def test_storage_driver_and_opts_environment(files: StorageConfFiles) -> None:
    files.system.write_text(DEBIAN_CONF)
    env = {"STORAGE_DRIVER": "overlay2", "STORAGE_OPTS": "overlay.mount_program=/usr/bin/fuse-overlayfs,x=y"}
    opts = default_store_options(env, euid=0, files=files)
    assert opts.driver == "overlay"
    assert opts.driver_options == ("overlay.mount_program=/usr/bin/fuse-overlayfs", "x=y")
    assert default_store_options({"STORAGE_OPTS": ""}, euid=0, files=files).driver_options == ()


def test_options_tables_become_driver_options(files: StorageConfFiles) -> None:
    files.system.write_text(
        '[storage]\ndriver = "overlay"\n[storage.options]\nadditionalimagestores = ["/ro"]\n'
        'mount_program = "/usr/bin/fuse-overlayfs"\n[storage.options.overlay]\nmountopt = "nodev"\n'
        'skip_mount_home = "true"\n'
    )
    opts = default_store_options({}, euid=0, files=files)
    # c/storage adds mount_program twice (from [storage.options] and again per driver).
    assert opts.driver_options == (
        "overlay.imagestore=/ro",
        "overlay.mount_program=/usr/bin/fuse-overlayfs",
        "overlay.mount_program=/usr/bin/fuse-overlayfs",
        "overlay.mountopt=nodev",
        "overlay.skip_mount_home=true",
    )


def test_vfs_takes_only_its_options(files: StorageConfFiles) -> None:
    files.system.write_text(
        '[storage]\ndriver = "vfs"\n[storage.options.overlay]\nmountopt = "nodev"\n'
        '[storage.options.vfs]\nignore_chown_errors = "true"\n'
    )
    assert default_store_options({}, euid=0, files=files).driver_options == ("vfs.ignore_chown_errors=true",)


def test_remap_options_are_reported(files: StorageConfFiles) -> None:
    files.system.write_text('[storage]\ndriver = "vfs"\n[storage.options]\nremap-uids = "0:100000:65536"\n')
    assert default_store_options({}, euid=0, files=files).id_mapping_keys == ("remap-uids",)


def test_rootless_defaults(files: StorageConfFiles, tmp_path: Path) -> None:
    files.system.write_text(DEBIAN_CONF)
    home = tmp_path / "home"
    home.mkdir()
    runtime = tmp_path / "xdg-run"
    runtime.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    opts = default_store_options(env, euid=1000, files=files)
    assert opts.driver == "overlay"  # a rootless-capable system driver is kept
    assert opts.driver_options == ()  # but not its mountopt
    assert opts.graph_root == f"{home}/.local/share/containers/storage"
    assert opts.run_root == f"{runtime}/containers"


def test_rootless_user_file_replaces_the_system_one(files: StorageConfFiles, tmp_path: Path) -> None:
    files.system.write_text(DEBIAN_CONF)
    config_home = tmp_path / "cfg"
    (config_home / "containers").mkdir(parents=True)
    (config_home / "containers/storage.conf").write_text('[storage]\ndriver = "vfs"\n')
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config_home), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    opts = default_store_options(env, euid=1000, files=files)
    assert opts.driver == "vfs"
    assert opts.graph_root == f"{tmp_path}/data/containers/storage"


def test_rootless_storage_path_and_expansion(files: StorageConfFiles, tmp_path: Path) -> None:
    files.system.write_text(f'[storage]\ndriver = "vfs"\nrootless_storage_path = "{tmp_path}/$UID/${{WHO}}"\n')
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path), "WHO": "me"}
    opts = default_store_options(env, euid=1234, files=files)
    assert opts.graph_root == f"{tmp_path}/1234/me"
    assert opts.driver == "vfs"


def test_rootless_uid_from_environment(files: StorageConfFiles, tmp_path: Path) -> None:
    env = {"_CONTAINERS_ROOTLESS_UID": "1001", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    opts = default_store_options(env, euid=0, files=files)
    assert opts.driver == "vfs"  # no system driver: rootless falls back to vfs
    assert opts.graph_root == f"{tmp_path}/.local/share/containers/storage"


def test_rootless_runtime_dir_without_xdg(files: StorageConfFiles, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"HOME": str(tmp_path), "TMPDIR": str(tmp)}
    opts = default_store_options(env, euid=os.getuid() + 4242, files=files)
    assert opts.run_root == f"{tmp}/containers-user-{os.getuid() + 4242}/containers"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[storage\n", "invalid TOML"),
        ('[storage]\ndriver = 1\n', "storage.driver must be a string"),
        ("[storage.options]\nadditionalimagestores = [1]\n", "must be an array of strings"),
        ('[storage.options]\nignore_chown_errors = true\n', "must be a string"),
        ('[storage.options.overlay]\nmountopt = ["x"]\n', "storage.options.overlay.mountopt must be a string"),
        ("storage = 3\n", "must be a table"),
    ],
)
def test_malformed_files_are_config_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "storage.conf"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_storage_conf(path)


def test_unknown_keys_only_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "storage.conf"
    path.write_text('[storage]\ndriver = "vfs"\nsurprise = 1\n[storage.options]\nnew_thing = "x"\n')
    assert read_storage_conf(path)["driver"] == "vfs"
    assert "Failed to decode the keys" in caplog.text
