"""skopo's Go templates against Go's own output, case by case.

`tests/fixtures/gotemplate/expected.json` was produced once by the Go program in
`tests/fixtures/gotemplate/gen/` (its header names the Go version and the command): Go's
`text/template`, `fmt`, `encoding/json` and `text/tabwriter` ran every template of
`cases.json` on the data of `data.json`:

- "inspect" cases as skopeo main's `inspect --format` does (JSON output for json formats,
  normalisation, `{{range .}}` wrapping, `table`, fallback parse, name `skopeo inspect`) on
  skopeo's `inspect.Output` or, for `data: config`, the `*v1.Image` of `inspect --config`;
  here they go through the CLI's `write_output` with the values the CLI builds;
- "plain" cases as a bare template `x` (with skopeo's extra functions) on a `Misc` value
  holding one field of each kind, which `misc_value()` below builds with the same types.

The expected error texts are Go's; partial output written before an execution error is
compared too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolkit.cli.commands.inspect import write_output
from toolkit.cli.gotemplate import TemplateError, TemplateExecError, render_template
from toolkit.cli.gotemplate.stdtypes import DIGEST, TIME, time_ptr
from toolkit.cli.gotemplate.values import (
    BOOL,
    EMPTY_INTERFACE,
    FLOAT64,
    INT,
    STRING,
    UINT8,
    GoFunc,
    StructField,
    Value,
    func_type,
    iface,
    map_of,
    ptr_to,
    slice_of,
    struct_type,
)
from toolkit.cli.inspect_output import config_value, output_value
from toolkit.digest import Digest
from toolkit.manifest import docker_config_to_oci
from toolkit.manifest.gojson import GoTime, indent, marshal_indent
from toolkit.ops.inspect import InspectInfo, InspectLayer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gotemplate"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
DATA = json.loads((FIXTURES / "data.json").read_text(encoding="utf-8"))


def inspect_info(d: dict[str, Any]) -> InspectInfo:
    """The InspectInfo whose Output is `d` (an inspect.Output as JSON)."""
    return InspectInfo(
        name=d.get("Name", ""),
        tag=d.get("Tag", ""),
        digest=Digest.parse(d["Digest"]),
        repo_tags=list(d["RepoTags"]),
        created=GoTime.parse(d["Created"], what="created") if d.get("Created") else None,
        docker_version=d["DockerVersion"],
        labels=d["Labels"],
        architecture=d["Architecture"],
        os=d["Os"],
        layers=list(d["Layers"]),
        layers_data=[
            InspectLayer(mime_type=x["MIMEType"], digest=Digest.parse(x["Digest"]), size=x["Size"],
                         annotations=x["Annotations"])
            for x in d["LayersData"]
        ],
        env=d["Env"],
    )


INNER = struct_type("main.Inner", [StructField("X", INT), StructField("Y", STRING)])
MISC = struct_type("main.Misc", [
    StructField("S", STRING), StructField("Empty", STRING), StructField("I", INT), StructField("Neg", INT),
    StructField("F", FLOAT64), StructField("B", BOOL), StructField("U", UINT8),
    StructField("L", slice_of(STRING)), StructField("EmptyL", slice_of(STRING)), StructField("NilL", slice_of(STRING)),
    StructField("M", map_of(STRING, INT)), StructField("NilM", map_of(STRING, STRING)),
    StructField("IM", map_of(INT, STRING)), StructField("Nest", map_of(STRING, map_of(STRING, INT))),
    StructField("Any", EMPTY_INTERFACE), StructField("AnyS", EMPTY_INTERFACE),
    StructField("Ptr", ptr_to(INNER)), StructField("NilPtr", ptr_to(INNER)), StructField("St", INNER),
    StructField("Bytes", slice_of(UINT8)), StructField("D", DIGEST), StructField("T", ptr_to(TIME)),
    StructField("NilT", ptr_to(TIME)), StructField("Fn", func_type((), (STRING,))),
    StructField("LI", slice_of(EMPTY_INTERFACE)), StructField("u", INT),
])


def _strings(*items: str) -> Value:
    return Value(slice_of(STRING), [Value(STRING, s) for s in items])


def misc_value() -> Value:
    """gen/main.go's misc(), value for value."""
    def inner(x: int, y: str) -> Value:
        return Value(INNER, (Value(INT, x), Value(STRING, y)))

    fn = GoFunc("Fn", func_type((), (STRING,)), lambda args: Value(STRING, "called"))
    return Value(MISC, (
        Value(STRING, "str"), Value(STRING, ""), Value(INT, 3), Value(INT, -7), Value(FLOAT64, 1.5),
        Value(BOOL, True), Value(UINT8, 7),
        _strings("a", "b"), _strings(), Value(slice_of(STRING), None),
        Value(map_of(STRING, INT), {"b": Value(INT, 2), "a": Value(INT, 1)}),
        Value(map_of(STRING, STRING), None),
        Value(map_of(INT, STRING), {10: Value(STRING, "x"), 2: Value(STRING, "y")}),
        Value(map_of(STRING, map_of(STRING, INT)),
              {"k": Value(map_of(STRING, INT), {"z": Value(INT, 1), "a": Value(INT, 2)})}),
        Value(EMPTY_INTERFACE, None), iface(Value(STRING, "str")),
        Value(ptr_to(INNER), inner(2, "p")), Value(ptr_to(INNER), None), inner(1, "s"),
        Value(slice_of(UINT8), [Value(UINT8, b) for b in b"hi"]),
        Value(DIGEST, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        time_ptr(GoTime(2020, 2, 29, 13, 4, 5, 60000000, 0)), time_ptr(None),
        Value(func_type((), (STRING,)), fn),
        Value(slice_of(EMPTY_INTERFACE),
              [iface(Value(INT, 1)), iface(Value(STRING, "a")), Value(EMPTY_INTERFACE, None)]),
        Value(INT, 5),
    ))


def run_inspect_case(template: str, data: str) -> tuple[str, str | None]:
    if data == "config":
        blob = docker_config_to_oci(json.dumps(DATA["config"]).encode())

        def json_output() -> bytes:
            return indent(blob) + b"\n"

        def value() -> Value:
            return config_value(blob)
    else:
        info = inspect_info(DATA[data])

        def json_output() -> bytes:
            return marshal_indent(info.go_struct()) + b"\n"

        def value() -> Value:
            return output_value(info)
    try:
        return write_output(template, json_output, value).decode("utf-8", "surrogateescape"), None
    except TemplateError as exc:
        return "", exc.message
    except TemplateExecError as exc:
        return exc.partial, exc.message


def run_plain_case(template: str) -> tuple[str, str | None]:
    try:
        return render_template(template, misc_value(), name="x"), None
    except TemplateError as exc:
        return "", exc.message
    except TemplateExecError as exc:
        return exc.partial, exc.message


def test_fixture_names_its_origin_and_covers_enough_templates() -> None:
    assert EXPECTED["origin"].startswith("generated by tests/fixtures/gotemplate/gen")
    assert "go1." in EXPECTED["origin"]
    cases = EXPECTED["cases"]
    assert len(cases) >= 60
    assert sum(1 for c in cases if c["error"]) >= 20  # error texts are compared too


@pytest.mark.parametrize("case", EXPECTED["cases"], ids=[c["id"] for c in EXPECTED["cases"]])
def test_output_and_errors_match_go(case: dict[str, Any]) -> None:
    if case["mode"] == "inspect":
        got = run_inspect_case(case["template"], case["data"])
    else:
        got = run_plain_case(case["template"])
    assert got == (case["stdout"], case["error"]), case["template"]
