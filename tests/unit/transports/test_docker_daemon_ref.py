"""`docker-daemon:` references (c/image daemon_transport_test.go cases), endpoint parsing,
and the engine client's reading of load answers (Docker's `errorDetail` stream, podman's
error documents) against a tiny local HTTP server."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers.tls import CertificateAuthority, make_ca, make_server_cert
from toolkit.config.paths import DEFAULT_DOCKER_HOST, docker_daemon_host
from toolkit.errors import (
    DestinationError,
    ImageNotFoundError,
    InvalidImageNameError,
    InvalidInputError,
    NotSupportedError,
    PolicyError,
)
from toolkit.reference import parse_normalized_named
from toolkit.reference import policy_identity as docker_reference_identity
from toolkit.reference import policy_namespaces as docker_reference_namespaces
from toolkit.transports import get_transport, parse_image_name
from toolkit.transports.docker_daemon import TRANSPORT, DaemonError, DaemonUnavailableError, DockerDaemonReference
from toolkit.transports.docker_daemon._engine import MAX_API_VERSION, EngineClient, parse_daemon_host
from toolkit.types import OptionalBool, SystemContext

HEX = "0123456789abcdef" * 4
DIGEST = "sha256:" + HEX


def test_registered_under_its_name() -> None:
    assert get_transport("docker-daemon") is TRANSPORT
    ref = parse_image_name("docker-daemon:busybox:latest")
    assert isinstance(ref, DockerDaemonReference)
    assert str(ref) == "docker-daemon:busybox:latest"


@pytest.mark.parametrize(
    ("text", "image_id", "docker_ref", "within"),
    [
        (DIGEST, DIGEST, None, DIGEST),
        ("busybox:latest", None, "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox@" + DIGEST, None, "docker.io/library/busybox@" + DIGEST, "busybox@" + DIGEST),
        ("docker.io/library/busybox:latest", None, "docker.io/library/busybox:latest", "busybox:latest"),
        ("example.com/ns/foo:bar", None, "example.com/ns/foo:bar", "example.com/ns/foo:bar"),
        ("localhost:5000/a/b:c", None, "localhost:5000/a/b:c", "localhost:5000/a/b:c"),
    ],
)
def test_valid_references(text: str, image_id: str | None, docker_ref: str | None, within: str) -> None:
    ref = TRANSPORT.parse_reference(text)
    assert (str(ref.image_id) if ref.image_id else None) == image_id
    assert (str(ref.docker_reference()) if ref.docker_reference() else None) == docker_ref
    assert ref.string_within_transport() == within
    again = TRANSPORT.parse_reference(ref.string_within_transport())
    assert again == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sha512:" + HEX + HEX, "only digest algorithm sha256 accepted"),
        ("sha384:" + HEX + HEX[:32], "only digest algorithm sha256 accepted"),
        ("sha256:ab", "The sha256 repository name is reserved for (non-shortened) digest references"),
        (DIGEST + "ab", "The sha256 repository name is reserved"),
        ("sha256:XX" + HEX[2:], "The sha256 repository name is reserved"),  # XX... is a valid tag
        ("UPPERCASEISINVALID", "repository name must be lowercase"),
        ("busybox", "docker-daemon: reference busybox has neither a tag nor a digest"),
        ("quay.io/a/b", "reference quay.io/a/b has neither a tag nor a digest"),
        ("busybox:latest@" + DIGEST, "references with both a tag and digest are currently not supported"),
        ("", "invalid reference format"),
        (HEX, "cannot specify 64-byte hexadecimal strings"),
    ],
)
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(InvalidImageNameError) as info:
        TRANSPORT.parse_reference(text)
    assert message in str(info.value)


def test_policy_identity_and_namespaces() -> None:
    by_id = TRANSPORT.parse_reference(DIGEST)
    assert by_id.policy_configuration_identity() == ""
    assert by_id.policy_configuration_namespaces() == []
    named = TRANSPORT.parse_reference("busybox:notlatest")
    assert named.policy_configuration_identity() == "docker.io/library/busybox:notlatest"
    assert named.policy_configuration_namespaces() == [
        "docker.io/library/busybox",
        "docker.io/library",
        "docker.io",
        "*.io",
    ]
    digested = TRANSPORT.parse_reference("registry.example.com:5000/ns/app@" + DIGEST)
    assert digested.policy_configuration_identity() == "registry.example.com:5000/ns/app@" + DIGEST
    assert digested.policy_configuration_namespaces() == [
        "registry.example.com:5000/ns/app",
        "registry.example.com:5000/ns",
        "registry.example.com:5000",
        "*.example.com",
        "*.com",
    ]


def test_docker_policy_helpers_refuse_ambiguous_references() -> None:
    with pytest.raises(InvalidInputError):
        docker_reference_identity(parse_normalized_named("busybox"))
    with pytest.raises(InvalidInputError):
        docker_reference_identity(parse_normalized_named("busybox:1@" + DIGEST))
    assert docker_reference_namespaces(parse_normalized_named("localhost/x:1")) == ["localhost/x", "localhost"]


@pytest.mark.parametrize(
    "scope",
    [
        "registry.example.com/ns/stream@" + DIGEST,
        "registry.example.com/ns/stream:notlatest",
        "registry.example.com/ns",
        "*.example.com",
        HEX,  # an unqualified hex value could be a host name
    ],
)
def test_policy_scopes_accepted(scope: str) -> None:
    TRANSPORT.validate_policy_configuration_scope(scope)


def test_policy_scope_image_id_refused() -> None:
    with pytest.raises(PolicyError, match="can not use algo:digest value"):
        TRANSPORT.validate_policy_configuration_scope(DIGEST)


def test_delete_is_not_supported() -> None:
    with pytest.raises(NotSupportedError, match="Deleting images not implemented for docker-daemon: images"):
        TRANSPORT.parse_reference("busybox:latest").delete_image(SystemContext())


@pytest.mark.parametrize("text", [DIGEST, "busybox@" + DIGEST])
def test_destination_needs_name_tag(text: str) -> None:
    # Refused before any connection is attempted (the host does not exist).
    ctx = SystemContext(daemon_host="unix:///nonexistent/docker.sock")
    with pytest.raises(DestinationError, match=r"a destination must be a name:tag"):
        TRANSPORT.parse_reference(text).new_image_destination(ctx)


# ---------------------------------------------------------------- endpoints


def test_daemon_host_precedence() -> None:
    assert docker_daemon_host("tcp://h:1", {"DOCKER_HOST": "unix:///x"}) == "tcp://h:1"
    assert docker_daemon_host("", {"DOCKER_HOST": "unix:///x"}) == "unix:///x"
    assert docker_daemon_host("", {}) == DEFAULT_DOCKER_HOST == "unix:///var/run/docker.sock"


@pytest.mark.parametrize(
    ("text", "scheme", "address", "port", "tls", "base"),
    [
        ("unix:///var/run/docker.sock", "unix", "/var/run/docker.sock", 0, False, ""),
        ("tcp://10.0.0.1:2376", "tcp", "10.0.0.1", 2376, True, ""),
        ("tcp://engine.example.com", "tcp", "engine.example.com", 2376, True, ""),
        ("https://engine.example.com:4443/base/", "tcp", "engine.example.com", 4443, True, "/base"),
        ("http://127.0.0.1", "tcp", "127.0.0.1", 2375, False, ""),
        ("tcp://[::1]:2376", "tcp", "::1", 2376, True, ""),
    ],
)
def test_parse_daemon_host(text: str, scheme: str, address: str, port: int, tls: bool, base: str) -> None:
    ep = parse_daemon_host(text)
    assert (ep.scheme, ep.address, ep.port, ep.tls, ep.base_path) == (scheme, address, port, tls, base)


@pytest.mark.parametrize("text", ["/var/run/docker.sock", "ssh://host", "tcp://", "tcp://h:notaport", "unix://"])
def test_parse_daemon_host_refuses(text: str) -> None:
    with pytest.raises(InvalidInputError, match="unable to parse docker host"):
        parse_daemon_host(text)


def test_missing_socket_is_named(tmp_path: Path) -> None:
    sock = tmp_path / "no-engine.sock"
    with pytest.raises(DaemonUnavailableError) as info:
        EngineClient.connect(f"unix://{sock}")
    text = str(info.value)
    assert f"Cannot connect to the Docker daemon at unix://{sock}" in text
    assert "no such file or directory" in text


def test_cert_dir_files_are_required(tmp_path: Path) -> None:
    with pytest.raises(DaemonError, match=r"Could not read CA certificate .*ca\.pem"):
        EngineClient.connect("tcp://127.0.0.1:1", cert_dir=tmp_path)


# ---------------------------------------------------------------- a fake engine (plain http://)


class _Engine(http.server.BaseHTTPRequestHandler):
    """Answers like an engine would; `server.load_answer` = (status, body) for /images/load."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        server = self.server
        if self.path == "/_ping":
            self._reply(200, b"OK", {"API-Version": server.api_version})  # type: ignore[attr-defined]
        elif self.path.endswith("/get"):
            server.paths.append(self.path)  # type: ignore[attr-defined]
            self._reply(404, b'{"message":"No such image: x:y"}')
        else:
            self._reply(404, b"{}")

    def do_POST(self) -> None:
        server = self.server
        server.paths.append(self.path)  # type: ignore[attr-defined]
        received = 0
        # Chunked body: read it all (sizes in hex lines).
        while True:
            size = int(self.rfile.readline().strip(), 16)
            received += len(self.rfile.read(size)) if size else 0
            self.rfile.readline()
            if size == 0:
                break
        server.received = received  # type: ignore[attr-defined]
        status, body = server.load_answer  # type: ignore[attr-defined]
        self._reply(status, body)


@pytest.fixture
def engine() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Engine)
    server.api_version = "1.43"  # type: ignore[attr-defined]
    server.paths = []  # type: ignore[attr-defined]
    server.load_answer = (200, b'{"stream":"Loaded image: x:y\\n"}\r\n')  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _host(engine: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{engine.server_address[1]}"


def test_version_negotiation_takes_the_lower(engine: http.server.ThreadingHTTPServer) -> None:
    assert EngineClient.connect(_host(engine)).api_version == "1.43"
    engine.api_version = "9.99"  # type: ignore[attr-defined]
    assert EngineClient.connect(_host(engine)).api_version == MAX_API_VERSION


def test_save_not_found_is_exit_2(engine: http.server.ThreadingHTTPServer) -> None:
    client = EngineClient.connect(_host(engine))
    with pytest.raises(ImageNotFoundError, match="Error response from daemon: No such image: x:y") as info:
        client.image_save("localhost:5000/x:y")
    assert info.value.exit_code == 2
    assert engine.paths == ["/v1.43/images/localhost:5000/x:y/get"]  # type: ignore[attr-defined]


def test_load_streams_chunks_and_accepts_success(engine: http.server.ThreadingHTTPServer) -> None:
    upload = EngineClient.connect(_host(engine)).start_image_load()
    for _ in range(5):
        upload.write(b"x" * 300_000)
    upload.write(memoryview(b"y" * 3_000_000))
    upload.finish()
    assert engine.received == 4_500_000  # type: ignore[attr-defined]
    assert upload.messages == ["Loaded image: x:y"]
    assert engine.paths == ["/v1.43/images/load?quiet=1"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        # Docker: 200, then an error in the JSON message stream.
        ((200, b'{"stream":"a"}\r\n{"errorDetail":{"message":"invalid diffID"},"error":"invalid diffID"}\r\n'),
         'docker engine reported: \'invalid diffID\''),
        # podman: an error document with a status.
        ((500, b'{"cause":"x","message":"failed to load image: payload does not match","response":500}'),
         "docker engine reported: failed to load image: payload does not match"),
        ((200, b'{"stream": "ok"} not json'), "parsing docker load progress"),
    ],
)
def test_load_errors_are_reported(
    engine: http.server.ThreadingHTTPServer, answer: tuple[int, bytes], message: str
) -> None:
    engine.load_answer = answer  # type: ignore[attr-defined]
    upload = EngineClient.connect(_host(engine)).start_image_load()
    upload.write(b"z" * 1000)
    with pytest.raises(DaemonError) as info:
        upload.finish()
    assert message in str(info.value)
    upload.abort()  # idempotent after finish


# ---------------------------------------------------------------- tcp:// with TLS client certificates


def _client_cert(ca: CertificateAuthority, cert_dir: Path) -> None:
    """Write docker's cert dir: `ca.pem`, and a client `cert.pem`/`key.pem` signed by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skopo client")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    cert_dir.mkdir()
    (cert_dir / "ca.pem").write_bytes(ca.cert_pem)
    (cert_dir / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (cert_dir / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture
def tls_engine(tmp_path: Path) -> Iterator[tuple[http.server.ThreadingHTTPServer, Path]]:
    """The fake engine behind TLS that demands a client certificate from the test CA."""
    ca = make_ca(tmp_path / "ca")
    server_cert = make_server_cert(ca, tmp_path / "server")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert.cert_path, server_cert.key_path)
    context.load_verify_locations(cafile=str(ca.cert_path))
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Engine)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.api_version = "1.41"  # type: ignore[attr-defined]
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    cert_dir = tmp_path / "docker-certs"
    _client_cert(ca, cert_dir)
    try:
        yield server, cert_dir
    finally:
        server.shutdown()
        server.server_close()


def test_tcp_tls_with_cert_dir(tls_engine: tuple[http.server.ThreadingHTTPServer, Path]) -> None:
    server, cert_dir = tls_engine
    host = f"tcp://127.0.0.1:{server.server_address[1]}"
    client = EngineClient.connect(host, cert_dir=cert_dir)
    assert client.api_version == "1.41"
    with pytest.raises(ImageNotFoundError):
        client.image_save("busybox:latest")
    # Without the client certificate (and the CA) the engine cannot be used.
    with pytest.raises(DaemonUnavailableError, match=rf"Cannot connect to the Docker daemon at {host}.*TLS"):
        EngineClient.connect(host)
    # --tls-verify=false skips server verification, but the engine still wants a client cert.
    with pytest.raises(DaemonUnavailableError):
        EngineClient.connect(host, tls_verify=OptionalBool.FALSE)
