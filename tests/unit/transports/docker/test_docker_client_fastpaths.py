"""The registry client's per-request shortcuts give exactly what the standard code gives:
response headers as `http.client`'s email-based parser builds them, request URLs as
requests prepares them. No network."""

from __future__ import annotations

import http.client
import io
import random
from typing import Any

import pytest
from requests.models import PreparedRequest

from toolkit.transports.docker import _client
from toolkit.transports.docker._client import RegistryClient
from toolkit.types import OptionalBool, SystemContext

_BLOCKS = [
    b"Content-Length: 404\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
    b"Docker-Content-Digest: sha256:" + b"a" * 64 + b"\r\nEtag: \"x\"\r\n\r\n",
    b"\r\n",
    b"\n",
    b"A: b\nC:d\n\n",
    b"Empty:\r\nBlank:   \r\nTabbed:\t\tv \t\r\n\r\n",
    b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nWWW-Authenticate: Bearer realm=\"x\",service=\"y\"\r\n\r\n",
    b"Folded: first\r\n  second\r\n\r\n",
    b"\tleading: tab\r\n\r\n",
    b"No colon here\r\nAfter: x\r\n\r\n",
    b": no name\r\nX: y\r\n\r\n",
    b"Name with space: v\r\n\r\n",
    b"From nobody\r\nX: y\r\n\r\n",
    b"From: someone\r\n\r\n",
    b"Bare: a\rb\r\n\r\n",
    b"Latin: caf\xe9 \xff\r\n\r\n",
    b"Odd: a\x0bb\x0cc\x1cd\x85e\r\n\r\n",
    b"Control: \x00\x01\x7f\r\n\r\n",
    b"Trailing: a",
    b"X: 1\r\n",
    b"X: 1\r\nbody-ish\r\n\r\n",
    b"",
]


def _parse_both(block: bytes) -> tuple[Any, Any]:
    def run(parse: Any) -> Any:
        fp = io.BytesIO(block + b"REST")
        try:
            message = parse(fp)
        except Exception as exc:  # the exception itself is compared
            return ("raised", type(exc), str(exc))
        fields = dict(vars(message))
        fields["defects"] = [(type(d), str(d)) for d in fields["defects"]]  # defects compare by identity
        return type(message), fields, message.items(), fp.read()

    return run(_client._parse_headers), run(_client._stdlib_parse_headers)


@pytest.mark.parametrize("block", _BLOCKS)
def test_header_blocks_parse_as_the_standard_parser_does(block: bytes) -> None:
    ours, standard = _parse_both(block)
    assert ours == standard


def test_random_header_blocks_parse_as_the_standard_parser_does() -> None:
    rng = random.Random(20261203)
    alphabet = [b"a", b"Z", b"-", b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\xe9", b"\x00", b"From ", b"=", b'"']
    for _ in range(3000):
        lines = [b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(rng.randrange(4))]
        block = b"\r\n".join(lines) + rng.choice([b"\r\n\r\n", b"\n\n", b"\r\n", b""])
        ours, standard = _parse_both(block)
        assert ours == standard, block


def test_limits_are_the_standard_ones() -> None:
    too_many = b"".join(b"X-%d: v\r\n" % i for i in range(_client.MAX_RESPONSE_HEADERS + 1)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="got more than"):
        _client._parse_headers(io.BytesIO(too_many))
    with pytest.raises(http.client.LineTooLong):
        _client._parse_headers(io.BytesIO(b"X: " + b"v" * 70000 + b"\r\n\r\n"))


def test_http_client_uses_it() -> None:
    assert http.client.parse_headers is _client._parse_headers


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
