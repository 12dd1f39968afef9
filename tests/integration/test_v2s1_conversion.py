"""`copy --format v2s1` of schema2 and OCI images, side by side with skopeo 1.9.3.

skopo converts as containers/image does (history -> v1Compatibility, empty layers -> the
gzipped empty tar, layers reversed, chained v1 IDs, a throwaway JWS signature). The tests
compare skopo's manifest with skopeo's own conversion of the same image, field by field
except the signature (a fresh key and time each run): same v1 IDs, same v1Compatibility
bytes, same blobs in `dir:`. A registry configured to accept schema1 (docker/distribution
verifies the JWS signature) takes skopo's push, and skopeo and skopo read it back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltImage, build_image, sha256_digest, write_dir, write_oci_layout
from helpers.registry import RegistryServer

EMPTY_LAYER = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
SCHEMA1_ON = {"compatibility": {"schema1": {"enabled": True}}}
V2S1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def with_config(image: BuiltImage, config: dict[str, Any]) -> BuiltImage:
    """`image` with another config (same layers), manifest rewritten to reference it."""
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    doc = json.loads(image.manifest)
    doc["config"]["digest"] = sha256_digest(config_bytes)
    doc["config"]["size"] = len(config_bytes)
    manifest = json.dumps(doc, indent=3).encode()
    return dataclasses.replace(
        image, manifest=manifest, manifest_digest=sha256_digest(manifest),
        config=config_bytes, config_digest=sha256_digest(config_bytes),
    )


def history_image(fmt: str) -> BuiltImage:
    """Two layers among empty history entries (ENV, LABEL, CMD), with authors, comments,
    a time with a fraction and an offset, one without a time, and text Go escapes."""
    image = build_image(fmt=fmt, layer_count=2, seed=31)  # type: ignore[arg-type]
    config = json.loads(image.config)
    config["author"] = "Jo <jo@example.com>"
    config["config"]["Labels"] = {"a&b": "<x>", "z": ""}
    config["history"] = [
        {"created": "2023-05-06T07:08:09.123456789+02:00", "created_by": "/bin/sh -c #(nop) ENV A=1",
         "author": "Jo <jo@example.com>", "comment": "env & more", "empty_layer": True},
        {"created": "2023-05-06T07:08:10Z", "created_by": "/bin/sh -c #(nop) ADD file:1 in / "},
        {"created_by": "/bin/sh -c #(nop) LABEL a&b=<x>", "empty_layer": True},
        {"created": "2023-05-06T07:08:11.5Z", "created_by": "", "comment": "no command"},
        {"created": "2023-05-06T07:08:12Z", "created_by": '/bin/sh -c #(nop)  CMD ["/bin/sh"]', "empty_layer": True},
    ]
    return with_config(image, config)


def write_source(image: BuiltImage, path: Path) -> str:
    if image.format == "oci":
        write_oci_layout(image, path, "latest")
        return f"oci:{path}:latest"
    write_dir(image, path)
    return f"dir:{path}"


def payload(raw: bytes) -> dict[str, Any]:
    """The manifest without its signature block."""
    doc = json.loads(raw)
    assert isinstance(doc.pop("signatures"), list)
    return doc


def assert_same_conversion(ours: bytes, theirs: bytes) -> None:
    """Same manifest modulo the signature, and the same bytes before the signature block."""
    assert payload(ours) == payload(theirs)
    assert ours[: ours.index(b',"signatures":')] == theirs[: theirs.index(b',"signatures":')]


def dir_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir() if p.name != "manifest.json"}


@pytest.mark.parametrize("fmt", ["docker", "oci"])
@pytest.mark.parametrize("shape", ["plain", "history"])
def test_dir_conversion_matches_skopeo(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, fmt: str, shape: str
) -> None:
    image = history_image(fmt) if shape == "history" else build_image(fmt=fmt, layer_count=3, seed=5)  # type: ignore[arg-type]
    src = write_source(image, tmp_path / "src")
    skopeo.run("copy", "--format", "v2s1", src, f"dir:{tmp_path / 'theirs'}")
    result = run_skopo("--insecure-policy", "copy", "-q", "--format", "v2s1", src, f"dir:{tmp_path / 'ours'}")
    assert result.returncode == 0, describe_result(result)
    ours = (tmp_path / "ours" / "manifest.json").read_bytes()
    theirs = (tmp_path / "theirs" / "manifest.json").read_bytes()
    assert_same_conversion(ours, theirs)
    # Same blobs: the layers, the empty layer when the history has empty entries, no config.
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")
    has_empty = EMPTY_LAYER.split(":")[1] in dir_files(tmp_path / "ours")
    assert has_empty == (shape == "history")
    assert image.config_digest.split(":")[1] not in dir_files(tmp_path / "ours")
    # skopeo reads skopo's result (inspect, and a copy that verifies every blob) ...
    inspected = json.loads(skopeo.run("inspect", f"dir:{tmp_path / 'ours'}").stdout)
    assert inspected == json.loads(skopeo.run("inspect", f"dir:{tmp_path / 'theirs'}").stdout) | {
        "Digest": inspected["Digest"]
    }
    assert inspected["Digest"] == sha256_digest(ours[: ours.index(b',"signatures":')] + b"}")
    skopeo.run("copy", f"dir:{tmp_path / 'ours'}", f"dir:{tmp_path / 'back'}")
    # ... and so does skopo, which converts it back to schema2 as skopeo does.
    for tool_out, run in (("s2-ours", None), ("s2-theirs", skopeo)):
        target = f"dir:{tmp_path / tool_out}"
        if run is None:
            back = run_skopo("--insecure-policy", "copy", "-q", "--format", "v2s2", f"dir:{tmp_path / 'ours'}", target)
            assert back.returncode == 0, describe_result(back)
        else:
            run.run("copy", "--format", "v2s2", f"dir:{tmp_path / 'ours'}", target)
    assert dir_files(tmp_path / "s2-ours") == dir_files(tmp_path / "s2-theirs")
    s2_ours = (tmp_path / "s2-ours" / "manifest.json").read_bytes()
    assert s2_ours == (tmp_path / "s2-theirs" / "manifest.json").read_bytes()


def test_registry_accepts_and_verifies_the_signature(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, registry_factory: Any
) -> None:
    """docker/distribution with schema1 enabled verifies the JWS before it stores the
    manifest: skopo's push succeeds, the registry serves the same bytes, and skopeo and
    skopo read the image back (name and tag are the destination's)."""
    registry: RegistryServer = registry_factory(extra_config=SCHEMA1_ON)
    image = history_image("docker")
    src = write_source(image, tmp_path / "src")
    ref = f"docker://{registry.host}/conv/s1:v1"
    digestfile = tmp_path / "digest"
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--format", "v2s1",
                       "--digestfile", str(digestfile), src, ref)
    assert result.returncode == 0, describe_result(result)
    served = skopeo.run("inspect", "--tls-verify=false", "--raw", ref).stdout
    # The registry does check the JWS: the same manifest with a damaged signature is refused.
    signature = json.loads(served)["signatures"][0]["signature"]
    damaged = served.replace(signature.encode(), (("B" if signature[0] == "A" else "A") + signature[1:]).encode())
    put = requests.put(f"{registry.url}/v2/conv/s1/manifests/v1", data=damaged, timeout=30,
                       headers={"Content-Type": V2S1_SIGNED}, **registry.requests_kwargs())
    assert put.status_code == 400 and "MANIFEST_UNVERIFIED" in put.text
    doc = payload(served)
    assert (doc["name"], doc["tag"], doc["schemaVersion"]) == ("conv/s1", "v1", 1)
    assert doc["fsLayers"][0]["blobSum"] == EMPTY_LAYER
    inspected = json.loads(skopeo.run("inspect", "--tls-verify=false", ref).stdout)
    assert inspected["Digest"] == digestfile.read_text()
    layers = image.layer_digests
    assert inspected["Layers"] == [EMPTY_LAYER, layers[0], EMPTY_LAYER, layers[1], EMPTY_LAYER]
    # Compare with skopeo's own conversion of the same image, pushed the same way.
    theirs_ref = f"docker://{registry.host}/conv/s1:theirs"
    skopeo.run("copy", "--dest-tls-verify=false", "--format", "v2s1", src, theirs_ref)
    theirs = payload(skopeo.run("inspect", "--tls-verify=false", "--raw", theirs_ref).stdout)
    assert doc == theirs | {"tag": "v1"}
    inspected = json.loads(skopeo.run("inspect", "--tls-verify=false", ref).stdout)  # RepoTags grew
    ours_inspect = run_skopo("inspect", "--tls-verify=false", ref)
    assert ours_inspect.returncode == 0, describe_result(ours_inspect)
    mine = json.loads(ours_inspect.stdout)
    assert {key: mine[key] for key in inspected} == inspected  # skopo adds skopeo main's LayersData
    skopeo.run("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'skopeo-back'}")
    back = run_skopo("--insecure-policy", "copy", "-q", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'oci'}:x")
    assert back.returncode == 0, describe_result(back)


def test_registry_without_schema1_refuses_cleanly(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, registry: RegistryServer
) -> None:
    """Current docker/distribution refuses schema1 unless configured: both tools fail (exit 1)."""
    src = write_source(build_image(layer_count=1, seed=3), tmp_path / "src")
    ref = f"docker://{registry.host}/conv/off:v1"
    theirs = skopeo.run("copy", "--dest-tls-verify=false", "--format", "v2s1", src, ref, check=False)
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--format", "v2s1", src, ref)
    assert result.returncode == theirs.returncode == 1
    assert_clean_error(result, match="manifest")


@pytest.mark.parametrize("dest", ["oci:{}:x", "docker-archive:{}.tar:a/b:c", "oci-archive:{}.tar:x"])
def test_destinations_without_schema1_refuse_before_writing(tmp_path: Path, run_skopo: SkopoRunner, dest: str) -> None:
    src = write_source(build_image(layer_count=1, seed=4), tmp_path / "src")
    target = tmp_path / "out"
    result = run_skopo("--insecure-policy", "copy", "-q", "--format", "v2s1", src, dest.format(target))
    assert_clean_error(result, match="does not support manifest type")
    assert not target.exists() and not Path(f"{target}.tar").exists()


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ([], "Cannot convert an image with 0 history entries"),
        ([{"created_by": "a"}], "history names 1 layers, the manifest has 2"),
        ([{"created_by": "a"}] * 3, "needs more than the 2 distributed layers"),
    ],
)
def test_history_that_cannot_convert_is_refused_before_any_blob(
    tmp_path: Path, run_skopo: SkopoRunner, history: list[dict[str, Any]], match: str
) -> None:
    image = build_image(layer_count=2, seed=6)
    config = json.loads(image.config)
    config["history"] = history
    src = write_source(with_config(image, config), tmp_path / "src")
    result = run_skopo("--insecure-policy", "copy", "-q", "--format", "v2s1", src, f"dir:{tmp_path / 'out'}")
    assert_clean_error(result, match=match)
    assert not (tmp_path / "out").exists()


def test_signature_is_a_valid_libtrust_jws(tmp_path: Path, run_skopo: SkopoRunner) -> None:
    """The JWS verifies with its embedded key over protected.payload, as libtrust checks it."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    def b64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    src = write_source(history_image("docker"), tmp_path / "src")
    result = run_skopo("--insecure-policy", "copy", "-q", "--format", "v2s1", src, f"dir:{tmp_path / 'out'}")
    assert result.returncode == 0, describe_result(result)
    raw = (tmp_path / "out" / "manifest.json").read_bytes()
    (sig,) = json.loads(raw)["signatures"]
    protected = json.loads(b64(sig["protected"]))
    body = raw[: protected["formatLength"]] + b64(protected["formatTail"])
    assert json.loads(body) == payload(raw)
    jwk = sig["header"]["jwk"]
    assert (sig["header"]["alg"], jwk["kty"], jwk["crv"]) == ("ES256", "EC", "P-256")
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64(jwk["x"]), "big"), int.from_bytes(b64(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    rs = b64(sig["signature"])
    signed = (sig["protected"] + "." + base64.urlsafe_b64encode(body).rstrip(b"=").decode()).encode()
    key.verify(encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big")), signed,
               ec.ECDSA(hashes.SHA256()))
    digest = run_skopo("manifest-digest", str(tmp_path / "out" / "manifest.json")).stdout.decode().strip()
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("fmt", ["v2s1", "v2s2"])
def test_forced_format_with_zstd_is_refused_not_replaced(
    tmp_path: Path, run_skopo: SkopoRunner, registry_factory: Any, fmt: str
) -> None:
    """zstd layers cannot be named by docker manifests: a forced docker format is refused
    (c/image's words) before any blob is pushed, never silently written as OCI."""
    registry: RegistryServer = registry_factory(extra_config=SCHEMA1_ON)
    src = write_source(build_image(layer_count=1, seed=9), tmp_path / "src")
    result = run_skopo("--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--format", fmt,
                       "--dest-compress-format", "zstd", src, f"docker://{registry.host}/conv/zstd:v1")
    assert_clean_error(result, match="compression using zstd required together with format .*, which does not")
    assert not list((registry.storage_dir).rglob("data"))  # no blob reached the registry


def test_from_containers_storage_matches_skopeo(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, storage_factory: Any
) -> None:
    """A store serves uncompressed layers: they become the blobSums, while the v1 IDs still
    come from the stored manifest's digests (as c/image computes them)."""
    store = storage_factory()
    src = write_source(history_image("docker"), tmp_path / "src")
    skopeo.run("copy", src, store.ref("localhost/conv:v1"))
    stored = store.ref("localhost/conv:v1")
    skopeo.run("copy", "--format", "v2s1", stored, f"dir:{tmp_path / 'theirs'}")
    result = run_skopo("--insecure-policy", "copy", "-q", "--format", "v2s1", stored, f"dir:{tmp_path / 'ours'}")
    assert result.returncode == 0, describe_result(result)
    assert_same_conversion((tmp_path / "ours" / "manifest.json").read_bytes(),
                           (tmp_path / "theirs" / "manifest.json").read_bytes())
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")
