"""Registry authentication: challenges, Basic, Bearer tokens, a static registry token
(containers/image `docker/docker_client.go` auth half; go-containerregistry
`pkg/v1/remote/transport`).

The handshake (ggcr's `transport.go` order):
1. The client pings (`GET /v2/`); a 401 carries `WWW-Authenticate` challenges, parsed by
   `parse_challenges` (RFC 7235; hostile input is skipped, never raised on).
2. `authorizer_for(challenges, credentials, ctx, ...)` picks one `Authorizer` from the
   first challenge whose scheme it knows, as containers/image `setupRequestAuth` does:
   - `bearer`: `StaticToken` when `ctx.registry_token` (`--registry-token`) is set, sent
     verbatim; else `BearerAuth`, which gets a token from the challenge's realm;
   - `basic`: `BasicAuth` when the credentials have a user name, else `Anonymous`;
   - no known scheme, or no challenge at all: `Anonymous`.
3. Every request asks `header_for(url)` for its `Authorization` value, at each redirect
   hop; a URL off the registry's origin gets none.
4. A 401 on a request without a body is shown to `on_challenge(challenges)`; True means
   send it once more: a bearer `insufficient_scope` named a scope the authorizer had not
   asked for, and that scope is now requested too.

An authorizer serves one request (and its retries): the scope it adds in step 4 is not
kept for later requests. `BearerAuth` tokens are shared through a `TokenCache`, which
the client's host link owns, so every client of a host in a process reuses them.

Safety rules enforced here (security.md rows 2, 8-10, 12):
- `Authorization` goes only to URLs on the registry's own origin (scheme, host and port):
  any redirect hop elsewhere carries no credentials and no token;
- the token realm must be http(s) with a host, must be https when the registry is, must
  not be a link-local, unspecified or multicast address, and may be loopback only for a
  loopback registry (`check_realm`); the token request goes through the registry's own
  client (its TLS settings, redirect rules and proxies);
- Basic credentials go with the token GET only to the realm's origin (never to a hop
  elsewhere); an identity token is sent as a `refresh_token` grant in a POST body, with
  no `Authorization` header (a 307/308 redirect of that POST re-sends the body, as Go's
  client does for containers/image; https -> http is refused);
- token bodies are capped at 1 MiB, must be a JSON object with a non-empty `token` or
  `access_token` without CR/LF; `expires_in` is clamped to 60 s .. 24 h and a token is
  reused until 5 s before it expires;
- cached tokens are keyed by realm, service, the credentials (user, password, identity
  token) and the sorted scopes: a token is never reused for other credentials, another
  realm or service, or other scopes. One fetch at a time per cache, so parallel blob
  copies share one token.

Errors: `UnauthorizedError` when the token server refuses the credentials,
`RegistryError` for a refused realm or a bad token response, `TransientRegistryError`
for network failures (from the client).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from toolkit._lazy import lazy_pattern
from toolkit._record import field, record
from toolkit.errors import RegistryError, safe_text
from toolkit.limits import MAX_AUTH_TOKEN_SIZE
from toolkit.transports.docker._errors import UnauthorizedError
from toolkit.transports.docker._response import Response, error_from_response, read_limited_body
from toolkit.types import Credentials, SystemContext

__all__ = [
    "Challenge",
    "parse_challenges",
    "parse_one",
    "origin",
    "check_realm",
    "TokenCache",
    "Authorizer",
    "Anonymous",
    "BasicAuth",
    "StaticToken",
    "BearerAuth",
    "authorizer_for",
    "Send",
    "MIN_TOKEN_LIFETIME",
]

#: Bounds, in seconds, of the lifetime a token is trusted for, whatever `expires_in` says
#: (the lower one is containers/image's `minimumTokenLifetimeSeconds`).
MIN_TOKEN_LIFETIME = 60
MAX_TOKEN_LIFETIME = 24 * 3600
#: A cached token is dropped this many seconds before it expires.
_TOKEN_MARGIN = 5
_MAX_TOKENS = 256
_MAX_HEADER = 8192
_MAX_PARAMS = 32
_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

#: The client's request sender: `send(method, url, headers, data, authorization)` follows
#: redirects itself and asks `authorization(url)` for each hop's `Authorization`.
Send = Callable[[str, str, Mapping[str, str], Any, Callable[[str], str | None]], Response]


# ---------------------------------------------------------------- challenges (RFC 7235)


@record
class Challenge:
    """One auth challenge: `scheme` ("basic", "bearer", ...) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def token(self) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _TCHAR:
            self.i += 1
        return self.s[start : self.i]

    def token68(self) -> str:
        start = self.i
        while self.i < len(self.s) and (self.s[self.i] in _TCHAR or self.s[self.i] in "/="):
            self.i += 1
        return self.s[start : self.i]

    def quoted(self) -> str | None:
        # At an opening quote.
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
                continue
            if c == '"':
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        return None  # unterminated


def _is_param_ahead(lex: _Lexer) -> bool:
    """True if the lexer is at `token =` (a parameter, not a new challenge)."""
    save = lex.i
    name = lex.token()
    lex.skip_ws()
    ok = bool(name) and lex.peek() == "="
    lex.i = save
    return ok


def parse_one(value: str) -> list[Challenge]:
    """All challenges in one header value."""
    lex = _Lexer(value[:_MAX_HEADER])
    out: list[Challenge] = []
    while True:
        while lex.peek() in (" ", "\t", ","):
            lex.i += 1
        if not lex.peek():
            return out
        scheme = lex.token()
        if not scheme:
            # Garbage: skip to the next comma.
            while lex.peek() and lex.peek() != ",":
                lex.i += 1
            continue
        params: dict[str, str] = {}
        lex.skip_ws()
        # token68 form (e.g. "Negotiate abc=="): not used by registries; skip it.
        if lex.peek() and lex.peek() != "," and not _is_param_ahead(lex):
            lex.token68()
        while True:
            lex.skip_ws()
            while lex.peek() == ",":
                lex.i += 1
                lex.skip_ws()
            if not lex.peek() or not _is_param_ahead(lex):
                break
            name = lex.token().lower()
            lex.skip_ws()
            lex.i += 1  # "="
            lex.skip_ws()
            if lex.peek() == '"':
                val = lex.quoted()
                if val is None:
                    break
            else:
                val = lex.token()
            if len(params) < _MAX_PARAMS and name not in params:
                params[name] = val
        out.append(Challenge(scheme.lower(), params))


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in every `WWW-Authenticate` header value."""
    out: list[Challenge] = []
    for value in values:
        out.extend(parse_one(value))
    return out


# ---------------------------------------------------------------- origins and realms


#: What no request line can carry (checked after `isascii`): controls, space, DEL.
_UNSENDABLE = lazy_pattern(r"[\x00-\x20\x7f]")  # token realms only


def check_url(url: str, what: str) -> None:
    """Refuse a URL a registry sent (a token realm, a redirect, an upload `Location`) that
    Python's URL and HTTP code would choke on: a malformed IPv6 host, a port that is not
    a number in 0-65535, characters no request line can carry. `RegistryError` naming
    `what` (the registry), never a bare `ValueError`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise RegistryError(f"invalid URL {safe_text(url, 200)!r} from {what}: {exc}") from exc
    if not url.isascii() or _UNSENDABLE().search(url):
        raise RegistryError(f"invalid URL {safe_text(url, 200)!r} from {what}: characters a request cannot carry")


@functools.lru_cache(maxsize=256)
def origin(url: str) -> tuple[str, str, int]:
    """`(scheme, host, port)` of `url`, lower-cased, the port defaulted by scheme
    (a URL that `check_url` refuses raises `RegistryError`, and is not remembered).

    Cached: every request asks it of the same URL several times (its authorizer, its proxy
    lookup), and the answer is a pure function of the string."""
    check_url(url, "the registry")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def check_realm(realm: str, registry_url: str) -> None:
    """Refuse a token realm the registry at `registry_url` (`scheme://host[:port]`) must
    not send us to (rules in the module docstring). Raises `RegistryError`."""
    host = urlsplit(registry_url).netloc
    check_url(realm, f"{host} (token realm)")
    parts = urlsplit(realm)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"invalid token realm {safe_text(realm, 200)!r} from {host}")
    if scheme == "http" and urlsplit(registry_url).scheme == "https":
        raise RegistryError(
            f"refusing token realm {safe_text(realm, 200)}: the registry {host} uses https, the realm does not"
        )
    try:
        address = ipaddress.ip_address(parts.hostname.strip("[]"))
    except ValueError:
        return
    if address.is_link_local or address.is_unspecified or address.is_multicast:
        raise RegistryError(f"refusing token realm {safe_text(realm, 200)}: link-local or reserved address")
    registry_hostname = urlsplit(registry_url).hostname or ""
    try:
        registry_is_loopback = ipaddress.ip_address(registry_hostname.strip("[]")).is_loopback
    except ValueError:
        registry_is_loopback = registry_hostname == "localhost"
    if address.is_loopback and not registry_is_loopback:
        raise RegistryError(f"refusing token realm {safe_text(realm, 200)}: loopback realm for a remote registry")


# ---------------------------------------------------------------- token cache


@record
class _Token:
    value: str
    expires: float


class TokenCache:
    """Bearer tokens by key (realm, service, credentials, scopes), until shortly before
    they expire. Thread-safe; one fetch at a time, so concurrent askers for one key
    share a single token request. At most `_MAX_TOKENS` entries (then it starts over).

    `clock` gives the time in seconds (`time.time`; tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[Any, ...], _Token] = {}

    def get(self, key: tuple[Any, ...], fetch: Callable[[], tuple[str, int]]) -> str:
        """The cached token for `key`, or `fetch()`'s `(token, lifetime seconds)`, cached."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires > self._clock():
                return cached.value
            value, lifetime = fetch()
            if len(self._tokens) >= _MAX_TOKENS:
                self._tokens.clear()
            self._tokens[key] = _Token(value, self._clock() + lifetime - _TOKEN_MARGIN)
            return value


# ---------------------------------------------------------------- authorizers


def _basic_value(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")


def _insufficient_scope(challenges: Iterable[Challenge]) -> str | None:
    """The scope a bearer `insufficient_scope` challenge asks for (None if none, or absurd)."""
    for challenge in challenges:
        if challenge.scheme == "bearer" and challenge.params.get("error") == "insufficient_scope":
            scope = challenge.params.get("scope", "")
            if scope and len(scope) < 512:
                return scope
    return None


class Authorizer:
    """How one request to a registry is authenticated (see the module docstring).

    `registry_url` is the registry's `scheme://host[:port]`; `scopes` the token scopes
    the request needs (`repository:<repo>:<actions>`). Subclasses give `_value()`.
    """

    def __init__(self, registry_url: str, scopes: Sequence[str]) -> None:
        self._registry_url = registry_url
        self._origin = origin(registry_url)
        self.scopes: tuple[str, ...] = tuple(scopes)
        self._scope_retried = False

    def header_for(self, url: str) -> str | None:
        """The `Authorization` value for a request to `url`; None for a URL off the
        registry's origin, or when there is nothing to send."""
        if origin(url) != self._origin:
            return None
        return self._value()

    def _value(self) -> str | None:
        return None

    def on_challenge(self, challenges: Sequence[Challenge]) -> bool:
        """The challenges of a 401: True if the request should be sent once more, because
        a bearer `insufficient_scope` named a scope not yet asked for (now added). At
        most once per authorizer."""
        if self._scope_retried:
            return False
        extra = _insufficient_scope(challenges)
        if extra is None or extra in self.scopes:
            return False
        self._scope_retried = True
        self.scopes = (*self.scopes, extra)
        return True


class Anonymous(Authorizer):
    """No `Authorization` at all."""


class BasicAuth(Authorizer):
    """`Authorization: Basic` with the credentials' user name and password."""

    def __init__(self, registry_url: str, scopes: Sequence[str], credentials: Credentials) -> None:
        super().__init__(registry_url, scopes)
        self._header = _basic_value(credentials)

    def _value(self) -> str | None:
        return self._header


class StaticToken(Authorizer):
    """`Authorization: Bearer <token>` with a token given by the user (`--registry-token`):
    no token request is ever made."""

    def __init__(self, registry_url: str, scopes: Sequence[str], token: str) -> None:
        super().__init__(registry_url, scopes)
        self._header = f"Bearer {token}"

    def _value(self) -> str | None:
        return self._header


class BearerAuth(Authorizer):
    """`Authorization: Bearer <token>` with a token fetched from the challenge's realm
    for the request's scopes, through `tokens` (shared) and `send` (the client's)."""

    def __init__(
        self,
        registry_url: str,
        scopes: Sequence[str],
        challenge: Challenge,
        credentials: Credentials | None,
        tokens: TokenCache,
        send: Send,
    ) -> None:
        super().__init__(registry_url, scopes)
        self._challenge = challenge
        self._credentials = credentials
        self._tokens = tokens
        self._send = send

    def _value(self) -> str | None:
        return f"Bearer {self.token()}"

    def token(self) -> str:
        """A token for the current scopes: cached, or fetched now (see `TokenCache`)."""
        scopes = tuple(sorted(set(self.scopes)))
        creds = self._credentials
        key = (
            self._challenge.params.get("realm", ""),
            self._challenge.params.get("service", ""),
            (creds.username, creds.password, creds.identity_token) if creds is not None else None,
            scopes,
        )
        return self._tokens.get(key, lambda: self._fetch(scopes))

    def _fetch(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        """Ask the realm for a token: `(token, lifetime seconds)`."""
        realm = self._challenge.params.get("realm", "")
        check_realm(realm, self._registry_url)
        service = self._challenge.params.get("service", "")
        creds = self._credentials
        realm_origin = origin(realm)
        basic: str | None = None
        if creds is not None and creds.username and not creds.identity_token:
            basic = _basic_value(creds)

        def authorization(url: str) -> str | None:
            return basic if basic and origin(url) == realm_origin else None

        what = f"requesting a token from {safe_text(realm, 200)}"
        if creds is not None and creds.identity_token:
            form: list[tuple[str, str]] = [
                ("grant_type", "refresh_token"),
                ("refresh_token", creds.identity_token),
                ("client_id", "containers/image"),
            ]
            if service:
                form.append(("service", service))
            if scopes:
                form.append(("scope", " ".join(scopes)))
            resp = self._send(
                "POST",
                realm,
                {"Content-Type": "application/x-www-form-urlencoded"},
                urlencode(form).encode(),
                lambda _: None,
            )
        else:
            params: list[tuple[str, str]] = []
            if creds is not None and creds.username:
                params.append(("account", creds.username))
            if service:
                params.append(("service", service))
            params.extend(("scope", s) for s in scopes)
            sep = "&" if urlsplit(realm).query else "?"
            url = realm + (sep + urlencode(params) if params else "")
            resp = self._send("GET", url, {}, None, authorization)
        if resp.status_code == 401:
            err = error_from_response(resp, what)
            raise UnauthorizedError(f"unable to retrieve auth token: invalid username/password: {err}")
        if resp.status_code != 200:
            raise error_from_response(resp, what)
        body = read_limited_body(resp, MAX_AUTH_TOKEN_SIZE, "token response")
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise RegistryError(f"{what}: the token server answered invalid JSON") from exc
        if not isinstance(doc, dict):
            raise RegistryError(f"{what}: the token server answered invalid JSON")
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{what}: no token in the response")
        # Go's net/http would refuse such a header value too; never a UnicodeEncodeError.
        if not token.isascii() or not token.isprintable() or " " in token:
            raise RegistryError(f"{what}: the token holds characters an HTTP header cannot carry")
        expires_in = doc.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else 0
        return token, min(max(lifetime, MIN_TOKEN_LIFETIME), MAX_TOKEN_LIFETIME)


def authorizer_for(
    challenges: Sequence[Challenge],
    credentials: Credentials | None,
    ctx: SystemContext,
    *,
    registry_url: str,
    scopes: Sequence[str],
    tokens: TokenCache,
    send: Send,
) -> Authorizer:
    """The authorizer for a request to the registry at `registry_url` that answered its
    ping with `challenges`: the first `bearer` or `basic` challenge decides (step 2 of
    the module docstring)."""
    for challenge in challenges:
        if challenge.scheme == "bearer":
            if ctx.registry_token:
                return StaticToken(registry_url, scopes, ctx.registry_token)
            return BearerAuth(registry_url, scopes, challenge, credentials, tokens, send)
        if challenge.scheme == "basic":
            if credentials is not None and credentials.username:
                return BasicAuth(registry_url, scopes, credentials)
            return Anonymous(registry_url, scopes)
    return Anonymous(registry_url, scopes)
