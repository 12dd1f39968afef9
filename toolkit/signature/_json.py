"""Strict JSON helpers shared by the signature payload and Rekor SET parsers.

Every refusal is an `InvalidSignatureError`, so that untrusted signature data can never
escape as another error class (the size limit of `loads_strict` included).
"""

from __future__ import annotations

from typing import Any

from toolkit.errors import InvalidSignatureError, ToolkitError, safe_text
from toolkit.limits import MAX_SIGNATURE_SIZE
from toolkit.manifest.strictjson import loads_strict

__all__ = ["exact_object", "loads_signature_json"]


def loads_signature_json(raw: bytes, what: str) -> Any:
    """`loads_strict` with the signature size limit; every error is an `InvalidSignatureError`."""
    try:
        return loads_strict(raw, what=what, limit=MAX_SIGNATURE_SIZE, error_cls=InvalidSignatureError)
    except InvalidSignatureError:
        raise
    except ToolkitError as exc:  # the size limit
        raise InvalidSignatureError(str(exc)) from exc


def exact_object(value: Any, fields: tuple[str, ...], what: str) -> dict[str, Any]:
    """`value` must be a JSON object with exactly the keys `fields`.

    As containers/image `ParanoidUnmarshalJSONObjectExactFields`.
    """
    if not isinstance(value, dict):
        raise InvalidSignatureError(f"{what}: JSON object expected")
    for key in value:
        if key not in fields:
            raise InvalidSignatureError(f'{what}: Unknown key "{safe_text(key, 100)}"')
    for key in fields:
        if key not in value:
            raise InvalidSignatureError(f'{what}: Key "{key}" missing in a JSON object')
    return value
