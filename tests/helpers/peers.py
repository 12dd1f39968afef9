"""Wrappers around the Debian peers: skopeo, gpg and the podman API service."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from helpers.cli import StrPath, describe_result
from helpers.env import IsolatedHome, merge_env
from helpers.proc import PollTimeoutError, log_tail, poll_until, start_process, stop_process

__all__ = [
    "PeerCommandError",
    "run_peer",
    "Skopeo",
    "GnupgHome",
    "PodmanService",
    "UnixHTTPConnection",
    "podman_argv",
    "start_podman_service",
]


class PeerCommandError(AssertionError):
    """A peer command (skopeo, gpg) failed; the message holds its stdout and stderr."""

    def __init__(self, result: subprocess.CompletedProcess[bytes]) -> None:
        super().__init__(describe_result(result))
        self.result = result


def run_peer(
    argv: list[str],
    *,
    env: Mapping[str, str],
    check: bool = True,
    input: bytes | None = None,
    timeout: float = 300,
    cwd: StrPath | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a peer command with output captured; raise `PeerCommandError` if `check` and it fails."""
    result = subprocess.run(
        argv,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise PeerCommandError(result)
    return result


# ---------------------------------------------------------------- skopeo


@dataclass(frozen=True)
class Skopeo:
    """`/usr/bin/skopeo` with `--insecure-policy` and a throwaway HOME / XDG folders.

    Note: as root, skopeo keeps its blob-info cache in /var/lib/containers/cache whatever
    the environment says (containers/image has no override for root).
    """

    binary: str
    isolated: IsolatedHome

    @property
    def env(self) -> Mapping[str, str]:
        """The environment every run starts from."""
        return self.isolated.env

    def run(
        self,
        *args: StrPath,
        check: bool = True,
        input: bytes | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `skopeo --insecure-policy ARGS...`; raise `PeerCommandError` if `check` and it fails."""
        argv = [self.binary, "--insecure-policy", *(os.fspath(a) for a in args)]
        env_ = merge_env(self.isolated.env, env)
        return run_peer(argv, env=env_, check=check, input=input, timeout=timeout, cwd=self.isolated.root)


# ---------------------------------------------------------------- gpg


@dataclass
class GnupgHome:
    """A fresh GNUPGHOME (mode 0700) with helpers to make and export keys.

    The folder lives directly under /tmp: gpg-agent's socket path must stay short.
    `env` carries GNUPGHOME for any program that should use this keyring (skopeo, skopo).
    """

    path: Path
    gpg: str
    gpgconf: str | None
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, base_env: Mapping[str, str] | None = None) -> GnupgHome:
        """Make a new GNUPGHOME; raises FileNotFoundError if gpg is missing."""
        gpg = shutil.which("gpg")
        if gpg is None:
            raise FileNotFoundError("gpg")
        path = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
        path.chmod(0o700)
        # Cheap key protection (the default calibration costs seconds per protected key)
        # and loopback pinentry, so passphrases come from the command line, never a prompt.
        (path / "gpg-agent.conf").write_text("s2k-count 65536\nallow-loopback-pinentry\n")
        env = dict(base_env if base_env is not None else os.environ)
        env["GNUPGHOME"] = str(path)
        return cls(path=path, gpg=gpg, gpgconf=shutil.which("gpgconf"), env=env)

    def run(
        self, *args: StrPath, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `gpg --batch ARGS...` with this GNUPGHOME."""
        argv = [self.gpg, "--batch", "--no-tty", *(os.fspath(a) for a in args)]
        return run_peer(argv, env=self.env, check=check, input=input, timeout=120)

    def make_key(self, name_email: str, passphrase: str = "", *, algo: str = "default") -> str:
        """Generate a key for `name_email` ("Name <mail>"); return its fingerprint.

        `algo` is gpg's quick-gen-key algorithm ("default" is RSA 3072 with GnuPG 2.2, about
        a second; "ed25519" is instant). An empty passphrase leaves the key unprotected.
        """
        result = self.run(
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--status-fd",
            "1",
            "--quick-gen-key",
            name_email,
            algo,
            "default",
            "never",
        )
        for line in result.stdout.decode().splitlines():
            parts = line.split()
            if parts[:2] == ["[GNUPG:]", "KEY_CREATED"] and len(parts) >= 4:
                return parts[3]
        raise PeerCommandError(result)

    def export_public(self, fingerprint: str, *, armor: bool = False) -> bytes:
        """The public key `fingerprint`, binary or ASCII-armored."""
        args = ["--export", *(["--armor"] if armor else []), fingerprint]
        return self.run(*args).stdout

    def close(self) -> None:
        """Kill this home's agent (`gpgconf --kill all`) and remove the folder."""
        if self.gpgconf is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [self.gpgconf, "--kill", "all"],
                    env=self.env,
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------- podman


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the podman / Docker API)."""

    def __init__(self, socket_path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass
class PodmanService:
    """`podman system service` with private vfs storage, answering the Docker API on a socket.

    `docker_host` ("unix://...") is what DOCKER_HOST / `--*-daemon-host` take.
    """

    socket_path: Path
    root: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def docker_host(self) -> str:
        """`unix://<socket_path>`."""
        return f"unix://{self.socket_path}"

    def api(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> tuple[int, dict[str, str], bytes]:
        """One API request; returns (status, headers, body)."""
        conn = UnixHTTPConnection(self.socket_path, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def log_text(self, limit: int = 8000) -> str:
        """The end of the service's log."""
        return log_tail(self.log_path, limit)

    def stop(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL). Idempotent."""
        stop_process(self.process, grace=10)


def podman_argv(
    podman: str, root: Path, *, driver: str = "vfs", graph: Path | None = None, run: Path | None = None
) -> list[str]:
    """The global flags that keep podman's state under `root` and off systemd/journald
    (the store: `graph`/`run`, default `root/root` and `root/runroot`, with `driver`)."""
    return [
        podman,
        "--storage-driver",
        driver,
        "--root",
        str(graph if graph is not None else root / "root"),
        "--runroot",
        str(run if run is not None else root / "runroot"),
        "--tmpdir",
        str(root / "tmp"),
        "--volumepath",
        str(root / "volumes"),
        "--network-config-dir",
        str(root / "networks"),
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ]


def start_podman_service(root: Path, *, ready_timeout: float = 60) -> PodmanService:
    """Start `podman ... system service --time=0 unix://ROOT/podman.sock`; wait for `/_ping`.

    `root` should be short (unix socket paths are limited to 107 bytes). The service reads
    an empty containers.conf (CONTAINERS_CONF) so the host's configuration cannot change it.
    Raises FileNotFoundError if podman is missing, PollTimeoutError if it does not answer.
    """
    podman = shutil.which("podman")
    if podman is None:
        raise FileNotFoundError("podman")
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("root", "runroot", "tmp", "volumes", "networks"):
        (root / sub).mkdir(exist_ok=True)
    conf = root / "containers.conf"
    conf.write_text("# empty: podman's built-in defaults, whatever the host has\n")
    socket_path = root / "podman.sock"
    log_path = root / "podman.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTAINERS_", "DOCKER_"))}
    env["CONTAINERS_CONF"] = str(conf)
    argv = [*podman_argv(podman, root), "system", "service", "--time=0", f"unix://{socket_path}"]
    proc = start_process(argv, log_path=log_path, env=env)
    service = PodmanService(socket_path=socket_path, root=root, log_path=log_path, process=proc)

    def ping() -> bool | None:
        if not socket_path.exists():
            return None
        try:
            status, _, body = service.api("GET", "/_ping", timeout=2)
        except OSError:
            return None
        return True if status == 200 and body.strip() == b"OK" else None

    def alive() -> str | None:
        code = proc.poll()
        return None if code is None else f"podman exited with status {code}"

    try:
        poll_until(ping, timeout=ready_timeout, what="podman /_ping", alive=alive)
    except PollTimeoutError as exc:
        service.stop()
        raise PollTimeoutError(f"{exc}\n--- podman log ---\n{log_tail(log_path)}") from None
    return service
