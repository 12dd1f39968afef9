"""`docker/_auth.py`: WWW-Authenticate parsing, which authorizer a challenge picks, what
each one sends where, the realm rules, and the bearer token cache (sharing, keys, expiry),
against the test token issuer (a real HTTP token server) and the fault proxy for hostile
redirects."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.fault_proxy import FaultProxy, ProxyRequest, Reply
from helpers.token_issuer import SERVICE, TokenIssuer, start_token_issuer
from toolkit.errors import RegistryError
from toolkit.transports.docker._auth import (
    MIN_TOKEN_LIFETIME,
    Anonymous,
    Authorizer,
    BasicAuth,
    BearerAuth,
    Challenge,
    StaticToken,
    TokenCache,
    authorizer_for,
    check_realm,
    check_url,
    origin,
    parse_challenges,
)
from toolkit.transports.docker._client import RegistryClient
from toolkit.transports.docker._errors import UnauthorizedError
from toolkit.types import Credentials, OptionalBool, SystemContext

REGISTRY = "http://127.0.0.1:5000"
BOB = Credentials(username="bob", password="hunter2")
SCOPES = ("repository:a/b:pull",)


class Clock:
    """A settable clock for `TokenCache`."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def choose(header: str, creds: Credentials | None = BOB, *, registry_token: str = "") -> Authorizer:
    return authorizer_for(
        parse_challenges([header] if header else []),
        creds,
        SystemContext(registry_token=registry_token),
        registry_url=REGISTRY,
        scopes=SCOPES,
        tokens=TokenCache(),
        send=_no_send,
    )


def _no_send(*args: object) -> object:
    raise AssertionError("no request expected")


# ---------------------------------------------------------------- challenges


def test_www_authenticate_parsing() -> None:
    challenges = parse_challenges(
        ['Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"',
         'Basic realm="x", Bearer realm="r2", error="insufficient_scope"']
    )
    assert [c.scheme for c in challenges] == ["bearer", "basic", "bearer"]
    assert challenges[0].params == {
        "realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"
    }
    assert challenges[2].params["error"] == "insufficient_scope"
    # Hostile input never raises and stays bounded.
    for junk in ['Bearer realm="unterminated', ",,,", "=", "Bearer " + "a=b," * 10000, '"\\', "\x00\x1b"]:
        parse_challenges([junk])
    assert parse_challenges(['Bearer realm="a\\"b"'])[0].params["realm"] == 'a"b'


# ---------------------------------------------------------------- which authorizer


@pytest.mark.parametrize(
    ("header", "creds", "registry_token", "expected"),
    [
        ("", BOB, "", Anonymous),
        ('Basic realm="r"', BOB, "", BasicAuth),
        ('Basic realm="r"', None, "", Anonymous),
        ('Basic realm="r"', Credentials(identity_token="rt"), "", Anonymous),
        ('Bearer realm="https://auth/token"', BOB, "", BearerAuth),
        ('Bearer realm="https://auth/token"', None, "", BearerAuth),
        ('Bearer realm="https://auth/token"', BOB, "tok", StaticToken),
        ('Basic realm="r"', BOB, "tok", BasicAuth),
        ('Negotiate abc==, Basic realm="r"', BOB, "", BasicAuth),
        ('Basic realm="r", Bearer realm="https://auth/token"', BOB, "", BasicAuth),
        ('Bearer realm="https://auth/token", Basic realm="r"', BOB, "", BearerAuth),
        ("Negotiate abc==", BOB, "", Anonymous),
    ],
)
def test_first_known_challenge_picks_the_authorizer(
    header: str, creds: Credentials | None, registry_token: str, expected: type[Authorizer]
) -> None:
    assert type(choose(header, creds, registry_token=registry_token)) is expected


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:5000/v2/",  # another scheme
        "http://127.0.0.1:5001/v2/",  # another port
        "http://127.0.0.2:5000/v2/",  # another host
        "http://localhost:5000/v2/",  # the same machine by another name is another origin
        "http://evil.example/v2/?http://127.0.0.1:5000",
    ],
)
def test_nothing_is_sent_off_the_registry_origin(url: str) -> None:
    for auth in (choose('Basic realm="r"'), choose('Bearer realm="x"', registry_token="tok")):
        assert auth.header_for(url) is None
    # A bearer authorizer does not even fetch a token for such a URL (`_no_send` would raise).
    assert choose('Bearer realm="http://127.0.0.1:9/token"').header_for(url) is None


@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", " ", "\x1f", "\x7f", "é"])
def test_urls_with_characters_no_request_can_carry_are_refused(char: str) -> None:
    url = f"http://127.0.0.1:5000/v2/a{char}b/blobs/uploads/"
    with pytest.raises(RegistryError, match="characters a request cannot carry"):
        check_url(url, "the registry")
    for _ in range(2):  # a refused URL is refused every time (never remembered as good)
        with pytest.raises(RegistryError):
            origin(url)


def test_origin_is_the_same_answer_each_time() -> None:
    assert origin("HTTP://Example.COM/v2/") == ("http", "example.com", 80)
    assert origin("HTTP://Example.COM/v2/") == ("http", "example.com", 80)
    assert origin("https://[::1]:8443/x") == ("https", "::1", 8443)
    check_url("http://127.0.0.1:5000/v2/a~b_c-d.e/manifests/sha256:00?n=1&last=x", "the registry")
    with pytest.raises(RegistryError, match="invalid URL"):
        origin("http://127.0.0.1:99999/v2/")


def test_basic_and_static_values() -> None:
    basic = choose('Basic realm="r"', Credentials(username="bob", password="p:w é"))
    value = basic.header_for(REGISTRY + "/v2/a/b/manifests/latest")
    assert value is not None and value.startswith("Basic ")
    assert base64.b64decode(value[6:]).decode() == "bob:p:w é"
    # The default port is the same origin.
    assert choose('Basic realm="r"').header_for("HTTP://127.0.0.1:5000/v2/") is not None
    static = choose('Bearer realm="x"', registry_token="verbatim-token")
    assert static.header_for(REGISTRY + "/v2/") == "Bearer verbatim-token"
    assert choose("").header_for(REGISTRY + "/v2/") is None


def test_insufficient_scope_is_retried_once_with_the_new_scope() -> None:
    auth = choose('Basic realm="r"')
    other = parse_challenges(['Bearer realm="x",error="invalid_token"'])
    assert not auth.on_challenge(other)
    already = parse_challenges([f'Bearer realm="x",error="insufficient_scope",scope="{SCOPES[0]}"'])
    assert not auth.on_challenge(already)
    huge = parse_challenges([f'Bearer realm="x",error="insufficient_scope",scope="{"s" * 600}"'])
    assert not auth.on_challenge(huge)
    wider = parse_challenges(['Bearer realm="x",error="insufficient_scope",scope="repository:c/d:pull"'])
    assert auth.on_challenge(wider)
    assert auth.scopes == (*SCOPES, "repository:c/d:pull")
    again = parse_challenges(['Bearer realm="x",error="insufficient_scope",scope="repository:e/f:pull"'])
    assert not auth.on_challenge(again)
    assert auth.scopes == (*SCOPES, "repository:c/d:pull")


# ---------------------------------------------------------------- realm rules


@pytest.mark.parametrize(
    ("realm", "registry_url"),
    [
        ("https://auth.example.com/token", "https://registry.example.com"),
        ("https://auth.example.com/token?x=1", "http://registry.example.com"),
        ("http://auth.example.com/token", "http://registry.example.com"),
        ("http://127.0.0.1:9/token", "http://127.0.0.1:5000"),
        ("http://[::1]:9/token", "http://localhost:5000"),
        ("https://10.0.0.1/token", "https://registry.example.com"),
    ],
)
def test_realm_allowed(realm: str, registry_url: str) -> None:
    check_realm(realm, registry_url)


@pytest.mark.parametrize(
    ("realm", "registry_url", "match"),
    [
        ("ftp://auth.example.com/token", "https://r.example.com", "invalid token realm"),
        ("file:///etc/passwd", "https://r.example.com", "invalid token realm"),
        ("https:///token", "https://r.example.com", "invalid token realm"),
        ("", "https://r.example.com", "invalid token realm"),
        ("http://auth.example.com/token", "https://r.example.com", "uses https, the realm does not"),
        ("http://169.254.169.254/latest/meta-data", "http://r.example.com", "link-local"),
        ("https://[fe80::1]/token", "https://r.example.com", "link-local"),
        ("https://0.0.0.0/token", "https://r.example.com", "link-local or reserved"),
        ("https://224.0.0.1/token", "https://r.example.com", "link-local or reserved"),
        ("https://127.0.0.1/token", "https://r.example.com", "loopback realm for a remote registry"),
        ("https://[::1]/token", "https://10.1.2.3", "loopback realm for a remote registry"),
    ],
)
def test_realm_refused(realm: str, registry_url: str, match: str) -> None:
    with pytest.raises(RegistryError, match=match):
        check_realm(realm, registry_url)


# ---------------------------------------------------------------- bearer tokens, for real


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[TokenIssuer]:
    users = {"bob": "hunter2", "alice": "pw"}
    server = start_token_issuer(tmp_path / "issuer", users=users, refresh_tokens={"rt-1": "bob"})
    yield server
    server.stop()


@pytest.fixture
def client(tmp_path: Path) -> RegistryClient:
    """Only its request sender is used: the token requests go through the registry's client."""
    ctx = SystemContext(tls_verify=OptionalBool.FALSE, auth_file_path=tmp_path / "none.json")
    return RegistryClient(ctx, "127.0.0.1:5000", use_credentials=False)


def bearer(
    client: RegistryClient,
    realm: str,
    creds: Credentials | None,
    tokens: TokenCache,
    *,
    scopes: tuple[str, ...] = SCOPES,
    service: str = SERVICE,
) -> BearerAuth:
    challenge = Challenge("bearer", {"realm": realm, "service": service})
    return BearerAuth(REGISTRY, scopes, challenge, creds, tokens, client._follow)


def test_token_is_cached_until_shortly_before_it_expires(issuer: TokenIssuer, client: RegistryClient) -> None:
    clock = Clock()
    tokens = TokenCache(clock)
    auth = bearer(client, issuer.realm, BOB, tokens)
    first = auth.header_for(REGISTRY + "/v2/a/b/manifests/v1")
    assert first is not None and first.startswith("Bearer ")
    assert auth.header_for(REGISTRY + "/v2/a/b/blobs/sha256:" + "0" * 64) == first
    assert [(r.account, r.scopes, r.basic_auth) for r in issuer.requests] == [("bob", list(SCOPES), True)]
    clock.now += issuer.expires_in - 6
    assert auth.header_for(REGISTRY + "/v2/") == first
    assert len(issuer.requests) == 1
    clock.now += 2  # within the last 5 s of its lifetime: refreshed
    second = auth.header_for(REGISTRY + "/v2/")
    assert len(issuer.requests) == 2
    assert second is not None and second != first


@pytest.mark.parametrize(
    ("expires_in", "trusted"), [(1, MIN_TOKEN_LIFETIME), (-50, MIN_TOKEN_LIFETIME), (10**9, 24 * 3600)]
)
def test_token_lifetime_is_clamped(
    issuer: TokenIssuer, client: RegistryClient, expires_in: int, trusted: int
) -> None:
    issuer.expires_in = expires_in
    clock = Clock()
    auth = bearer(client, issuer.realm, None, TokenCache(clock))
    auth.token()
    clock.now += trusted - 6
    auth.token()
    assert len(issuer.requests) == 1
    clock.now += 2
    auth.token()
    assert len(issuer.requests) == 2


def test_tokens_are_shared_only_for_the_same_credentials_realm_service_and_scopes(
    issuer: TokenIssuer, client: RegistryClient
) -> None:
    tokens = TokenCache()
    bob = bearer(client, issuer.realm, BOB, tokens).token()
    # Another client's authorizer with equal credentials shares the token.
    assert bearer(client, issuer.realm, Credentials(username="bob", password="hunter2"), tokens).token() == bob
    assert len(issuer.requests) == 1
    others = [
        bearer(client, issuer.realm, None, tokens),
        bearer(client, issuer.realm, Credentials(username="alice", password="pw"), tokens),
        bearer(client, issuer.realm, BOB, tokens, scopes=("repository:a/b:pull,push",)),
        bearer(client, issuer.realm, BOB, tokens, service="another-service"),
        bearer(client, issuer.realm + "?x=1", BOB, tokens),
    ]
    assert all(auth.token() != bob for auth in others)
    assert [r.account for r in issuer.requests] == ["bob", None, "alice", "bob", "bob", "bob"]


def test_wider_scope_after_a_challenge_gets_its_own_token(issuer: TokenIssuer, client: RegistryClient) -> None:
    auth = bearer(client, issuer.realm, BOB, TokenCache())
    auth.token()
    challenge = parse_challenges(['Bearer realm="x",error="insufficient_scope",scope="repository:c/d:pull"'])
    assert auth.on_challenge(challenge)
    auth.token()
    assert [r.scopes for r in issuer.requests] == [list(SCOPES), ["repository:a/b:pull", "repository:c/d:pull"]]


def test_identity_token_uses_the_refresh_grant_without_basic(issuer: TokenIssuer, client: RegistryClient) -> None:
    auth = bearer(client, issuer.realm, Credentials(identity_token="rt-1"), TokenCache())
    assert auth.token()
    [request] = issuer.requests
    assert (request.method, request.grant_type, request.basic_auth) == ("POST", "refresh_token", False)
    assert request.scopes == [" ".join(SCOPES)]


def test_refused_credentials(issuer: TokenIssuer, client: RegistryClient) -> None:
    auth = bearer(client, issuer.realm, Credentials(username="bob", password="wrong"), TokenCache())
    with pytest.raises(UnauthorizedError, match="invalid username/password"):
        auth.header_for(REGISTRY + "/v2/")


def test_credentials_never_follow_the_realm_elsewhere(issuer: TokenIssuer, client: RegistryClient) -> None:
    """The realm redirects the token request to another origin (the issuer, on another
    port): the realm got Basic credentials, the other origin none (it hands out an
    anonymous token)."""
    with FaultProxy(issuer.url) as realm:

        def redirect(r: ProxyRequest) -> Reply:
            return Reply(307, [("Location", issuer.url + r.path)])

        realm.rule = redirect
        auth = bearer(client, f"{realm.url}/token", BOB, TokenCache())
        assert auth.token()
        assert [r.headers.get("Authorization", "").split(" ")[0] for r in realm.requests] == ["Basic"]
        assert [(r.account, r.basic_auth) for r in issuer.requests] == [("bob", False)]


def test_refused_realm_gets_no_request(issuer: TokenIssuer, client: RegistryClient) -> None:
    auth = bearer(client, "http://169.254.169.254/token", BOB, TokenCache())
    with pytest.raises(RegistryError, match="link-local"):
        auth.header_for(REGISTRY + "/v2/")
    challenge = Challenge("bearer", {"realm": issuer.realm})
    https_registry = BearerAuth("https://127.0.0.1:5000", SCOPES, challenge, BOB, TokenCache(), client._follow)
    with pytest.raises(RegistryError, match="uses https"):
        https_registry.header_for("https://127.0.0.1:5000/v2/")
    assert issuer.requests == []
