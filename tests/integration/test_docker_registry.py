"""`docker://` against the real docker-registry: plain HTTP, TLS, htpasswd and token auth.

Covers push, pull, cross-repository mount, `--all`, delete, list-tags with pagination,
login/logout, inspect field by field against skopeo, and interop both ways with skopeo
(same digests).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from helpers import RegistryFactory, RegistryServer, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.fault_proxy import FaultProxy, Forward, ProxyRequest, Reply
from helpers.images import BuiltImage, build_image, build_multiarch, write_dir
from helpers.registry import get_manifest, push_image
from helpers.token_issuer import TokenIssuer, start_token_issuer

pytestmark = pytest.mark.peer

PLAIN = "--tls-verify=false"


def ok(result: object) -> None:
    assert result.returncode == 0, describe_result(result)  # type: ignore[arg-type]


def skopo_copy(run_skopo: SkopoRunner, *args: str | Path) -> None:
    ok(run_skopo("--insecure-policy", "copy", "-q", *args))


def dir_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


# ---------------------------------------------------------------- plain HTTP


def test_push_then_skopeo_pulls_same_digests(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    image = build_image(fmt="docker", layer_count=2, layer_size=20000, seed=11)
    src = write_dir(image, tmp_path / "src")
    ref = registry_server.docker_ref("interop/pushed:v1")
    skopo_copy(run_skopo, "--dest-tls-verify=false", f"dir:{src}", ref)
    resp = get_manifest(registry_server, "interop/pushed", "v1")
    assert resp.content == image.manifest
    assert resp.headers["Docker-Content-Digest"] == image.manifest_digest
    skopeo.run("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'theirs'}")
    assert dir_files(tmp_path / "theirs")["manifest.json"] == image.manifest
    raw = skopeo.run("inspect", "--tls-verify=false", "--raw", ref).stdout
    assert raw == image.manifest


def test_skopeo_pushes_then_skopo_pulls(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    image = build_image(fmt="oci", layer_count=3, layer_size=10000, seed=12)
    src = write_dir(image, tmp_path / "src")
    ref = registry_server.docker_ref("interop/theirs:v2")
    skopeo.run("copy", "--dest-tls-verify=false", f"dir:{src}", ref)
    skopo_copy(run_skopo, "--src-tls-verify=false", ref, f"dir:{tmp_path / 'ours'}")
    skopeo.run("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'theirs'}")
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")
    # And registry -> registry.
    dest = registry_server.docker_ref("interop/copied:v2")
    skopo_copy(run_skopo, "--src-tls-verify=false", "--dest-tls-verify=false", ref, dest)
    assert get_manifest(registry_server, "interop/copied", "v2").content == image.manifest


def test_inspect_matches_skopeo(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    image = build_image(fmt="docker", layer_count=2, layer_size=5000, seed=13, labels={"a": "b"})
    push_image(registry_server, "inspect/me", "v1", image)
    push_image(registry_server, "inspect/me", "v2", image)
    ref = registry_server.docker_ref("inspect/me:v1")
    ours = run_skopo("inspect", PLAIN, ref)
    ok(ours)
    theirs = json.loads(skopeo.run("inspect", PLAIN, ref).stdout)
    mine = json.loads(ours.stdout)
    # Field by field, apart from fields skopeo 1.9.3 lacks (LayersData).
    assert {k: v for k, v in mine.items() if k in theirs} == theirs
    assert set(mine) - set(theirs) <= {"LayersData"}
    assert mine["RepoTags"] == ["v1", "v2"]
    no_tags = json.loads(run_skopo("inspect", PLAIN, "--no-tags", ref).stdout)
    assert no_tags["RepoTags"] == []
    raw = run_skopo("inspect", PLAIN, "--raw", ref)
    assert raw.stdout == image.manifest
    config = run_skopo("inspect", PLAIN, "--config", "--raw", ref)
    assert config.stdout == image.config


def test_missing_image_exits_2(registry_server: RegistryServer, run_skopo: SkopoRunner) -> None:
    result = run_skopo("inspect", PLAIN, registry_server.docker_ref("nothing/here:v1"))
    assert_clean_error(result, expected_exit=2, match="manifest unknown")


def test_mount_across_repositories(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=2, layer_size=20000, seed=14)
    push_image(registry, "mount/src", "v1", image)
    with FaultProxy(registry.url) as proxy:
        skopo_copy(
            run_skopo, "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{proxy.host}/mount/src:v1", f"docker://{proxy.host}/mount/dst:v1",
        )
        mounts = [r for r in proxy.requests if r.method == "POST" and "mount=" in r.path]
        uploads = [r for r in proxy.requests if r.method in ("PATCH", "PUT") and "/blobs/uploads/" in r.path]
    assert len(mounts) == 3  # two layers and the config
    assert uploads == []
    assert get_manifest(registry, "mount/dst", "v1").content == image.manifest


def test_upload_shapes_monolithic_when_digest_known_streamed_when_recompressed(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner
) -> None:
    """Blobs passed through unchanged go up as POST + PUT with the body (the registry checks
    `?digest=`); blobs compressed on the way are streamed (PATCH), then committed with an
    empty PUT carrying the digest computed while streaming."""
    image = build_image(fmt="docker", layer_count=2, layer_size=20000, seed=16)
    plain = build_image(fmt="oci", layer_count=1, layer_size=20000, seed=17, compression="none")
    with FaultProxy(registry.url) as proxy:
        skopo_copy(run_skopo, "--dest-tls-verify=false", f"dir:{write_dir(image, tmp_path / 'a')}",
                   f"docker://{proxy.host}/shapes/known:v1")
        known = [r for r in proxy.requests if "/blobs/uploads/" in r.path]
        proxy.requests.clear()
        skopo_copy(run_skopo, "--dest-tls-verify=false", f"dir:{write_dir(plain, tmp_path / 'b')}",
                   f"docker://{proxy.host}/shapes/recompressed:v1")
        recompressed = [r for r in proxy.requests if "/blobs/uploads/" in r.path]
    assert sorted(r.method for r in known) == ["POST"] * 3 + ["PUT"] * 3  # two layers and the config
    def committed(r: ProxyRequest) -> str:
        return parse_qs(urlsplit(r.path).query)["digest"][0]

    layer_digests = {d["digest"] for d in json.loads(image.manifest)["layers"]}
    assert {committed(r) for r in known if r.method == "PUT" and r.headers["Content-Length"] != "0"} >= layer_digests
    assert get_manifest(registry, "shapes/known", "v1").content == image.manifest
    patches = [r for r in recompressed if r.method == "PATCH"]
    commits = [r for r in recompressed if r.method == "PUT"]
    assert len(patches) == 1  # the layer, gzip-compressed on the way; the config is known
    assert len(commits) == 2 and sum(r.headers.get("Content-Length") == "0" for r in commits) == 1
    pushed = json.loads(get_manifest(registry, "shapes/recompressed", "v1").content)
    layer_digest = pushed["layers"][0]["digest"]
    assert [committed(r) for r in commits if r.headers.get("Content-Length") == "0"] == [layer_digest]


def test_monolithic_upload_of_a_tampered_blob_commits_nothing(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner
) -> None:
    """A source blob whose bytes do not match its digest (same size) fails the copy, and the
    registry, checking `?digest=` on the monolithic PUT, stores nothing under that digest."""
    image = build_image(fmt="docker", layer_count=1, layer_size=20000, seed=18)
    src = write_dir(image, tmp_path / "src")
    layer = json.loads(image.manifest)["layers"][0]["digest"]
    blob = src / layer.split(":", 1)[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"dir:{src}",
                       registry.docker_ref("tampered/img:v1"))
    assert_clean_error(result, match="(?i)digest did not match")
    head = requests.head(f"{registry.url}/v2/tampered/img/blobs/{layer}", timeout=10)
    assert head.status_code == 404
    assert get_manifest(registry, "tampered/img", "v1").status_code == 404


def test_all_with_a_list_and_delete(
    tmp_path: Path, registry: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    index = build_multiarch(fmt="oci", seed=15)
    src = write_dir(index, tmp_path / "src")
    ref = f"docker://{registry.host}/multi/img:v1"
    skopo_copy(run_skopo, "--dest-tls-verify=false", "--all", f"dir:{src}", ref)
    assert get_manifest(registry, "multi/img", "v1").content == index.manifest
    for img in index.images:
        assert get_manifest(registry, "multi/img", img.manifest_digest).content == img.manifest
    skopeo.run("copy", "--all", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'theirs'}")
    skopo_copy(run_skopo, "--all", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'ours'}")
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")
    ok(run_skopo("delete", PLAIN, ref))
    assert get_manifest(registry, "multi/img", index.manifest_digest).status_code == 404
    assert_clean_error(run_skopo("inspect", PLAIN, ref), expected_exit=2)
    assert_clean_error(run_skopo("delete", PLAIN, ref), match="Unable to delete")


def test_list_tags_paginated(registry: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=16)
    tags = [f"t{i:02d}" for i in range(7)]
    for tag in tags:
        push_image(registry, "tags/repo", tag, image)
    # distribution 2.8 does not paginate tag lists: the proxy serves pages of 3 with a
    # `Link` whose host is foreign (only its path may be used) and adds junk tags.
    def pages_rule(request: ProxyRequest) -> Reply | None:
        if "/tags/list" not in request.path:
            return None
        query = parse_qs(urlsplit(request.path).query)
        start = int(query.get("last", ["0"])[0])
        page: list[object] = list(tags[start : start + 3])
        if start == 0:
            page += ["../x", "a" * 200, None, "sha256:" + "0" * 64]
        headers = [("Content-Type", "application/json")]
        if start + 3 < len(tags):
            headers.append(("Link", f'<http://evil.example:1/v2/tags/repo/tags/list?last={start + 3}&n=3>; rel="next"'))
        return Reply(200, headers, json.dumps({"name": "tags/repo", "tags": page}).encode())

    with FaultProxy(registry.url) as proxy:
        proxy.rule = pages_rule
        result = run_skopo("list-tags", PLAIN, f"docker://{proxy.host}/tags/repo")
        ok(result)
        pages = [r for r in proxy.requests if "/tags/list" in r.path]
    assert len(pages) == 3
    doc = json.loads(result.stdout)
    assert doc == {"Repository": f"{proxy.host}/tags/repo", "Tags": tags}
    theirs = skopeo.run("list-tags", PLAIN, f"docker://{registry.host}/tags/repo").stdout
    ours = run_skopo("list-tags", PLAIN, f"docker://{registry.host}/tags/repo").stdout
    assert ours == theirs
    assert_clean_error(run_skopo("list-tags", f"docker://{registry.host}/tags/repo:t1"), match="No tag or digest")
    assert_clean_error(run_skopo("list-tags", "dir:/x"), match="Unsupported transport 'dir'")


# ---------------------------------------------------------------- TLS


def test_tls_cert_dir_and_certs_d(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner
) -> None:
    registry = registry_factory(tls=True)
    assert registry.cert_dir is not None
    image = build_image(fmt="docker", layer_count=1, layer_size=4000, seed=17)
    src = write_dir(image, tmp_path / "src")
    ref = f"docker://{registry.host}/tls/img:v1"
    # Verified by default: the test CA is unknown, no fallback to http.
    assert_clean_error(run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", ref), match="(?i)certificate|TLS")
    skopo_copy(run_skopo, "--dest-cert-dir", str(registry.cert_dir), f"dir:{src}", ref)
    # certs.d under $HOME.
    certs_d = run_skopo.home / ".config/containers/certs.d" / registry.host
    certs_d.mkdir(parents=True)
    (certs_d / "ca.crt").write_bytes((registry.cert_dir / "ca.crt").read_bytes())
    ok(run_skopo("inspect", ref))
    # --tls-verify=false skips verification.
    ok(run_skopo("inspect", "--tls-verify=false", "--cert-dir", str(tmp_path), ref))
    # An orphan key is an error.
    bad = tmp_path / "bad-certs"
    bad.mkdir()
    (bad / "client.key").write_text("x")
    assert_clean_error(run_skopo("inspect", "--cert-dir", str(bad), ref), match="missing client certificate")


# ---------------------------------------------------------------- htpasswd


def test_basic_auth_creds_authfile_login_logout(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    registry = registry_factory(htpasswd=("alice", "secret"))
    image = build_image(fmt="docker", layer_count=1, layer_size=4000, seed=18)
    src = write_dir(image, tmp_path / "src")
    ref = f"docker://{registry.host}/auth/img:v1"
    assert_clean_error(
        run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"dir:{src}", ref),
        match="authentication required",
    )
    skopo_copy(run_skopo, "--dest-tls-verify=false", "--dest-creds", "alice:secret", f"dir:{src}", ref)
    assert_clean_error(run_skopo("inspect", PLAIN, "--creds", "alice:wrong", ref), match="authentication required")
    # login / logout with an explicit auth file.
    authfile = tmp_path / "auth" / "auth.json"
    bad = run_skopo("login", PLAIN, "--authfile", str(authfile), "-u", "alice", "-p", "nope", registry.host)
    assert_clean_error(bad, match="invalid username/password")
    good = run_skopo("login", PLAIN, "--authfile", str(authfile), "-u", "alice", "--password-stdin", registry.host,
                     input=b"secret\n")
    ok(good)
    assert good.stdout == b"Login Succeeded!\n"
    assert stat.S_IMODE(os.stat(authfile).st_mode) == 0o600
    assert "alice:secret" not in authfile.read_text()
    ok(run_skopo("inspect", PLAIN, "--authfile", str(authfile), ref))
    skopeo.run("inspect", PLAIN, "--authfile", str(authfile), ref)
    got = run_skopo("login", PLAIN, "--authfile", str(authfile), "--get-login", registry.host)
    assert got.stdout == b"alice\n"
    # Default search: REGISTRY_AUTH_FILE-less login writes $XDG_RUNTIME_DIR/containers/auth.json.
    ok(run_skopo("login", PLAIN, "-u", "alice", "-p", "secret", registry.host))
    ok(run_skopo("inspect", PLAIN, ref))
    out = run_skopo("logout", "--authfile", str(authfile), registry.host)
    assert out.stdout == f"Removed login credentials for {registry.host}\n".encode()
    assert_clean_error(run_skopo("logout", "--authfile", str(authfile), registry.host), match="not logged into")
    ok(run_skopo("logout", "--all"))
    assert_clean_error(run_skopo("inspect", PLAIN, ref), match="authentication required")


# ---------------------------------------------------------------- token auth


@pytest.fixture
def token_issuer(tmp_path: Path) -> Iterator[TokenIssuer]:
    issuer = start_token_issuer(tmp_path / "issuer", users={"bob": "hunter2"}, refresh_tokens={"rt-123": "bob"})
    try:
        yield issuer
    finally:
        issuer.stop()


def test_token_auth_scopes_and_interop(
    tmp_path: Path,
    registry_factory: RegistryFactory,
    token_issuer: TokenIssuer,
    run_skopo: SkopoRunner,
    skopeo: Skopeo,
) -> None:
    registry = registry_factory(extra_config=token_issuer.registry_config())
    image = build_image(fmt="docker", layer_count=2, layer_size=4000, seed=19)
    src = write_dir(image, tmp_path / "src")
    ref = f"docker://{registry.host}/tok/img:v1"
    skopo_copy(run_skopo, "--dest-tls-verify=false", "--dest-creds", "bob:hunter2", f"dir:{src}", ref)
    assert set(token_issuer.scopes_requested()) == {"repository:tok/img:pull,push"}
    push_requests = len(token_issuer.requests)
    assert push_requests == 1, "one token for the whole push (cached per scope)"
    # Anonymous pull: only the pull scope.
    token_issuer.requests.clear()
    skopo_copy(run_skopo, "--src-tls-verify=false", ref, f"dir:{tmp_path / 'ours'}")
    assert token_issuer.scopes_requested() == ["repository:tok/img:pull"]
    assert not token_issuer.requests[0].basic_auth
    skopeo.run("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'theirs'}")
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")
    # Anonymous push is refused.
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"dir:{src}",
                       f"docker://{registry.host}/tok/other:v1")
    assert_clean_error(result)
    # Wrong password: the token server says no.
    bad = run_skopo("inspect", PLAIN, "--creds", "bob:wrong", ref)
    assert_clean_error(bad, match="invalid username/password")
    # An identity token (refresh_token grant) from auth.json.
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {registry.host: {"auth": "", "identitytoken": "rt-123"}}}))
    token_issuer.requests.clear()
    ok(run_skopo("inspect", PLAIN, "--authfile", str(authfile), ref))
    assert token_issuer.requests and all(r.grant_type == "refresh_token" for r in token_issuer.requests)
    # --registry-token is used verbatim, no token request.
    token_issuer.requests.clear()
    assert_clean_error(run_skopo("inspect", PLAIN, "--registry-token", "bogus", ref))
    assert token_issuer.requests == []
    # login against a token registry.
    ok(run_skopo("login", PLAIN, "--authfile", str(tmp_path / "a2.json"), "-u", "bob", "-p", "hunter2",
                 registry.host))



def test_token_shared_by_the_images_of_one_sync_but_not_across_credentials(
    tmp_path: Path,
    registry_factory: RegistryFactory,
    token_issuer: TokenIssuer,
    registry: RegistryServer,
    run_skopo: SkopoRunner,
) -> None:
    """Every client of a registry in one process shares the bearer tokens it fetched, keyed
    by credentials and scopes: a sync of three images from one repository asks the token
    server once; another user (or anonymous) never gets that user's token."""
    from toolkit.transports.docker._client import RegistryClient
    from toolkit.types import Credentials, OptionalBool, SystemContext

    authed = registry_factory(extra_config=token_issuer.registry_config())
    for i in range(3):
        push = build_image(fmt="docker", layer_count=1, layer_size=3000, seed=40 + i)
        skopo_copy(run_skopo, "--dest-tls-verify=false", "--dest-creds", "bob:hunter2",
                   f"dir:{write_dir(push, tmp_path / f'src{i}')}", f"docker://{authed.host}/tok/many:t{i}")
    token_issuer.requests.clear()
    ok(run_skopo("--insecure-policy", "sync", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                 "--src-creds", "bob:hunter2", "--src", "docker", "--dest", "docker",
                 f"{authed.host}/tok/many", f"{registry.host}/mirror"))
    assert [(r.account, r.scopes) for r in token_issuer.requests] == [("bob", ["repository:tok/many:pull"])]

    token_issuer.requests.clear()
    ctx = SystemContext(tls_verify=OptionalBool.FALSE, auth_file_path=tmp_path / "none.json")
    scopes = ["repository:tok/many:pull"]
    bob = Credentials(username="bob", password="hunter2")
    for creds in (bob, Credentials(username="bob", password="hunter2"), None):
        client = RegistryClient(ctx, authed.host, scopes=scopes, credentials=creds, use_credentials=creds is not None)
        resp = client.request("HEAD", "/v2/tok/many/manifests/t0")
        assert resp.status_code == 200
        resp.close()
    assert [r.account for r in token_issuer.requests] == ["bob", None]



_REMOTE_ADDR = re.compile(r'http\.request\.remoteaddr="?([0-9.:\[\]a-f]+)')


def _read_blobs(source: object, image: BuiltImage, sizes: tuple[int, ...] = (70_001, 4096, 1 << 20)) -> list[bytes]:
    """Each layer of `image` read through `source.get_blob` with `readinto` (one buffer
    size per layer)."""
    from toolkit.digest import Digest
    from toolkit.types import BlobInfo

    out = []
    for layer, size in zip(image.layers, sizes, strict=False):
        info = BlobInfo(digest=Digest.parse(layer.digest), size=layer.size, media_type=layer.media_type)
        stream, announced = source.get_blob(info)  # type: ignore[attr-defined]
        assert announced == layer.size
        got, buffer = bytearray(), bytearray(size)
        try:
            while n := stream.readinto(buffer):
                got += buffer[:n]
        finally:
            stream.close()
        out.append(bytes(got))
    return out


@pytest.mark.parametrize("tls", [False, True])
def test_blob_reads_fill_the_callers_buffers_and_give_the_connection_back(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner, tls: bool
) -> None:
    """A registry blob read with `readinto` (odd buffer sizes, over TLS too) yields its exact
    bytes; read to its end, it leaves its connection in the pool: the next blob comes over
    the same one."""
    from toolkit.transports import parse_image_name
    from toolkit.types import OptionalBool, SystemContext

    reg = registry_factory(tls=tls)
    image = build_image(fmt="oci", layer_count=3, layer_size=300_000, seed=61)
    where = ["--dest-cert-dir", str(reg.cert_dir)] if tls else ["--dest-tls-verify=false"]
    skopo_copy(run_skopo, *where, f"dir:{write_dir(image, tmp_path / 'src')}", f"docker://{reg.host}/reads/img:v1")
    ctx = SystemContext(cert_dir=reg.cert_dir) if tls else SystemContext(tls_verify=OptionalBool.FALSE)
    source = parse_image_name(f"docker://{reg.host}/reads/img:v1").new_image_source(ctx)
    mark = reg.log_path.stat().st_size
    try:
        assert _read_blobs(source, image) == [layer.data for layer in image.layers]
    finally:
        source.close()
    text = reg.log_path.read_bytes()[mark:].decode("utf-8", errors="replace")
    assert len(set(_REMOTE_ADDR.findall(text))) == 1, text[-3000:]


def test_blob_reads_of_a_chunked_or_tampered_body(registry_server: RegistryServer) -> None:
    """A body in chunked framing (read through urllib3, not the socket) yields the same
    bytes; a body with one byte changed fails its digest check at its end."""
    from toolkit.errors import DigestMismatchError
    from toolkit.transports import parse_image_name
    from toolkit.types import OptionalBool, SystemContext

    image = build_image(fmt="oci", layer_count=2, layer_size=200_000, seed=62, compression="none")
    push_image(registry_server, "reads/framing", "v1", image)
    chunked, tampered = image.layers

    def framed(data: bytes) -> bytes:
        pieces = [data[i : i + 50_000] for i in range(0, len(data), 50_000)]
        return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"

    def flip(data: bytes) -> bytes:
        return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]

    def rule(r: ProxyRequest) -> Forward | Reply | None:
        if r.method == "GET" and chunked.digest in r.path:
            headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")]
            return Reply(200, headers=headers, body=framed(chunked.data))
        if r.method == "GET" and tampered.digest in r.path:
            return Forward(body_transform=flip)
        return None

    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        ctx = SystemContext(tls_verify=OptionalBool.FALSE)
        source = parse_image_name(f"docker://{proxy.host}/reads/framing:v1").new_image_source(ctx)
        try:
            assert _read_blobs(source, image, (65_536,)) == [chunked.data]
            with pytest.raises(DigestMismatchError, match="Digest did not match"):
                _read_blobs(source, image, (1 << 20, 1 << 20))
        finally:
            source.close()
