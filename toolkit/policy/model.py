"""policy.json as frozen dataclasses, parsed strictly (containers-policy.json(5)).

`parse_policy(raw, source=...)` accepts exactly what containers/image's paranoid parser
accepts, and reports every problem as a `PolicyError` naming the file and the place
(`invalid policy in "/etc/containers/policy.json": transports.docker["example.com"][0]:
Unknown key "keyPth"`). Refused: more than 1 MiB, invalid or duplicate-key JSON, trailing
data, unknown keys anywhere, a missing `default`, an empty requirement list, an unknown
requirement or `signedIdentity` type, not exactly one key source, invalid references or
remap prefixes, scopes the transport says are invalid (security.md row 17, corpus 29).

Parsed but not usable yet (evaluation rejects with a clear reason): `signedBaseLayer` and
`signedBy` key types other than `GPGKeys`. `sigstoreSigned` is evaluated by
`toolkit.policy.evaluate` with `toolkit.signature.sigstore`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Final

from toolkit.errors import InvalidImageNameError, PolicyError, SizeLimitError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_FILE_SIZE
from toolkit.manifest.strictjson import loads_strict
from toolkit.policy.match import (
    ExactReference,
    ExactRepository,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    PolicyReferenceMatch,
    RemapIdentity,
)
from toolkit.transports import get_transport

__all__ = [
    "Policy",
    "Requirement",
    "PRInsecureAcceptAnything",
    "PRReject",
    "PRSignedBy",
    "PRSignedBaseLayer",
    "PRSigstoreSigned",
    "SigstoreFulcio",
    "SigstorePKI",
    "KEY_TYPES",
    "parse_policy",
    "INSECURE_POLICY",
]

KEY_TYPES: Final = ("GPGKeys", "signedByGPGKeys", "X509Certificates", "signedByX509CAs")


class _PlaceError(Exception):
    """A problem at a place in the document; turned into a `PolicyError` at the top."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(message)
        self.place = place
        self.message = message


@dataclass(frozen=True, slots=True)
class PRInsecureAcceptAnything:
    """Accepts any image; vouches for no signature."""

    type_name: ClassVar[str] = "insecureAcceptAnything"


@dataclass(frozen=True, slots=True)
class PRReject:
    """Rejects every image and signature."""

    type_name: ClassVar[str] = "reject"


@dataclass(frozen=True, slots=True)
class PRSignedBy:
    """A GPG simple-signing signature by one of the keys is required. Exactly one of
    `key_path`, `key_paths`, `key_data` is set."""

    key_type: str
    signed_identity: PolicyReferenceMatch
    key_path: str | None = None
    key_paths: tuple[str, ...] | None = None
    key_data: bytes | None = None
    type_name: ClassVar[str] = "signedBy"


@dataclass(frozen=True, slots=True)
class PRSignedBaseLayer:
    """Requires a signed base layer (undocumented in containers/image; never satisfied)."""

    base_layer_identity: PolicyReferenceMatch
    type_name: ClassVar[str] = "signedBaseLayer"


@dataclass(frozen=True, slots=True)
class SigstoreFulcio:
    """Keyless (Fulcio) trust root of a `sigstoreSigned` requirement."""

    oidc_issuer: str
    subject_email: str
    ca_path: str | None = None
    ca_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class SigstorePKI:
    """Private-PKI trust root of a `sigstoreSigned` requirement."""

    ca_roots_path: str | None = None
    ca_roots_data: bytes | None = None
    ca_intermediates_path: str | None = None
    ca_intermediates_data: bytes | None = None
    subject_email: str = ""
    subject_hostname: str = ""


@dataclass(frozen=True, slots=True)
class PRSigstoreSigned:
    """A sigstore signature is required: keys (optionally with Rekor keys), Fulcio + Rekor, or PKI."""

    signed_identity: PolicyReferenceMatch
    key_path: str | None = None
    key_paths: tuple[str, ...] | None = None
    key_data: bytes | None = None
    key_datas: tuple[bytes, ...] | None = None
    fulcio: SigstoreFulcio | None = None
    pki: SigstorePKI | None = None
    rekor_public_key_path: str | None = None
    rekor_public_key_paths: tuple[str, ...] | None = None
    rekor_public_key_data: bytes | None = None
    rekor_public_key_datas: tuple[bytes, ...] | None = None
    type_name: ClassVar[str] = "sigstoreSigned"


Requirement = PRInsecureAcceptAnything | PRReject | PRSignedBy | PRSignedBaseLayer | PRSigstoreSigned


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole policy: `default` requirements and per-transport scopes.

    `transports[transport][scope]` is a non-empty tuple of requirements; `source` names
    where the policy came from (a path, or a description) for messages.
    """

    default: tuple[Requirement, ...]
    transports: Mapping[str, Mapping[str, tuple[Requirement, ...]]]
    source: str = "policy.json"


INSECURE_POLICY: Final = Policy(
    default=(PRInsecureAcceptAnything(),), transports=MappingProxyType({}), source="--insecure-policy"
)


# ------------------------------------------------------------------------------ helpers


def _object(value: Any, place: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _PlaceError(place, "JSON object expected")
    return value


def _check_keys(obj: Mapping[str, Any], allowed: frozenset[str] | set[str], place: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _PlaceError(place, f'Unknown key "{safe_text(key, 80)}"')


def _string(obj: Mapping[str, Any], key: str, place: str) -> str | None:
    """A string field; None when absent or null (Go leaves the zero value)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _PlaceError(f"{place}.{key}", "string expected")
    return value


def _string_list(obj: Mapping[str, Any], key: str, place: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _PlaceError(f"{place}.{key}", "array of strings expected")
    return tuple(value)


def _b64(value: Any, place: str) -> bytes:
    if not isinstance(value, str):
        raise _PlaceError(place, "base64 string expected")
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise _PlaceError(place, "invalid base64 data") from None


def _bytes(obj: Mapping[str, Any], key: str, place: str) -> bytes | None:
    value = obj.get(key)
    return None if value is None else _b64(value, f"{place}.{key}")


def _bytes_list(obj: Mapping[str, Any], key: str, place: str) -> tuple[bytes, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _PlaceError(f"{place}.{key}", "array of base64 strings expected")
    return tuple(_b64(item, f"{place}.{key}[{i}]") for i, item in enumerate(value))


def _policy_error(place: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except PolicyError as exc:
        raise _PlaceError(place, exc.message) from exc


# ------------------------------------------------------------------------------ identities


def _parse_identity(value: Any, place: str) -> PolicyReferenceMatch:
    obj = _object(value, place)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _PlaceError(place, 'missing or invalid "type"')

    def exact(*fields: str) -> dict[str, Any]:
        _check_keys(obj, {"type", *fields}, place)
        for f in fields:
            if f not in obj:
                raise _PlaceError(place, f'Key "{f}" missing in a JSON object')
            if not isinstance(obj[f], str):
                raise _PlaceError(f"{place}.{f}", "string expected")
        return obj

    if kind == "matchExact":
        exact()
        return MatchExact()
    if kind == "matchRepoDigestOrExact":
        exact()
        return MatchRepoDigestOrExact()
    if kind == "matchRepository":
        exact()
        return MatchRepository()
    if kind == "exactReference":
        exact("dockerReference")
        return _policy_error(place, lambda: ExactReference(obj["dockerReference"]))  # type: ignore[no-any-return]
    if kind == "exactRepository":
        exact("dockerRepository")
        return _policy_error(place, lambda: ExactRepository(obj["dockerRepository"]))  # type: ignore[no-any-return]
    if kind == "remapIdentity":
        exact("prefix", "signedPrefix")
        return _policy_error(place, lambda: RemapIdentity(obj["prefix"], obj["signedPrefix"]))  # type: ignore[no-any-return]
    raise _PlaceError(place, f'Unknown policy reference match type "{safe_text(kind, 80)}"')


def _signed_identity(obj: Mapping[str, Any], place: str) -> PolicyReferenceMatch:
    if obj.get("signedIdentity") is None:
        return MatchRepoDigestOrExact()
    return _parse_identity(obj["signedIdentity"], f"{place}.signedIdentity")


# ------------------------------------------------------------------------------ requirements

_SIGNED_BY_KEYS: Final = frozenset({"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"})
_SIGSTORE_KEYS: Final = frozenset(
    {
        "type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki", "rekorPublicKeyPath",
        "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas", "signedIdentity",
    }
)


def _parse_signed_by(obj: dict[str, Any], place: str) -> PRSignedBy:
    _check_keys(obj, _SIGNED_BY_KEYS, place)
    key_type = _string(obj, "keyType", place) or ""
    if key_type not in KEY_TYPES:
        raise _PlaceError(f"{place}.keyType", f'Unrecognized keyType value "{safe_text(key_type, 80)}"')
    identity = _signed_identity(obj, place)
    key_path = _string(obj, "keyPath", place) or None
    key_paths = _string_list(obj, "keyPaths", place)
    key_data = _bytes(obj, "keyData", place)
    sources = sum(x is not None for x in (key_path, key_paths, key_data))
    if sources == 0:
        raise _PlaceError(place, "Exactly one of keyPath, keyPaths and keyData must be specified, "
                                 "none of them present")
    if sources > 1:
        raise _PlaceError(place, "Exactly one of keyPath, keyPaths and keyData must be specified, "
                                 "more than one present")
    if key_paths is not None and not key_paths:
        raise _PlaceError(f"{place}.keyPaths", '"keyPaths" contains no entries')
    return PRSignedBy(
        key_type=key_type, signed_identity=identity, key_path=key_path, key_paths=key_paths, key_data=key_data
    )


def _parse_fulcio(value: Any, place: str) -> SigstoreFulcio:
    obj = _object(value, place)
    _check_keys(obj, {"caPath", "caData", "oidcIssuer", "subjectEmail"}, place)
    ca_path = _string(obj, "caPath", place) or None
    ca_data = _bytes(obj, "caData", place)
    if ca_path is not None and ca_data is not None:
        raise _PlaceError(place, "caPath and caData cannot be used simultaneously")
    if ca_path is None and ca_data is None:
        raise _PlaceError(place, "At least one of caPath and caData must be specified")
    issuer = _string(obj, "oidcIssuer", place) or ""
    if not issuer:
        raise _PlaceError(place, "oidcIssuer not specified")
    email = _string(obj, "subjectEmail", place) or ""
    if not email:
        raise _PlaceError(place, "subjectEmail not specified")
    return SigstoreFulcio(oidc_issuer=issuer, subject_email=email, ca_path=ca_path, ca_data=ca_data)


def _parse_pki(value: Any, place: str) -> SigstorePKI:
    obj = _object(value, place)
    _check_keys(
        obj,
        {"caRootsPath", "caRootsData", "caIntermediatesPath", "caIntermediatesData", "subjectEmail", "subjectHostname"},
        place,
    )
    roots_path = _string(obj, "caRootsPath", place) or None
    roots_data = _bytes(obj, "caRootsData", place)
    if roots_path is not None and roots_data is not None:
        raise _PlaceError(place, "caRootsPath and caRootsData cannot be used simultaneously")
    if roots_path is None and roots_data is None:
        raise _PlaceError(place, "At least one of caRootsPath and caRootsData must be specified")
    inter_path = _string(obj, "caIntermediatesPath", place) or None
    inter_data = _bytes(obj, "caIntermediatesData", place)
    if inter_path is not None and inter_data is not None:
        raise _PlaceError(place, "caIntermediatesPath and caIntermediatesData cannot be used simultaneously")
    email = _string(obj, "subjectEmail", place) or ""
    hostname = _string(obj, "subjectHostname", place) or ""
    if not email and not hostname:
        raise _PlaceError(place, "At least one of subjectEmail, subjectHostname must be specified")
    return SigstorePKI(
        ca_roots_path=roots_path,
        ca_roots_data=roots_data,
        ca_intermediates_path=inter_path,
        ca_intermediates_data=inter_data,
        subject_email=email,
        subject_hostname=hostname,
    )


def _parse_sigstore(obj: dict[str, Any], place: str) -> PRSigstoreSigned:
    _check_keys(obj, _SIGSTORE_KEYS, place)
    identity = _signed_identity(obj, place)
    key_paths = _string_list(obj, "keyPaths", place)
    if key_paths is not None and not key_paths:
        raise _PlaceError(f"{place}.keyPaths", '"keyPaths" contains no entries')
    key_datas = _bytes_list(obj, "keyDatas", place)
    if key_datas is not None and not key_datas:
        raise _PlaceError(f"{place}.keyDatas", '"keyDatas" contains no entries')
    rekor_paths = _string_list(obj, "rekorPublicKeyPaths", place)
    if rekor_paths is not None and not rekor_paths:
        raise _PlaceError(f"{place}.rekorPublicKeyPaths", '"rekorPublicKeyPaths" contains no entries')
    rekor_datas = _bytes_list(obj, "rekorPublicKeyDatas", place)
    if rekor_datas is not None and not rekor_datas:
        raise _PlaceError(f"{place}.rekorPublicKeyDatas", '"rekorPublicKeyDatas" contains no entries')
    fulcio = None if obj.get("fulcio") is None else _parse_fulcio(obj["fulcio"], f"{place}.fulcio")
    pki = None if obj.get("pki") is None else _parse_pki(obj["pki"], f"{place}.pki")
    req = PRSigstoreSigned(
        signed_identity=identity,
        key_path=_string(obj, "keyPath", place) or None,
        key_paths=key_paths,
        key_data=_bytes(obj, "keyData", place),
        key_datas=key_datas,
        fulcio=fulcio,
        pki=pki,
        rekor_public_key_path=_string(obj, "rekorPublicKeyPath", place) or None,
        rekor_public_key_paths=rekor_paths,
        rekor_public_key_data=_bytes(obj, "rekorPublicKeyData", place),
        rekor_public_key_datas=rekor_datas,
    )
    sources = sum(
        x is not None for x in (req.key_path, req.key_paths, req.key_data, req.key_datas, req.fulcio, req.pki)
    )
    if sources != 1:
        raise _PlaceError(place, "exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki "
                                 "must be specified")
    rekor = sum(
        x is not None
        for x in (req.rekor_public_key_path, req.rekor_public_key_paths, req.rekor_public_key_data,
                  req.rekor_public_key_datas)
    )
    if rekor > 1:
        raise _PlaceError(place, "at most one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and "
                          "rekorPublicKeyDatas can be used simultaneously")
    if req.fulcio is not None and rekor == 0:
        raise _PlaceError(place, "At least one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and "
                          "rekorPublicKeyDatas must be specified if fulcio is used")
    if req.pki is not None and rekor > 0:
        raise _PlaceError(place, "rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas "
                          "are not supported for pki")
    return req


def _parse_requirement(value: Any, place: str) -> Requirement:
    obj = _object(value, place)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise _PlaceError(place, 'missing or invalid "type"')
    if kind == "insecureAcceptAnything":
        _check_keys(obj, {"type"}, place)
        return PRInsecureAcceptAnything()
    if kind == "reject":
        _check_keys(obj, {"type"}, place)
        return PRReject()
    if kind == "signedBy":
        return _parse_signed_by(obj, place)
    if kind == "signedBaseLayer":
        _check_keys(obj, {"type", "baseLayerIdentity"}, place)
        if "baseLayerIdentity" not in obj:
            raise _PlaceError(place, 'Key "baseLayerIdentity" missing in a JSON object')
        return PRSignedBaseLayer(_parse_identity(obj["baseLayerIdentity"], f"{place}.baseLayerIdentity"))
    if kind == "sigstoreSigned":
        return _parse_sigstore(obj, place)
    raise _PlaceError(place, f'Unknown policy requirement type "{safe_text(kind, 80)}"')


def _parse_requirements(value: Any, place: str) -> tuple[Requirement, ...]:
    if not isinstance(value, list):
        raise _PlaceError(place, "array of policy requirements expected")
    if not value:
        raise _PlaceError(place, "List of verification policy requirements must not be empty")
    return tuple(_parse_requirement(item, f"{place}[{i}]") for i, item in enumerate(value))


def _validate_scope(transport_name: str, scope: str, place: str) -> None:
    if scope == "":
        return
    try:
        transport = get_transport(transport_name)
    except InvalidImageNameError:
        return  # a transport skopo does not know: its scopes cannot be checked (as c/image)
    except ToolkitError:
        return  # a broken plugin: reported when it is used, not here
    try:
        transport.validate_policy_configuration_scope(scope)
    except ToolkitError as exc:
        raise _PlaceError(place, f"invalid scope: {exc}") from exc


def _parse_document(doc: Any) -> tuple[tuple[Requirement, ...], dict[str, Mapping[str, tuple[Requirement, ...]]]]:
    top = _object(doc, "top level")
    _check_keys(top, {"default", "transports"}, "top level")
    if top.get("default") is None:
        raise _PlaceError("top level", "Default policy is missing")
    default = _parse_requirements(top["default"], "default")
    transports: dict[str, Mapping[str, tuple[Requirement, ...]]] = {}
    raw_transports = top.get("transports")
    if raw_transports is not None:
        for name, scopes_value in _object(raw_transports, "transports").items():
            tplace = f'transports["{safe_text(name, 80)}"]'
            scopes: dict[str, tuple[Requirement, ...]] = {}
            for scope, reqs in _object(scopes_value, tplace).items():
                splace = f'{tplace}["{safe_text(scope, 200)}"]'
                _validate_scope(name, scope, splace)
                scopes[scope] = _parse_requirements(reqs, splace)
            transports[name] = MappingProxyType(scopes)
    return default, transports


def parse_policy(raw: bytes, *, source: str = "policy.json") -> Policy:
    """Parse policy.json bytes strictly. `source` (usually the path) appears in messages.

    Raises `PolicyError` (`invalid policy in "SOURCE": PLACE: MESSAGE`) for any problem,
    including a document larger than 1 MiB.
    """
    prefix = f'invalid policy in "{safe_text(source)}"'
    try:
        doc = loads_strict(raw, what=prefix, limit=MAX_CONFIG_FILE_SIZE, error_cls=PolicyError)
    except SizeLimitError as exc:
        raise PolicyError(str(exc)) from exc
    try:
        default, transports = _parse_document(doc)
    except _PlaceError as exc:
        raise PolicyError(f"{prefix}: {exc.place}: {exc.message}") from None
    return Policy(default=default, transports=MappingProxyType(transports), source=source)
