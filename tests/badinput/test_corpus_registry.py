"""Bad-input corpus, hostile registry responses (security.md §4 cases 34-42).

Every case runs `skopo copy docker://PROXY/...` through `helpers.fault_proxy.FaultProxy`
in front of the real `docker-registry`; the proxy injects the hostile reply. Some cases
were first written in `tests/integration/test_fault_registry.py`; here each one also
proves the destination is left byte-identical (`Guard.check`).
"""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_guard import Guard

from helpers import RegistryFactory, RegistryServer
from helpers.fault_proxy import FaultProxy, Forward, ProxyRequest, Reply
from helpers.images import build_image
from helpers.registry import push_image
from helpers.tls import CertificateAuthority, make_ca, make_server_cert
from helpers.trees import snapshot
from toolkit.transports.docker._client import TRANSIENT_ATTEMPTS

pytestmark = pytest.mark.peer
PLAIN = "--src-tls-verify=false"


def tls_proxy(upstream: str, ca: CertificateAuthority, workdir: Path) -> FaultProxy:
    """A FaultProxy that speaks HTTPS (certificate for 127.0.0.1 signed by `ca`) to its clients."""
    proxy = FaultProxy(upstream)
    cert = make_server_cert(ca, workdir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert_path, cert.key_path)
    server = proxy._server
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    proxy.url = f"https://{proxy.host}"
    return proxy


@pytest.fixture
def pushed(registry_server: RegistryServer) -> Iterator[tuple[RegistryServer, str]]:
    """`registry_server` holding a small image; yields (registry, layer digest)."""
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=340, compression="none")
    push_image(registry_server, "corpus/reg", "v1", image)
    yield registry_server, image.layers[0].digest


def test_case_34_redirect_strips_credentials(guard: Guard, registry_factory: RegistryFactory) -> None:
    registry = registry_factory(htpasswd=("alice", "secret"))
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=341)
    push_image(registry, "corpus/redir", "v1", image)
    layer = image.layers[0]
    with FaultProxy(registry.url) as other, FaultProxy(registry.url) as front:
        front.rule = lambda r: (Reply(307, [("Location", f"{other.url}{r.path}"), ("Set-Cookie", "s=1")])
                                if r.method == "GET" and layer.digest in r.path else None)
        result = guard.copy(PLAIN, "--src-creds", "alice:secret", f"docker://{front.host}/corpus/redir:v1")
        assert any("Authorization" in r.headers for r in front.requests)
        assert other.requests, "the redirect was followed"
        for r in other.requests:
            assert "Authorization" not in r.headers and "Cookie" not in r.headers, r.headers
    # The redirect target answers 401 itself: it must not get our credentials (no retry with them).
    guard.check(result, match="authentication required")


def test_case_35_realm_downgrade_and_untrusted_realm(guard: Guard, registry_server: RegistryServer,
                                                     tls_ca: CertificateAuthority, tmp_path: Path) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=500, seed=350)
    push_image(registry_server, "corpus/realm", "v1", image)
    rogue_ca = make_ca(tmp_path / "rogue-ca", "rogue CA")
    with tls_proxy(registry_server.url, tls_ca, tmp_path / "front") as front, \
            tls_proxy(registry_server.url, rogue_ca, tmp_path / "realm") as untrusted:
        for realm in ("http://127.0.0.1:9/token", f"https://{untrusted.host}/token"):
            front.rule = lambda r, realm=realm: (
                Reply(401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="x"')])
                if "Authorization" not in r.headers else None)
            result = guard.copy("--src-cert-dir", tls_ca.cert_dir, "--src-creds", "alice:secret",
                                f"docker://{front.host}/corpus/realm:v1")
            guard.check(result, match="(?i)realm|https|certificate|TLS|SSL|verify")
        assert untrusted.requests == [], "the untrusted realm received a request"


def token_front(proxy: FaultProxy, token_reply: Reply) -> None:
    """Challenge every unauthenticated request with a Bearer realm served by the proxy itself."""
    def rule(r: ProxyRequest) -> Reply | None:
        if r.path.startswith("/token"):
            return token_reply
        if "Authorization" not in r.headers:
            return Reply(401, [("WWW-Authenticate", f'Bearer realm="{proxy.url}/token",service="reg"')])
        return None
    proxy.rule = rule


def test_case_36_token_endpoint_abuse(guard: Guard, pushed: tuple[RegistryServer, str], tmp_path: Path) -> None:
    registry, _ = pushed
    with FaultProxy(registry.url) as proxy:
        huge = json.dumps({"token": "t" * (2 << 20)}).encode()
        token_front(proxy, Reply(200, [("Content-Type", "application/json")], huge))
        guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/reg:v1"),
                    match="exceeded maximum allowed size")
        # Negative and huge lifetimes are clamped, not trusted: the pull works, one token per scope.
        for expires in (-5, 10**30):
            proxy.requests.clear()
            body = json.dumps({"token": "abc", "expires_in": expires}).encode()
            token_front(proxy, Reply(200, [("Content-Type", "application/json")], body))
            out = tmp_path / f"ok-{expires > 0}"
            result = guard.run_skopo("--insecure-policy", "copy", "-q", PLAIN, f"docker://{proxy.host}/corpus/reg:v1",
                                     f"dir:{out}")
            assert result.returncode == 0, result.stderr
            assert sum(r.path.startswith("/token") for r in proxy.requests) == 1


def test_case_37_bad_resume_replies(guard: Guard, registry_server: RegistryServer) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=1 << 20, seed=370, compression="none")
    push_image(registry_server, "corpus/resume", "v1", image)
    data = image.layers[0].data
    cut = len(data) // 2
    total = len(data)
    replies = {
        "status-200": Reply(200, [("Content-Type", "application/octet-stream")], data),
        "wrong-start": Reply(206, [("Content-Range", f"bytes 0-{total - 1}/{total}")], data),
        "two-ranges": Reply(206, [("Content-Range", f"bytes {cut}-{total - 1}/{total}"),
                                  ("Content-Range", f"bytes {cut}-{total - 1}/{total}")], data[cut:]),
    }
    with FaultProxy(registry_server.url) as proxy:
        for reply in replies.values():
            proxy.rule = lambda r, reply=reply: (
                None if r.method != "GET" or image.layers[0].digest not in r.path
                else Forward(cut_after=cut) if "Range" not in r.headers else reply)
            guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/resume:v1"), match="cannot resume",
                        retries=True)


def test_case_38_content_encoding_not_decoded(guard: Guard, pushed: tuple[RegistryServer, str]) -> None:
    registry, digest = pushed
    with FaultProxy(registry.url) as proxy:
        proxy.rule = lambda r: (Forward(body_transform=gzip.compress, extra_headers=[("Content-Encoding", "gzip")])
                                if r.method == "GET" and digest in r.path else None)
        guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/reg:v1"), match="(?i)digest|size|announced")
        assert all(r.headers.get("Accept-Encoding", "identity") == "identity" for r in proxy.requests
                   if digest in r.path)


def test_case_39_bad_content_length(guard: Guard, pushed: tuple[RegistryServer, str]) -> None:
    registry, _ = pushed
    with FaultProxy(registry.url) as proxy:
        for headers in ([("Content-Length", "-1"), ("Connection", "close")],
                        [("Content-Length", "2"), ("Content-Length", "3"), ("Connection", "close")]):
            proxy.rule = lambda r, headers=headers: Reply(200, headers, b"{}") if "/manifests/" in r.path else None
            guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/reg:v1"),
                        match="(?i)content-length|invalid response header")


def test_case_40_control_characters_in_registry_text(guard: Guard, pushed: tuple[RegistryServer, str]) -> None:
    registry, _ = pushed
    body = json.dumps({"errors": [{"code": "DENIED", "message": "\x1b[2Jgo away\x07\x1b]0;title\x07"}]}).encode()
    denied = Reply(403, [("Content-Type", "application/json"), ("Warning", '299 - "\x1b[2Jwarned\x1b]0;x\x07"')], body)
    with FaultProxy(registry.url) as proxy:
        proxy.rule = lambda r: denied if "/manifests/" in r.path else None
        result = guard.copy(PLAIN, f"docker://{proxy.host}/corpus/reg:v1")
    guard.check(result, match="go away")
    assert b"\x1b" not in result.stderr and b"\x07" not in result.stderr


def test_case_41_hostile_tag_lists(guard: Guard, pushed: tuple[RegistryServer, str]) -> None:
    registry, _ = pushed
    weird = {"name": "corpus/reg", "tags": ["v1", "../x", "t" * 200, None, "sha256-" + "a" * 64, "sha256:" + "a" * 64]}
    with FaultProxy(registry.url) as proxy:
        proxy.rule = lambda r: (Reply(200, [("Content-Type", "application/json")], json.dumps(weird).encode())
                                if "/tags/list" in r.path else None)
        result = guard.run_skopo("list-tags", "--tls-verify=false", f"docker://{proxy.host}/corpus/reg")
        if result.returncode == 0:
            tags = json.loads(result.stdout)["Tags"]
            assert "../x" not in tags and "t" * 200 not in tags and None not in tags, tags
            assert "sha256:" + "a" * 64 not in tags
        else:
            guard.check(result)
        # A Link header to another host: only its path is followed (the request stays here).
        page = {"name": "corpus/reg", "tags": ["v1"]}
        calls: list[str] = []

        def links(r: ProxyRequest) -> Reply | None:
            if "/tags/list" not in r.path:
                return None
            calls.append(r.path)
            if len(calls) > 1:
                return Reply(200, [("Content-Type", "application/json")], json.dumps(page).encode())
            return Reply(200, [("Content-Type", "application/json"),
                               ("Link", '<http://169.254.169.254/v2/corpus/reg/tags/list?n=1&last=v1>; rel="next"')],
                         json.dumps(page).encode())
        proxy.rule = links
        result = guard.run_skopo("list-tags", "--tls-verify=false", f"docker://{proxy.host}/corpus/reg")
        assert len(calls) == 2 and "last=v1" in calls[1], calls
        # A Link loop: stopped (a page cap / loop detection), never an endless walk.
        loop = Reply(200, [("Content-Type", "application/json"),
                           ("Link", '</v2/corpus/reg/tags/list?n=1&last=v1>; rel="next"')], json.dumps(page).encode())
        proxy.requests.clear()
        proxy.rule = lambda r: loop if "/tags/list" in r.path else None
        result = guard.run_skopo("list-tags", "--tls-verify=false", f"docker://{proxy.host}/corpus/reg", timeout=60)
        assert b"Traceback" not in result.stderr
        assert b"stopping tag listing" in result.stderr or result.returncode != 0, result.stderr
        assert sum("/tags/list" in r.path for r in proxy.requests) <= 1000
    assert snapshot(guard.root) == guard.before


def test_case_42_rate_limit_unavailable_reset(guard: Guard, pushed: tuple[RegistryServer, str]) -> None:
    registry, _ = pushed
    ref = "corpus/reg:v1"
    with FaultProxy(registry.url) as proxy:
        count: list[str] = []

        def always(status: int, headers: list[tuple[str, str]]) -> None:
            def rule(r: ProxyRequest) -> Reply | None:
                if "/manifests/" in r.path:
                    count.append(r.path)
                    return Reply(status, headers)
                return None
            proxy.rule = rule

        always(429, [("Retry-After", "0")])
        guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/{ref}"), match="too many requests", retries=True)
        assert len(count) == 5
        count.clear()
        always(503, [])
        guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/{ref}"), match="(?i)503|unavailable", retries=True)
        # A deliberate difference from c/image: idempotent GETs get a bounded HTTP-level retry
        # (TRANSIENT_ATTEMPTS); the whole operation is re-run only under --retry-times.
        once = len(count)
        assert 1 <= once <= TRANSIENT_ATTEMPTS
        count.clear()
        result = guard.copy(PLAIN, "--retry-times", "2", "--retry-delay", "10ms", f"docker://{proxy.host}/{ref}")
        # Like skopeo, each retry is announced on its own line before the final error: the
        # HTTP-level ones (TRANSIENT_ATTEMPTS - 1 per run) and the 2 of --retry-times.
        lines = result.stderr.decode().splitlines()
        runs = [line for line in lines if line.startswith("Failed, retrying") and "(1/2). Error: reading" in line]
        assert result.returncode != 0 and b"Traceback" not in result.stderr, lines
        assert len(lines) == 3 * TRANSIENT_ATTEMPTS and len(runs) == 1, lines
        assert all(line.startswith("Failed, retrying") for line in lines[:-1]) and "503" in lines[-1]
        assert snapshot(guard.root) == guard.before
        assert len(count) == 3 * once
        # A connection reset in the middle of the manifest.
        proxy.rule = lambda r: Forward(cut_after=20) if "/manifests/" in r.path and r.method == "GET" else None
        guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/{ref}"))
