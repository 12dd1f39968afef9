"""toolkit._protocol: at run time, protocols answer `isinstance` as `typing`'s do."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest

from toolkit import _protocol
from toolkit.transports import base


def _protocols(runtime: bool) -> list[type]:
    return [
        value for value in vars(base).values()
        if isinstance(value, type) and _protocol.Protocol in value.__bases__
        and ("_protocol_members" in vars(value)) == runtime
    ]


def _as_typing_protocol(cls: type) -> Any:
    """The same class body declared with `typing.Protocol`, runtime-checkable."""
    body = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__", "_protocol_members")}
    declared = types.new_class(cls.__name__, (typing.Protocol,), exec_body=lambda ns: ns.update(body))
    return typing.runtime_checkable(declared)


def _candidates(members: tuple[tuple[str, bool], ...]) -> list[object]:
    """Objects with all, all but one, and None-for-a-method variants of `members`."""

    def make(names: dict[str, Any]) -> object:
        return type("Candidate", (), names)()

    full = {name: (lambda self, *a: None) if is_method else property(lambda self: 1) for name, is_method in members}
    out = [make(full), make({}), object(), 42]
    for name, _ in members:
        out.append(make({k: v for k, v in full.items() if k != name}))
        out.append(make({**full, name: None}))
    return out


def test_the_runtime_checkable_transport_protocols_are_checked_as_typing_checks_them() -> None:
    checked = _protocols(runtime=True)
    assert len(checked) >= 10
    for cls in checked:
        typed = _as_typing_protocol(cls)
        assert {name for name, _ in vars(cls)["_protocol_members"]} == typing._get_protocol_attrs(typed)  # type: ignore[attr-defined]
        for candidate in _candidates(vars(cls)["_protocol_members"]):
            assert isinstance(candidate, cls) == isinstance(candidate, typed), (cls, vars(type(candidate)))


def test_a_protocol_that_is_not_runtime_checkable_refuses_isinstance() -> None:
    plain = _protocols(runtime=False)
    assert base.ImageSource in plain
    for cls in plain:
        with pytest.raises(TypeError, match="runtime_checkable"):
            isinstance(object(), cls)


def test_a_class_implementing_a_protocol_is_an_ordinary_class() -> None:
    class Lister(base.TagLister):
        pass

    assert isinstance(Lister(), Lister) and isinstance(Lister(), base.TagLister)
    assert not isinstance(object(), Lister)


def test_transports_are_recognised_by_their_capabilities(tmp_path: Any) -> None:
    from toolkit.transports import parse_image_name
    from toolkit.types import SystemContext

    ref = parse_image_name(f"oci:{tmp_path}/layout:tag")
    assert isinstance(ref, base.PathReference)
    assert not isinstance(ref, base.TagLister)
    with ref.new_image_destination(SystemContext()) as dest:
        assert isinstance(dest, base.FileBlobDestination) and isinstance(dest, base.ReferrersDestination)
        assert not isinstance(dest, base.BlobMountHint)
