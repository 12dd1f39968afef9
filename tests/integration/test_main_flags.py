"""skopeo main's flags that skopeo 1.9.3 lacks or hides: `--require-signed`, `--tls-details`,
the deprecated `--tls-verify` (root and copy/sync), `--screds`/`--dcreds`,
`--dest-precompute-digests`, `--dest-force-compress-format`, `--sign-by-sq-fingerprint`,
login/logout `--compat-auth-file`, inspect `--manifest-digest`.

Against real servers (docker-registry, plain, TLS and htpasswd) and side by side with
skopeo 1.9.3 where it has the flag (same exit codes, same registry contents).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    GnupgHome,
    RegistryFactory,
    RegistryServer,
    Skopeo,
    SkopoRunner,
    assert_clean_error,
    describe_result,
)
from helpers.fault_proxy import FaultProxy
from helpers.images import build_image, write_dir
from helpers.registry import get_manifest
from helpers.tls import CertificateAuthority, ServerCert, make_server_cert
from helpers.trees import snapshot

pytestmark = pytest.mark.peer

PLAIN = "--tls-verify=false"


def ok(result: object) -> None:
    assert result.returncode == 0, describe_result(result)  # type: ignore[attr-defined]


def run_tool(tool: str, skopeo: Skopeo, run_skopo: SkopoRunner, *args: str, check: bool = True) -> Any:
    """Run `args` with skopeo 1.9.3 (`tool == "skopeo"`, which adds --insecure-policy itself)
    or with skopo (--insecure-policy added); with `check`, a failure fails the test."""
    if tool == "skopeo":
        return skopeo.run(*args, check=check)
    result = run_skopo("--insecure-policy", *args)
    if check:
        ok(result)
    return result


def media_types(registry: RegistryServer, repo: str, tag: str) -> list[str]:
    doc = json.loads(get_manifest(registry, repo, tag).content)
    return [layer["mediaType"] for layer in doc["layers"]]


# ---------------------------------------------------------------- --require-signed


def _policy(path: Path, requirements: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": requirements}}}))
    return path


def test_require_signed(run_skopo: SkopoRunner, gnupg_home: GnupgHome, tmp_path: Path) -> None:
    env: dict[str, str | None] = {"GNUPGHOME": str(gnupg_home.path)}
    fpr = gnupg_home.make_key("Alice <alice@example.com>", algo="ed25519")
    pub = tmp_path / "alice.gpg"
    pub.write_bytes(gnupg_home.export_public(fpr))
    src = write_dir(build_image(seed=31, layer_count=1, layer_size=1024), tmp_path / "src")
    signed = tmp_path / "signed"
    ok(run_skopo("--insecure-policy", "copy", "-q", "--sign-by", fpr, "--sign-identity", "example.com/a:v1",
                 f"dir:{src}", f"dir:{signed}", env=env))
    accept_all = _policy(tmp_path / "any.json", [{"type": "insecureAcceptAnything"}])
    signed_by = _policy(tmp_path / "signed.json", [{
        "type": "signedBy", "keyType": "GPGKeys", "keyPath": str(pub),
        "signedIdentity": {"type": "exactReference", "dockerReference": "example.com/a:v1"},
    }])
    # Without the flag, insecureAcceptAnything accepts; with it, nothing verified a signature.
    ok(run_skopo("--policy", accept_all, "copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'a'}"))
    dest = write_dir(build_image(seed=32, layer_count=1, layer_size=64), tmp_path / "dest")
    before = snapshot(dest)
    message = assert_clean_error(
        run_skopo("--policy", accept_all, "--require-signed", "copy", "-q", f"dir:{src}", f"dir:{dest}"),
        expected_exit=1, match="No signature verification policy found for image dir:",
    )
    assert message.startswith("Source image rejected: ")
    assert snapshot(dest) == before
    # A global flag after the subcommand works too (cobra's persistent flags).
    assert_clean_error(run_skopo("--policy", accept_all, "copy", "--require-signed", "-q", f"dir:{src}",
                                 f"dir:{dest}"), match="No signature verification policy found")
    # A signedBy requirement that accepted the image satisfies it.
    ok(run_skopo("--policy", signed_by, "--require-signed", "copy", "-q", f"dir:{signed}", f"dir:{tmp_path / 'b'}"))
    # `policy check` reports the extra refusal.
    checked = run_skopo("--policy", accept_all, "--require-signed", "policy", "check", "--format", "json",
                        f"dir:{src}")
    doc = json.loads(checked.stdout)
    assert doc["accepted"] is False and doc["requirements"][-1]["type"] == "--require-signed"
    # Mutually exclusive with --insecure-policy, for every command, as skopeo's PersistentPreRunE.
    for argv in (["copy", f"dir:{src}", f"dir:{tmp_path / 'c'}"], ["inspect", f"dir:{src}"]):
        assert_clean_error(run_skopo("--insecure-policy", "--require-signed", *argv), expected_exit=1,
                           match="--insecure-policy and --require-signed are mutually exclusive")
    assert not (tmp_path / "c").exists()


# ---------------------------------------------------------------- --tls-details


def _details(tmp_path: Path, text: str, name: str = "tls.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("minVersion: \"1.4\"\n", 'unrecognized TLS minimum version "1.4"'),
    ("cipherSuites: [TLS_NOPE]\n", 'unrecognized TLS cipher suite "TLS_NOPE"'),
    ("namedGroups: [brainpool]\n", 'unrecognized TLS named group "brainpool"'),
    ("maxVersion: \"1.3\"\n", "field maxVersion not found"),
    ("cipherSuites: TLS_AES_128_GCM_SHA256\n", "cipherSuites must be a list"),
    ("namedGroups: [x25519, secp256r1]\n", "not supported: Python's ssl module can restrict a connection to one"),
    ("namedGroups: [X25519MLKEM768]\n", 'TLS named group "X25519MLKEM768" is not supported'),
    ("cipherSuites: [TLS_RSA_WITH_RC4_128_SHA]\n", "is not supported by this Python's OpenSSL"),
    ("[1, 2]\n", "must be a YAML mapping"),
])
def test_tls_details_bad_files(run_skopo: SkopoRunner, tmp_path: Path, text: str, match: str) -> None:
    src = write_dir(build_image(seed=33, layer_count=1, layer_size=64), tmp_path / "src")
    result = run_skopo("--tls-details", _details(tmp_path, text), "inspect", f"dir:{src}")
    assert_clean_error(result, expected_exit=1, match=match)


def test_tls_details_missing_file(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=33, layer_count=1, layer_size=64), tmp_path / "src")
    assert_clean_error(run_skopo("--tls-details", tmp_path / "nope.yaml", "inspect", f"dir:{src}"),
                       expected_exit=1, match="nope.yaml")


def test_tls_details_against_the_tls_registry(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner
) -> None:
    """Settings the registry (Go's TLS server) can meet connect; the image is read."""
    registry = registry_factory(tls=True)
    src = write_dir(build_image(seed=34, layer_count=1, layer_size=2048), tmp_path / "src")
    ref = f"docker://{registry.host}/tls/details:v1"
    certs = ["--dest-cert-dir", str(registry.cert_dir)]
    ok(run_skopo("--insecure-policy", "copy", "-q", *certs, f"dir:{src}", ref))
    for text in ("minVersion: \"1.3\"\n",
                 "minVersion: \"1.2\"\ncipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "
                 "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\nnamedGroups: [secp256r1]\n",
                 "namedGroups: [x25519]\ncipherSuites: []\n"):
        details = _details(tmp_path, text)
        result = run_skopo("--tls-details", details, "inspect", "--cert-dir", str(registry.cert_dir), ref)
        ok(result)
        assert json.loads(result.stdout)["Name"] == f"{registry.host}/tls/details"
        # Pushing goes through the same settings.
        ok(run_skopo("--insecure-policy", "--tls-details", details, "copy", "-q", *certs, f"dir:{src}",
                     f"docker://{registry.host}/tls/details:v2"))


class _TLSServer:
    """A TLS server on loopback (certificate from the test CA) that records each handshake
    and answers HTTP 500: enough to see whether the settings a client offered were met."""

    def __init__(self, cert: ServerCert, *, max_version: ssl.TLSVersion | None = None,
                 group: str | None = None) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert.cert_path), str(cert.key_path))
        if max_version is not None:
            self.context.maximum_version = max_version
        if group is not None:
            self.context.set_ecdh_curve(group)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.handshakes: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes.append(str(tls.version()))
                    tls.recv(65536)
                    tls.sendall(b"HTTP/1.1 500 no\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (OSError, ssl.SSLError):
                self.handshakes.append("failed")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls_servers(tmp_path: Path, tls_ca: CertificateAuthority) -> Iterator[Callable[..., _TLSServer]]:
    servers: list[_TLSServer] = []
    cert = make_server_cert(tls_ca, tmp_path / "server-cert")

    def make(**kwargs: Any) -> _TLSServer:
        server = _TLSServer(cert, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_tls_details_narrow_what_the_client_offers(
    tmp_path: Path, tls_servers: Callable[..., _TLSServer], tls_ca: CertificateAuthority, run_skopo: SkopoRunner
) -> None:
    """Against servers that accept only TLS 1.2 or only one group: without the file the
    handshake succeeds; with settings the server cannot meet, it fails."""
    tls12 = tls_servers(max_version=ssl.TLSVersion.TLSv1_2)
    p384 = tls_servers(group="secp384r1")
    min13 = _details(tmp_path, 'minVersion: "1.3"\n', "min13.yaml")
    p256 = _details(tmp_path, "namedGroups: [secp256r1]\n", "p256.yaml")
    no12 = _details(tmp_path, "cipherSuites: []\n", "no12.yaml")
    for server, details in ((tls12, min13), (tls12, no12), (p384, p256)):
        cert_dir = ["--cert-dir", str(tls_ca.cert_dir)]
        plain = run_skopo("inspect", *cert_dir, f"docker://{server.host}/x/y:v1")
        assert plain.returncode != 0
        assert server.handshakes and server.handshakes[-1] != "failed", server.handshakes
        narrowed = run_skopo("--tls-details", details, "inspect", *cert_dir, f"docker://{server.host}/x/y:v1")
        assert narrowed.returncode != 0
        assert server.handshakes[-1] == "failed", server.handshakes


# ---------------------------------------------------------------- deprecated --tls-verify


def test_deprecated_tls_verify_side_by_side(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    """`skopeo --tls-verify=false inspect` and `skopeo copy --tls-verify=false` warn, then
    reach a plain-HTTP registry; the per-image flag wins over both."""
    src = write_dir(build_image(seed=35, layer_count=1, layer_size=1024), tmp_path / "src")
    ref = f"docker://{registry.host}/deprecated/tls:v1"
    for tool in ("skopeo", "skopo"):
        result = run_tool(tool, skopeo, run_skopo, "copy", "-q", "--tls-verify=false", f"dir:{src}", ref)
        assert b"'--tls-verify' is deprecated, instead use: --src-tls-verify, --dest-tls-verify" in result.stderr
        result = run_tool(tool, skopeo, run_skopo, "--tls-verify=false", "inspect", ref)
        assert b"'--tls-verify' is deprecated, please set this on the specific subcommand" in result.stderr
        # The image's own flag overrides the deprecated one (true: HTTPS, which the plain
        # registry does not speak).
        result = run_tool(tool, skopeo, run_skopo, "--tls-verify=false", "inspect", "--tls-verify=true", ref,
                          check=False)
        assert result.returncode == 1, describe_result(result)
        # Only before the subcommand: after it, it is that command's flag or unknown.
        result = run_tool(tool, skopeo, run_skopo, "standalone-verify", "--tls-verify=false", "a", "b", "c",
                          check=False)
        assert result.returncode == 1 and b"tls-verify" in result.stderr, describe_result(result)
    # Without any of them, a plain-HTTP registry on 127.0.0.1 is refused by both.
    assert run_skopo("inspect", ref).returncode == 1
    assert skopeo.run("inspect", ref, check=False).returncode == 1


# ---------------------------------------------------------------- --screds / --dcreds


def test_screds_dcreds_side_by_side(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    registry = registry_factory(htpasswd=("alice", "secret"))
    src = write_dir(build_image(seed=36, layer_count=1, layer_size=1024), tmp_path / "src")
    for tool in ("skopeo", "skopo"):
        ref = f"docker://{registry.host}/creds/{tool}:v1"
        denied = run_tool(tool, skopeo, run_skopo, "copy", "-q", "--dest-tls-verify=false", f"dir:{src}", ref,
                          check=False)
        assert denied.returncode == 1
        run_tool(tool, skopeo, run_skopo, "copy", "-q", "--dest-tls-verify=false", "--dcreds", "alice:secret",
                 f"dir:{src}", ref)
        out = tmp_path / f"out-{tool}"
        run_tool(tool, skopeo, run_skopo, "copy", "-q", "--src-tls-verify=false", "--screds", "alice:secret", ref,
                 f"dir:{out}")
        assert (out / "manifest.json").read_bytes() == (src / "manifest.json").read_bytes()
        # The alias follows the same rules as the flag it stands for.
        bad = run_tool(tool, skopeo, run_skopo, "copy", "-q", "--screds", "alice:secret", "--src-no-creds", ref,
                       f"dir:{tmp_path / 'x'}", check=False)
        assert bad.returncode == 1 and b"no-creds" in bad.stderr
    # sync has them too.
    ok(run_skopo("--insecure-policy", "sync", "-q", "--src", "docker", "--dest", "dir", "--src-tls-verify=false",
                 "--screds", "alice:secret", f"{registry.host}/creds/skopo:v1", str(tmp_path / "synced")))


# ---------------------------------------------------------------- --dest-precompute-digests


def test_dest_precompute_digests_side_by_side(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    """An uncompressed layer is gzip-compressed on the way; with the flag, a layer the
    registry already has (same compressed digest) is not uploaded again, as with skopeo."""
    plain = build_image(fmt="oci", layer_count=1, layer_size=200_000, seed=37, compression="none")
    src = write_dir(plain, tmp_path / "src")
    with FaultProxy(registry.url) as proxy:
        def uploads() -> int:
            count = sum(1 for r in proxy.requests if r.method in ("PATCH", "PUT") and "/blobs/uploads/" in r.path)
            proxy.requests.clear()
            return count

        results: dict[str, list[int]] = {}
        for tool in ("skopeo", "skopo"):
            ref = f"docker://{proxy.host}/precompute/{tool}"
            push = ("copy", "-q", "--dest-tls-verify=false", f"dir:{src}")
            run_tool(tool, skopeo, run_skopo, *push, f"{ref}:v1")
            first = uploads()
            run_tool(tool, skopeo, run_skopo, *push, f"{ref}:v2")
            again = uploads()
            run_tool(tool, skopeo, run_skopo, *push[:3], "--dest-precompute-digests", *push[3:], f"{ref}:v3")
            precomputed = uploads()
            results[tool] = [first, again, precomputed]
            assert get_manifest(registry, f"precompute/{tool}", "v3").content == \
                get_manifest(registry, f"precompute/{tool}", "v1").content
    assert results["skopo"][0] > 0 and results["skopo"][1] > 0
    assert results["skopo"][2] == 0, results
    assert results["skopeo"][2] == 0, results
    # The temporary file lives in --tmpdir and is gone afterwards.
    tmp = tmp_path / "big"
    tmp.mkdir()
    ok(run_skopo("--insecure-policy", "--tmpdir", tmp, "copy", "-q", "--dest-tls-verify=false",
                 "--dest-precompute-digests", f"dir:{src}", f"docker://{registry.host}/precompute/tmp:v1"))
    assert list(tmp.iterdir()) == []


# ---------------------------------------------------------------- --dest-force-compress-format


def test_dest_force_compress_format(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    """A copy within one registry reuses the gzip layers the repository has, whatever
    --dest-compress-format says (skopeo 1.9.3 and skopo alike); the force flag recompresses."""
    image = build_image(fmt="oci", layer_count=2, layer_size=30_000, seed=38)
    src = write_dir(image, tmp_path / "src")
    gzip_type = "application/vnd.oci.image.layer.v1.tar+gzip"
    zstd_type = "application/vnd.oci.image.layer.v1.tar+zstd"
    for tool in ("skopeo", "skopo"):
        repo = f"force/{tool}"
        run_tool(tool, skopeo, run_skopo, "copy", "-q", "--dest-tls-verify=false", f"dir:{src}",
                 f"docker://{registry.host}/{repo}:gzip")
        run_tool(tool, skopeo, run_skopo, "copy", "-q", PLAIN, "--dest-compress-format", "zstd",
                 f"docker://{registry.host}/{repo}:gzip", f"docker://{registry.host}/{repo}:reused")
        assert media_types(registry, repo, "reused") == [gzip_type, gzip_type]
    ok(run_skopo("--insecure-policy", "copy", "-q", PLAIN, "--dest-compress-format", "zstd",
                 "--dest-force-compress-format", f"docker://{registry.host}/force/skopo:gzip",
                 f"docker://{registry.host}/force/skopo:zstd"))
    assert media_types(registry, "force/skopo", "zstd") == [zstd_type, zstd_type]
    out = tmp_path / "roundtrip"
    skopeo.run("copy", "--src-tls-verify=false", f"docker://{registry.host}/force/skopo:zstd", f"oci:{out}:x")


def test_dest_force_compress_format_needs_a_format(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=39, layer_count=1, layer_size=64), tmp_path / "src")
    assert_clean_error(
        run_skopo("--insecure-policy", "copy", "--dest-force-compress-format", f"dir:{src}", f"dir:{tmp_path / 'd'}"),
        expected_exit=1, match="cannot use ForceCompressionFormat with undefined default compression format",
    )
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------- --sign-by-sq-fingerprint


def test_sign_by_sq_fingerprint_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = write_dir(build_image(seed=40, layer_count=1, layer_size=64), tmp_path / "src")
    for command in (["copy", f"dir:{src}", f"dir:{tmp_path / 'd'}"],
                    ["sync", "--src", "dir", "--dest", "dir", str(src), str(tmp_path / "s")]):
        line = assert_clean_error(
            run_skopo("--insecure-policy", command[0], "--sign-by-sq-fingerprint", "ABCD", *command[1:]),
            expected_exit=1, match="--sign-by-sq-fingerprint is not supported",
        )
        assert "Sequoia" in line
    assert not (tmp_path / "d").exists() and not (tmp_path / "s").exists()


# ---------------------------------------------------------------- --compat-auth-file


def test_compat_auth_file(tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner) -> None:
    registry = registry_factory(htpasswd=("alice", "secret"))
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"credsStore": "", "HttpHeaders": {"X-Meta": "kept"}}))
    ok(run_skopo("login", PLAIN, "--compat-auth-file", config, "-u", "alice", "-p", "secret", registry.host))
    doc = json.loads(config.read_text())
    assert doc["HttpHeaders"] == {"X-Meta": "kept"} and doc["credsStore"] == ""
    assert list(doc["auths"]) == [registry.host]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    got = run_skopo("login", PLAIN, "--compat-auth-file", config, "--get-login", registry.host)
    assert got.stdout == b"alice\n"
    # Stored credentials are found there: no prompt, they are checked and reused.
    again = run_skopo("login", PLAIN, "--compat-auth-file", config, registry.host)
    ok(again)
    assert again.stdout.endswith(f"Already logged in to {registry.host}\n".encode())
    # Docker's own search ($DOCKER_CONFIG/config.json) reads the file skopo wrote.
    src = write_dir(build_image(seed=42, layer_count=1, layer_size=64), tmp_path / "src")
    ok(run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"dir:{src}",
                 f"docker://{registry.host}/compat/img:v1", env={"DOCKER_CONFIG": str(config.parent)}))
    assert_clean_error(run_skopo("login", PLAIN, "--compat-auth-file", config, "--authfile", tmp_path / "a.json",
                                 "-u", "alice", "-p", "secret", registry.host), expected_exit=1,
                       match="can not be set simultaneously")
    assert_clean_error(run_skopo("login", PLAIN, "--compat-auth-file", config, "-u", "alice", "-p", "secret",
                                 f"{registry.host}/team"), expected_exit=1,
                       match=f'Docker-compatible format with namespaced key "{registry.host}/team"')
    out = run_skopo("logout", "--compat-auth-file", config, registry.host)
    ok(out)
    assert out.stdout == f"Removed login credentials for {registry.host}\n".encode()
    assert json.loads(config.read_text())["auths"] == {}
    assert_clean_error(run_skopo("logout", "--compat-auth-file", config, registry.host), match="not logged into")
    assert not (tmp_path / "a.json").exists()


# ---------------------------------------------------------------- inspect --manifest-digest


def test_inspect_manifest_digest(tmp_path: Path, run_skopo: SkopoRunner) -> None:
    image = build_image(seed=41, layer_count=1, layer_size=256)
    src = write_dir(image, tmp_path / "src")
    default = json.loads(run_skopo("inspect", f"dir:{src}").stdout)
    assert default["Digest"] == "sha256:" + hashlib.sha256(image.manifest).hexdigest()
    for value, expected in (("sha512", "sha512:" + hashlib.sha512(image.manifest).hexdigest()),
                            ("sha256", default["Digest"]), ("", default["Digest"])):
        result = run_skopo("inspect", f"--manifest-digest={value}", f"dir:{src}")
        ok(result)
        assert json.loads(result.stdout)["Digest"] == expected
    formatted = run_skopo("inspect", "--manifest-digest", "sha512", "--format", "{{.Digest}}", f"dir:{src}")
    assert formatted.stdout.decode().startswith("sha512:")
    for bad in ("md5", "sha384", "SHA256"):
        assert_clean_error(run_skopo("inspect", "--manifest-digest", bad, f"dir:{src}"), expected_exit=1,
                           match=f'digest algorithm "{bad}" is not available')
    raw = run_skopo("inspect", "--raw", "--manifest-digest", "sha512", f"dir:{src}")
    assert raw.returncode == 0 and raw.stdout == image.manifest
    assert b"--manifest-digest only changes the Digest" in raw.stderr
