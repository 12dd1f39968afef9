"""MIME type guessing and manifest digests, exactly as containers/image computes them.

- `guess_mime_type(raw)` is c/image `GuessMIMEType`: it reads the bytes as Go's decoder
  would (case-insensitive keys, last duplicate wins) and never raises; "" means unknown.
- `manifest_digest(raw)` is c/image `manifest.Digest`: sha256 (or sha512) of the bytes,
  except for a *signed* schema1 manifest, whose digest covers the JWS payload recovered the
  way docker/libtrust `ParsePrettySignature` does (`formatLength` bytes of the document plus
  the decoded `formatTail`). The input is untrusted; errors are `ManifestError`.
- `matches_digest(raw, digest)` compares with the expected digest's algorithm.
"""

from __future__ import annotations

from typing import Any

from toolkit.digest import Digest
from toolkit.errors import ManifestError
from toolkit.gocompat import INT64_MAX, INT64_MIN
from toolkit.manifest import mime
from toolkit.manifest.gojson import GoPairs, fold_equal, go_field, loads_go

__all__ = ["guess_mime_type", "manifest_digest", "matches_digest", "schema1_payload"]


class _GoTypeError(Exception):
    """Go's json.Unmarshal would return an UnmarshalTypeError."""


def _go_str(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _GoTypeError
    return value


def _go_int(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise _GoTypeError
    return value


def _go_obj(value: Any) -> GoPairs | None:
    if value is None:
        return None
    if not isinstance(value, GoPairs):
        raise _GoTypeError
    return value


def _go_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or isinstance(value, GoPairs):
        raise _GoTypeError
    return value


def _go_interface(value: Any) -> None:
    """An `interface{}` target: numbers must fit a float64."""
    if isinstance(value, float):
        import math  # a float in a manifest is rare: the C module is loaded when one comes

        if not math.isfinite(value):
            raise _GoTypeError
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1.7976931348623157e308:
        raise _GoTypeError


def _check_oci_descriptor(entry: Any) -> None:
    """Type-check one imgspecv1.Descriptor the way Go's decoder would."""
    obj = _go_obj(entry)
    if obj is None:
        return
    for name in ("mediaType", "digest", "artifactType"):
        _go_str(go_field(obj, name))
    _go_int(go_field(obj, "size"))
    for url in _go_list(go_field(obj, "urls")):
        _go_str(url)
    annotations = _go_obj(go_field(obj, "annotations"))
    if annotations is not None:
        for _key, value in annotations:
            _go_str(value)
    data = _go_str(go_field(obj, "data"))
    if data:
        import base64  # embedded data is rare: base64 (with struct) is not imported by every command
        import binascii

        try:
            base64.b64decode(data.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise _GoTypeError from None
    platform = _go_obj(go_field(obj, "platform"))
    if platform is not None:
        for name in ("architecture", "os", "os.version", "variant"):
            _go_str(go_field(platform, name))
        for feature in _go_list(go_field(platform, "os.features")):
            _go_str(feature)


def guess_mime_type(raw: bytes) -> str:
    """c/image `GuessMIMEType`: the manifest MIME type `raw` most likely has, or "".

    Never raises: any malformed input yields "". Used for `manifest_digest` (to decide
    whether JWS signatures must be stripped) and for sources that carry no MIME type.
    """
    try:
        doc = loads_go(bytes(raw))
    except ManifestError:
        return ""
    except Exception:  # defensive: a guess must never fail
        return ""
    try:
        if doc is not None and not isinstance(doc, GoPairs):
            return ""
        media_type = _go_str(go_field(doc, "mediaType"))
        schema_version = _go_int(go_field(doc, "schemaVersion"))
        signatures = go_field(doc, "signatures")
        _go_interface(signatures)
    except _GoTypeError:
        return ""
    if media_type in (mime.DOCKER_V2S2, mime.DOCKER_V2LIST, mime.OCI_MANIFEST, mime.OCI_INDEX):
        return media_type
    if schema_version == 1:
        return mime.DOCKER_V2S1_SIGNED if signatures is not None else mime.DOCKER_V2S1
    if schema_version != 2:
        return ""
    try:
        config = _go_obj(go_field(doc, "config"))
        config_type = _go_str(go_field(config, "mediaType")) if config is not None else ""
    except _GoTypeError:
        return ""
    if config_type == mime.OCI_CONFIG:
        return mime.OCI_MANIFEST
    if config_type == mime.DOCKER_CONFIG:
        return mime.DOCKER_V2S2
    try:
        manifests = _go_list(go_field(doc, "manifests"))
        for entry in manifests:
            _check_oci_descriptor(entry)
    except _GoTypeError:
        return ""
    if manifests:
        # c/image mixes config and manifest types here (its own FIXME); keep the behaviour.
        return config_type or mime.OCI_INDEX
    return mime.OCI_MANIFEST


def _jose_b64decode(text: str, what: str) -> bytes:
    """libtrust `joseBase64UrlDecode`: unpadded base64url (newlines and spaces ignored)."""
    text = text.replace("\n", "").replace(" ", "")
    rem = len(text) % 4
    if rem == 1:
        raise ManifestError(f"signed schema1 manifest: {what}: illegal base64url string")
    text += "=" * ((4 - rem) % 4)
    import base64  # schema1 signatures only
    import binascii

    try:
        return base64.b64decode(text.replace("\r", ""), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ManifestError(f"signed schema1 manifest: {what}: base64 decode error") from None


def schema1_payload(raw: bytes) -> bytes:
    """The JWS payload of a signed ("prettyjws") schema1 manifest, as libtrust recovers it.

    Raises `ManifestError` where libtrust's `ParsePrettySignature` fails (and where it would
    panic: a negative `formatLength`). JWK public keys are checked to be objects with a
    known `kty`, not fully decoded (libtrust decodes them; a difference only for garbage keys).
    """
    try:
        doc = loads_go(raw)
    except ManifestError as exc:
        raise ManifestError(f"signed schema1 manifest: error unmarshalling content: {exc}") from None
    if not isinstance(doc, GoPairs):
        if doc is None:
            raise ManifestError("signed schema1 manifest: missing signature key")
        raise ManifestError("signed schema1 manifest: error unmarshalling content: not an object")
    # map[string]json.RawMessage: exact key, last duplicate wins.
    sig_value: Any = None
    found = False
    for key, value in doc:
        if key == "signatures":
            sig_value, found = value, True
    if not found:
        raise ManifestError("signed schema1 manifest: missing signature key")
    if sig_value is not None and (not isinstance(sig_value, list) or isinstance(sig_value, GoPairs)):
        raise ManifestError("signed schema1 manifest: error unmarshalling signatures")
    format_length = 0
    format_tail = b""
    for block in sig_value or []:
        try:
            obj = _go_obj(block)
            header = _go_obj(go_field(obj, "header")) if obj is not None else None
            if header is not None:
                _go_str(go_field(header, "alg"))
                for item in _go_list(go_field(header, "x5c")):
                    _go_str(item)
            _go_str(go_field(obj, "signature")) if obj is not None else None
            protected = _go_str(go_field(obj, "protected")) if obj is not None else ""
        except _GoTypeError:
            raise ManifestError("signed schema1 manifest: error unmarshalling signatures") from None
        protected_bytes = _jose_b64decode(protected, "protected header")
        try:
            prot = loads_go(protected_bytes)
        except ManifestError:
            raise ManifestError("signed schema1 manifest: error unmarshalling protected header") from None
        if prot is not None and not isinstance(prot, GoPairs):
            raise ManifestError("signed schema1 manifest: error unmarshalling protected header")
        prot_map: dict[str, Any] = dict(prot or [])  # map[string]interface{}: last duplicate wins
        length_value = prot_map.get("formatLength")
        if isinstance(length_value, bool) or not isinstance(length_value, (int, float)):
            raise ManifestError("signed schema1 manifest: missing formatted length")
        import math  # (signed schema1 only)

        if not math.isfinite(length_value) or abs(length_value) > INT64_MAX:
            raise ManifestError("signed schema1 manifest: invalid format length")
        length = int(length_value)  # Go: int(float64) truncates toward zero
        tail_value = prot_map.get("formatTail")
        if not isinstance(tail_value, str):
            raise ManifestError("signed schema1 manifest: missing formatted tail")
        tail = _jose_b64decode(tail_value, "format tail")
        # libtrust quirk kept on purpose: a zero length / empty tail does not "conflict".
        if format_length == 0:
            format_length = length
        elif format_length != length:
            raise ManifestError("signed schema1 manifest: conflicting format length")
        if not format_tail:
            format_tail = tail
        elif format_tail != tail:
            raise ManifestError("signed schema1 manifest: conflicting format tail")
        jwk = go_field(header, "jwk") if header is not None else None
        if header is not None and any(fold_equal(k, "jwk") for k, _ in header):
            kty = go_field(jwk, "kty") if isinstance(jwk, GoPairs) else None
            if kty not in ("EC", "RSA"):
                raise ManifestError("signed schema1 manifest: error unmarshalling public key")
    if format_length > len(raw) or format_length < 0:
        raise ManifestError("signed schema1 manifest: invalid format length")
    return bytes(raw[:format_length]) + format_tail


def manifest_digest(raw: bytes, algorithm: str = "sha256") -> Digest:
    """c/image `manifest.Digest`: the digest of a manifest's bytes (schema1 JWS stripped).

    `raw` is untrusted and used as is (never re-serialized). Raises `ManifestError` for a
    signed schema1 document whose signature block is malformed, `InvalidDigestError` for an
    unsupported `algorithm`.
    """
    data = bytes(raw)
    if guess_mime_type(data) == mime.DOCKER_V2S1_SIGNED:
        data = schema1_payload(data)
    return Digest.from_bytes(data, algorithm)


def matches_digest(raw: bytes, expected: Digest) -> bool:
    """c/image `MatchesDigest`: does `raw` (a manifest) have digest `expected`?

    Raises `ManifestError` as `manifest_digest` does.
    """
    return manifest_digest(raw, expected.algorithm) == expected
