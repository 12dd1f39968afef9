"""Property-based fuzzing of every parser that reads outside data (issue 10, security.md §4).

The one property: whatever the bytes, a parser returns or raises a `ToolkitError`
subclass; any other exception (KeyError, TypeError, RecursionError, UnicodeError,
ValueError, ...) is a bug that would reach a user as a traceback.

Budget: `SKOPO_FUZZ_EXAMPLES` examples per test (default 50, CI-sized); `make fuzz` runs
2000. Inputs are both free-form (random bytes, random JSON/YAML trees) and mutations of
valid documents (so the parsers get past their first checks).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.images import build_image, build_multiarch, tar_bytes
from toolkit.errors import ToolkitError

EXAMPLES = int(os.environ.get("SKOPO_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 50,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def only_toolkit_errors(fn: Callable[[], object]) -> None:
    with contextlib.suppress(ToolkitError):
        fn()


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_trees = st.recursive(json_scalars, lambda c: st.one_of(st.lists(c, max_size=5),
                                                             st.dictionaries(st.text(max_size=12), c, max_size=5)),
                          max_leaves=30)


def mutations(seed_docs: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid documents with bytes flipped, cut, duplicated or inserted."""
    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seed_docs)))
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
            pos = draw(st.integers(0, max(0, len(data) - 1)))
            if op == "flip" and data:
                data[pos] = draw(st.integers(0, 255))
            elif op == "cut":
                del data[pos: pos + draw(st.integers(1, 64))]
            elif op == "insert":
                data[pos:pos] = draw(st.sampled_from([b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\u0000", b"\xff",
                                                      b"1e999", b"-1", b"null", b'"Layers"', b"\xef\xbb\xbf"]))
            else:
                data[pos:pos] = data[pos: pos + draw(st.integers(1, 64))]
        return bytes(data)
    return mutate()


def json_inputs(seed_docs: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), json_trees.map(lambda t: json.dumps(t).encode()), mutations(seed_docs))


IMAGE = build_image(fmt="docker", layer_count=2, layer_size=64, seed=1)
OCI = build_image(fmt="oci", layer_count=1, layer_size=64, seed=2)
INDEX = build_multiarch(fmt="oci", layer_count=1, layer_size=64)
LIST = build_multiarch(fmt="docker", layer_count=1, layer_size=64)
MIMES = [IMAGE.media_type, OCI.media_type, INDEX.media_type, LIST.media_type,
         "application/vnd.docker.distribution.manifest.v1+prettyjws", "application/json", "", "text/plain"]

# ---------------------------------------------------------------- references


@FUZZ
@given(st.one_of(st.text(max_size=300), st.from_regex(r"[a-zA-Z0-9./:@_-]{0,300}", fullmatch=True)))
def test_fuzz_references(text: str) -> None:
    from toolkit.reference import parse_named, parse_normalized_named
    from toolkit.transports import parse_image_name

    only_toolkit_errors(lambda: parse_normalized_named(text))
    only_toolkit_errors(lambda: parse_named(text))
    for transport in ("docker:", "docker://", "oci:", "dir:", "docker-archive:", "oci-archive:", ""):
        only_toolkit_errors(lambda transport=transport: parse_image_name(transport + text))


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_fuzz_digests(text: str) -> None:
    from toolkit.digest import Digest

    only_toolkit_errors(lambda: Digest.parse(text))
    only_toolkit_errors(lambda: Digest.parse("sha256:" + text))

# ---------------------------------------------------------------- manifests, indexes, configs


@FUZZ
@given(json_inputs([IMAGE.manifest, OCI.manifest, INDEX.manifest, LIST.manifest]), st.sampled_from(MIMES))
def test_fuzz_manifests_and_indexes(raw: bytes, mime: str) -> None:
    from toolkit.manifest.formats import parse_any, parse_list, parse_manifest

    only_toolkit_errors(lambda: parse_any(raw, mime))
    only_toolkit_errors(lambda: parse_manifest(raw, mime))
    only_toolkit_errors(lambda: parse_list(raw, mime))


@FUZZ
@given(json_inputs([IMAGE.config, OCI.config]))
def test_fuzz_image_configs(raw: bytes) -> None:
    from toolkit.manifest.config import docker_config_to_oci, parse_config

    only_toolkit_errors(lambda: parse_config(raw))
    only_toolkit_errors(lambda: docker_config_to_oci(raw))


def test_fuzz_deep_nesting_is_a_toolkit_error() -> None:
    from toolkit.manifest.formats import parse_any

    for raw in (b"[" * 200_000, b'{"a":' * 200_000, b"[" * 100_000 + b"]" * 100_000):
        only_toolkit_errors(lambda raw=raw: parse_any(raw, OCI.media_type))

# ---------------------------------------------------------------- trust configuration

POLICY = json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {"example.com": [
    {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k",
     "signedIdentity": {"type": "matchRepository"}}]}}}).encode()
SIGSTORE_POLICY = json.dumps({"default": [{"type": "sigstoreSigned", "keyPath": "/k",
                                           "signedIdentity": {"type": "matchExact"}}]}).encode()


@FUZZ
@given(json_inputs([POLICY, SIGSTORE_POLICY, b'{"default":[{"type":"insecureAcceptAnything"}]}']))
def test_fuzz_policy_json(raw: bytes) -> None:
    from toolkit.policy.model import parse_policy

    only_toolkit_errors(lambda: parse_policy(raw, source="fuzz.json"))


yaml_texts = st.one_of(
    st.text(max_size=300),
    json_trees.map(json.dumps),
    st.sampled_from(["docker:\n  example.com:\n    lookaside: file:///x\n",
                     "default-docker:\n  lookaside: https://x/\n  use-sigstore-attachments: true\n",
                     "a: &x [1]\nb: [*x, *x]\n", "!!python/object:os.system {}\n", "docker: {x: [}\n"]),
)


@FUZZ
@given(yaml_texts, yaml_texts)
def test_fuzz_registries_d(first: str, second: str) -> None:
    from toolkit.config.registries_d import parse_registries_d_dir

    with tempfile.TemporaryDirectory() as d:
        Path(d, "a.yaml").write_text(first)
        Path(d, "b.yaml").write_text(second)
        only_toolkit_errors(lambda: parse_registries_d_dir(Path(d)))


toml_texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from(['unqualified-search-registries = ["docker.io"]\n'
                     '[[registry]]\nprefix = "a.com"\nlocation = "b.com"\n',
                     '[[registry]]\nlocation = "x"\ninsecure = "yes"\n[[registry.mirror]]\nlocation = 5\n',
                     '[[registry]]\nprefix = "*.example.com"\nblocked = true\n', "[[registry]\n"]),
)


@FUZZ
@given(toml_texts)
def test_fuzz_registries_conf(text: str) -> None:
    from toolkit.config.registries_conf import load_registries_conf
    from toolkit.types import SystemContext

    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "registries.conf")
        path.write_text(text)
        ctx = SystemContext(registries_conf_path=path)
        only_toolkit_errors(lambda: load_registries_conf(ctx, env={"HOME": d, "XDG_CONFIG_HOME": d}))


AUTH = json.dumps({"auths": {"example.com": {"auth": "YTpi"}, "https://x.io/v2/": {"auth": "!!"}},
                   "credHelpers": {}}).encode()


@FUZZ
@given(json_inputs([AUTH, b'{"auths":{"example.com":{"auth":"YWxpY2U="}}}']),
       st.sampled_from(["example.com/a/b", "x.io", "docker.io/library/busybox", "localhost:5000/x"]))
def test_fuzz_auth_json(raw: bytes, name: str) -> None:
    from toolkit.config.auth import get_credentials
    from toolkit.types import SystemContext

    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "auth.json")
        path.write_bytes(raw)
        path.chmod(0o600)
        ctx = SystemContext(auth_file_path=path)
        only_toolkit_errors(lambda: get_credentials(ctx, name, env={"HOME": d, "PATH": ""}))


SYNC = b"""example.com:
  images:
    busybox: [latest, "sha256:0000000000000000000000000000000000000000000000000000000000000000"]
  images-by-tag-regex:
    nginx: ^1\\.2.*
  tls-verify: false
  credentials: {username: a, password: b}
"""


@FUZZ
@given(st.one_of(yaml_texts.map(str.encode), mutations([SYNC])))
def test_fuzz_sync_yaml(raw: bytes) -> None:
    sync_file = pytest.importorskip("toolkit.config.sync_file")
    only_toolkit_errors(lambda: sync_file.parse_sync_file(raw, "fuzz.yaml"))

# ---------------------------------------------------------------- archives and layouts


def _docker_archive_manifest() -> bytes:
    return json.dumps([{"Config": "c.json", "RepoTags": ["example.com/x:1"], "Layers": ["l.tar"]}]).encode()


@FUZZ
@given(json_inputs([_docker_archive_manifest()]))
def test_fuzz_docker_archive_manifest_json(raw: bytes) -> None:
    from toolkit.transports._docker_tar import parse_tar_manifest

    only_toolkit_errors(lambda: parse_tar_manifest(raw))


@FUZZ
@given(json_inputs([INDEX.manifest, b'{"schemaVersion":2,"manifests":[]}']))
def test_fuzz_oci_index_json(raw: bytes) -> None:
    from toolkit.transports._oci_layout import check_layout_file, parse_index

    only_toolkit_errors(lambda: parse_index(raw, "fuzz"))
    only_toolkit_errors(lambda: check_layout_file(raw, "fuzz"))


TARS = [tar_bytes({"manifest.json": _docker_archive_manifest(), "d/": None, "c.json": b"{}"}),
        tar_bytes({"a" * 150: b"long name", "blobs/sha256/x": b"1"})]


@FUZZ
@given(st.one_of(st.binary(max_size=3000), mutations(TARS)))
def test_fuzz_tar_index(raw: bytes) -> None:
    import io

    from toolkit.transports._tar import TarIndex, iter_tar_stream

    def index() -> None:
        with TarIndex.from_file(io.BytesIO(raw)) as idx:
            for name in idx.names():
                only_toolkit_errors(lambda name=name: idx.open_member(name).read())

    def stream() -> None:
        for _, member in iter_tar_stream(io.BytesIO(raw)):
            member.read()

    only_toolkit_errors(index)
    only_toolkit_errors(stream)

# ---------------------------------------------------------------- SIF files


def _sif_seed() -> bytes:
    from helpers.sif import DEFFILE, deffile, partition, write_sif

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.sif"
        write_sif(path, [deffile(DEFFILE), partition(b"hsqs" + bytes(508))], slots=4)
        return path.read_bytes()


SIF_SEED = _sif_seed()


@st.composite
def sif_files(draw: st.DrawFn) -> bytes:
    """The seed file with header or descriptor fields overwritten (offsets, sizes, counts, flags)."""
    data = bytearray(SIF_SEED)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.sampled_from([32, 42, 45, 80, 88, 96, 104, 112, 120]
                                   + [4096 + i * 585 + f for i in range(4) for f in (0, 4, 17, 25, 33, 201, 205)]))
        value = draw(st.one_of(st.integers(-(2**63), 2**63 - 1).map(lambda v: v.to_bytes(8, "little", signed=True)),
                               st.binary(min_size=1, max_size=8)))
        data[pos: pos + len(value)] = value
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


@FUZZ
@given(st.one_of(sif_files(), st.binary(max_size=600)))
def test_fuzz_sif_files(raw: bytes) -> None:
    from toolkit.transports.sif._format import load

    with tempfile.TemporaryFile() as f:
        f.write(raw)
        f.flush()

        def parse() -> None:
            image = load(f.fileno())
            only_toolkit_errors(image.primary_partition)
            image.definition_file()

        only_toolkit_errors(parse)


@FUZZ
@given(st.one_of(st.binary(max_size=2000),
                 st.lists(st.sampled_from([b"%environment", b"%runscript", b"%post", b" export A=1", b"# c", b"",
                                           b"\r", b"\xc2\xa0", b"\xff", b"%"]), max_size=30).map(b"\n".join)))
def test_fuzz_sif_definition_files(raw: bytes) -> None:
    from toolkit.transports.sif._deffile import command_from_deffile

    only_toolkit_errors(lambda: command_from_deffile(raw))

# ---------------------------------------------------------------- signatures


def _simple_payload() -> bytes:
    from toolkit.digest import Digest
    from toolkit.signature.simple import make_payload

    return make_payload(Digest.from_bytes(IMAGE.manifest), "example.com/x:1", creator="c", timestamp=1)


def _sigstore_payload() -> bytes:
    from toolkit.digest import Digest
    from toolkit.signature.sigstore_payload import make_payload

    return make_payload(Digest.from_bytes(IMAGE.manifest), "example.com/x:1")


@FUZZ
@given(json_inputs([_simple_payload(), _sigstore_payload()]))
def test_fuzz_signature_payloads(raw: bytes) -> None:
    from toolkit.signature import sigstore_payload, simple

    only_toolkit_errors(lambda: simple.parse_payload(raw))
    only_toolkit_errors(lambda: sigstore_payload.parse_payload(raw))


@FUZZ
@given(st.one_of(st.binary(max_size=400),
                 mutations([b"\x00\x00\x00\x00sig", b'\x00\x00\x00\x00sigstore-json{"mimeType":"x","payload":"eA==",'
                            b'"annotations":{}}', b"\xa3\x01\x02\x03"])))
def test_fuzz_signature_blobs(raw: bytes) -> None:
    from toolkit.signature import parse_signature_blob

    only_toolkit_errors(lambda: parse_signature_blob(raw))


ATTACHMENT = json.dumps({"schemaVersion": 2, "mediaType": OCI.media_type, "config": json.loads(OCI.manifest)["config"],
                         "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": 1,
                                     "digest": "sha256:" + "0" * 64,
                                     "annotations": {"dev.cosignproject.cosign/signature": "eA=="}}]}).encode()


@FUZZ
@given(json_inputs([ATTACHMENT]))
def test_fuzz_sigstore_attachments(raw: bytes) -> None:
    from toolkit.signature.sigstore_attachments import parse_attachment_manifest

    only_toolkit_errors(lambda: parse_attachment_manifest(raw))

# ---------------------------------------------------------------- HTTP headers and bodies

header_texts = st.one_of(
    st.text(max_size=200),
    st.sampled_from(['Bearer realm="https://a/token",service="x",scope="repository:a:pull"',
                     'Basic realm="x", Bearer realm=x', 'Bearer realm="unterminated', "Bearer ,,,=,",
                     'Bearer realm="a\\"b"', "bytes 0-9/10", "bytes 5-4/3", "bytes */10", "bytes 1-2/*",
                     '</v2/x/tags/list?n=1>; rel="next"', "<http://evil/v2/x>; rel=next", "<>"]),
)


@FUZZ
@given(header_texts)
def test_fuzz_http_headers(value: str) -> None:
    from toolkit.transports.docker._auth import parse_challenges, parse_one
    from toolkit.transports.docker._body import parse_content_range
    from toolkit.transports.docker._repository import link_next

    only_toolkit_errors(lambda: parse_one(value))
    only_toolkit_errors(lambda: parse_challenges([value, value]))
    # Its documented contract is ValueError, which its only caller (`ResumableBody`) turns
    # into a clean "cannot resume" error; nothing else may escape.
    try:
        first, last, length = parse_content_range(value)
        assert 0 <= first <= last and (length == -1 or last < length)
    except ValueError:
        pass

    class FakeResponse:
        def __init__(self) -> None:
            self.headers = {"Link": value}

    only_toolkit_errors(lambda: link_next(FakeResponse()))  # type: ignore[arg-type]


@FUZZ
@given(json_inputs([b'{"errors":[{"code":"DENIED","message":"no","detail":{}}]}']))
def test_fuzz_registry_error_bodies(raw: bytes) -> None:
    from toolkit.transports.docker._errors import describe_errors, parse_error_body

    def run() -> None:
        describe_errors(parse_error_body(raw), 403, "Forbidden")

    only_toolkit_errors(run)
