"""A tiny Docker token server (the registry's `auth.token` flow), for tests.

`start_token_issuer(workdir, users={"user": "pass"})` runs an HTTP server on 127.0.0.1
that answers `GET /token?service=&scope=...` (Basic auth optional) and the
`POST /token` refresh-token grant with a JWT signed ES256 by a self-signed key whose
certificate is written to `issuer.cert_path` (the registry's `auth.token.rootcertbundle`).
Every request is logged in `issuer.requests` (scopes, account, whether Basic auth was sent).
Anonymous requests get pull rights only; known users get every action they ask for;
a wrong password gets 401. `issuer.registry_config()` is the `extra_config` for
`registry_factory`.
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from helpers.certs import build_certificate, distinguished_name, ec_key, pem

__all__ = ["TokenIssuer", "TokenRequest", "start_token_issuer"]

SERVICE = "skopo-test-registry"
ISSUER = "skopo-test-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRequest:
    """One request the issuer received."""

    method: str
    scopes: list[str]
    account: str | None
    basic_auth: bool
    grant_type: str | None = None


@dataclass
class TokenIssuer:
    """A running token server. `stop()` shuts it down."""

    url: str
    cert_path: Path
    server: http.server.ThreadingHTTPServer
    requests: list[TokenRequest] = field(default_factory=list)
    expires_in: int = 300

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_config(self) -> dict[str, Any]:
        return {
            "auth": {
                "token": {
                    "realm": self.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.cert_path),
                }
            }
        }

    def scopes_requested(self) -> list[str]:
        return [s for r in self.requests for s in r.scopes]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _make_key(workdir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec_key()
    cert = build_certificate(
        subject=distinguished_name("skopo token signer"), public_key=key.public_key(), signer=key, ca=True
    )
    path = workdir / "token-signer.pem"
    path.write_bytes(pem(cert))
    return key, cert, path


def _sign_jwt(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, claims: dict[str, Any]) -> str:
    x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
    header = {"typ": "JWT", "alg": "ES256", "x5c": x5c}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def start_token_issuer(
    workdir: Path, users: dict[str, str] | None = None, refresh_tokens: dict[str, str] | None = None
) -> TokenIssuer:
    """Start the issuer; `users` maps names to passwords, `refresh_tokens` tokens to names."""
    workdir.mkdir(parents=True, exist_ok=True)
    key, cert, cert_path = _make_key(workdir)
    users = dict(users or {})
    refresh = dict(refresh_tokens or {})
    log: list[TokenRequest] = []
    holder: dict[str, TokenIssuer] = {}

    def issue(account: str | None, scopes: list[str]) -> bytes:
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3 or parts[0] != "repository":
                    continue
                actions = parts[-1].split(",")
                name = ":".join(parts[1:-1])
                if account is None:
                    actions = [a for a in actions if a == "pull"]
                access.append({"type": "repository", "name": name, "actions": actions})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": account or "",
            "aud": SERVICE,
            "exp": now + 600,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        token = _sign_jwt(key, cert, claims)
        return json.dumps({"token": token, "expires_in": holder["issuer"].expires_in}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _basic(self) -> tuple[str, str] | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, password

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            scopes = query.get("scope", [])
            basic = self._basic()
            log.append(TokenRequest("GET", scopes, (query.get("account") or [None])[0], basic is not None))
            account = None
            if basic is not None:
                if users.get(basic[0]) != basic[1]:
                    self._reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                    return
                account = basic[0]
            self._reply(200, issue(account, scopes))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            scopes = form.get("scope", [])
            grant = (form.get("grant_type") or [None])[0]
            log.append(TokenRequest("POST", scopes, None, self._basic() is not None, grant))
            account = refresh.get((form.get("refresh_token") or [""])[0])
            if grant != "refresh_token" or account is None:
                self._reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad refresh token"}]}')
                return
            self._reply(200, issue(account, scopes))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    issuer = TokenIssuer(url=url, cert_path=cert_path, server=server, requests=log)
    holder["issuer"] = issuer
    return issuer
