"""Shared fixtures: real peers (docker-registry, skopeo, gpg, podman) and the skopo runner.

This file sits at the root of `tests/` (no `__init__.py` there), so pytest puts `tests/`
on `sys.path` and test modules import the shared code as `helpers`.

Servers bind to 127.0.0.1 only, keep their data in temp folders, and are stopped at
teardown even when the test fails. A fixture whose peer binary is missing skips the test
with the reason; tests using peer fixtures get the `peer` marker automatically.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from helpers.cli import SkopoRunner
from helpers.env import make_isolated_home
from helpers.peers import GnupgHome, PodmanService, Skopeo, start_podman_service
from helpers.registry import REGISTRY_BINARY, RegistryFactory, RegistryServer, start_registry
from helpers.storage import StorageStore
from helpers.tls import CertificateAuthority, make_ca

# Plugin distributions are sources to install, not tests.
collect_ignore_glob = ["plugins/*"]

INSTALL_HINT = "run `make peers` (tests/install-peers.sh) to install the Debian peers"

#: Fixtures that need a Debian peer; tests using any of them are marked `peer`.
PEER_FIXTURES = frozenset(
    {
        "registry",
        "registry_server",
        "registry_factory",
        "skopeo",
        "gnupg_home",
        "podman_service",
        "sif_tools",
        "storage_factory",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a peer fixture with `@pytest.mark.peer`."""
    for item in items:
        if PEER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.peer)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so teardown can tell whether the test failed."""
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    for when in ("setup", "call"):
        report = getattr(request.node, f"_report_{when}", None)
        if report is not None and report.failed:
            return True
    return False


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"peer `{binary}` is not installed; {INSTALL_HINT}")
    return path


# ---------------------------------------------------------------- skopo


@pytest.fixture
def run_skopo(tmp_path_factory: pytest.TempPathFactory) -> SkopoRunner:
    """Run skopo as a user would: `run_skopo(*args, input=None, env=None, cwd=None, timeout=120)`.

    Runs `[sys.executable, "-m", "toolkit", *args]` with a throwaway HOME, XDG_CONFIG_HOME,
    XDG_RUNTIME_DIR (per test); `env` overrides entries (None removes one). Returns
    `CompletedProcess[bytes]`; pair failures with `helpers.assert_clean_error`.
    """
    return SkopoRunner(make_isolated_home(tmp_path_factory.mktemp("skopo-home")))


@pytest.fixture
def sif_tools() -> None:
    """Skips the test unless `mksquashfs` (squashfs-tools, to build SIF files with
    `helpers.sif`) and `sqfs2tar` (squashfs-tools-ng, which skopo's `sif:` runs) are installed."""
    _require("mksquashfs")
    _require("sqfs2tar")


# ---------------------------------------------------------------- registry


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """A session-wide test CA; `.cert_path` (PEM) and `.cert_dir` (holds only `ca.crt`)."""
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One plain-HTTP registry shared by the whole session (fast; use unique repo names).

    `.host` ("127.0.0.1:PORT"), `.url`, `.log_path`, `.storage_dir`; deletes enabled.
    """
    _require(REGISTRY_BINARY)
    server = start_registry(tmp_path_factory.mktemp("registry-session"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry_factory(
    tmp_path_factory: pytest.TempPathFactory, tls_ca: CertificateAuthority, request: pytest.FixtureRequest
) -> Iterator[RegistryFactory]:
    """Start fresh registries: `registry_factory(tls=False, htpasswd=None, *, extra_config=None)`.

    `tls=True` serves HTTPS with a certificate for 127.0.0.1/localhost signed by `tls_ca`
    (`.ca_cert_path`, `.cert_dir`); `htpasswd=(user, password)` requires basic auth
    (`.credentials`); `extra_config` is deep-merged into the registry's config. Every
    registry started is stopped at teardown; a failing test gets their logs printed.
    """
    _require(REGISTRY_BINARY)
    started: list[RegistryServer] = []

    def factory(
        tls: bool = False,
        htpasswd: tuple[str, str] | None = None,
        *,
        extra_config: Mapping[str, Any] | None = None,
    ) -> RegistryServer:
        if htpasswd is not None:
            _require("htpasswd")
        server = start_registry(
            tmp_path_factory.mktemp("registry"),
            tls=tls,
            htpasswd=htpasswd,
            ca=tls_ca,
            extra_config=extra_config,
        )
        started.append(server)
        return server

    try:
        yield factory
    finally:
        failed = _test_failed(request)
        for server in started:
            server.stop()
            if failed:
                print(f"--- docker-registry {server.host} log (end) ---\n{server.log_text()}")


@pytest.fixture
def registry(registry_factory: RegistryFactory) -> RegistryServer:
    """A fresh plain-HTTP registry with empty storage for this test only."""
    return registry_factory()


# ---------------------------------------------------------------- skopeo, gpg, podman


@pytest.fixture
def skopeo(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    """`skopeo.run(*args, check=True, input=None, env=None, timeout=300) -> CompletedProcess[bytes]`.

    Always passes `--insecure-policy` before the subcommand; runs with a throwaway HOME and
    XDG folders. `check=True` raises `PeerCommandError` (with stdout/stderr) on failure.
    """
    binary = _require("skopeo")
    return Skopeo(binary=binary, isolated=make_isolated_home(tmp_path_factory.mktemp("skopeo-home")))


@pytest.fixture
def gnupg_home() -> Iterator[GnupgHome]:
    """A fresh GNUPGHOME (0700, short path under /tmp).

    `.make_key(name_email, passphrase="", *, algo="default") -> fingerprint`,
    `.export_public(fpr, armor=False)`, `.run(*gpg_args)`, `.env` (with GNUPGHOME) for
    other programs. The agent is killed (`gpgconf --kill all`) and the folder removed at
    teardown.
    """
    _require("gpg")
    home = GnupgHome.create()
    try:
        yield home
    finally:
        home.close()


@pytest.fixture(scope="session")
def podman_service() -> Iterator[PodmanService]:
    """`podman system service` on a unix socket, storage (vfs) and state in a temp folder.

    `.socket_path`, `.docker_host` ("unix://..."), `.api(method, path, body=None)`.
    Started once per session; stopped (SIGTERM, then SIGKILL) and removed at the end.
    """
    _require("podman")
    root = Path(tempfile.mkdtemp(prefix="podman-", dir="/tmp"))  # short: socket path limit
    service: PodmanService | None = None
    try:
        service = start_podman_service(root)
        yield service
    finally:
        if service is not None:
            service.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def storage_factory() -> Iterator[Callable[..., StorageStore]]:
    """`storage_factory(name="store", driver="vfs", options=()) -> StorageStore`: a
    containers/storage store under a short /tmp folder (`.spec`, `.ref(name)`, `.podman(...)`,
    `.cli(...)`, `.images()`, `.layers()`). Needs podman and the containers-storage command;
    overlay mounts left in the stores are undone at teardown."""
    _require("podman")
    _require("containers-storage")
    # Short: podman refuses a run root longer than 50 characters.
    root = Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
    made: list[StorageStore] = []

    def make(name: str = "store", driver: str = "vfs", options: tuple[str, ...] = ()) -> StorageStore:
        store = StorageStore(root / name, driver=driver, options=tuple(options))
        made.append(store)
        return store

    try:
        yield make
    finally:
        for store in made:
            store.cleanup()
        shutil.rmtree(root, ignore_errors=True)
