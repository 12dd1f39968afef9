"""The registry client's per-request shortcuts give exactly what the standard code gives:
request URLs as requests prepares them. No network."""

from __future__ import annotations

from typing import Any

import pytest
from requests.models import PreparedRequest

from toolkit.transports.docker import _client
from toolkit.transports.docker._client import RegistryClient
from toolkit.types import OptionalBool, SystemContext


def _pinged(base: str) -> RegistryClient:
    """A client whose ping answered from `base` (no network)."""
    host = base.split("://", 1)[1]
    client = RegistryClient(SystemContext(tls_verify=OptionalBool.FALSE), host, use_credentials=False)
    client._ping = lambda scheme, **_: (base, [])  # type: ignore[method-assign]
    _client._LINKS.clear()
    client._link = _client._link_for(host, False, _client.tls_files_for_host(host, None, None), "t")
    client.ensure_ping()
    return client


_TAILS = [
    "/v2/", "/v2/a/b/manifests/v1", "/v2/a/b/manifests/sha256:" + "0" * 64, "/v2/a/b/tags/list?n=100&last=x",
    "/v2/a/blobs/uploads/?mount=sha256:1&from=a/b", "/v2/a/b/manifests/V.1-x_y", "/v2/x/uploads/u?_state=a+b=",
    "/v2/a/./b", "/v2/a/../b", "/v2/a/.hidden", "/v2/a%2Fb", "/v2/a b", "/v2/a#frag", "/v2/caf\u00e9", "/v2/a|b",
    "/v2/a\\b", "/v2/a?x=%41", "/v2/a?q=[1]", "/v2/a?q='(*)'!$,;", "//v2", "", "?x", "/v2/a?b?c", "/v2/a@b:c",
]


@pytest.mark.parametrize("base", ["http://127.0.0.1:5000", "https://Reg.Example.COM:443", "http://[::1]:5000"])
@pytest.mark.parametrize("tail", _TAILS)
def test_plain_urls_are_prepared_as_requests_does(base: str, tail: str) -> None:
    client = _pinged(base)
    url = base + tail
    plain = client._plain_url(url)
    if plain is not None:
        expected = PreparedRequest()
        expected.prepare_url(url, None)
        assert plain == expected.url
    elif tail.startswith("/v2/a/b/"):
        pytest.fail(f"a registry path took the slow path: {url}")


def test_only_urls_on_the_pinged_base_are_plain() -> None:
    client = _pinged("http://127.0.0.1:5000")
    assert client._plain_url("http://127.0.0.1:50001/v2/") is None
    assert client._plain_url("https://127.0.0.1:5000/v2/") is None
    assert client._plain_url("http://other:5000/v2/") is None
    assert client._plain_url("http://127.0.0.1:5000/v2/x") == "http://127.0.0.1:5000/v2/x"


class _ForwardProxy:
    """A plain-HTTP forward proxy stand-in on loopback: records each request line's target
    (an absolute URL when a client uses it as a proxy) and answers as a registry would."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.targets: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                outer.targets.append(self.path)
                body = b"{}" if self.command == "GET" else b""
                self.send_response(200 if self.command == "GET" else 404)
                self.send_header("Content-Length", str(len(body) if self.command == "GET" else 0))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def forward_proxy() -> Any:
    proxy = _ForwardProxy()
    yield proxy
    proxy.close()


def _client_for(host: str) -> RegistryClient:
    _client._LINKS.clear()
    return RegistryClient(SystemContext(tls_verify=OptionalBool.FALSE), host, use_credentials=False)


def test_http_proxy_from_the_environment_per_host(forward_proxy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY carries the requests to a registry (each one, not only the first: pools
    are remembered for direct connections only); NO_PROXY naming the host sends them
    direct (here: refused, nothing listens)."""
    from toolkit.errors import ToolkitError

    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.3")
    client = _client_for("127.0.0.2:9")
    for tag in ("a", "b"):
        client.request("HEAD", f"/v2/p/manifests/{tag}").close()
    assert forward_proxy.targets == [
        "http://127.0.0.2:9/v2/", "http://127.0.0.2:9/v2/p/manifests/a", "http://127.0.0.2:9/v2/p/manifests/b",
    ]
    direct = _client_for("127.0.0.3:9")
    with pytest.raises(ToolkitError, match="(?i)refused"):
        direct.request("GET", "/v2/")
    assert len(forward_proxy.targets) == 3


def test_remembered_pools_stay_open_past_the_limit() -> None:
    """More origins than an adapter remembers: the remembered pools are never closed
    ones, and `close` forgets them."""
    adapter = _client._PlainAdapter()
    # Close what the manager evicts, as urllib3 1.x does (2.x only drops it).
    adapter.poolmanager.pools.dispose_func = lambda pool: pool.close()
    pools = []
    for i in range(3 * _client._MAX_POOLS):
        request = PreparedRequest()
        request.prepare(method="GET", url=f"http://127.0.0.1:{1000 + i}/v2/")
        pool = adapter.get_connection_with_tls_context(request, False)
        assert adapter.get_connection_with_tls_context(request, False) is pool
        assert all(p.pool is not None for p in adapter._pools.values()), i  # closed: p.pool is None
        pools.append(pool)
    first = PreparedRequest()
    first.prepare(method="GET", url="http://127.0.0.1:1000/v2/x")
    assert adapter.get_connection_with_tls_context(first, False).pool is not None
    adapter.close()
    assert adapter._pools == {}


def test_a_python_without_a_system_store_trusts_certifi(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no default CA file nor directory, a verifying context gets certifi's bundle
    (else it would trust nothing); with a system store it gets the system store only."""
    import ssl

    from requests.certs import where as certifi_bundle

    from toolkit.config.certs import TLSFiles

    files = TLSFiles(directory=None, ca_files=(), client_pairs=())
    no_store = ssl.DefaultVerifyPaths(None, None, "SSL_CERT_FILE", "/nonexistent", "SSL_CERT_DIR", "/nonexistent")
    _client._system_store_missing.cache_clear()
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: no_store)
    loaded: list[Any] = []
    real = ssl.SSLContext.load_verify_locations

    def spy(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(kwargs)
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", spy)
    try:
        _client._new_ssl_context(True, files)
        assert loaded == [{"cafile": certifi_bundle()}]
        loaded.clear()
        _client._new_ssl_context(False, files)
        assert loaded == []
    finally:
        _client._system_store_missing.cache_clear()
    monkeypatch.undo()
    loaded.clear()
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", spy)
    _client._new_ssl_context(True, files)
    assert {"cafile": certifi_bundle()} not in loaded
    _client._system_store_missing.cache_clear()
