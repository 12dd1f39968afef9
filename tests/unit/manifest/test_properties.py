"""Property tests: hostile bytes only ever raise ToolkitError; valid manifests round-trip."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.digest import Digest
from toolkit.errors import ToolkitError
from toolkit.manifest import (
    OCI1,
    gojson,
    guess_mime_type,
    loads_strict,
    manifest_digest,
    mime,
    parse_any,
    parse_manifest,
    update_layer_infos,
)
from toolkit.types import BlobInfo

SETTINGS = settings(max_examples=200, deadline=None)
KINDS = [*sorted(mime.ALL_MANIFEST_TYPES), "text/plain"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "fsLayers",
    "history",
    "signatures",
    "digest",
    "size",
    "platform",
    "Layers",
    "urls",
    "annotations",
]
manifestish = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(KINDS))
def test_random_bytes(raw: bytes, kind: str) -> None:
    assert isinstance(guess_mime_type(raw), str)
    for call in (
        lambda: parse_any(raw, kind),
        lambda: loads_strict(raw, what="x", limit=1000),
        lambda: manifest_digest(raw),
    ):
        with contextlib.suppress(ToolkitError):
            call()


@SETTINGS
@given(manifestish, st.sampled_from(KINDS))
def test_random_structures(doc: dict[str, object], kind: str) -> None:
    raw = json.dumps(doc).encode()
    assert isinstance(guess_mime_type(raw), str)
    with contextlib.suppress(ToolkitError):
        parse_any(raw, kind)
    with contextlib.suppress(ToolkitError):
        manifest_digest(raw)


digests = st.binary(min_size=1, max_size=8).map(Digest.from_bytes)
layer_types = st.sampled_from([mime.OCI_LAYER, mime.OCI_LAYER_GZIP, mime.OCI_LAYER_ZSTD])
layers = st.lists(st.tuples(layer_types, digests, st.integers(0, 2**40)), max_size=5)


@SETTINGS
@given(layers, st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3), st.integers(0, 4))
def test_valid_oci_round_trip(
    items: list[tuple[str, Digest, int]], annotations: dict[str, str], indent: int
) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mime.OCI_MANIFEST,
        "config": {"mediaType": mime.OCI_CONFIG, "digest": str(Digest.from_bytes(b"c")), "size": 1},
        "layers": [{"mediaType": mt, "digest": str(dg), "size": size} for mt, dg, size in items],
        "annotations": annotations,
    }
    raw = json.dumps(doc, indent=indent or None).encode()
    view = parse_manifest(raw, mime.OCI_MANIFEST)
    assert isinstance(view, OCI1) and view.serialize() == raw
    assert guess_mime_type(raw) == mime.OCI_MANIFEST
    assert manifest_digest(raw) == Digest.from_bytes(raw)
    infos = view.layer_infos()
    assert [(i.media_type, i.digest, i.size) for i in infos] == items
    # re-marshalling with the same layers gives a compact Go rendering of the same document
    out = update_layer_infos(
        view, [BlobInfo(digest=i.digest, size=i.size, annotations=i.annotations) for i in infos]
    )
    again = parse_manifest(out, mime.OCI_MANIFEST)
    assert isinstance(again, OCI1)
    assert again.layers == view.layers and dict(again.annotations) == annotations
    if indent == 0:
        # json.dumps(..., separators default) differs from Go only in whitespace and escaping
        expected = json.loads(raw)
        if not annotations:
            del expected["annotations"]  # Go's omitempty
        assert json.loads(out) == expected


@SETTINGS
@given(st.text(max_size=30))
def test_quote_of_any_text_is_what_the_escape_pattern_writes(text: str) -> None:
    """The shortcut for a string with nothing to escape never changes what is written."""
    from toolkit.manifest import gojson

    assert gojson.quote(text) == '"' + gojson._needs_escape().sub(gojson._escape_char, text) + '"'
    assert json.loads(gojson.quote(text)) == text or any("\ud800" <= ch <= "\udfff" for ch in text)




go_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from([b"{}", b"[]", b'{ "a" : [ 1 , {"b<":"x&y"} ] }', b'"s"', b"12"]).map(gojson.RawJSON),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
        | st.lists(st.tuples(st.text(max_size=6), children), max_size=3).map(gojson.GoStruct)
    ),
    max_leaves=12,
)


@given(go_values, st.sampled_from(["    ", "  ", "\t"]))
def test_marshal_indent_is_indent_of_marshal(value: object, unit: str) -> None:
    """The one-pass indented encoder writes what Go's Indent makes of the compact encoding."""
    assert gojson.marshal_indent(value, unit) == gojson.indent(gojson.marshal(value), unit)
