"""The Docker Distribution registry (`docker-registry` 2.8) as a test peer.

`start_registry` writes a config (JSON, which YAML reads), starts `docker-registry serve`
on a free 127.0.0.1 port with storage in a temp folder, and returns once `GET /v2/`
answers (200, or 401 with auth). Optional TLS (a CA made with `cryptography`) and
htpasswd basic auth (`htpasswd -Bbn`).

`push_image` / `get_manifest` speak the registry API directly with `requests`, for tests
that need content in a registry without going through skopeo or skopo.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests

from helpers.images import BuiltImage, BuiltIndex
from helpers.proc import PollTimeoutError, free_port, log_tail, poll_until, start_process, stop_process
from helpers.tls import CertificateAuthority, make_ca, make_server_cert

__all__ = [
    "REGISTRY_BINARY",
    "RegistryServer",
    "RegistryFactory",
    "start_registry",
    "push_image",
    "push_manifest",
    "get_manifest",
    "MANIFEST_ACCEPT",
    "basic_auth_header",
]

REGISTRY_BINARY = "docker-registry"
#: Accept header for GET manifest that admits every current manifest kind.
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
_START_ATTEMPTS = 3


@dataclass
class RegistryServer:
    """A running `docker-registry`. Stop it with `stop()` (fixtures do that for you).

    - `host`: "127.0.0.1:PORT", as used in `docker://HOST/repo:tag`.
    - `url`: "http://HOST" or "https://HOST".
    - `ca_cert_path` / `cert_dir`: with TLS, the CA certificate (PEM) and a folder holding
      only `ca.crt`, usable as skopeo's `--src-cert-dir` / `--dest-cert-dir`.
    - `credentials`: with htpasswd, the (user, password) that is accepted.
    """

    host: str
    url: str
    log_path: Path
    storage_dir: Path
    config_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    tls: bool = False
    ca_cert_path: Path | None = None
    cert_dir: Path | None = None
    credentials: tuple[str, str] | None = None

    @property
    def port(self) -> int:
        """The TCP port the registry listens on."""
        return int(self.host.rsplit(":", 1)[1])

    def docker_ref(self, repo_and_tag: str) -> str:
        """`docker://HOST/<repo_and_tag>`."""
        return f"docker://{self.host}/{repo_and_tag}"

    def requests_kwargs(self) -> dict[str, Any]:
        """`verify=` and `auth=` for a `requests` call to this registry."""
        kwargs: dict[str, Any] = {"verify": str(self.ca_cert_path) if self.ca_cert_path else True}
        if self.credentials is not None:
            kwargs["auth"] = self.credentials
        return kwargs

    def log_text(self, limit: int = 8000) -> str:
        """The end of the registry's log (for assertion messages)."""
        return log_tail(self.log_path, limit)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL). Idempotent."""
        stop_process(self.process)


class RegistryFactory(Protocol):
    """The `registry_factory` fixture: start a fresh registry, stopped at teardown."""

    def __call__(
        self,
        tls: bool = False,
        htpasswd: tuple[str, str] | None = None,
        *,
        extra_config: Mapping[str, Any] | None = None,
    ) -> RegistryServer: ...


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def _htpasswd_line(user: str, password: str) -> str:
    binary = shutil.which("htpasswd")
    if binary is None:
        raise FileNotFoundError("htpasswd")
    out = subprocess.run(
        [binary, "-Bbn", user, password], check=True, capture_output=True, timeout=30
    ).stdout.decode()
    return out.strip() + "\n"


def _probe(host: str, port: int, context: ssl.SSLContext | None) -> int | None:
    """Status of GET /v2/, or None if nothing answers yet."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(host, port, timeout=1)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=1, context=context)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def start_registry(
    workdir: Path,
    *,
    tls: bool = False,
    htpasswd: tuple[str, str] | None = None,
    ca: CertificateAuthority | None = None,
    extra_config: Mapping[str, Any] | None = None,
    binary: str | None = None,
    ready_timeout: float = 15.0,
) -> RegistryServer:
    """Start `docker-registry serve` with everything under `workdir`.

    `tls`: serve HTTPS with a certificate for 127.0.0.1/localhost, signed by `ca` (made
    under `workdir/ca` if not given). `htpasswd`: require basic auth for that user.
    `extra_config` is deep-merged into the generated config (e.g. `auth.token`).
    Raises `FileNotFoundError` if the binary is missing and `PollTimeoutError` (with the
    log) if it does not come up.
    """
    exe = binary or shutil.which(REGISTRY_BINARY)
    if exe is None:
        raise FileNotFoundError(REGISTRY_BINARY)
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    log_path = workdir / "registry.log"
    config_path = workdir / "config.yml"

    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"secret": secrets.token_hex(16), "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "health": {"storagedriver": {"enabled": False}},
    }
    context: ssl.SSLContext | None = None
    if tls:
        ca = ca or make_ca(workdir / "ca")
        server = make_server_cert(ca, workdir / "tls")
        config["http"]["tls"] = {"certificate": str(server.cert_path), "key": str(server.key_path)}
        context = ssl.create_default_context(cafile=str(ca.cert_path))
    if htpasswd is not None:
        htpasswd_path = workdir / "htpasswd"
        htpasswd_path.write_text(_htpasswd_line(*htpasswd))
        config["auth"] = {"htpasswd": {"realm": "skopo-test", "path": str(htpasswd_path)}}
    if extra_config:
        _deep_merge(config, extra_config)

    last_error: Exception | None = None
    for _ in range(_START_ATTEMPTS):  # a free port can be taken between probe and bind
        port = free_port()
        config["http"]["addr"] = f"127.0.0.1:{port}"
        config_path.write_text(json.dumps(config, indent=2))
        proc = start_process([exe, "serve", str(config_path)], log_path=log_path)

        def alive(proc: subprocess.Popen[bytes] = proc) -> str | None:
            code = proc.poll()
            return None if code is None else f"docker-registry exited with status {code}"

        try:
            status = poll_until(
                functools.partial(_probe, "127.0.0.1", port, context),
                timeout=ready_timeout,
                what="docker-registry /v2/",
                alive=alive,
            )
        except PollTimeoutError as exc:
            stop_process(proc)
            last_error = exc
            if "address already in use" in log_tail(log_path):
                continue
            raise PollTimeoutError(f"{exc}\n--- registry log ---\n{log_tail(log_path)}") from None
        if status not in (200, 401):
            stop_process(proc)
            raise AssertionError(f"GET /v2/ answered {status}\n{log_tail(log_path)}")
        host = f"127.0.0.1:{port}"
        return RegistryServer(
            host=host,
            url=f"{'https' if tls else 'http'}://{host}",
            log_path=log_path,
            storage_dir=storage,
            config_path=config_path,
            process=proc,
            tls=tls,
            ca_cert_path=ca.cert_path if (tls and ca) else None,
            cert_dir=ca.cert_dir if (tls and ca) else None,
            credentials=htpasswd,
        )
    raise PollTimeoutError(f"could not start docker-registry: {last_error}\n{log_tail(log_path)}")


def _session(registry: RegistryServer) -> requests.Session:
    session = requests.Session()
    for key, value in registry.requests_kwargs().items():
        setattr(session, key, value)
    return session


def _put_blob(
    session: requests.Session, registry: RegistryServer, repo: str, digest: str, data: bytes
) -> None:
    head = session.head(f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=30)
    if head.status_code == 200:
        return
    start = session.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert start.status_code == 202, f"start upload: {start.status_code} {start.text}"
    location = start.headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    sep = "&" if "?" in location else "?"
    put = session.put(
        f"{location}{sep}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert put.status_code == 201, f"put blob {digest}: {put.status_code} {put.text}"


def _put_manifest(
    session: requests.Session, registry: RegistryServer, repo: str, ref: str, raw: bytes, media_type: str
) -> None:
    put = session.put(
        f"{registry.url}/v2/{repo}/manifests/{ref}",
        data=raw,
        headers={"Content-Type": media_type},
        timeout=30,
    )
    assert put.status_code == 201, f"put manifest {ref}: {put.status_code} {put.text}"


def push_image(registry: RegistryServer, repo: str, tag: str, image: BuiltImage | BuiltIndex) -> str:
    """Push `image` (a single image or a multi-arch index) as `repo:tag` through the API.

    Blobs first, then instance manifests by digest, then the top manifest by tag, with
    the exact bytes built. Returns the top manifest digest.
    """
    with _session(registry) as session:
        images = image.images if isinstance(image, BuiltIndex) else (image,)
        for img in images:
            for digest, data in img.blobs().items():
                _put_blob(session, registry, repo, digest, data)
            if isinstance(image, BuiltIndex):
                _put_manifest(session, registry, repo, img.manifest_digest, img.manifest, img.media_type)
        _put_manifest(session, registry, repo, tag, image.manifest, image.media_type)
    return image.manifest_digest


def push_manifest(registry: RegistryServer, repo: str, ref: str, raw: bytes, media_type: str) -> None:
    """PUT one manifest (its blobs must be there already) by tag or digest, exact bytes."""
    with _session(registry) as session:
        _put_manifest(session, registry, repo, ref, raw, media_type)


def get_manifest(
    registry: RegistryServer, repo: str, ref: str, accept: str = MANIFEST_ACCEPT
) -> requests.Response:
    """GET /v2/<repo>/manifests/<ref> with an Accept header admitting v2s2, lists and OCI."""
    return requests.get(
        f"{registry.url}/v2/{repo}/manifests/{ref}",
        headers={"Accept": accept},
        timeout=30,
        **registry.requests_kwargs(),
    )


def basic_auth_header(user: str, password: str) -> str:
    """The value of an `Authorization: Basic ...` header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
