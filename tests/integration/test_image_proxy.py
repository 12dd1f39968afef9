"""`experimental-image-proxy`: the protocol through a client written from its description
(tests/helpers/proxy_client.py), against skopo and against skopeo 1.9.3.

- Reading a whole image (manifest, config, every layer) through skopo's proxy gives the
  bytes `skopo copy IMAGE dir:` writes, for every transport.
- The same client against skopeo 1.9.3's proxy (protocol 0.2.3: no `error_code`, no
  GetLayerInfo*/GetRawBlob/OpenImageOptional) reads the same bytes, so the client is right
  and skopo's conversions (schema2 -> OCI manifest, OCI config) are skopeo's.
- Errors: unknown methods, bad arguments, unknown ids, wrong sizes and digests, a closed
  pipe, bad JSON, the trust policy, missing images; the proxy never dies on a bad request
  and exits 0 on Shutdown or end of the socket.
- The trust policy as skopeo main applies it: a list passes when either the list or the
  instance for this platform is signed (real gpg signatures), and is refused when neither is.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from helpers import GnupgHome, PodmanService, RegistryServer, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltImage, Platform, build_image, build_multiarch, write_dir, write_oci_layout
from helpers.proxy_client import ProxyCallError, ProxyClient
from helpers.registry import push_image

ProxyFactory = Callable[..., ProxyClient]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _proxy_factory(argv: list[str], env: Mapping[str, str], cwd: Path) -> Iterator[ProxyFactory]:
    started: list[ProxyClient] = []

    def start(*global_args: str, extra_args: tuple[str, ...] = (), sockfd: bool = True) -> ProxyClient:
        client = ProxyClient.start([*argv, *global_args], sockfd=sockfd, env=env, extra_args=extra_args,
                                   cwd=str(cwd))
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


@pytest.fixture
def skopo_proxy(run_skopo: SkopoRunner) -> Iterator[ProxyFactory]:
    """`skopo_proxy(*global_args, extra_args=(), sockfd=True)`: a started skopo proxy."""
    yield from _proxy_factory([sys.executable, "-m", "toolkit"], run_skopo.env, run_skopo.isolated.root)


@pytest.fixture
def skopeo_proxy(skopeo: Skopeo) -> Iterator[ProxyFactory]:
    """The same for skopeo 1.9.3 (with --insecure-policy, its proxy checks no policy anyway)."""
    yield from _proxy_factory([skopeo.binary, "--insecure-policy"], skopeo.env, skopeo.isolated.root)


def read_image(client: ProxyClient, name: str) -> dict[str, Any]:
    """Everything a client fetches to unpack `name`: manifest digest and OCI bytes, full
    config, config blob (when the manifest names one the source has) and every layer."""
    image = client.call("OpenImage", name).value
    assert isinstance(image, int) and image > 0
    digest, manifest = client.call_piped("GetManifest", image)
    _, full_config = client.call_piped("GetFullConfig", image)
    parsed = json.loads(manifest)
    if client.protocol_version >= "0.2.7":
        layers_info = json.loads(client.call_piped("GetLayerInfoPiped", image)[1])
        assert client.call("GetLayerInfo", image).value == layers_info
    else:  # 0.2.3 (skopeo 1.9.3): the manifest's layers
        layers_info = [{"digest": x["digest"], "size": x["size"], "media_type": x["mediaType"]}
                       for x in parsed["layers"]]
    layers = {}
    for info in layers_info:
        size, data = client.call_piped("GetBlob", image, info["digest"], info["size"])
        assert size == info["size"] == len(data)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == info["digest"]
        layers[info["digest"]] = data
    client.call("CloseImage", image)
    return {"digest": digest, "manifest": manifest, "config": full_config, "layers": layers,
            "layer_info": layers_info}


def copied_to_dir(run_skopo: SkopoRunner, name: str, dest: Path, *extra: str) -> dict[str, bytes]:
    result = run_skopo("--insecure-policy", "copy", "-q", *extra, name, f"dir:{dest}", timeout=300)
    assert result.returncode == 0, describe_result(result)
    return {p.name: p.read_bytes() for p in dest.iterdir()}


def assert_same_as_dir_copy(got: dict[str, Any], files: dict[str, bytes]) -> None:
    manifest = files["manifest.json"]
    assert got["digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    original = json.loads(manifest)
    if original.get("mediaType") != "application/vnd.docker.distribution.manifest.v2+json":
        assert got["manifest"] == manifest
    else:  # docker schema2: same layers, converted media types, converted config
        converted = json.loads(got["manifest"])
        assert converted["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert [x["digest"] for x in converted["layers"]] == [x["digest"] for x in original["layers"]]
    for digest, data in got["layers"].items():
        assert files[digest.split(":")[1]] == data
    assert sorted(got["layers"]) == sorted(x["digest"] for x in original["layers"])
    config = json.loads(files[original["config"]["digest"].split(":")[1]])
    full = json.loads(got["config"])
    assert (full["architecture"], full["os"], full["rootfs"]) == (config["architecture"], config["os"],
                                                                    config["rootfs"])


# ---------------------------------------------------------------- whole images, every transport


@pytest.fixture(params=["docker", "oci"])
def image(request: pytest.FixtureRequest) -> BuiltImage:
    return build_image(fmt=request.param, layer_count=3, layer_size=200_000, seed=71,
                       labels={"proxy": "yes"}, indent=None)


def _names(image: BuiltImage, tmp_path: Path, run_skopo: SkopoRunner) -> dict[str, str]:
    src = write_dir(image, tmp_path / "src")
    names = {"dir": f"dir:{src}"}
    if image.format == "oci":
        write_oci_layout(image, tmp_path / "layout", "v1")
        names["oci"] = f"oci:{tmp_path / 'layout'}:v1"
    for name, target in [("oci-archive", f"oci-archive:{tmp_path / 'img.oci.tar'}:v1"),
                         ("docker-archive", f"docker-archive:{tmp_path / 'img.tar'}:proxy/test:v1")]:
        result = run_skopo("--insecure-policy", "copy", "-q", names["dir"], target, timeout=300)
        assert result.returncode == 0, describe_result(result)
        names[name] = target
    return names


def test_every_local_transport_reads_like_a_dir_copy(
    skopo_proxy: ProxyFactory, run_skopo: SkopoRunner, image: BuiltImage, tmp_path: Path
) -> None:
    names = _names(image, tmp_path, run_skopo)
    client = skopo_proxy()
    assert client.initialize() == "0.2.8"
    for transport, name in names.items():
        got = read_image(client, name)
        files = copied_to_dir(run_skopo, name, tmp_path / f"copy-{transport}")
        assert_same_as_dir_copy(got, files)
    assert client.shutdown() == 0, client.stderr_text


def test_registry_and_tarball_read_like_a_dir_copy(
    skopo_proxy: ProxyFactory, run_skopo: SkopoRunner, registry_server: RegistryServer, tmp_path: Path
) -> None:
    image = build_image(fmt="docker", layer_count=2, layer_size=100_000, seed=72, indent=None)
    push_image(registry_server, "proxy/reg", "v1", image)
    name = registry_server.docker_ref("proxy/reg:v1")
    client = skopo_proxy(extra_args=("--tls-verify=false",))
    client.initialize()
    got = read_image(client, name)
    assert got["digest"] == image.manifest_digest
    assert_same_as_dir_copy(got, copied_to_dir(run_skopo, name, tmp_path / "copy", "--src-tls-verify=false"))
    assert got["layers"] == {layer.digest: layer.data for layer in image.layers}

    layer = tmp_path / "layer.tar"
    layer.write_bytes(image.layers[0].data)
    got = read_image(client, f"tarball:{layer}")
    assert_same_as_dir_copy(got, copied_to_dir(run_skopo, f"tarball:{layer}", tmp_path / "copy-tarball"))
    assert client.shutdown() == 0


def test_docker_daemon_reads_like_a_dir_copy(
    skopo_proxy: ProxyFactory, run_skopo: SkopoRunner, podman_service: PodmanService, tmp_path: Path
) -> None:
    image = build_image(fmt="docker", layer_count=2, layer_size=50_000, seed=73, indent=None)
    src = write_dir(image, tmp_path / "src")
    host = podman_service.docker_host
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-daemon-host", host, f"dir:{src}",
                       "docker-daemon:localhost/proxy/daemon:v1", env={"DOCKER_HOST": None}, timeout=300)
    assert result.returncode == 0, describe_result(result)
    name = "docker-daemon:localhost/proxy/daemon:v1"
    client = skopo_proxy(extra_args=("--daemon-host", host))
    client.initialize()
    got = read_image(client, name)
    assert_same_as_dir_copy(got, copied_to_dir(run_skopo, name, tmp_path / "copy", "--src-daemon-host", host))


def test_manifest_lists_resolve_to_the_platform(skopo_proxy: ProxyFactory, tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci", platforms=(Platform("linux", "amd64"), Platform("linux", "arm64")), seed=74)
    write_oci_layout(index, tmp_path / "layout", "multi")
    name = f"oci:{tmp_path / 'layout'}:multi"
    for arch, instance in (("amd64", index.images[0]), ("arm64", index.images[1])):
        client = skopo_proxy("--override-arch", arch, "--override-os", "linux")
        client.initialize()
        got = read_image(client, name)
        assert (got["digest"], got["manifest"]) == (instance.manifest_digest, instance.manifest)
        assert got["layers"] == {layer.digest: layer.data for layer in instance.layers}
    client = skopo_proxy("--override-arch", "s390x")
    client.initialize()
    with pytest.raises(ProxyCallError, match="no image found"):
        client.call("OpenImage", name)


# ---------------------------------------------------------------- the client, proven against skopeo


def test_skopeo_1_9_3_serves_the_same_bytes(
    skopo_proxy: ProxyFactory, skopeo_proxy: ProxyFactory, image: BuiltImage, registry_server: RegistryServer,
    tmp_path: Path
) -> None:
    src = write_dir(image, tmp_path / "src")
    repo = f"proxy/peer-{image.format}"
    push_image(registry_server, repo, "v1", image)
    names = [f"dir:{src}", registry_server.docker_ref(f"{repo}:v1")]
    if image.format == "oci":
        write_oci_layout(image, tmp_path / "layout", "v1")
        names.append(f"oci:{tmp_path / 'layout'}:v1")
    ours = skopo_proxy(extra_args=("--tls-verify=false",))
    theirs = skopeo_proxy(extra_args=("--tls-verify=false",))
    assert ours.initialize() == "0.2.8"
    assert theirs.initialize() == "0.2.3"
    for name in names:
        a, b = read_image(ours, name), read_image(theirs, name)
        for key in ("digest", "manifest", "config", "layers"):
            assert a[key] == b[key], (name, key)
        assert [x["media_type"] for x in a["layer_info"]] == [
            x["mediaType"] for x in json.loads(files_manifest(src))["layers"]]
        _, ours_config = ours.call_piped("GetConfig", ours.call("OpenImage", name).value)
        _, theirs_config = theirs.call_piped("GetConfig", theirs.call("OpenImage", name).value)
        assert ours_config == theirs_config
    assert ours.shutdown() == 0
    assert theirs.shutdown() == 0


def files_manifest(src: Path) -> bytes:
    return (src / "manifest.json").read_bytes()


#: Requests both proxies answer with the same error text (methods skopeo 1.9.3 has).
SHARED_ERRORS: list[tuple[Any, ...]] = [
    ("Bogus",),
    ("OpenImage",),
    ("OpenImage", 1),
    ("OpenImage", "nope:/x"),
    ("OpenImage", "dir:a", "b"),
    ("CloseImage", 99),
    ("GetManifest",),
    ("GetManifest", 7),
    ("GetFullConfig",),
    ("GetConfig", 1, 2),
    ("GetBlob", 1),
    ("GetBlob", 1, 5, 10),
    ("GetBlob", 1, "sha256:abc", 10),
    ("GetBlob", 1, "md5:abc", 10),
    ("GetBlob", 1, "sha256:" + "A" * 64, 10),
    ("GetBlob", 1, "x", 10),
    ("GetBlob", 1, "sha256:" + "0" * 64, "ten"),
    ("GetBlob", 1, "sha256:" + "0" * 64, 2.0 ** 60),
    ("FinishPipe", 12345),
    ("FinishPipe", "x"),
    ("Initialize", 1),
]

SHARED_PACKETS = [b"not json", b'{"method":5}', b'{"a":1,}', b"  ", b'"\\q"', b'{"args":{}}',
                  b'{"args":[1e400]}', b"null", b'[1 2]', b'{"method":"Initialize","args":[],}', b"tru",
                  b"1.", b"-", b"1e+", b'"\\', b'"\\u12', b"nul", b'{"a"', b"[1", b"01", b"[01]",
                  b'{"a":nul}', b'{"method":"Bogus"} x', b'\xff', b'{"method":"\xff"}', b'[]', b'{"args":"x"}']


def test_errors_match_skopeo(skopo_proxy: ProxyFactory, skopeo_proxy: ProxyFactory, image: BuiltImage,
                             tmp_path: Path) -> None:
    src = write_dir(image, tmp_path / "src")
    ours, theirs = skopo_proxy(), skopeo_proxy()
    for client in (ours, theirs):
        with pytest.raises(ProxyCallError, match="^OpenImage: client error: must invoke Initialize"):
            client.call("OpenImage", f"dir:{src}")
        client.initialize()
        assert client.call("OpenImage", f"dir:{src}").value == 1
    for request in SHARED_ERRORS:
        errors = []
        for client in (ours, theirs):
            with pytest.raises(ProxyCallError) as caught:
                client.call(*request)
            errors.append(caught.value)
        assert errors[0].error == errors[1].error, request
        assert (errors[0].error_code, errors[1].error_code) == ("other", None)
    for packet in SHARED_PACKETS:
        replies = [client.raw_call(packet)[0] for client in (ours, theirs)]
        assert replies[0]["error"] == replies[1]["error"].replace("main.request", "jsonproxy.request"), packet
        assert replies[0]["success"] is False and replies[0]["error_code"] == "other"
        assert list(replies[0]) == ["success", "value", "pipeid", "error_code", "error"]
    layer = image.layers[0]
    schema1 = tmp_path / "schema1"
    schema1.mkdir()
    (schema1 / "version").write_text("Directory Transport Version: 1.1\n")
    (schema1 / "manifest.json").write_bytes((FIXTURES / "manifests" / "v2s1-signed.json").read_bytes())
    for client in (ours, theirs):
        schema1_id = client.call("OpenImage", f"dir:{schema1}").value
        with pytest.raises(ProxyCallError, match="^GetManifest: unsupported legacy manifest MIME type: "
                                                 "application/vnd.docker.distribution.manifest.v1"):
            client.call("GetManifest", schema1_id)
    for client in (ours, theirs):  # stream errors come from FinishPipe
        with pytest.raises(ProxyCallError, match=f"^FinishPipe: expected 10 bytes in blob, got {len(layer.data)}"):
            client.call_piped("GetBlob", 1, layer.digest, 10)
    corrupt = bytearray(layer.data)
    corrupt[len(corrupt) // 2] ^= 0xFF
    (src / layer.digest.split(":")[1]).write_bytes(bytes(corrupt))
    for client in (ours, theirs):
        with pytest.raises(ProxyCallError, match=f"^FinishPipe: corrupted blob, expecting {layer.digest}"):
            client.call_piped("GetBlob", 1, layer.digest, len(layer.data))
    assert ours.shutdown() == 0 and theirs.shutdown() == 0


# ---------------------------------------------------------------- 0.2.8 only, and skopo's policy


def test_protocol_0_2_8_extras(skopo_proxy: ProxyFactory, registry_server: RegistryServer, tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=1, layer_size=300_000, seed=75)
    src = write_dir(image, tmp_path / "src")
    push_image(registry_server, "proxy/extras", "v1", image)
    client = skopo_proxy(extra_args=("--tls-verify=false",))
    client.initialize()
    with pytest.raises(ProxyCallError, match="already initialized"):
        client.initialize()
    image_id = client.call("OpenImage", f"dir:{src}").value
    layer = image.layers[0]
    size, data, error = client.get_raw_blob(image_id, layer.digest)
    assert (size, data, error) == (len(layer.data), layer.data, None)
    with pytest.raises(ProxyCallError, match="invalid imageid value of zero"):
        client.call("GetManifest", 0)
    # OpenImageOptional: 0 for a tag the registry does not know, an error for other failures.
    assert client.call("OpenImageOptional", registry_server.docker_ref("proxy/extras:nosuchtag")).value == 0
    assert client.call("OpenImageOptional", registry_server.docker_ref("proxy/extras:v1")).value > 0
    assert client.call("OpenImageOptional", f"oci:{write_oci_layout(image, tmp_path / 'l', 'v1')}:other").value == 0
    with pytest.raises(ProxyCallError, match="manifest unknown"):
        client.call("OpenImage", registry_server.docker_ref("proxy/extras:nosuchtag"))
    with pytest.raises(ProxyCallError):
        client.call("OpenImageOptional", f"dir:{tmp_path / 'missing'}")
    # A reader that goes away: the worker sees EPIPE, FinishPipe reports it.
    reply = client.call("GetBlob", image_id, layer.digest, len(layer.data))
    os.close(reply.fds[0])
    with pytest.raises(ProxyCallError) as caught:
        client.call("FinishPipe", reply.pipeid)
    assert (caught.value.error, caught.value.error_code) == ("write |1: broken pipe", "EPIPE")
    with pytest.raises(ProxyCallError, match="finishpipe: no active pipe"):
        client.call("FinishPipe", reply.pipeid)
    # GetRawBlob reports a corrupted blob on the error fd, after the data.
    corrupt = bytearray(layer.data)
    corrupt[0] ^= 1
    (src / layer.digest.split(":")[1]).write_bytes(bytes(corrupt))
    size, data, error = client.get_raw_blob(image_id, layer.digest)
    assert data == bytes(corrupt) and error is not None and error["code"] == "other"
    assert layer.digest in error["message"]
    with pytest.raises(ProxyCallError, match=r"found 0 args, expecting \(pipeid\)"):
        client.call("FinishPipe")
    assert client.call("CloseImage", image_id).value is None
    assert client.shutdown() == 0


def test_the_trust_policy_is_applied(skopo_proxy: ProxyFactory, tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=1, layer_size=1000, seed=76)
    src = write_dir(image, tmp_path / "src")
    index = build_multiarch(fmt="oci", platforms=(Platform("linux", "amd64"),), seed=77)
    write_oci_layout(index, tmp_path / "layout", "v1")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}],
                                  "transports": {"dir": {str(src): [{"type": "insecureAcceptAnything"}]}}}))
    client = skopo_proxy("--policy", str(policy))
    client.initialize()
    assert client.call("OpenImage", f"dir:{src}").value == 1
    with pytest.raises(ProxyCallError, match="rejected by policy"):
        client.call("OpenImage", f"oci:{tmp_path / 'layout'}:v1")
    with pytest.raises(ProxyCallError, match="rejected by policy"):
        client.call("OpenImage", f"dir:{write_dir(image, tmp_path / 'other')}")
    # Initialize reports what loading the policy or building the context failed on.
    client = skopo_proxy("--policy", str(tmp_path / "nope.json"))
    with pytest.raises(ProxyCallError, match="nope.json"):
        client.initialize()
    client = skopo_proxy("--insecure-policy", extra_args=("--creds", "a:b", "--no-creds"))
    with pytest.raises(ProxyCallError, match="cannot be specified at the same time"):
        client.initialize()
    assert client.shutdown() == 0


def test_socket_on_stdin_and_end_of_file(skopo_proxy: ProxyFactory, tmp_path: Path) -> None:
    client = skopo_proxy("--insecure-policy", sockfd=False)
    assert client.initialize() == "0.2.8"
    client.sock.close()  # end of file: the proxy exits 0
    assert client.wait() == 0


def test_a_bad_socket_fd_is_one_error_line(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    result = run_skopo("experimental-image-proxy", "--sockfd", "99")
    assert assert_clean_error(result, expected_exit=1) == "file file+net sock: fcntl: bad file descriptor"
    result = run_skopo("experimental-image-proxy")  # stdin is /dev/null, not a socket
    assert result.returncode == 1 and "socket operation on non-socket" in result.stderr.decode()
    help_text = run_skopo("--help").stdout.decode()
    assert "experimental-image-proxy" not in help_text  # hidden, as in skopeo


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_blobs_stream_with_flat_memory(skopo_proxy: ProxyFactory, tmp_path: Path) -> None:
    big = os.urandom(96 << 20)
    layer_digest = "sha256:" + hashlib.sha256(big).hexdigest()
    image = build_image(fmt="oci", layer_count=1, layer_size=1000, seed=78)
    src = write_dir(image, tmp_path / "src")
    (src / layer_digest.split(":")[1]).write_bytes(big)
    client = skopo_proxy("--insecure-policy")
    client.initialize()
    image_id = client.call("OpenImage", f"dir:{src}").value
    client.call_piped("GetManifest", image_id)
    before = _peak_rss_kib(client.process.pid)
    size, data = client.call_piped("GetBlob", image_id, layer_digest, len(big))
    assert size == len(big) and data == big
    grown = _peak_rss_kib(client.process.pid) - before
    assert grown < 32 << 10, f"the proxy's peak memory grew by {grown} KiB for a 96 MiB blob"


def test_list_policy_needs_the_list_or_the_instance_signed(
    skopo_proxy: ProxyFactory, run_skopo: SkopoRunner, gnupg_home: GnupgHome, tmp_path: Path
) -> None:
    """skopeo main: a list is refused only if both its own check and the chosen instance's fail."""
    fingerprint = gnupg_home.make_key("Alice <alice@example.com>", algo="ed25519")
    key = tmp_path / "alice.gpg"
    key.write_bytes(gnupg_home.export_public(fingerprint))
    identity = "registry.example.com/proxy/list:v1"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": [{
        "type": "signedBy", "keyType": "GPGKeys", "keyPath": str(key),
        "signedIdentity": {"type": "exactReference", "dockerReference": identity}}]}}}))
    index = build_multiarch(fmt="docker", platforms=(Platform("linux", "amd64"),), seed=79)
    instance = index.images[0]

    def signatures_of(image: Any, name: str, *extra: str) -> list[bytes]:
        src = write_dir(image, tmp_path / f"{name}-unsigned")
        signed = tmp_path / f"{name}-signed"
        result = run_skopo("--insecure-policy", "copy", "-q", *extra, "--sign-by", fingerprint, "--sign-identity",
                           identity, f"dir:{src}", f"dir:{signed}", env={"GNUPGHOME": str(gnupg_home.path)})
        assert result.returncode == 0, describe_result(result)
        return [p.read_bytes() for p in sorted(signed.glob("signature-*"))]

    instance_signature = signatures_of(instance, "instance")
    list_signature = signatures_of(index, "list", "--all")
    hex_digest = instance.manifest_digest.split(":")[1]
    layouts = {}
    for case, top, inner in [("none", [], []), ("list", list_signature, []), ("instance", [], instance_signature)]:
        path = write_dir(index, tmp_path / f"case-{case}")
        for n, data in enumerate(top, 1):
            (path / f"signature-{n}").write_bytes(data)
        for n, data in enumerate(inner, 1):
            (path / f"{hex_digest}.signature-{n}").write_bytes(data)
        layouts[case] = f"dir:{path}"
    client = skopo_proxy("--policy", str(policy), "--override-os", "linux", "--override-arch", "amd64")
    client.initialize()
    for case in ("list", "instance"):
        image_id = client.call("OpenImage", layouts[case]).value
        assert client.call_piped("GetManifest", image_id)[0] == instance.manifest_digest
    with pytest.raises(ProxyCallError, match="signature"):
        client.call("OpenImage", layouts["none"])
    assert client.shutdown() == 0
