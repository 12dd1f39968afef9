"""Image encryption against skopeo 1.9.3 (ocicrypt 1.0.3), both ways, and every bad input.

For jwe (RSA and EC keys), pkcs7 and pgp: skopo encrypts and skopeo decrypts, skopeo
encrypts and skopo decrypts, through `oci:` layouts and through the real docker-registry;
after the round trip the layers, the config and the diffIDs are the original ones. Then
the refusals: wrong keys, tampered, truncated or mis-annotated ciphertext, formats that
cannot hold encrypted layers, signatures, digests that must be kept. Each is one clean
line on stderr, and the destination is left untouched.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltImage, build_image, read_oci_layout_manifest, write_dir, write_oci_layout
from helpers.peers import GnupgHome
from helpers.registry import RegistryServer
from helpers.trees import leftovers, snapshot

ENC = "org.opencontainers.image.enc."
SCHEMES = ["jwe-rsa", "jwe-ec", "pkcs7", "pgp"]
ANNOTATION = {"jwe-rsa": ENC + "keys.jwe", "jwe-ec": ENC + "keys.jwe", "pkcs7": ENC + "keys.pkcs7",
              "pgp": ENC + "keys.pgp"}
PGP_UID = "Layer Recipient <layers@example.com>"


@dataclass(frozen=True)
class Keys:
    rsa: Path
    rsa_pub: Path
    ec: Path
    ec_pub: Path
    cert: Path
    other: Path
    pgp_secret: Path | None = None
    gnupg: GnupgHome | None = None

    def encrypt(self, scheme: str) -> list[str]:
        return ["--encryption-key", {
            "jwe-rsa": f"jwe:{self.rsa_pub}",
            "jwe-ec": f"jwe:{self.ec_pub}",
            "pkcs7": f"pkcs7:{self.cert}",
            "pgp": "pgp:layers@example.com",
        }[scheme]]

    def decrypt(self, scheme: str) -> list[str]:
        files = {"jwe-rsa": [self.rsa], "jwe-ec": [self.ec], "pkcs7": [self.rsa, self.cert],
                 "pgp": [self.pgp_secret]}[scheme]
        return [arg for f in files for arg in ("--decryption-key", str(f))]

    @property
    def env(self) -> dict[str, str | None]:
        return {"GNUPGHOME": str(self.gnupg.path)} if self.gnupg is not None else {}


def _pem_private(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: ocicrypt 1.0.3 reads no PEM SEC1 ("EC PRIVATE KEY").
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def base_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layer recipient")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(rsa_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(rsa_key, hashes.SHA256()))
    paths = {
        "rsa": _pem_private(rsa_key), "rsa_pub": _pem_public(rsa_key), "ec": _pem_private(ec_key),
        "ec_pub": _pem_public(ec_key), "cert": cert.public_bytes(serialization.Encoding.PEM),
        "other": _pem_private(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    }
    for name_, data in paths.items():
        (root / f"{name_}.pem").write_bytes(data)
    return Keys(**{k: root / f"{k}.pem" for k in paths})


@pytest.fixture
def keys(base_keys: Keys, gnupg_home: GnupgHome, tmp_path: Path) -> Keys:
    """The module's keys plus a fresh GnuPG key (binary secret keyring exported for skopeo)."""
    fingerprint = gnupg_home.make_key(PGP_UID)
    secret = tmp_path / "pgp-secret.gpg"
    secret.write_bytes(gnupg_home.run("--export-secret-keys", fingerprint).stdout)
    return Keys(**{**base_keys.__dict__, "pgp_secret": secret, "gnupg": gnupg_home})


@pytest.fixture
def image(tmp_path: Path) -> tuple[BuiltImage, Path]:
    built = build_image(fmt="oci", layer_count=3, layer_size=40_000, seed=19)
    return built, write_oci_layout(built, tmp_path / "src", "latest")


def layout_manifest(layout: Path, ref: str = "latest") -> dict[str, object]:
    return read_oci_layout_manifest(layout, ref)


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def assert_original(layout: Path, original: BuiltImage) -> None:
    """Layers, config and diffIDs are the original ones."""
    manifest = layout_manifest(layout)
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert [layer["digest"] for layer in layers] == original.layer_digests
    assert all(not any(k.startswith(ENC) for k in layer.get("annotations", {})) for layer in layers)
    assert [layer["mediaType"] for layer in layers] == ["application/vnd.oci.image.layer.v1.tar+gzip"] * len(layers)
    assert manifest["config"]["digest"] == original.config_digest  # type: ignore[index]
    config = json.loads(blob(layout, original.config_digest))
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(blob(layout, layer["digest"]))).hexdigest()
                for layer in layers]
    assert diff_ids == config["rootfs"]["diff_ids"] == original.diff_ids


def assert_encrypted(layout: Path, original: BuiltImage, scheme: str, *, indices: list[int] | None = None) -> None:
    manifest = layout_manifest(layout)
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert manifest["config"]["digest"] == original.config_digest  # type: ignore[index]
    for i, layer in enumerate(layers):
        if indices is not None and i not in indices:
            assert layer["digest"] == original.layer_digests[i]
            continue
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
        assert set(layer["annotations"]) == {ANNOTATION[scheme], ENC + "pubopts"}
        assert layer["digest"] != original.layer_digests[i]
        data = blob(layout, layer["digest"])
        assert len(data) == original.layers[i].size  # CTR: as long as the plaintext
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]


def copy_ok(run_skopo: SkopoRunner, keys: Keys, *args: str | Path) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *args, env=keys.env)
    assert result.returncode == 0, describe_result(result)
    assert result.stdout == b""


def copy_fails(run_skopo: SkopoRunner, *args: str | Path, match: str, env: dict[str, str | None] | None = None) -> str:
    result = run_skopo("--insecure-policy", "copy", "-q", *args, env=env)
    assert result.stdout == b""
    return assert_clean_error(result, match=match)


# ----------------------------------------------------------------------- interop


@pytest.mark.parametrize("scheme", SCHEMES)
def test_skopo_encrypts_skopeo_decrypts(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path, scheme: str
) -> None:
    original, src = image
    copy_ok(run_skopo, keys, *keys.encrypt(scheme), f"oci:{src}:latest", f"oci:{tmp_path / 'enc'}:latest")
    assert_encrypted(tmp_path / "enc", original, scheme)
    skopeo.run("copy", *keys.decrypt(scheme), f"oci:{tmp_path / 'enc'}:latest", f"oci:{tmp_path / 'dec'}:latest",
               env=keys.env)
    assert_original(tmp_path / "dec", original)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_skopeo_encrypts_skopo_decrypts(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path, scheme: str
) -> None:
    original, src = image
    skopeo.run("copy", *keys.encrypt(scheme), f"oci:{src}:latest", f"oci:{tmp_path / 'enc'}:latest", env=keys.env)
    assert_encrypted(tmp_path / "enc", original, scheme)
    copy_ok(run_skopo, keys, *keys.decrypt(scheme), f"oci:{tmp_path / 'enc'}:latest", f"oci:{tmp_path / 'dec'}:latest")
    assert_original(tmp_path / "dec", original)
    # skopo's decryption writes the same manifest skopeo's does.
    skopeo.run("copy", *keys.decrypt(scheme), f"oci:{tmp_path / 'enc'}:latest", f"oci:{tmp_path / 'dec2'}:latest",
               env=keys.env)
    assert layout_manifest(tmp_path / "dec") == layout_manifest(tmp_path / "dec2")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trips_through_the_registry(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path,
    registry_server: RegistryServer, scheme: str,
) -> None:
    original, src = image
    ours = registry_server.docker_ref(f"crypt/{scheme}-skopo:latest")
    theirs = registry_server.docker_ref(f"crypt/{scheme}-skopeo:latest")
    tls = ("--src-tls-verify=false", "--dest-tls-verify=false")
    copy_ok(run_skopo, keys, "--dest-tls-verify=false", *keys.encrypt(scheme), f"oci:{src}:latest", ours)
    skopeo.run("copy", *tls, *keys.decrypt(scheme), ours, f"oci:{tmp_path / 'a'}:latest", env=keys.env)
    assert_original(tmp_path / "a", original)
    skopeo.run("copy", *tls, *keys.encrypt(scheme), f"oci:{src}:latest", theirs, env=keys.env)
    copy_ok(run_skopo, keys, "--src-tls-verify=false", *keys.decrypt(scheme), theirs, f"oci:{tmp_path / 'b'}:latest")
    assert_original(tmp_path / "b", original)
    # Without keys, an encrypted image is copied as it is, annotations and all.
    copy_ok(run_skopo, keys, "--src-tls-verify=false", theirs, f"oci:{tmp_path / 'c'}:latest")
    assert_encrypted(tmp_path / "c", original, scheme)


def test_several_recipients_and_chosen_layers(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path
) -> None:
    original, src = image
    enc = tmp_path / "enc"
    copy_ok(run_skopo, keys, *keys.encrypt("jwe-rsa"), *keys.encrypt("jwe-ec"), *keys.encrypt("pkcs7"),
            *keys.encrypt("pgp"), "--encrypt-layer", "0", "--encrypt-layer", "-1", f"oci:{src}:latest",
            f"oci:{enc}:latest")
    manifest = layout_manifest(enc)
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert layers[1]["digest"] == original.layer_digests[1]  # not chosen
    for i in (0, 2):
        assert set(layers[i]["annotations"]) == {ENC + "keys.jwe", ENC + "keys.pkcs7", ENC + "keys.pgp",
                                                 ENC + "pubopts"}
    for n, scheme in enumerate(SCHEMES):  # every recipient alone opens it, with either tool
        skopeo.run("copy", *keys.decrypt(scheme), f"oci:{enc}:latest", f"oci:{tmp_path / f's{n}'}:latest",
                   env=keys.env)
        assert_original(tmp_path / f"s{n}", original)
        copy_ok(run_skopo, keys, *keys.decrypt(scheme), f"oci:{enc}:latest", f"oci:{tmp_path / f'k{n}'}:latest")
        assert_original(tmp_path / f"k{n}", original)


def test_decrypting_into_docker_formats(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path
) -> None:
    """A decrypted image may go anywhere: here a v2s2 dir: and a docker-archive."""
    original, src = image
    copy_ok(run_skopo, keys, *keys.encrypt("jwe-rsa"), f"oci:{src}:latest", f"oci:{tmp_path / 'enc'}:latest")
    copy_ok(run_skopo, keys, *keys.decrypt("jwe-rsa"), "--format", "v2s2", f"oci:{tmp_path / 'enc'}:latest",
            f"dir:{tmp_path / 'dir'}")
    manifest = json.loads((tmp_path / "dir" / "manifest.json").read_bytes())
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert [layer["digest"] for layer in manifest["layers"]] == original.layer_digests
    copy_ok(run_skopo, keys, *keys.decrypt("jwe-rsa"), f"oci:{tmp_path / 'enc'}:latest",
            f"docker-archive:{tmp_path / 'a.tar'}:crypt/test:1")
    inspected = json.loads(skopeo.run("inspect", f"docker-archive:{tmp_path / 'a.tar'}").stdout)
    assert inspected["Layers"] and len(inspected["Layers"]) == 3


def test_already_encrypted_layers_are_not_encrypted_twice(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path
) -> None:
    original, src = image
    copy_ok(run_skopo, keys, *keys.encrypt("jwe-ec"), "--encrypt-layer", "0", f"oci:{src}:latest",
            f"oci:{tmp_path / 'one'}:latest")
    copy_ok(run_skopo, keys, *keys.encrypt("pkcs7"), f"oci:{tmp_path / 'one'}:latest",
            f"oci:{tmp_path / 'two'}:latest")
    first, second = layout_manifest(tmp_path / "one")["layers"], layout_manifest(tmp_path / "two")["layers"]
    assert isinstance(first, list) and isinstance(second, list)
    assert second[0] == first[0]  # kept as it was: only the EC key opens it
    assert set(second[1]["annotations"]) == {ENC + "keys.pkcs7", ENC + "pubopts"}
    copy_fails(run_skopo, *keys.decrypt("pkcs7"), f"oci:{tmp_path / 'two'}:latest", f"oci:{tmp_path / 'x'}:latest",
               match=f"decrypting layer {first[0]['digest']}: no suitable key unwrapper found")
    skopeo.run("copy", *keys.decrypt("jwe-ec"), *keys.decrypt("pkcs7"), f"oci:{tmp_path / 'two'}:latest",
               f"oci:{tmp_path / 'dec'}:latest")
    assert_original(tmp_path / "dec", original)


def test_zstd_chunked_becomes_plain_zstd_when_encrypting(
    run_skopo: SkopoRunner, skopeo: Skopeo, keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path
) -> None:
    original, src = image
    result = run_skopo("--insecure-policy", "copy", "-q", *keys.encrypt("jwe-rsa"), "--dest-compress-format",
                       "zstd:chunked", f"oci:{src}:latest", f"oci:{tmp_path / 'enc'}:latest")
    assert result.returncode == 0, describe_result(result)
    assert b"not beneficial for encrypted layers, using plain zstd instead" in result.stderr
    for layer in layout_manifest(tmp_path / "enc")["layers"]:  # type: ignore[union-attr]
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"
        assert not any("zstd-chunked" in k for k in layer["annotations"])
    # (skopeo 1.9.3 ignores --dest-decompress for a layer it decrypts: decompress here.)
    skopeo.run("copy", *keys.decrypt("jwe-rsa"), f"oci:{tmp_path / 'enc'}:latest", f"dir:{tmp_path / 'plain'}")
    manifest = json.loads((tmp_path / "plain" / "manifest.json").read_bytes())
    tars = [zstandard.ZstdDecompressor().stream_reader((tmp_path / "plain" / layer["digest"][7:]).read_bytes()).read()
            for layer in manifest["layers"]]
    assert ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars] == original.diff_ids


# ---------------------------------------------------------------------- refusals


@pytest.fixture
def encrypted(run_skopo: SkopoRunner, base_keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path) -> Path:
    _, src = image
    copy_ok(run_skopo, base_keys, *base_keys.encrypt("jwe-rsa"), f"oci:{src}:latest", f"oci:{tmp_path / 'enc'}:latest")
    return tmp_path / "enc"


def rewrite_layer(layout: Path, index: int, *, data: bytes | None = None,
                  annotations: dict[str, str] | None = None, fix_digest: bool = True) -> None:
    """Change layer `index` of the layout's `latest` image (its blob bytes and/or annotations)
    and make the manifest and index.json consistent again, as an attacker who controls the
    storage would."""
    index_doc = json.loads((layout / "index.json").read_text())
    entry = index_doc["manifests"][0]
    manifest = json.loads(blob(layout, entry["digest"]))
    layer = manifest["layers"][index]
    if data is not None:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        if fix_digest:
            layer["digest"], layer["size"] = digest, len(data)
        else:
            (layout / "blobs" / "sha256" / layer["digest"].split(":")[1]).write_bytes(data)
    if annotations is not None:
        layer["annotations"] = annotations
    raw = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(raw)
    entry["digest"], entry["size"] = digest, len(raw)
    (layout / "index.json").write_text(json.dumps(index_doc))


def first_layer(layout: Path) -> dict[str, object]:
    layers = layout_manifest(layout)["layers"]
    assert isinstance(layers, list)
    return layers[0]


def assert_untouched(dest: Path) -> None:
    assert not dest.exists() or not leftovers(dest), leftovers(dest)
    assert snapshot(dest) == {}


def test_wrong_or_missing_keys(run_skopo: SkopoRunner, base_keys: Keys, encrypted: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    digest = first_layer(encrypted)["digest"]
    line = copy_fails(run_skopo, "--decryption-key", str(base_keys.other), f"oci:{encrypted}:latest", f"oci:{dest}:x",
                      match="no suitable key unwrapper found or none of the private keys could be used")
    assert line.startswith(f"decrypting layer {digest}: ")
    copy_fails(run_skopo, "--decryption-key", str(base_keys.cert), f"oci:{encrypted}:latest", f"oci:{dest}:x",
               match="missing private key needed for decryption")
    assert_untouched(dest)


@pytest.mark.parametrize("damage", ["tampered", "truncated", "extended"])
def test_bad_ciphertext_fails_on_the_hmac(
    run_skopo: SkopoRunner, base_keys: Keys, encrypted: Path, tmp_path: Path, damage: str
) -> None:
    layer = first_layer(encrypted)
    data = bytearray(blob(encrypted, str(layer["digest"])))
    if damage == "tampered":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncated":
        del data[-100:]
    else:
        data += b"\0" * 16
    rewrite_layer(encrypted, 0, data=bytes(data))
    dest = tmp_path / "dest"
    for target in (f"oci:{dest}:x", f"dir:{dest}"):
        copy_fails(run_skopo, *base_keys.decrypt("jwe-rsa"), f"oci:{encrypted}:latest", target,
                   match="could not properly decrypt byte stream; exp hmac")
        assert_untouched(dest)


def test_a_changed_blob_fails_on_its_digest_first(
    run_skopo: SkopoRunner, base_keys: Keys, encrypted: Path, tmp_path: Path
) -> None:
    layer = first_layer(encrypted)
    data = bytearray(blob(encrypted, str(layer["digest"])))
    data[10] ^= 0xFF
    rewrite_layer(encrypted, 0, data=bytes(data), fix_digest=False)
    copy_fails(run_skopo, *base_keys.decrypt("jwe-rsa"), f"oci:{encrypted}:latest", f"oci:{tmp_path / 'd'}:x",
               match="Digest did not match for blob")
    assert_untouched(tmp_path / "d")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda a: {**a, ENC + "keys.jwe": "not*base64"}, "malformed annotation org.opencontainers.image.enc.keys.jwe"),
        (lambda a: {**a, ENC + "pubopts": "%%"}, "malformed annotation org.opencontainers.image.enc.pubopts"),
        (lambda a: {**a, ENC + "pubopts": base64.b64encode(b'{"cipher":"AES_256_CTR_HMAC_SHA256"}').decode()},
         "HMAC is not provided for decryption process"),
        (lambda a: {**a, ENC + "pubopts": base64.b64encode(b'{"cipher":"ROT13","hmac":"AA=="}').decode()},
         "unsupported cipher type: ROT13"),
        (lambda a: {k: v for k, v in a.items() if k != ENC + "pubopts"}, "no cipher type provided"),
        (lambda a: {ENC + "pubopts": a[ENC + "pubopts"]}, "carries no wrapped key"),
        (lambda a: {**a, ENC + "keys.jwe": base64.b64encode(b"garbage").decode()},
         "no suitable key unwrapper found"),
    ],
)
def test_malformed_annotations(
    run_skopo: SkopoRunner, base_keys: Keys, encrypted: Path, tmp_path: Path, edit, match: str
) -> None:
    annotations = first_layer(encrypted)["annotations"]
    assert isinstance(annotations, dict)
    rewrite_layer(encrypted, 0, annotations=edit(annotations))
    copy_fails(run_skopo, *base_keys.decrypt("jwe-rsa"), f"oci:{encrypted}:latest", f"oci:{tmp_path / 'd'}:x",
               match=match)
    assert_untouched(tmp_path / "d")


def test_encryption_needs_an_oci_manifest(
    run_skopo: SkopoRunner, base_keys: Keys, image: tuple[BuiltImage, Path], encrypted: Path, tmp_path: Path
) -> None:
    _, src = image
    enc = base_keys.encrypt("jwe-rsa")
    copy_fails(run_skopo, *enc, "--format", "v2s2", f"oci:{src}:latest", f"dir:{tmp_path / 'd'}",
               match="encryption required together with format application/vnd.docker.distribution.manifest.v2\\+json,"
                     " which does not support encryption")
    copy_fails(run_skopo, *enc, f"oci:{src}:latest", f"docker-archive:{tmp_path / 'a.tar'}",
               match="encryption required but the destination only supports MIME types \\[.*\\], none of which "
                     "support encryption")
    # Encrypted layers kept as they are need one too.
    copy_fails(run_skopo, f"oci:{encrypted}:latest", f"docker-archive:{tmp_path / 'a.tar'}",
               match="encryption required but the destination only supports MIME types")
    assert_untouched(tmp_path / "d")
    assert not (tmp_path / "a.tar").exists()


def test_signatures_and_kept_digests_forbid_encryption(
    run_skopo: SkopoRunner, base_keys: Keys, tmp_path: Path
) -> None:
    built = build_image(fmt="oci", layer_count=1, seed=3)
    src = write_dir(built, tmp_path / "signed")
    (src / "signature-1").write_bytes(b"\xa3\x01simple-signing-blob")  # any blob: it is not verified here
    enc = base_keys.encrypt("jwe-rsa")
    dest = tmp_path / "dest"
    copy_fails(run_skopo, *enc, f"dir:{src}", f"dir:{dest}",
               match=f"layer {built.layer_digests[0]} should be encrypted, but we can\u2019t modify the manifest: "
                     "Would invalidate signatures")
    copy_fails(run_skopo, *enc, "--preserve-digests", "--remove-signatures", f"dir:{src}", f"dir:{dest}",
               match="Instructed to preserve digests")
    assert_untouched(dest)
    result = run_skopo("--insecure-policy", "copy", "-q", *enc, "--remove-signatures", f"dir:{src}", f"dir:{dest}")
    assert result.returncode == 0, describe_result(result)
    assert not (dest / "signature-1").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--encrypt-layer", "3"], "layer index 3 out of range \\(3 layers exist\\)"),
        (["--encrypt-layer", "-4"], "layer index -4 out of range"),
        (["--encryption-key", "pgp:nobody@example.com"],
         "PGP: No key found for the following recipients: nobody@example.com"),
        (["--encryption-key", "jwe:/nonexistent.pem"], "Invalid encryption keys: Unable to read file"),
        (["--encryption-key", "x509:cert.pem"], "Provided protocol not recognized"),
        (["--decryption-key", "/nonexistent.pem"], "Invalid decryption keys: Unable to read file"),
    ],
)
def test_bad_flags(
    run_skopo: SkopoRunner, base_keys: Keys, image: tuple[BuiltImage, Path], tmp_path: Path, gnupg_home: GnupgHome,
    args: list[str], match: str,
) -> None:
    _, src = image
    extra = base_keys.encrypt("jwe-rsa") if args[0] == "--encrypt-layer" else []
    copy_fails(run_skopo, *extra, *args, f"oci:{src}:latest", f"oci:{tmp_path / 'd'}:x", match=match,
               env={"GNUPGHOME": str(gnupg_home.path)})
    assert_untouched(tmp_path / "d")


def test_flag_combinations(run_skopo: SkopoRunner, base_keys: Keys, image: tuple[BuiltImage, Path],
                           tmp_path: Path) -> None:
    _, src = image
    both = [*base_keys.encrypt("jwe-rsa"), *base_keys.decrypt("jwe-rsa")]
    copy_fails(run_skopo, *both, f"oci:{src}:latest", f"oci:{tmp_path / 'd'}:x",
               match="--encryption-key and --decryption-key cannot be specified together")
    copy_fails(run_skopo, "--encrypt-layer", "0", f"oci:{src}:latest", f"oci:{tmp_path / 'd'}:x",
               match="--encrypt-layer can only be used with --encryption-key")


def test_pgp_secret_key_with_a_passphrase(
    run_skopo: SkopoRunner, skopeo: Skopeo, gnupg_home: GnupgHome, image: tuple[BuiltImage, Path], tmp_path: Path
) -> None:
    """skopeo encrypts for a passphrase-protected GnuPG key; skopo opens it with KEY:PASSWORD
    (skopeo 1.9.3 itself cannot: its ocicrypt 1.0.3 reads "FILE:PASSWORD" as one file name)."""
    original, src = image
    fingerprint = gnupg_home.make_key("Protected <protected@example.com>", passphrase="s3cret")
    secret = tmp_path / "protected.gpg"
    secret.write_bytes(gnupg_home.run("--pinentry-mode", "loopback", "--passphrase", "s3cret",
                                      "--export-secret-keys", fingerprint).stdout)
    env: dict[str, str | None] = {"GNUPGHOME": str(gnupg_home.path)}
    skopeo.run("copy", "--encryption-key", "pgp:protected@example.com", f"oci:{src}:latest",
               f"oci:{tmp_path / 'enc'}:latest", env=env)
    copy_fails(run_skopo, "--decryption-key", f"{secret}:wrong", f"oci:{tmp_path / 'enc'}:latest",
               f"oci:{tmp_path / 'bad'}:latest", match="no suitable key unwrapper found")
    assert_untouched(tmp_path / "bad")
    result = run_skopo("--insecure-policy", "copy", "-q", "--decryption-key", f"{secret}:pass=s3cret",
                       f"oci:{tmp_path / 'enc'}:latest", f"oci:{tmp_path / 'dec'}:latest", env=env)
    assert result.returncode == 0, describe_result(result)
    assert_original(tmp_path / "dec", original)
