"""Hostile and flaky registries, through the fault-injecting proxy (security.md §3, corpus 34-42)."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest

from helpers import RegistryFactory, RegistryServer, SkopoRunner, assert_clean_error, describe_result
from helpers.fault_proxy import FaultProxy, Forward, ProxyRequest, Reply
from helpers.images import build_image, write_dir
from helpers.registry import get_manifest, push_image

pytestmark = pytest.mark.peer

PLAIN = "--src-tls-verify=false"


def pull(run_skopo: SkopoRunner, host: str, repo: str, dest: Path, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_skopo("--insecure-policy", "copy", "-q", PLAIN, *extra, f"docker://{host}/{repo}", f"dir:{dest}",
                     env=env)


def push(run_skopo: SkopoRunner, src: Path, host: str, repo: str):  # type: ignore[no-untyped-def]
    return run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", f"dir:{src}",
                     f"docker://{host}/{repo}")


def test_resume_after_cuts_each_range_served_once(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=50 * 1000 * 1000, seed=31, compression="none")
    repo = "fault/big:v1"
    push_image(registry_server, "fault/big", "v1", image)
    layer = image.layers[0]
    total = len(layer.data)
    cuts = [int(total * 0.3), int(total * 0.6), int(total * 0.9)]
    with FaultProxy(registry_server.url) as proxy:
        gets: list[int] = []

        def rule(r: ProxyRequest) -> Forward | None:
            if r.method != "GET" or layer.digest not in r.path:
                return None
            gets.append(1)
            n = len(gets)
            if n <= len(cuts):
                start = 0 if n == 1 else cuts[n - 2]
                return Forward(cut_after=cuts[n - 1] - start)
            return None

        proxy.rule = rule
        result = pull(run_skopo, proxy.host, repo, tmp_path / "out")
        assert result.returncode == 0, describe_result(result)
        served = [r for r in proxy.served if layer.digest in r.path]
    assert (tmp_path / "out" / layer.digest.split(":")[1]).read_bytes() == layer.data
    assert [r.start for r in served] == [0, *cuts]
    assert sum(r.sent for r in served) == total, "each byte range served exactly once"
    ranges = [r.headers.get("Range") for r in proxy.requests if r.method == "GET" and layer.digest in r.path]
    assert ranges == [None, *(f"bytes={c}-" for c in cuts)]


@pytest.mark.parametrize("bad", ["status-200", "wrong-start", "two-ranges"])
def test_bad_resume_reply_is_never_spliced(
    bad: str, tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=3 * 1000 * 1000, seed=32, compression="none")
    push_image(registry_server, f"fault/resume-{bad}", "v1", image)
    layer = image.layers[0]
    cut = len(layer.data) // 2

    def rule(r: ProxyRequest) -> Forward | Reply | None:
        if r.method != "GET" or layer.digest not in r.path:
            return None
        if "Range" not in r.headers:
            return Forward(cut_after=cut)
        if bad == "status-200":
            return Reply(200, [("Content-Type", "application/octet-stream")], layer.data)
        if bad == "wrong-start":
            return Reply(206, [("Content-Range", f"bytes 0-{len(layer.data) - 1}/{len(layer.data)}")], layer.data)
        return Reply(206, [("Content-Range", f"bytes {cut}-{len(layer.data) - 1}/{len(layer.data)}"),
                           ("Content-Range", f"bytes {cut}-{len(layer.data) - 1}/{len(layer.data)}")],
                     layer.data[cut:])

    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        result = pull(run_skopo, proxy.host, f"fault/resume-{bad}:v1", tmp_path / "out")
    assert_clean_error(result, match="cannot resume", retries=True)  # the one reconnection is announced
    assert not (tmp_path / "out").exists()


def test_429_with_and_without_retry_after(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=33)
    push_image(registry_server, "fault/rate", "v1", image)
    seen: list[str] = []

    def rule(r: ProxyRequest) -> Reply | None:
        if "/manifests/" in r.path and r.method == "GET":
            seen.append(r.path)
            if len(seen) == 1:
                return Reply(429, [("Retry-After", "1")])
            if len(seen) == 2:
                return Reply(429)  # no Retry-After: 2 s back-off
        return None

    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        result = pull(run_skopo, proxy.host, "fault/rate:v1", tmp_path / "out")
    assert result.returncode == 0, describe_result(result)
    assert len(seen) == 3


def test_429_forever_gives_up_cleanly(tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=34)
    push_image(registry_server, "fault/rate2", "v1", image)
    count: list[int] = []

    def rule(r: ProxyRequest) -> Reply | None:
        if "/manifests/" in r.path:
            count.append(1)
            return Reply(429, [("Retry-After", "0")])
        return None

    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        result = pull(run_skopo, proxy.host, "fault/rate2:v1", tmp_path / "out")
    line = assert_clean_error(result, match="too many requests", retries=True)
    assert len(count) == 5
    announced = result.stderr.decode().splitlines()[:-1]
    assert [a.split(" ... ")[1].split(".")[0] for a in announced] == ["(1/4)", "(2/4)", "(3/4)", "(4/4)"], line


BLOB_RACE_BODY = json.dumps({"errors": [
    {"code": "DIGEST_INVALID", "message": "provided digest did not match uploaded content"},
    {"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": "sha256:00"}]}).encode()


@pytest.mark.parametrize("refusals", [2, 99])
def test_manifest_put_after_blob_race(
    refusals: int, tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    """distribution 2.x can answer "blob unknown" for a blob a concurrent push of the same blob
    is re-linking: the manifest PUT is tried again (three times), then the error is reported."""
    image = build_image(fmt="oci", layer_count=1, layer_size=1000, seed=35)
    src = write_dir(image, tmp_path / "src")
    puts: list[str] = []

    def rule(r: ProxyRequest) -> Reply | None:
        if r.method == "PUT" and "/manifests/" in r.path:
            puts.append(r.path)
            if len(puts) <= refusals:
                return Reply(400, [("Content-Type", "application/json")], BLOB_RACE_BODY)
        return None

    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        result = push(run_skopo, src, proxy.host, f"fault/race{refusals}:v1")
    if refusals == 2:
        assert result.returncode == 0, describe_result(result)
        assert len(puts) == 3
        assert get_manifest(registry_server, f"fault/race{refusals}", "v1").content == image.manifest
    else:
        assert_clean_error(result, match="uploading manifest v1 to .*manifest blob unknown")
        assert len(puts) == 4
        assert get_manifest(registry_server, f"fault/race{refusals}", "v1").status_code == 404


def test_server_error_on_blob_probe_uploads_the_blob(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="oci", layer_count=2, layer_size=1000, seed=36)
    src = write_dir(image, tmp_path / "src")
    probed: list[str] = []

    def rule(r: ProxyRequest) -> Reply | None:
        if r.method == "HEAD" and "/blobs/" in r.path:
            probed.append(r.path)
            return Reply(500, [("Content-Length", "0")])
        return None

    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        result = push(run_skopo, src, proxy.host, "fault/probe:v1")
        puts = [r.path for r in proxy.requests if r.method == "PUT" and "/blobs/uploads/" in r.path]
    assert result.returncode == 0, describe_result(result)
    assert len(probed) == len(puts) == len(image.layers) + 1  # every layer and the config
    assert get_manifest(registry_server, "fault/probe", "v1").content == image.manifest


def test_redirect_to_other_port_gets_no_authorization(
    tmp_path: Path, registry_factory: RegistryFactory, run_skopo: SkopoRunner
) -> None:
    registry = registry_factory(htpasswd=("alice", "secret"))
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=35)
    push_image(registry, "fault/redir", "v1", image)
    layer = image.layers[0]
    with FaultProxy(registry.url) as other, FaultProxy(registry.url) as front:
        front.rule = lambda r: (
            Reply(307, [("Location", f"{other.url}{r.path}")]) if r.method == "GET" and layer.digest in r.path else None
        )
        result = pull(run_skopo, front.host, "fault/redir:v1", tmp_path / "out", "--src-creds", "alice:secret")
        assert any("Authorization" in r.headers for r in front.requests)
        assert other.requests, "the redirect was followed"
        assert all("Authorization" not in r.headers for r in other.requests)
    # The registry behind the redirect wants auth, which it must not get from us.
    assert_clean_error(result, match="authentication required")


def test_trickling_server_times_out(tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=200000, seed=36, compression="none")
    push_image(registry_server, "fault/trickle", "v1", image)
    layer = image.layers[0]
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: Forward(trickle=3.0) if r.method == "GET" and layer.digest in r.path else None
        result = pull(run_skopo, proxy.host, "fault/trickle:v1", tmp_path / "out",
                      env={"SKOPO_REGISTRY_READ_TIMEOUT": "1"})
    assert_clean_error(result, match="(?i)timed out|no progress", retries=True)  # the one reconnection is announced


def test_content_encoding_gzip_is_not_decoded(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=5000, seed=37, compression="none")
    push_image(registry_server, "fault/enc", "v1", image)
    layer = image.layers[0]
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: (
            Forward(body_transform=gzip.compress, extra_headers=[("Content-Encoding", "gzip")])
            if r.method == "GET" and layer.digest in r.path
            else None
        )
        result = pull(run_skopo, proxy.host, "fault/enc:v1", tmp_path / "out")
    assert_clean_error(result, match="(?i)digest|size|announced")
    assert not (tmp_path / "out").exists()


def test_negative_content_length_and_control_chars(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=38)
    push_image(registry_server, "fault/cl", "v1", image)
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: (
            Reply(200, [("Content-Length", "-1"), ("Connection", "close")], b"{}") if "/manifests/" in r.path else None
        )
        result = pull(run_skopo, proxy.host, "fault/cl:v1", tmp_path / "out")
        assert_clean_error(result, match="Content-Length")
        body = json.dumps({"errors": [{"code": "DENIED", "message": "\x1b[2Jgo away\x07"}]}).encode()
        denied = Reply(403, [("Content-Type", "application/json")], body)
        proxy.rule = lambda r: denied if "/manifests/" in r.path else None
        result = pull(run_skopo, proxy.host, "fault/cl:v1", tmp_path / "out")
    line = assert_clean_error(result, match="go away")
    assert "\x1b" not in line and "\x07" not in line


def test_manifest_over_4mib_is_refused(tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner) -> None:
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: (
            Reply(200, [("Content-Type", "application/vnd.oci.image.manifest.v1+json")], b" " * (4 * 1024 * 1024 + 1))
            if "/manifests/" in r.path
            else None
        )
        result = pull(run_skopo, proxy.host, "fault/huge:v1", tmp_path / "out")
    assert_clean_error(result, match="exceeded maximum allowed size")


def test_digest_pinned_manifest_must_match(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt="docker", layer_count=1, layer_size=1000, seed=39)
    push_image(registry_server, "fault/pin", "v1", image)
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: Forward(body_transform=lambda b: b + b" ") if "/manifests/" in r.path else None
        result = pull(run_skopo, proxy.host, f"fault/pin@{image.manifest_digest}", tmp_path / "out")
    assert_clean_error(result, match="does not match")



@pytest.mark.parametrize("fault", ["cut", "tampered"])
def test_decompressed_layer_resumes_and_is_verified(
    tmp_path: Path, registry_server: RegistryServer, run_skopo: SkopoRunner, fault: str
) -> None:
    """A gzip layer decompressed into docker-archive: (received in a thread of its own,
    decoded in another): a cut connection resumes where it broke and the archive holds the
    layer's exact tar; a changed byte fails the copy with the digest error, no archive left."""
    image = build_image(fmt="docker", layer_count=2, layer_size=3_000_000, seed=33)
    push_image(registry_server, "fault/gz", "v1", image)
    layer = image.layers[1]
    gets: list[int] = []

    def rule(r: ProxyRequest) -> Forward | None:
        if r.method != "GET" or layer.digest not in r.path:
            return None
        gets.append(1)
        if fault == "cut" and len(gets) == 1:
            return Forward(cut_after=layer.size // 2)
        if fault == "tampered":
            return Forward(body_transform=lambda b: b[:-100] + bytes([b[-100] ^ 1]) + b[-99:])
        return None

    out = tmp_path / "out.tar"
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = rule
        result = run_skopo("--insecure-policy", "copy", "-q", PLAIN, f"docker://{proxy.host}/fault/gz:v1",
                           f"docker-archive:{out}:x/y:z")
    if fault == "tampered":
        assert_clean_error(result, match="Digest did not match")
        assert not out.exists()
        return
    assert result.returncode == 0, describe_result(result)
    with tarfile.open(out) as archive:
        members = {m.name: m for m in archive.getmembers()}
        wanted = layer.diff_id.split(":")[1]
        name = next(n for n in members if wanted in n)
        extracted = archive.extractfile(members[name])
        assert extracted is not None
        assert extracted.read() == gzip.decompress(layer.data)
