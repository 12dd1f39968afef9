"""`toolkit._record.record` behaves as `dataclass(frozen=True, slots=True, ...)` does.

Each check runs on a record class and on the same class made by `@dataclass`, and expects
the same result: construction, defaults and factories, errors, equality, hash, order,
repr, frozenness, slots, the `dataclasses` functions, copy, pickle, `match`, subclassing.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from toolkit._record import field as record_field
from toolkit._record import record
from toolkit.digest import Digest
from toolkit.types import BlobInfo, SystemContext


def _kw_namespace(field: Callable[..., Any] = field) -> dict[str, Any]:
    """A keyword-only class's body (made afresh for each twin: a decorator takes its fields over),
    with `dataclasses.field` or `toolkit._record.field`."""
    return {
        "__doc__": "A keyword-only record.",
        "__annotations__": {"counter": ClassVar[int], "name": "str", "size": "int", "tags": "tuple[str, ...]",
                            "raw": "bytes"},
        "counter": 0,
        "size": -1,
        "tags": field(default_factory=tuple),
        "raw": field(default=b"", repr=False, compare=False),
    }


def _check_algorithm(self: Any) -> None:
    if not self.algorithm:
        raise ValueError("empty")


def _pos_namespace() -> dict[str, Any]:
    """A positional class's body, with a `__post_init__`."""
    return {
        "__doc__": "A positional record.",
        "__annotations__": {"algorithm": "str", "hex": "str"},
        "hex": "0",
        "__post_init__": _check_algorithm,
    }


def _class(name: str, namespace: dict[str, Any]) -> type:
    """A module-level class (so that pickle finds it by name)."""
    return type(name, (), {"__module__": __name__, "__qualname__": name, **namespace})


KwRecord: Any = record(kw_only=True)(_class("KwRecord", _kw_namespace()))
KwData: Any = dataclass(frozen=True, slots=True, kw_only=True)(_class("KwData", _kw_namespace()))
#: The same record, its body written with `toolkit._record.field` (no `dataclasses` import needed).
KwOwnRecord: Any = record(kw_only=True)(_class("KwOwnRecord", _kw_namespace(record_field)))
PosRecord: Any = record(order=True)(_class("PosRecord", _pos_namespace()))
PosData: Any = dataclass(frozen=True, slots=True, order=True)(_class("PosData", _pos_namespace()))


PAIRS = [(KwRecord, KwData), (PosRecord, PosData), (KwOwnRecord, KwData)]
IDS = ["kw_only", "order", "own_field"]


def _outcome(call: Callable[[], Any]) -> Any:
    """The result of `call`, or the type of the exception it raised."""
    try:
        return call()
    except Exception as exc:
        return type(exc)


def _same(rec: Callable[[], Any], data: Callable[[], Any], *, as_text: bool = False) -> None:
    got, expected = _outcome(rec), _outcome(data)
    if as_text:
        got, expected = str(got).replace("OwnRecord", "X").replace("Record", "X"), str(expected).replace("Data", "X")
    assert got == expected


def test_keyword_only_construction_defaults_and_errors() -> None:
    calls: list[int] = []

    @record(kw_only=True)
    class Fresh:
        items: list[int] = field(default_factory=lambda: calls.append(1) or [])

    assert Fresh().items is not Fresh().items and len(calls) == 2  # a factory runs per instance
    _same(lambda: dataclasses.astuple(KwRecord(name="a")), lambda: dataclasses.astuple(KwData(name="a")))
    assert KwRecord(name="a").tags == ()
    for args, kwargs in [(("a",), {}), ((), {}), ((), {"name": "a", "nope": 1})]:
        _same(lambda a=args, k=kwargs: KwRecord(*a, **k), lambda a=args, k=kwargs: KwData(*a, **k))


def test_positional_construction_post_init_and_errors() -> None:
    for args, kwargs in [(("sha256", "ab"), {}), (("sha256",), {"hex": "cd"}), (("",), {}),
                         (("a", "b", "c"), {}), (("a",), {"algorithm": "b"}), ((), {})]:
        _same(lambda a=args, k=kwargs: dataclasses.astuple(PosRecord(*a, **k)),
              lambda a=args, k=kwargs: dataclasses.astuple(PosData(*a, **k)))
    assert PosRecord.__match_args__ == PosData.__match_args__ == ("algorithm", "hex")
    match PosRecord("x", "y"):
        case PosRecord(algorithm, hex_value):
            assert (algorithm, hex_value) == ("x", "y")
        case _:
            raise AssertionError("no match")


@pytest.mark.parametrize(("rec", "data"), PAIRS, ids=IDS)
def test_equality_hash_repr_and_order(rec: Any, data: Any) -> None:
    def make(cls: Any) -> Any:
        return cls(name="n") if cls in (KwRecord, KwData, KwOwnRecord) else cls("n")

    for cls in (rec, data):
        assert make(cls) == make(cls)
        assert hash(make(cls)) == hash(make(cls))
        assert make(cls).__eq__(object()) is NotImplemented
        assert make(cls) != make(data if cls is rec else rec)
        assert cls.__doc__ == (rec.__doc__ or data.__doc__)
    _same(lambda: repr(make(rec)), lambda: repr(make(data)), as_text=True)
    assert KwRecord(name="n", raw=b"1") == KwRecord(name="n", raw=b"2")  # compare=False
    assert sorted([PosRecord("b"), PosRecord("a", "z")]) == [PosRecord("a", "z"), PosRecord("b")]
    _same(lambda: KwRecord(name="a") < KwRecord(name="b"), lambda: KwData(name="a") < KwData(name="b"))
    assert (PosRecord("a") <= PosRecord("a"), PosRecord("b") > PosRecord("a")) == (True, True)


@pytest.mark.parametrize(("rec", "data"), PAIRS, ids=IDS)
def test_frozen_slotted_and_the_dataclasses_functions(rec: Any, data: Any) -> None:
    def make(cls: Any) -> Any:
        return cls(name="n") if cls in (KwRecord, KwData, KwOwnRecord) else cls("n")

    for cls in (rec, data):
        obj = make(cls)
        first = dataclasses.fields(obj)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, first, "x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(obj, first)
        assert not hasattr(obj, "__dict__")
        assert dataclasses.is_dataclass(obj)
        assert dataclasses.replace(obj, **{first: "m"}) == cls(**{**dataclasses.asdict(obj), first: "m"})
        assert copy.copy(obj) == obj == copy.deepcopy(obj)
        assert pickle.loads(pickle.dumps(obj)) == obj
    assert rec.__slots__ == data.__slots__
    assert [(f.name, f.type, f.repr, f.compare, f.kw_only) for f in dataclasses.fields(rec)] == [
        (f.name, f.type, f.repr, f.compare, f.kw_only) for f in dataclasses.fields(data)
    ]


def test_a_dataclass_may_subclass_a_record() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Sub(KwRecord):
        extra: int = 0

    sub = Sub(name="a", extra=2)
    assert [f.name for f in dataclasses.fields(sub)] == ["name", "size", "tags", "raw", "extra"]
    import inspect

    assert list(inspect.signature(Sub).parameters) == ["name", "size", "tags", "raw", "extra"]
    assert sub == Sub(name="a", extra=2) != Sub(name="a")


def test_public_types_keep_their_dataclass_face() -> None:
    """The API's value types are records: fields, equality, frozenness as before."""
    info = BlobInfo(digest=Digest.parse("sha256:" + "a" * 64), size=3)
    assert dataclasses.replace(info, size=4).size == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.size = 5  # type: ignore[misc]
    ctx = SystemContext()
    assert dataclasses.replace(ctx) == ctx and dataclasses.is_dataclass(ctx)
    assert Digest("sha256", "b" * 64) < Digest("sha256", "c" * 64)
    assert BlobInfo.__doc__ and "digest" in [f.name for f in dataclasses.fields(BlobInfo)]


@pytest.mark.parametrize(("rec", "data"), PAIRS, ids=IDS)
def test_the_signature_is_the_dataclass_one(rec: Any, data: Any) -> None:
    import inspect

    assert str(inspect.signature(rec)) == str(inspect.signature(data))
    assert str(inspect.signature(BlobInfo)).startswith("(*, digest: 'Digest | None', size: 'int' = -1,")


def test_the_record_field_takes_what_dataclasses_field_takes() -> None:
    """`toolkit._record.field` refuses what `dataclasses.field` refuses, and means the same."""
    with pytest.raises(TypeError):
        record_field(defualt=1)
    with pytest.raises(ValueError, match="both default and default_factory"):
        record_field(default=1, default_factory=list)

    @record
    class Mixed:
        a: int
        b: list[int] = record_field(default_factory=list, compare=False)
        c: int = record_field(default=3, init=False)
        d: int = record_field(default=4, kw_only=True, repr=False)

    @dataclass(frozen=True, slots=True)
    class MixedData:
        a: int
        b: list[int] = field(default_factory=list, compare=False)
        c: int = field(default=3, init=False)
        d: int = field(default=4, kw_only=True, repr=False)

    for cls in (Mixed, MixedData):
        obj = cls(1, [2], d=5)  # type: ignore[call-arg]
        assert (obj.a, obj.b, obj.c, obj.d) == (1, [2], 3, 5)
        assert obj == cls(1, [9], d=5) != cls(1, d=6)  # type: ignore[call-arg]
        assert dataclasses.replace(obj, a=7).a == 7
    assert repr(Mixed(1)).endswith(".Mixed(a=1, b=[], c=3)")
    assert repr(MixedData(1)).endswith(".MixedData(a=1, b=[], c=3)")
    assert [(f.name, f.init, f.repr, f.compare, f.kw_only, f.default) for f in dataclasses.fields(Mixed)] == [
        (f.name, f.init, f.repr, f.compare, f.kw_only, f.default) for f in dataclasses.fields(MixedData)
    ]
    import inspect

    assert str(inspect.signature(Mixed)) == str(inspect.signature(MixedData))
    assert Mixed.__match_args__ == MixedData.__match_args__


def test_making_a_record_needs_no_dataclasses_module() -> None:
    """A record class (and an instance) is made without importing `dataclasses`, which
    `dataclasses.fields` and friends, or a write to a frozen field, then load."""
    code = (
        "import sys\n"
        "from toolkit._record import field, record\n"
        "@record(kw_only=True, order=True)\n"
        "class R:\n"
        "    a: int\n"
        "    b: tuple[int, ...] = field(default_factory=tuple)\n"
        "r = R(a=1)\n"
        "assert (r == R(a=1), r < R(a=2), hash(r) == hash(R(a=1)), repr(r)) == (True, True, True, 'R(a=1, b=())')\n"
        "assert 'dataclasses' not in sys.modules\n"
        "import dataclasses\n"
        "assert [f.name for f in dataclasses.fields(r)] == ['a', 'b'] and dataclasses.is_dataclass(R)\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def test_methods_of_the_class_body_are_kept_as_a_dataclass_keeps_them() -> None:
    """`__repr__`, `__eq__`, `__init__` and an explicit `__hash__` of the body stay (an
    `__eq__` alone gets the record's hash); `__setattr__` or, with `order`, `__lt__` in the
    body is a `TypeError`: each as `@dataclass(frozen=True, slots=True)` does."""

    def body() -> dict[str, Any]:
        return {
            "__annotations__": {"name": "str", "secret": "str"},
            "__repr__": lambda self: f"Hidden(name={self.name!r}, secret=***)",
            "__eq__": lambda self, other: isinstance(other, type(self)) and self.name == other.name,
        }

    def made(decorate: Callable[[type], Any], extra: dict[str, Any] | None = None, **flags: Any) -> Any:
        return _outcome(lambda: decorate(**flags)(type("Hidden", (), {**body(), **(extra or {})})))

    rec, data = made(record), made(lambda **kw: dataclass(frozen=True, slots=True, **kw))
    for cls in (rec, data):
        one, two = cls("a", "s1"), cls("a", "s2")
        assert repr(one) == "Hidden(name='a', secret=***)"
        assert one == two and hash(one) != hash(two)  # the body's __eq__, the generated hash
    hashed = {"__hash__": lambda self: 7}
    assert hash(made(record, hashed)("a", "b")) == hash(made(lambda: dataclass(frozen=True), hashed)("a", "b")) == 7
    for extra, flags in [({"__setattr__": lambda self, n, v: None}, {}), ({"__lt__": lambda self, o: True},
                                                                           {"order": True})]:
        assert made(record, extra, **flags) is TypeError
        assert made(lambda **kw: dataclass(frozen=True, slots=True, **kw), extra, **flags) is TypeError
    from toolkit.types import Credentials

    assert "hunter2" not in repr(Credentials(username="u", password="hunter2"))
