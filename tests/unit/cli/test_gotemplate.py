"""What the Go 1.19 fixture (test_gotemplate_go.py) cannot show: the language added by later
Go releases that skopeo main is built with, skopeo's report layer around the template, and
inputs that must fail cleanly."""

from __future__ import annotations

import pytest

from toolkit.cli.gotemplate import (
    TemplateError,
    TemplateExecError,
    is_json_format,
    render_report,
    render_template,
)
from toolkit.cli.gotemplate.tabwriter import tabwrite
from toolkit.errors import ToolkitError

DATA = {"Os": "linux", "L": ["a", "b"], "N": 3, "E": "", "M": {"k": "v"}}


# --- Go 1.23 / 1.24 additions (text/template docs: "else with", "range over an integer") ---


def test_else_with_chains_like_else_if() -> None:
    text = "{{with .E}}e{{else with .Os}}os={{.}}{{else}}none{{end}}"
    assert render_template(text, DATA) == "os=linux"
    assert render_template("{{with .E}}e{{else with .E}}x{{else}}none{{end}}", DATA) == "none"


def test_range_over_an_integer() -> None:
    assert render_template("{{range .N}}{{.}},{{end}}", DATA) == "0,1,2,"
    assert render_template("{{range $i := 2}}[{{$i}}]{{end}}", DATA) == "[0][1]"
    assert render_template("{{range 0}}x{{else}}empty{{end}}", DATA) == "empty"
    with pytest.raises(TemplateExecError, match="can't use 3 to iterate over more than one variable"):
        render_template("{{range $i, $v := .N}}{{end}}", DATA)


# --- skopeo main's report layer (containers/common pkg/report) ---


@pytest.mark.parametrize("text", ["json", " json ", "{{json}}", "{{ json }}", "{{json.}}", "\t{{ json. }}\n"])
def test_json_formats_select_the_json_output(text: str) -> None:
    assert is_json_format(text)


@pytest.mark.parametrize("text", ["{{json .}}", "JSON", "json x", "{{json .Os}}", "", "jsonx"])
def test_other_formats_are_templates(text: str) -> None:
    assert not is_json_format(text)


def test_a_newline_is_added_unless_the_format_ends_with_one() -> None:
    assert render_report("{{.Os}}", DATA) == "linux\n"
    assert render_report("{{.Os}}\n", DATA) == "linux\n"
    assert render_report("{{.Os}}\\n", DATA) == "linux\n"
    assert render_report("{{- .Os -}}", DATA) == "linux"


def test_escaped_tabs_and_newlines_become_real_ones_even_in_literals() -> None:
    assert render_report('{{.Os}}\\t{{printf "a\\tb"}}', DATA) == "linux\ta\tb\n"
    # The normalised text does not parse (a raw newline in a string): the original is used.
    assert render_report('{{printf "x\\n"}}', DATA) == "x\n"


def test_a_user_range_over_dot_is_not_wrapped_again() -> None:
    assert render_report("{{range .}}{{.Os}}{{end}}", DATA) == "linux\n"
    assert render_report("{{len .}} {{len $}}", DATA) == "5 1\n"


def test_table_output_goes_through_the_tab_writer() -> None:
    out = render_report("table {{.Os}} {{.N}}\\n{{index .L 0}} x", DATA)
    assert out == "linux       3\na           x\n"


def test_execution_errors_keep_the_output_written_before_them() -> None:
    with pytest.raises(TemplateExecError) as caught:
        render_report("a{{.Os}}b{{index .L 7}}c", DATA)
    assert caught.value.partial == "alinuxb"
    assert "index out of range: 7" in str(caught.value)
    with pytest.raises(TemplateExecError) as caught:
        render_report("table {{.Os}} x\\n{{.Os}} {{index .L 7}}", DATA)
    assert caught.value.partial == "linux       x\nlinux"  # as Go's tabwriter flushes it


def test_template_errors_are_one_line_toolkit_errors() -> None:
    for text in ["{{", "{{.Os", "{{if .Os}}", "{{nope}}", "{{'ab'}}", "{{.Os\n\n}}x{{"]:
        with pytest.raises(TemplateError) as caught:
            render_report(text, DATA)
        assert isinstance(caught.value, ToolkitError)
        assert str(caught.value).startswith("template: skopeo inspect:")
        assert "\n" not in str(caught.value)


def test_deep_recursion_is_an_error_not_a_crash() -> None:
    with pytest.raises(TemplateExecError, match="exceeded maximum template depth"):
        render_template('{{define "r"}}{{template "r"}}{{end}}{{template "r"}}', DATA)
    with pytest.raises(TemplateError):
        render_template("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}", DATA)


def test_tabwriter_matches_go_column_rules() -> None:
    # Expected bytes observed with Go 1.19's text/tabwriter (12, 2, 2, ' ', StripEscape).
    # Columns are per block of consecutive lines; text after the last tab is not aligned.
    data = b"a\tbb\tc\naaaa\tb\nx\n\ty\tz\n"
    assert tabwrite(data) == (
        b"a           bb          c\n"
        b"aaaa        b\n"
        b"x\n"
        b"            y           z\n"
    )
    assert tabwrite(b"\xffa\tb\xff\tc\n") == b"a\tb         c\n"  # escaped text is one cell


def test_typed_values_marshal_as_the_json_output() -> None:
    """`{{json .}}` on the values the templates see gives the JSON `inspect` prints."""
    import json

    from toolkit.cli.inspect_output import output_value, referrers_value
    from toolkit.digest import Digest
    from toolkit.manifest.gojson import GoTime, marshal
    from toolkit.ops.inspect import InspectInfo, InspectLayer, ReferrerNode

    d = Digest.parse("sha256:" + "a" * 64)
    info = InspectInfo(name="", digest=d, created=GoTime.parse("2020-01-02T03:04:05Z", what="t"), labels={"a": "<b>"},
                       architecture="amd64", os="linux", layers=[str(d)],
                       layers_data=[InspectLayer("m", d, 3, {"k": "v"})], env=None)
    node = ReferrerNode(digest=d, media_type="m", size=3,
                        referrers=(ReferrerNode(digest=d, media_type="x", size=1, artifact_type="t"),))
    for value, expected in [(output_value(info), info.go_struct()), (referrers_value(node), node.go_struct())]:
        assert json.loads(render_report("{{json .}}", value)) == json.loads(marshal(expected))
