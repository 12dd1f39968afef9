"""Network failures in plain words (`_neterr.network_error`), on the exceptions requests,
urllib3, ssl and socket really raise (built here as the libraries chain them)."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator

import pytest
import requests
import urllib3.exceptions

from toolkit import deadline
from toolkit.errors import CommandTimeoutError
from toolkit.transports.docker._client import redact_url
from toolkit.transports.docker._errors import TransientRegistryError
from toolkit.transports.docker._neterr import STAGE_CONNECT, STAGE_DNS, STAGE_TLS, NetworkError, network_error


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    deadline.disarm()
    yield
    deadline.disarm()


def _as_requests(inner: BaseException, kind: type[requests.RequestException] = requests.ConnectionError) -> Exception:
    """`inner` wrapped as requests' adapter does: RequestException(MaxRetryError(reason=inner))."""
    pool = urllib3.HTTPSConnectionPool("h", 1)
    wrapped = urllib3.exceptions.MaxRetryError(pool, "/v2/", inner)
    return kind(wrapped)


def _error(exc: BaseException, host: str = "127.0.0.1:5000") -> object:
    return network_error(exc, host, read_timeout=60, connect_timeout=30)


def test_connection_refused_and_dns() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    err = _error(_as_requests(refused))
    assert isinstance(err, NetworkError) and err.stage == STAGE_CONNECT
    assert str(err) == "connection refused: 127.0.0.1:5000"
    assert str(_error(_as_requests(refused), "example.com")) == "connection refused: example.com:443"
    dns = socket.gaierror(-2, "Name or service not known")
    err = _error(_as_requests(urllib3.exceptions.NameResolutionError("h", None, dns)), "nope.invalid:5000")  # type: ignore[arg-type]
    assert isinstance(err, NetworkError) and err.stage == STAGE_DNS
    assert str(err) == "no such host: nope.invalid"


def test_plain_http_answer_and_unknown_ca() -> None:
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    plain.reason = "WRONG_VERSION_NUMBER"  # type: ignore[misc]
    err = _error(_as_requests(urllib3.exceptions.SSLError(plain), requests.exceptions.SSLError))
    assert isinstance(err, NetworkError) and err.stage == STAGE_TLS
    assert str(err).startswith("http: server gave HTTP response to HTTPS client (use --tls-verify=false")
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_code = 20
    cert.verify_message = "unable to get local issuer certificate"
    err = _error(_as_requests(urllib3.exceptions.SSLError(cert), requests.exceptions.SSLError))
    assert str(err) == (
        "x509: certificate signed by unknown authority for 127.0.0.1:5000 (add its CA to "
        "/etc/containers/certs.d/127.0.0.1:5000/ or pass --cert-dir; --tls-verify=false skips verification)"
    )
    assert "SSLError" not in str(err) and "MaxRetry" not in str(err)


def test_cut_connections_are_transient_and_timeouts_past_the_deadline_are_the_deadline() -> None:
    aborted = urllib3.exceptions.ProtocolError("aborted", http.client.RemoteDisconnected())
    cut = _error(requests.ConnectionError(aborted))
    assert isinstance(cut, TransientRegistryError) and not isinstance(cut, NetworkError)
    assert "closed by the server" in str(cut)
    read_timeout = requests.exceptions.ReadTimeout(urllib3.exceptions.ReadTimeoutError(None, "/v2/", "timed out"))  # type: ignore[arg-type]
    idle = _error(read_timeout)
    assert isinstance(idle, TransientRegistryError) and str(idle) == "no data from 127.0.0.1:5000 for 60s"
    deadline.arm(0.0, "2s")
    timed_out = _error(read_timeout)
    assert isinstance(timed_out, CommandTimeoutError)
    assert str(timed_out) == "timed out after 2s waiting for 127.0.0.1:5000"


def test_debug_urls_hide_secrets_but_keep_harmless_parameters() -> None:
    url = "https://u:pw@r.example/v2/a/blobs/uploads/x?_state=SECRET&digest=sha256:ab&X-Amz-Signature=s1"
    shown = redact_url(url)
    assert shown == "https://r.example/v2/a/blobs/uploads/x?_state=REDACTED&digest=sha256:ab&X-Amz-Signature=REDACTED"
    assert "pw" not in shown and "SECRET" not in shown
