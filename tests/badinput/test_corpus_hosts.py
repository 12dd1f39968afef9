"""Corpus cases: credentials kept to their host, registry text that Python's HTTP stack
refuses, and answers cut short by a cap (see README.md for the table)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_guard import Guard

from helpers import assert_clean_error
from helpers.fault_proxy import FaultProxy, ProxyRequest, Reply
from helpers.images import build_image
from helpers.registry import RegistryServer, push_image
from helpers.trees import snapshot

PLAIN = "--src-tls-verify=false"
FLAG_CREDS = "alice:flag-secret"
MIRROR_CREDS = "mirror-user:mirror-secret"


@pytest.fixture
def pushed(registry_server: RegistryServer) -> Iterator[RegistryServer]:
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=349, compression="none")
    push_image(registry_server, "corpus/hosts", "v1", image)
    yield registry_server


def _basic(creds: str) -> str:
    return "Basic " + base64.b64encode(creds.encode()).decode()


def _authorizations(proxy: FaultProxy) -> list[str]:
    return [r.headers["Authorization"] for r in proxy.requests if "Authorization" in r.headers]


def _basic_gate(r: ProxyRequest) -> Reply | None:
    """A registry that wants Basic credentials and records every Authorization it is sent."""
    if "Authorization" not in r.headers:
        return Reply(401, [("WWW-Authenticate", 'Basic realm="mirror"'), ("Content-Type", "application/json")],
                     b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    return None


def test_case_49_flag_credentials_never_reach_a_mirror(guard: Guard, pushed: RegistryServer, tmp_path: Path) -> None:
    """`--src-creds` / `--src-registry-token` are for the logical registry only (containers/
    image `newImageSourceAttempt`); a mirror on another host uses its own auth-file entry."""
    with FaultProxy(pushed.url) as mirror, FaultProxy(pushed.url) as logical:
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nlocation = "{logical.host}"\ninsecure = true\n'
            f'[[registry.mirror]]\nlocation = "{mirror.host}"\ninsecure = true\n'
        )
        mirror.rule = _basic_gate
        logical.rule = _basic_gate
        src = f"docker://{logical.host}/corpus/hosts:v1"
        # Flag credentials: the mirror asks for credentials and gets none; the logical
        # registry (tried next) gets them, and the copy succeeds there.
        result = guard.run_skopo("--insecure-policy", "--registries-conf", conf, "copy", "-q", PLAIN,
                                 "--src-creds", FLAG_CREDS, src, f"dir:{tmp_path / 'out1'}")
        assert result.returncode == 0, result.stderr
        assert _basic(FLAG_CREDS) not in _authorizations(mirror), _authorizations(mirror)
        assert _basic(FLAG_CREDS) in _authorizations(logical)
        # A bearer token given by flag: same.
        mirror.requests.clear()
        bearer = Reply(401, [("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:9/token",service="m"')])
        mirror.rule = lambda r: bearer if "Authorization" not in r.headers else None
        result = guard.run_skopo("--insecure-policy", "--registries-conf", conf, "copy", "-q", PLAIN,
                                 "--src-registry-token", "flag-token", src, f"dir:{tmp_path / 'out2'}")
        assert not any("flag-token" in a for a in _authorizations(mirror)), _authorizations(mirror)
        # The mirror's own auth-file entry is used for the mirror.
        mirror.requests.clear()
        mirror.rule = _basic_gate
        authfile = tmp_path / "auth.json"
        entry = {"auth": base64.b64encode(MIRROR_CREDS.encode()).decode()}
        authfile.write_text(json.dumps({"auths": {mirror.host: entry}}))
        logical.requests.clear()
        result = guard.run_skopo("--insecure-policy", "--registries-conf", conf, "copy", "-q", PLAIN,
                                 "--src-authfile", authfile, src, f"dir:{tmp_path / 'out3'}")
        assert result.returncode == 0, result.stderr
        assert _basic(MIRROR_CREDS) in _authorizations(mirror)
        assert logical.requests == [], "the mirror served the image"
    assert snapshot(guard.root) == guard.before


def test_case_49_upload_location_on_another_host_gets_no_credentials(guard: Guard, pushed: RegistryServer) -> None:
    """A registry that sends uploads to another host: that host never sees our credentials
    (the upload then fails there, cleanly, or succeeds anonymously)."""
    with FaultProxy(pushed.url) as front, FaultProxy(pushed.url) as other:
        def rule(r: ProxyRequest) -> Reply | None:
            gate = _basic_gate(r)
            if gate is not None:
                return gate
            if r.method == "POST" and "/blobs/uploads/" in r.path:
                return Reply(202, [("Location", f"{other.url}/v2/corpus/up/blobs/uploads/x?state=1"),
                                   ("Content-Length", "0")])
            return None
        front.rule = rule
        result = guard.run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                                 "--dest-creds", FLAG_CREDS, guard.ref, f"docker://{front.host}/corpus/up:v1")
        assert _basic(FLAG_CREDS) in _authorizations(front)
        assert other.requests, "the upload Location was followed"
        assert _authorizations(other) == [], _authorizations(other)
        if result.returncode != 0:
            guard.check(result)


def test_case_50_tag_list_past_its_page_cap(guard: Guard, pushed: RegistryServer) -> None:
    """More than 1000 tag pages: an error naming the cap, not a silently truncated list."""
    calls: list[int] = []

    def endless(r: ProxyRequest) -> Reply | None:
        if "/tags/list" not in r.path:
            return None
        calls.append(1)
        n = len(calls)
        page = {"name": "corpus/hosts", "tags": [f"t{n}"]}
        return Reply(200, [("Content-Type", "application/json"),
                           ("Link", f'</v2/corpus/hosts/tags/list?n=1&last=t{n}>; rel="next"')],
                     json.dumps(page).encode())

    with FaultProxy(pushed.url) as proxy:
        proxy.rule = endless
        result = guard.run_skopo("list-tags", "--tls-verify=false", f"docker://{proxy.host}/corpus/hosts", timeout=300)
        assert_clean_error(result, match="more than 1000 pages")
        assert result.stdout == b""
        assert len(calls) == 1000


def _bearer_front(proxy: FaultProxy, realm: str, token_reply: Reply | None = None) -> None:
    def rule(r: ProxyRequest) -> Reply | None:
        if r.path.startswith("/token") and token_reply is not None:
            return token_reply
        if "Authorization" not in r.headers:
            return Reply(401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="reg"')])
        return None
    proxy.rule = rule


@pytest.mark.parametrize("realm", ["http://[::1/token", "http://[zz::1]/token", "http://127.0.0.1:99999/token",
                                   "http://127.0.0.1:x/token", "http://[::1]:-1/token"])
def test_case_51_malformed_token_realm(guard: Guard, pushed: RegistryServer, realm: str) -> None:
    with FaultProxy(pushed.url) as proxy:
        _bearer_front(proxy, realm)
        line = guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/hosts:v1"))
        assert "internal error" not in line and proxy.host in line, line


@pytest.mark.parametrize("token", ["t\u00f6k\u2603n", "tok\r\nX-Injected: 1", "tok\u0000en"])
def test_case_52_token_with_characters_no_header_can_carry(guard: Guard, pushed: RegistryServer, token: str) -> None:
    with FaultProxy(pushed.url) as proxy:
        body = json.dumps({"token": token}).encode()
        _bearer_front(proxy, f"{proxy.url}/token", Reply(200, [("Content-Type", "application/json")], body))
        line = guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/hosts:v1"))
        assert "internal error" not in line and proxy.host in line, line
        assert not any("X-Injected" in r.headers for r in proxy.requests)


@pytest.mark.parametrize("location", ["http://[::1/v2/x", "http://[zz::1]/v2/x", "http://127.0.0.1:99999/v2/x",
                                      "http://127.0.0.1:x/v2/x"])
def test_case_53_malformed_upload_location(guard: Guard, pushed: RegistryServer, tmp_path: Path,
                                           location: str) -> None:
    with FaultProxy(pushed.url) as proxy:
        proxy.rule = lambda r: (Reply(202, [("Location", location), ("Content-Length", "0")])
                                if r.method == "POST" and "/blobs/uploads/" in r.path else None)
        result = guard.run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", guard.ref,
                                 f"docker://{proxy.host}/corpus/upload:v1")
        line = guard.check(result)
        assert "internal error" not in line and proxy.host in line, line


def test_case_54_header_blocks_python_refuses(guard: Guard, pushed: RegistryServer, tmp_path: Path) -> None:
    """Many headers (skopeo/Go accept them: harmless) are accepted; a header line longer
    than any sane server sends is a clean error naming the registry."""
    many = [(f"X-Filler-{i}", "x") for i in range(150)]
    with FaultProxy(pushed.url) as proxy:
        from helpers.fault_proxy import Forward

        proxy.rule = lambda r: Forward(extra_headers=many)
        result = guard.run_skopo("--insecure-policy", "copy", "-q", PLAIN, f"docker://{proxy.host}/corpus/hosts:v1",
                                 f"dir:{tmp_path / 'many'}")
        assert result.returncode == 0, result.stderr
        proxy.rule = lambda r: Forward(extra_headers=[("X-Long", "y" * (200 << 10))])
        line = guard.check(guard.copy(PLAIN, f"docker://{proxy.host}/corpus/hosts:v1"))
        assert "internal error" not in line and proxy.host in line, line
