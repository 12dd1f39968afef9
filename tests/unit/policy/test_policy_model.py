"""policy.json parsing: every requirement and identity type, and the bad-input corpus
(security.md row 17, corpus 29)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from toolkit.errors import PolicyError
from toolkit.policy import load_policy, parse_policy
from toolkit.policy.match import (
    ExactReference,
    ExactRepository,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    RemapIdentity,
)
from toolkit.policy.model import (
    PRInsecureAcceptAnything,
    PRReject,
    PRSignedBaseLayer,
    PRSignedBy,
    PRSigstoreSigned,
    SigstoreFulcio,
    SigstorePKI,
)

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests/fixtures/signature"


def policy(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def one(req: Any) -> Any:
    """Parse a policy whose default is [req]; return the parsed requirement."""
    return parse_policy(policy({"default": [req]}), source="test.json").default[0]


def test_containers_image_example_policy_parses() -> None:
    parsed = parse_policy((FIXTURES / "policy.json").read_bytes(), source="policy.json")
    assert parsed.default == (PRReject(),)
    docker = parsed.transports["docker"]
    assert docker["example.com/playground"] == (PRInsecureAcceptAnything(),)
    prod = docker["example.com/production"][0]
    assert isinstance(prod, PRSignedBy)
    assert prod.key_path == "/keys/employee-gpg-keyring" and prod.key_type == "GPGKeys"
    assert isinstance(prod.signed_identity, MatchRepoDigestOrExact)
    hardened = docker["example.com/hardened"]
    assert isinstance(hardened[0].signed_identity, MatchRepository)  # type: ignore[union-attr]
    assert isinstance(hardened[2], PRSignedBaseLayer)
    assert docker["registry.redhat.io/beta"][0].key_paths == (  # type: ignore[union-attr]
        "/keys/RH-production-signing-key-gpg-keyring", "/keys/RH-beta-signing-key-gpg-keyring")
    remap = docker["private-mirror:5000/vendor-mirror"][0].signed_identity  # type: ignore[union-attr]
    assert remap == RemapIdentity("private-mirror:5000/vendor-mirror", "vendor.example.com")
    assert docker["bogus/key-data-example"][0].key_data == b"nonsense"  # type: ignore[union-attr]
    assert isinstance(docker["example.com/sigstore/key-path-example"][0], PRSigstoreSigned)
    assert "*.access.redhat.com" in docker
    assert parsed.transports["dir"][""] == (PRInsecureAcceptAnything(),)


@pytest.mark.parametrize("name", ["default.json", "insecure.json", "examples/signed-registry.json",
                                  "examples/mirror-remap.json", "examples/sigstore.json"])
def test_shipped_policies_parse(name: str) -> None:
    parsed = parse_policy((ROOT / "policies" / name).read_bytes(), source=name)
    assert parsed.default


def test_every_identity_type() -> None:
    def ident(value: Any) -> Any:
        req = {"type": "signedBy", "keyType": "GPGKeys", "keyData": "eA==", "signedIdentity": value}
        return one(req).signed_identity

    assert ident({"type": "matchExact"}) == MatchExact()
    assert ident({"type": "matchRepoDigestOrExact"}) == MatchRepoDigestOrExact()
    assert ident({"type": "matchRepository"}) == MatchRepository()
    assert ident({"type": "exactReference", "dockerReference": "busybox:1"}) == ExactReference("busybox:1")
    assert ident({"type": "exactRepository", "dockerRepository": "busybox"}) == ExactRepository("busybox")
    assert ident({"type": "remapIdentity", "prefix": "a.example", "signedPrefix": "b.example/ns"}) == RemapIdentity(
        "a.example", "b.example/ns")
    # Absent (or null) signedIdentity: the default.
    assert one({"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}).signed_identity == MatchRepoDigestOrExact()


def test_signed_by_key_sources() -> None:
    data = base64.b64encode(b"\x99keyring").decode()
    assert one({"type": "signedBy", "keyType": "GPGKeys", "keyData": data}).key_data == b"\x99keyring"
    assert one({"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a", "/b"]}).key_paths == ("/a", "/b")
    for key_type in ("GPGKeys", "signedByGPGKeys", "X509Certificates", "signedByX509CAs"):
        assert one({"type": "signedBy", "keyType": key_type, "keyPath": "/k"}).key_type == key_type


def test_sigstore_variants_parse() -> None:
    ca = base64.b64encode(b"CA").decode()
    fulcio = one({"type": "sigstoreSigned", "fulcio": {"caData": ca, "oidcIssuer": "https://issuer",
                                                       "subjectEmail": "a@example.com"},
                  "rekorPublicKeyPath": "/rekor.pub", "signedIdentity": {"type": "matchRepository"}})
    assert fulcio.fulcio == SigstoreFulcio(oidc_issuer="https://issuer", subject_email="a@example.com", ca_data=b"CA")
    pki = one({"type": "sigstoreSigned", "pki": {"caRootsPath": "/roots.pem", "subjectHostname": "h.example"}})
    assert pki.pki == SigstorePKI(ca_roots_path="/roots.pem", subject_hostname="h.example")
    keys = one({"type": "sigstoreSigned", "keyDatas": [ca, ca], "rekorPublicKeyDatas": [ca]})
    assert keys.key_datas == (b"CA", b"CA")


BAD_POLICIES: list[tuple[str, bytes, str]] = [
    ("not json", b"{", "invalid JSON"),
    ("trailing object", b'{"default":[{"type":"reject"}]}{"default":[]}', "invalid JSON"),
    ("duplicate transports", b'{"default":[{"type":"reject"}],"transports":{},"transports":{}}',
     'duplicate key "transports"'),
    ("duplicate default", b'{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}', 'duplicate key "default"'),
    ("missing default", policy({"transports": {}}), "Default policy is missing"),
    ("null default", policy({"default": None}), "Default policy is missing"),
    ("empty default", policy({"default": []}), "must not be empty"),
    ("empty scope", policy({"default": [{"type": "reject"}], "transports": {"dir": {"": []}}}),
     r'transports\["dir"\]\[""\]: List of verification policy requirements must not be empty'),
    ("unknown top key", policy({"default": [{"type": "reject"}], "extra": 1}), 'Unknown key "extra"'),
    ("unknown type", policy({"default": [{"type": "signedBy2"}]}), 'Unknown policy requirement type "signedBy2"'),
    ("missing type", policy({"default": [{}]}), 'invalid "type"'),
    ("reject with extra key", policy({"default": [{"type": "reject", "keyPath": "/x"}]}), 'Unknown key "keyPath"'),
    ("signedBy typo", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPth": "/k"}]}),
     r'default\[0\]: Unknown key "keyPth"'),
    ("keyPath and keyData", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                                 "keyData": "eA=="}]}), "more than one present"),
    ("no key", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}), "none of them present"),
    ("empty keyPath", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": ""}]}),
     "none of them present"),
    ("empty keyPaths", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": []}]}),
     "contains no entries"),
    ("bad keyData", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "!!"}]}),
     r"keyData: invalid base64"),
    ("missing keyType", policy({"default": [{"type": "signedBy", "keyPath": "/k"}]}), "Unrecognized keyType"),
    ("bad keyType", policy({"default": [{"type": "signedBy", "keyType": "PGP", "keyPath": "/k"}]}),
     'Unrecognized keyType value "PGP"'),
    ("keyPaths not strings", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": [1]}]}),
     "array of strings expected"),
    ("unknown identity", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                              "signedIdentity": {"type": "matchAnything"}}]}),
     r'signedIdentity: Unknown policy reference match type "matchAnything"'),
    ("identity extra key", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                                "signedIdentity": {"type": "matchExact", "x": 1}}]}),
     'Unknown key "x"'),
    ("exactReference without tag", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                                        "signedIdentity": {"type": "exactReference",
                                                                           "dockerReference": "busybox"}}]}),
     "contains neither a tag nor digest"),
    ("exactReference missing", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                                    "signedIdentity": {"type": "exactReference"}}]}),
     'Key "dockerReference" missing'),
    ("bad exactRepository", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                                 "signedIdentity": {"type": "exactRepository",
                                                                    "dockerRepository": "UPPER/x"}}]}),
     "Invalid format of dockerRepository"),
    ("bad remap prefix", policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
                                              "signedIdentity": {"type": "remapIdentity", "prefix": "a b",
                                                                 "signedPrefix": "example.com"}}]}),
     'prefix "a b" is not valid'),
    ("bad dir scope", policy({"default": [{"type": "reject"}], "transports": {"dir": {"relative/path": [
        {"type": "reject"}]}}}), r'transports\["dir"\]\["relative/path"\]: invalid scope'),
    ("root dir scope", policy({"default": [{"type": "reject"}], "transports": {"dir": {"/": [{"type": "reject"}]}}}),
     "invalid scope"),
    ("signedBaseLayer without identity", policy({"default": [{"type": "signedBaseLayer"}]}),
     'Key "baseLayerIdentity" missing'),
    ("sigstore two sources", policy({"default": [{"type": "sigstoreSigned", "keyPath": "/a", "keyData": "eA=="}]}),
     "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki"),
    ("sigstore fulcio without email", policy({"default": [{"type": "sigstoreSigned", "fulcio": {
        "caPath": "/ca", "oidcIssuer": "https://i"}, "rekorPublicKeyPath": "/r"}]}), "subjectEmail not specified"),
    ("sigstore fulcio without issuer", policy({"default": [{"type": "sigstoreSigned", "fulcio": {
        "caPath": "/ca", "subjectEmail": "a@b"}, "rekorPublicKeyPath": "/r"}]}), "oidcIssuer not specified"),
    ("sigstore fulcio without rekor", policy({"default": [{"type": "sigstoreSigned", "fulcio": {
        "caPath": "/ca", "oidcIssuer": "https://i", "subjectEmail": "a@b"}}]}), "must be specified if fulcio is used"),
    ("sigstore pki with rekor", policy({"default": [{"type": "sigstoreSigned", "pki": {
        "caRootsPath": "/r", "subjectEmail": "a@b"}, "rekorPublicKeyPath": "/r"}]}), "not supported for pki"),
    ("sigstore pki without subject", policy({"default": [{"type": "sigstoreSigned", "pki": {"caRootsPath": "/r"}}]}),
     "At least one of subjectEmail, subjectHostname"),
    ("sigstore two rekor", policy({"default": [{"type": "sigstoreSigned", "keyPath": "/k", "rekorPublicKeyPath": "/r",
                                                "rekorPublicKeyData": "eA=="}]}), "at most one of rekorPublicKeyPath"),
    ("sigstore unknown key", policy({"default": [{"type": "sigstoreSigned", "keyPath": "/k", "keyType": "GPGKeys"}]}),
     'Unknown key "keyType"'),
    ("top level array", b"[]", "JSON object expected"),
    ("utf8 bom", b"\xef\xbb\xbf" + policy({"default": [{"type": "reject"}]}), "byte order mark"),
]


@pytest.mark.parametrize(("case", "raw", "message"), BAD_POLICIES, ids=[c[0] for c in BAD_POLICIES])
def test_bad_policies_are_refused(case: str, raw: bytes, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        parse_policy(raw, source="/etc/x/policy.json")
    assert '"/etc/x/policy.json"' in str(info.value)


def test_policy_size_cap() -> None:
    raw = b'{"default":[{"type":"reject"}],"transports":{"dir":{"' + b"/x" * (1 << 20) + b'":[{"type":"reject"}]}}}'
    with pytest.raises(PolicyError, match="exceeded maximum allowed size"):
        parse_policy(raw, source="big.json")


def test_unknown_transports_keep_their_scopes() -> None:
    parsed = parse_policy(policy({"default": [{"type": "reject"}],
                                  "transports": {"somefuture": {"any thing": [{"type": "reject"}]}}}))
    assert parsed.transports["somefuture"]["any thing"] == (PRReject(),)


def test_load_policy_search_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    system = tmp_path / "etc-policy.json"
    env = {"HOME": str(home), "SKOPO_SYSTEM_POLICY_PATH": str(system)}
    with pytest.raises(PolicyError) as info:
        load_policy(None, env)
    message = str(info.value)
    assert "no policy.json file found at any of the following" in message
    assert str(home / ".config/containers/policy.json") in message and str(system) in message
    system.write_text(json.dumps({"default": [{"type": "reject"}]}))
    assert load_policy(None, env).source == str(system)
    user = home / ".config/containers/policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    assert load_policy(None, env).source == str(user)
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"default": [{"type": "reject"}]}))
    assert load_policy(explicit, env).source == str(explicit)
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(tmp_path / "missing.json", env)
