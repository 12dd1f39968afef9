"""The registry HTTP client (containers/image `docker/docker_client.go`, hardened): TLS,
connection pooling, redirects and retries. How requests authenticate is `_auth`'s.

One `RegistryClient` talks to one registry host for one purpose (a set of token scopes).
Its TLS configuration belongs to that host only (never a global `verify=False`): the system
trust store plus the host's certs.d / `--cert-dir` `*.crt` CAs and client pairs, TLS 1.2 or
newer; verification is off only with `--tls-verify=false` or registries.conf
`insecure = true`, which also allow a fallback to plain HTTP when HTTPS fails at ping time.

Clients of the same host with the same TLS settings share a `_HostLink` for the life of the
process: the requests adapters (so pooled keep-alive connections), the ping result (60 s)
and the bearer `TokenCache` (`_auth`: keyed by realm, service, credentials and scopes). A
`sync` of many images, or a copy whose two ends are on one registry, therefore pings once
per host and fetches a token once per repository and user. Responses closed with a short
unread rest are drained so their connection returns to the pool (`_PooledResponse`).

Each request gets an `Authorizer` (`_auth.authorizer_for`, from the ping's challenges),
which gives the `Authorization` of every hop and decides on a 401's challenges.

Per request, the client skips work whose result it already knows, always with the result
requests and `http.client` would give: a plain path under the pinged base URL is not
parsed and re-quoted again (`_plain_url`), and each origin's connection pool is
remembered by the adapter. Proxies come from the environment (HTTP(S)_PROXY, NO_PROXY,
requests' rules) once per client and origin; `.netrc` is never read (no
`requests.Session`); trust is the SSL context's alone (see `_TLSAdapter.cert_verify`):
the system store, or certifi's bundle on a Python that has no system store
(`_system_store_missing`), plus the host's certs.d CAs.

Safety rules enforced here (security.md rows 2, 9, 11, 12, 18; corpus 34-42; the
credential and token rules are in `_auth`):
- redirects are followed by our own loop (`allow_redirects=False`, at most 10 hops), asking
  the authorizer for each hop's `Authorization` (none off the registry's origin);
  https -> http is refused; no cookies are kept;
- `Accept-Encoding: identity`; bodies are read raw (never decoded by the library), with
  size caps; `Content-Length` must be a single non-negative integer (`_response`);
- 429 is retried up to 5 attempts (Retry-After seconds or HTTP-date, capped at 60 s;
  else 2 s doubling), only for requests without a body or with a replayable one;
  connection errors and 502/503/504 are retried (3 attempts) only for GET/HEAD;
  a 401 `insufficient_scope` gets exactly one retry with the extra scope, never with a body;
- every read has an idle timeout (`SystemContext.registry_read_timeout`, default 60 s),
  and every connect, read and retry sleep ends at the command's deadline (`toolkit.deadline`,
  `--command-timeout`): a timeout past it is a `CommandTimeoutError`, which no retry, HTTP
  fallback or mirror takes for a network failure;
- connection refused, DNS and TLS failures are never retried (`_neterr.NetworkError`); the
  retries above are announced on stderr (`Failed, retrying in 1s ... (1/3). Error: ...`);
- with `--debug`, one line per HTTP request (method, URL with secret query values
  redacted, status, bytes, milliseconds); headers and bodies are never logged.

Errors: `TransientRegistryError` (a `RetryableError`: `--retry-times` re-runs the
operation) for network failures, 5xx, 429 and errcodes other than UNAUTHORIZED, DENIED,
NAME_UNKNOWN, MANIFEST_UNKNOWN; `UnauthorizedError` for refused credentials;
`RegistryError` otherwise. Server text in messages is always `safe_text`-escaped.
"""
from __future__ import annotations

import email.utils
import functools
import http.client
import json
import logging
import os
import random
import re
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.structures
import urllib3.exceptions
from requests.utils import get_environ_proxies, select_proxy

import toolkit
from toolkit import deadline
from toolkit.config.auth import describe_missing_credentials, lookup_credentials
from toolkit.config.certs import TLSFiles, tls_files_for_host
from toolkit.debuglog import debug_once
from toolkit.errors import CommandTimeoutError, ConfigError, RegistryError, ToolkitError, safe_text
from toolkit.transports._tls import apply_tls_details
from toolkit.transports.docker._auth import (
    Authorizer,
    Challenge,
    TokenCache,
    authorizer_for,
    check_url,
    origin,
    parse_challenges,
)
from toolkit.transports.docker._errors import TransientRegistryError
from toolkit.transports.docker._neterr import STAGE_RESPONSE, network_error, stage_of
from toolkit.transports.docker._response import Response, check_content_length, error_from_response, read_limited_body
from toolkit.types import Credentials, OptionalBool, SystemContext, TLSDetails

__all__ = [
    "RegistryClient",
    "check_auth",
    "scope_for",
    "registry_host",
    "DEFAULT_READ_TIMEOUT",
    "READ_TIMEOUT_ENV",
]

log = logging.getLogger(__name__)

#: Python's `http.client` refuses a response with more than 100 header lines; Go's
#: net/http (skopeo) counts bytes only (10 MiB), and a registry or proxy that adds many
#: headers is harmless. Allow 1000 (each line still at most 64 KiB, so a block is bounded);
#: beyond that, or a longer line, the request fails with a clean error naming the registry.
MAX_RESPONSE_HEADERS = 1000
http.client._MAXHEADERS = max(getattr(http.client, "_MAXHEADERS", 100), MAX_RESPONSE_HEADERS)  # type: ignore[attr-defined]

DEFAULT_READ_TIMEOUT = 60.0
#: Environment override of the idle-read timeout (seconds), for tests and slow links.
READ_TIMEOUT_ENV = "SKOPO_REGISTRY_READ_TIMEOUT"
CONNECT_TIMEOUT = 30.0
MAX_REDIRECTS = 10
BACKOFF_ATTEMPTS = 5
BACKOFF_INITIAL = 2.0
BACKOFF_MAX = 60.0
TRANSIENT_ATTEMPTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT = frozenset({"GET", "HEAD"})
_DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
#: Unread bytes `close()` still drains to keep a connection (error bodies, empty 201/202s).
_DRAIN_LIMIT = 64 * 1024
#: Connections kept per host: parallel images x parallel layers.
_POOL_SIZE = 32
#: Connection pools (origins: the registry, redirect targets) an adapter remembers.
_MAX_POOLS = 8
#: Seconds a ping result (scheme, auth challenges) is reused by later clients of the host.
_PING_LIFETIME = 60.0
_MAX_LINKS = 32
#: Query parameters shown as they are in `--debug` lines; any other value is redacted
#: (upload `_state`, signed redirect URLs' signatures and credentials).
_SHOWN_QUERY_KEYS = frozenset({"n", "last", "digest", "mount", "from", "service", "scope", "account", "tag"})
#: The path and query of a URL on the registry that requests' URL preparation (urllib3's
#: `parse_url` normalisation, then `requote_uri`) gives back unchanged: RFC 3986 unreserved
#: and sub-delimiter characters, ':', '@', '/' (and '?' in the query); no '%' (nothing to
#: re-quote), no fragment. A segment starting with '.' is excluded by `_plain_url`.
_PLAIN_TAIL = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?")

# Verification is decided per registry (`--tls-verify`, registries.conf `insecure`), and said
# once in `--debug`; urllib3's warning for each unverified connection is noise.
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)


def redact_url(url: str) -> str:
    """`url` for a log line: no user:password, query values other than harmless ones
    (`_SHOWN_QUERY_KEYS`) replaced by `REDACTED`."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, v if k in _SHOWN_QUERY_KEYS else "REDACTED") for k, v in pairs], safe=":/")
    return safe_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")), 600)


def _announce_retry(delay: float, attempt: int, attempts: int, error: object) -> None:
    """The line skopeo prints before a retry (containers/common `pkg/retry`), on stderr."""
    log.warning("Failed, retrying in %gs ... (%d/%d). Error: %s", round(delay, 1), attempt, attempts, error)


def registry_host(domain: str) -> str:
    """The host to contact for a reference domain (`docker.io` -> `registry-1.docker.io`)."""
    return _DOCKER_HUB_API if domain == _DOCKER_HUB else domain


def scope_for(repo: str, actions: str) -> str:
    """A token scope: `repository:<repo>:<actions>`."""
    return f"repository:{repo}:{actions}"


class _PooledResponse(requests.Response):
    """A response whose `close()` keeps the connection when little or nothing is left unread.

    requests closes the TCP connection of any streamed response whose body was not read
    through `.content`, which for a registry client means a new connection (and TLS
    handshake) after every HEAD, 201, 202, 401 or 404. Draining a short, length-delimited
    rest instead returns the connection to the pool; a long or unbounded rest still closes it.
    """

    #: Set on a final 401 by `RegistryClient.request`: which credentials were refused.
    auth_note = ""

    def close(self) -> None:
        raw = self.raw
        remaining = getattr(raw, "length_remaining", None)
        consumed = getattr(self, "_content_consumed", False)  # set by requests when .content was read
        if not consumed and remaining is not None and remaining <= _DRAIN_LIMIT:
            raw.drain_conn()  # reads at most `remaining` bytes; swallows connection errors
        super().close()


class _PlainAdapter(requests.adapters.HTTPAdapter):
    """The http:// adapter: no retries (ours are explicit), connections kept between requests.

    The connection pool of each origin is remembered (`get_connection_with_tls_context`):
    requests' lookup parses the URL twice and walks urllib3's pool manager at every request.
    """

    def __init__(self) -> None:
        self._pools: dict[tuple[str, Any, Any], Any] = {}
        self._pools_lock = threading.Lock()
        # The manager keeps more pools than `_pools` remembers, so it never evicts (and
        # closes) a remembered one: see `get_connection_with_tls_context`.
        super().__init__(pool_connections=2 * _MAX_POOLS, pool_maxsize=_POOL_SIZE, max_retries=0)

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        """requests' pool for `request`, remembered by the URL's `scheme://netloc`, `verify`
        and `cert` when no proxy is involved (a proxied request takes requests' own lookup,
        in its proxy manager, every time).

        A remembered pool is never one the pool manager has evicted (urllib3 2 drops it,
        1.x closed it): every pool the manager
        hands out while pools are remembered is remembered, at most `_MAX_POOLS` of them
        (all are forgotten when one more comes), and the manager holds twice as many
        before it evicts its least recently used, so the evicted one is never among the
        remembered, which are its most recent. `close` forgets them all."""
        url = request.url or ""
        if proxies and select_proxy(url, proxies):
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        netloc_end = url.find("/", url.find("//") + 2)
        key = (url[:netloc_end] if netloc_end > 0 else url, verify, cert)
        pool = self._pools.get(key)
        if pool is None:
            with self._pools_lock:
                pool = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
                if len(self._pools) >= _MAX_POOLS:
                    self._pools.clear()
                self._pools[key] = pool
        return pool

    def close(self) -> None:
        with self._pools_lock:
            self._pools.clear()
            super().close()

    def build_response(self, req: Any, resp: Any) -> Response:
        """requests' `build_response` without cookie extraction and charset detection: this
        client keeps no cookies (as Go's default client in containers/image: a cookie set by
        one origin would otherwise reach any port of that host, e.g. a redirect target) and
        reads every body raw."""
        response = _PooledResponse()
        response.status_code = resp.status
        response.headers = requests.structures.CaseInsensitiveDict(resp.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        response.request = req
        response.connection = self
        return response


class _TLSAdapter(_PlainAdapter):
    """The https:// adapter: one SSL context (this registry's) for every connection."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["ssl_context"] = self._context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Leave what is trusted to this registry's SSL context (`_new_ssl_context`).

        requests' own `cert_verify` names its CA bundle (certifi's) as the connection's
        `ca_certs`, which urllib3 then loads into the shared context at every new
        connection: about 14 ms of CPU per TLS handshake, and a second trust store beside
        the system one that containers/image never consults. Only the verification mode
        is set (the context already has it; urllib3 applies it again)."""
        conn.cert_reqs = "CERT_REQUIRED" if verify else "CERT_NONE"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class _HostLink:
    """What every client of one registry host with the same TLS settings shares in a process.

    The HTTP adapters (so their connection pools), the ping result (scheme and auth challenges,
    trusted for `_PING_LIFETIME` seconds) and the bearer tokens (`_auth.TokenCache`, keyed by
    the realm, service, credentials and scopes they were issued for). `sync` and multi-image
    copies create one client per image and repository; without this each would reconnect,
    ping (an https attempt first when TLS verification is off) and fetch the same token again.
    """

    def __init__(self, context: ssl.SSLContext, user_agent: str) -> None:
        # Adapters, not a `requests.Session`: redirects, cookies (none), proxies (from the
        # environment, per origin) and retries are this module's, so a session's per-request
        # merging of settings would only cost time.
        self.https = _TLSAdapter(context)
        self.http = _PlainAdapter()
        self.headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        self.ping_lock = threading.Lock()
        self.base_url: str | None = None
        self.challenges: list[Challenge] = []
        self.pinged_at = 0.0
        self.tokens = TokenCache()

    def close(self) -> None:
        self.https.close()
        self.http.close()

    def ping_result(self) -> tuple[str, list[Challenge]] | None:
        if self.base_url is None or time.monotonic() - self.pinged_at > _PING_LIFETIME:
            return None
        return self.base_url, self.challenges

    def remember_ping(self, base_url: str, challenges: list[Challenge]) -> None:
        self.base_url, self.challenges, self.pinged_at = base_url, challenges, time.monotonic()


_LINKS: dict[tuple[Any, ...], _HostLink] = {}
_SSL_CONTEXTS: dict[tuple[Any, ...], ssl.SSLContext] = {}
_LINKS_LOCK = threading.Lock()


def _link_for(
    host: str, verify: bool, files: TLSFiles, user_agent: str, details: TLSDetails | None = None
) -> _HostLink:
    """The shared link for `host` with these TLS settings. The key includes the TLS files'
    modification times, so a changed certificate gives a new link and SSL context."""
    stamps: list[int] = []
    for path in (*files.ca_files, *(p for pair in files.client_pairs for p in pair)):
        try:
            stamps.append(os.stat(path).st_mtime_ns)
        except OSError:
            stamps.append(-1)
    tls_key = (verify, files, tuple(stamps), details)
    key = (host, user_agent, *tls_key)
    with _LINKS_LOCK:
        link = _LINKS.get(key)
        if link is not None:
            return link
        # Hosts with the same TLS settings share a context: loading the system CA store
        # costs ~20 ms of CPU.
        context = _SSL_CONTEXTS.get(tls_key)
        if context is None:
            context = _new_ssl_context(verify, files, details)
            if len(_SSL_CONTEXTS) >= _MAX_LINKS:
                _SSL_CONTEXTS.clear()
            _SSL_CONTEXTS[tls_key] = context
        if len(_LINKS) >= _MAX_LINKS:  # long-lived library users: drop the oldest
            _LINKS.pop(next(iter(_LINKS))).close()
        link = _LINKS[key] = _HostLink(context, user_agent)
        return link


@functools.cache
def _system_store_missing() -> bool:
    """True when OpenSSL has neither a default CA file nor a CA directory (after
    SSL_CERT_FILE / SSL_CERT_DIR), so a default context would trust no CA."""
    paths = ssl.get_default_verify_paths()
    return paths.cafile is None and paths.capath is None


def _new_ssl_context(verify: bool, files: TLSFiles, details: TLSDetails | None = None) -> ssl.SSLContext:
    """TLS 1.2+ (or what `details`, --tls-details, says), the host's CA files and client
    pairs; the system CA store only when certificates are verified (it is never consulted
    otherwise)."""
    if verify:
        context = ssl.create_default_context()
        if _system_store_missing():
            # A Python built without a system store (python.org's macOS builds, some
            # minimal images) would trust nothing; Go reads the OS keychain there.
            from requests.certs import where as certifi_bundle  # type: ignore[attr-defined]

            context.load_verify_locations(cafile=certifi_bundle())
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    apply_tls_details(context, details)
    for ca in files.ca_files:
        try:
            context.load_verify_locations(cafile=str(ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"loading CA certificate {safe_text(str(ca))}: {exc}") from exc
    for cert, key in files.client_pairs:
        try:
            context.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"loading client certificate {safe_text(str(cert))}: {exc}") from exc
    return context


def _log_tls(host: str, verify: bool, files: TLSFiles) -> None:
    """One `--debug` line per host and TLS setting: verification, and the certs.d directory."""
    debug_once(
        log,
        "TLS for %s: %s, %s",
        host,
        "certificates verified" if verify else "certificates NOT verified (--tls-verify=false or insecure)",
        f"certs dir {files.directory} ({len(files.ca_files)} CA, {len(files.client_pairs)} client pairs)"
        if files.directory is not None
        else "no certs.d directory, system trust store only",
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class RegistryClient:
    """HTTP access to one registry host, authenticated for `scopes`.

    `registry` is the reference domain (`docker.io`, `host:port`); `repo_name` the full
    repository name used to look up credentials (`host/ns/repo`). `insecure` is
    registries.conf's `insecure` for this host. Thread-safe: blobs are fetched in parallel.
    """

    def __init__(
        self,
        ctx: SystemContext,
        registry: str,
        *,
        repo_name: str | None = None,
        scopes: Sequence[str] = (),
        insecure: bool = False,
        env: Mapping[str, str] | None = None,
        credentials: Credentials | None = None,
        use_credentials: bool = True,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.host = registry_host(registry)
        self.scopes = tuple(scopes)
        # The image's own --tls-verify, else a deprecated unprefixed one, else registries.conf.
        tls_verify = ctx.tls_verify if ctx.tls_verify is not OptionalBool.UNDEFINED else ctx.deprecated_tls_verify
        if tls_verify is OptionalBool.UNDEFINED:
            self.verify = not insecure
        else:
            self.verify = tls_verify is OptionalBool.TRUE
        self._env = env if env is not None else os.environ
        #: Where the credentials came from, said when the registry refuses them (never the secret).
        self.credentials_source = ""
        if credentials is not None:
            self.credentials: Credentials | None = credentials
            self.credentials_source = "the credentials given"
        elif use_credentials:
            self.credentials, self.credentials_source = lookup_credentials(ctx, repo_name or registry, env)
        else:
            self.credentials = None
        timeout = ctx.registry_read_timeout
        if timeout is None:
            try:
                timeout = float(self._env.get(READ_TIMEOUT_ENV, "") or DEFAULT_READ_TIMEOUT)
            except ValueError:
                timeout = DEFAULT_READ_TIMEOUT
        self.read_timeout = timeout
        files = tls_files_for_host(self.host, ctx.cert_dir, env)
        _log_tls(self.host, self.verify, files)
        self._link = _link_for(
            self.host, self.verify, files, ctx.user_agent or f"skopo/{toolkit.__version__}", ctx.tls_details
        )
        self._base_url: str | None = None
        #: `_base_url` as requests prepares it (host lower-cased), set with it.
        self._prepared_base = ""
        self._challenges: list[Challenge] = []
        self._proxy_cache: dict[tuple[str, str, int], dict[str, str]] = {}
        #: Sleeps end at the command's deadline (then raise `CommandTimeoutError`).
        self.sleep: Callable[[float], None] = functools.partial(deadline.sleep, waiting_for=self.host)

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Nothing to release: the adapters and their pooled connections belong to the host's
        shared link (see `_HostLink`), which later clients of the same host reuse."""

    @property
    def base_url(self) -> str:
        self.ensure_ping()
        assert self._base_url is not None
        return self._base_url

    def _proxies(self, url: str) -> dict[str, str]:
        """HTTP(S)_PROXY / NO_PROXY from the process environment (requests' own rules),
        looked up once per origin by this client."""
        key = origin(url)
        proxies = self._proxy_cache.get(key)
        if proxies is None:
            proxies = self._proxy_cache[key] = dict(get_environ_proxies(url))
        return proxies

    def _plain_url(self, url: str) -> str | None:
        """`url` as requests would prepare it, when it is a plain path on this registry
        (`_PLAIN_TAIL` after the pinged base URL, no dot segment); else None.

        Such a URL needs neither `check_url` (the base passed it at ping time, and the
        tail holds only characters a request line carries) nor requests' parsing and
        re-quoting, which cost more than the rest of a request's preparation."""
        base = self._base_url
        if base is None or not url.startswith(base):
            return None
        start = len(base)
        if _PLAIN_TAIL.fullmatch(url, start) is None or "/." in url[start:]:
            return None
        return self._prepared_base + url[start:]

    def _send_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: Any,
        timeout: float | None,
        prepared_url: str | None = None,
    ) -> Response:
        """One HTTP exchange. `prepared_url` is `url` already prepared (`_plain_url`)."""
        deadline.check(self.host)
        read_timeout = timeout or self.read_timeout
        started = time.monotonic()
        try:
            prepared = requests.PreparedRequest()
            prepared.prepare_method(method)
            if prepared_url is not None:
                prepared.url = prepared_url
            else:
                prepared.prepare_url(url, None)
            prepared.prepare_headers({**self._link.headers, **headers})
            prepared.prepare_body(data, None)
            adapter = self._link.https if url[:6].lower() == "https:" else self._link.http
            resp = adapter.send(
                prepared,
                stream=True,
                timeout=(deadline.cap(CONNECT_TIMEOUT), deadline.cap(read_timeout)),
                verify=self.verify,
                proxies=self._proxies(url),
            )
        except (requests.exceptions.InvalidHeader, urllib3.exceptions.InvalidHeader) as exc:
            raise RegistryError(f"{method} {safe_text(url)}: invalid response header") from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # The host of this URL: a redirect target or a lookaside server is not the registry.
            host = urlsplit(url).netloc.rsplit("@", 1)[-1] or self.host
            error = network_error(
                exc,
                host,
                read_timeout=read_timeout,
                connect_timeout=CONNECT_TIMEOUT,
                default_port=443 if url[:6].lower() == "https:" else 80,
            )
            log.debug("%s %s -> failed after %d ms: %s", method, redact_url(url), _ms(started), error)
            raise error from exc
        length = check_content_length(resp)
        if log.isEnabledFor(logging.DEBUG):  # redacting the URL costs more than the rest of this
            log.debug(
                "%s %s -> %d (%s, %d ms)",
                method,
                redact_url(url),
                resp.status_code,
                f"{length} bytes" if length >= 0 else "length unknown",
                _ms(started),
            )
        return resp

    def _follow(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: Any,
        authorization: Callable[[str], str | None],
        timeout: float | None = None,
    ) -> Response:
        """Send, following redirects ourselves. `authorization(url)` gives the header for a URL."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            plain = self._plain_url(current)
            if plain is None:
                check_url(current, self.registry)
            h = dict(headers)
            auth = authorization(current)
            if auth:
                h["Authorization"] = auth
            resp = self._send_once(method, current, h, data, timeout, plain)
            location = resp.headers.get("Location")
            if resp.status_code not in _REDIRECTS or not location:
                return resp
            resp.close()
            target = urljoin(current, location)
            scheme = urlsplit(target).scheme.lower()
            if scheme not in ("http", "https"):
                raise RegistryError(f"refusing redirect to a {safe_text(scheme, 20)!r} URL")
            if urlsplit(current).scheme.lower() == "https" and scheme == "http":
                raise RegistryError(f"refusing redirect from https to http ({safe_text(target)})")
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, data = "GET", None
            elif data is not None and not isinstance(data, bytes | bytearray):
                raise RegistryError("cannot follow a redirect of a streamed upload")
            current = target
        raise RegistryError(f"{method} {safe_text(url)}: stopped after {MAX_REDIRECTS} redirects")

    # ------------------------------------------------------------ ping

    def ensure_ping(self) -> None:
        """Detect the scheme and the auth challenges (`GET /v2/`), once per host link.

        Without TLS verification a failed HTTPS ping falls back to plain HTTP; if both fail
        the error of the attempt that got furthest is raised (HTTPS on a tie). The deadline
        (`CommandTimeoutError`) is never a reason to fall back.
        """
        if self._base_url is not None:
            return
        link = self._link
        with link.ping_lock:
            known = link.ping_result()
            if known is None:
                https_error: ToolkitError | None = None
                try:
                    known = self._ping("https", retry_cut=self.verify)
                except CommandTimeoutError:
                    raise
                except ToolkitError as exc:
                    if self.verify:
                        raise
                    https_error = exc
                if https_error is not None:
                    # Outside the handler: the HTTP attempt's errors must not chain to this one.
                    log.debug("https ping of %s failed (%s); trying http", self.host, https_error)
                    try:
                        known = self._ping("http")
                    except CommandTimeoutError:
                        raise
                    except ToolkitError as http_error:
                        if stage_of(http_error) > stage_of(https_error):
                            raise http_error from None
                        raise https_error from None
                assert known is not None  # one of the two pings answered
                link.remember_ping(*known)
            base = requests.PreparedRequest()
            base.prepare_url(known[0] + "/", None)
            # `_base_url` last: other threads take it as the sign that the rest is set.
            self._challenges, self._prepared_base = known[1], (base.url or "/")[:-1]
            self._base_url = known[0]

    def _ping(self, scheme: str, *, retry_cut: bool = True) -> tuple[str, list[Challenge]]:
        """`GET /v2/` over `scheme`: the base URL and the auth challenges.

        Transient failures are retried (announced); with `retry_cut=False` a connection cut
        before any response is raised at once: with a plain-HTTP fallback it is most often a
        plain server hanging up on the TLS hello, so falling back beats waiting."""
        url = f"{scheme}://{self.host}/v2/"
        what = f"pinging container registry {self.host}"
        attempt = 0
        while True:
            try:
                resp = self._follow("GET", url, {}, None, lambda _: None)
            except TransientRegistryError as exc:
                attempt += 1
                if attempt >= TRANSIENT_ATTEMPTS or (not retry_cut and stage_of(exc) < STAGE_RESPONSE):
                    raise TransientRegistryError(f"{what}: {exc}") from exc
                _announce_retry(0.5 * attempt, attempt, TRANSIENT_ATTEMPTS - 1, f"{what}: {exc}")
                self.sleep(0.5 * attempt)
                continue
            except RegistryError as exc:
                if stage_of(exc) < STAGE_RESPONSE:  # DNS, connect, TLS: the message says it all
                    raise
                raise RegistryError(f"{what}: {exc}") from exc
            if resp.status_code in (502, 503, 504) and attempt + 1 < TRANSIENT_ATTEMPTS:
                resp.close()
                attempt += 1
                _announce_retry(0.5 * attempt, attempt, TRANSIENT_ATTEMPTS - 1, f"{what}: HTTP {resp.status_code}")
                self.sleep(0.5 * attempt)
                continue
            break
        try:
            if resp.status_code not in (200, 401):
                err = error_from_response(resp, what)
                status = f"invalid status code from registry {resp.status_code} ({safe_text(resp.reason or '', 60)})"
                raise type(err)(f"{what}: {status}")
            challenges = parse_challenges(resp.raw.headers.getlist("WWW-Authenticate"))
        finally:
            resp.close()
        return f"{scheme}://{self.host}", challenges

    # ------------------------------------------------------------ auth

    def authorizer(self, extra_scopes: Sequence[str] = ()) -> Authorizer:
        """A fresh authorizer for one request needing this client's scopes plus
        `extra_scopes` (`_auth.authorizer_for`, from the ping's challenges)."""
        registry_url = self.base_url  # pings first: the challenges come from the ping
        return authorizer_for(
            self._challenges,
            self.credentials,
            self.ctx,
            registry_url=registry_url,
            scopes=(*self.scopes, *extra_scopes),
            tokens=self._link.tokens,
            send=self._follow,
        )

    # ------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        extra_scopes: Sequence[str] = (),
        timeout: float | None = None,
    ) -> Response:
        """Make an authenticated request; return the (streaming) final response, any status.

        `path_or_url` is a path on the registry (`/v2/...`) or an absolute URL (e.g. an
        upload `Location`). The caller closes the response. Retries as described in the
        module docstring; raises `TransientRegistryError` when they are exhausted.
        """
        url = self.base_url + path_or_url if path_or_url.startswith("/") else path_or_url
        replayable = data is None or isinstance(data, bytes | bytearray)
        idempotent = method in _IDEMPOTENT
        auth = self.authorizer(extra_scopes)
        rate_attempt = 0
        transient_attempt = 0
        while True:
            try:
                resp = self._follow(method, url, headers or {}, data, auth.header_for, timeout)
            except TransientRegistryError as exc:
                transient_attempt += 1
                if not idempotent or transient_attempt >= TRANSIENT_ATTEMPTS:
                    raise
                _announce_retry(0.5 * transient_attempt, transient_attempt, TRANSIENT_ATTEMPTS - 1, exc)
                self.sleep(0.5 * transient_attempt)
                continue
            status = resp.status_code
            if status == 429 and replayable:
                rate_attempt += 1
                if rate_attempt >= BACKOFF_ATTEMPTS:
                    resp.close()
                    raise TransientRegistryError(
                        f"{method} {safe_text(url)}: too many requests to {self.host} (429), giving up after "
                        f"{BACKOFF_ATTEMPTS} attempts"
                    )
                delay = _retry_after(resp.headers.get("Retry-After"))
                if delay is None:
                    delay = BACKOFF_INITIAL * 2 ** (rate_attempt - 1)
                delay = min(delay, BACKOFF_MAX)
                resp.close()
                _announce_retry(
                    delay, rate_attempt, BACKOFF_ATTEMPTS - 1, f"{method} {redact_url(url)}: too many requests (429)"
                )
                self.sleep(delay)
                continue
            if status in (502, 503, 504) and idempotent:
                transient_attempt += 1
                if transient_attempt < TRANSIENT_ATTEMPTS:
                    resp.close()
                    delay = 0.5 * transient_attempt + random.random() * 0.1
                    _announce_retry(
                        delay, transient_attempt, TRANSIENT_ATTEMPTS - 1, f"{method} {redact_url(url)}: HTTP {status}"
                    )
                    self.sleep(delay)
                    continue
            challenged = status == 401 and data is None
            if challenged and auth.on_challenge(parse_challenges(resp.raw.headers.getlist("WWW-Authenticate"))):
                resp.close()
                continue
            if status == 401 and isinstance(resp, _PooledResponse):
                resp.auth_note = self.unauthorized_note()
            return resp

    def unauthorized_note(self) -> str:
        """Which credentials a refused request carried, for the error (never the secret)."""
        if self.credentials is None:
            if self.ctx.no_credentials:
                return "anonymous access (--no-creds) was refused"
            return describe_missing_credentials(self.ctx, self.registry, self._env)
        return f"{self.credentials_source} were refused" if self.credentials_source else "the credentials were refused"

    def get_json(self, path: str, limit: int, what: str) -> tuple[Any, Response]:
        """GET `path`, expect 200 and JSON (at most `limit` bytes)."""
        resp = self.request("GET", path, headers={"Accept": "application/json"})
        if resp.status_code != 200:
            raise error_from_response(resp, what)
        body = read_limited_body(resp, limit, what)
        try:
            return json.loads(body), resp
        except (ValueError, RecursionError) as exc:
            raise RegistryError(f"{what}: invalid JSON from the registry") from exc


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def check_auth(ctx: SystemContext, registry: str, credentials: Credentials) -> None:
    """Check `credentials` against `registry` (`GET /v2/` authenticated, as `login` does).

    Raises `UnauthorizedError` for refused credentials, other `ToolkitError`s otherwise.
    """
    client = RegistryClient(ctx, registry, credentials=credentials)
    try:
        resp = client.request("GET", "/v2/")
        if resp.status_code == 401:
            raise error_from_response(resp, "checking credentials")
        if resp.status_code != 200:
            raise error_from_response(resp, f"pinging container registry {client.host}")
        resp.close()
    finally:
        client.close()
