"""`inspect --format` through the real CLI, side by side with skopeo 1.9.3 where the two
skopeos agree, and skopeo main's behaviour where 1.9.3 differs (see skopo-inspect(1)).

skopeo 1.9.3 and main run the same Go templates on the same data, so for templates that
use only the builtins, no tab and no error, their outputs are identical: those are compared
byte for byte with skopeo 1.9.3 (which loses output that no newline follows, as its tab
writer is never flushed: such templates, like `{{- .Os -}}`, are main-only here). The rest
(skopeo main's extra functions, `table`, the JSON formats, `--config --format`, partial
output before an error) is checked against what skopeo main prints (text/template
semantics are covered case by case in tests/unit/cli/test_gotemplate_go.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltImage, build_image, write_dir, write_oci_layout
from helpers.peers import Skopeo
from helpers.registry import RegistryServer, push_image

SHARED_TEMPLATES = [
    "{{.Name}}",
    "{{.Digest}}",
    "{{.Os}}/{{.Architecture}}",
    "{{len .Layers}} layers",
    '{{printf "%s@%s" .Name .Digest}}',
    "{{if .Labels}}labelled{{else}}plain{{end}}",
    "{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}",
    "{{.Labels.missing}}",
    "{{.Labels}} {{.RepoTags}} {{.Env}}",
    "{{.Created}} {{.Created.Year}}",
    "{{with .Env}}{{index . 0}}{{end}}",
    "{{.Os}}\\n",
    "{{range $i, $l := .Layers}}{{if $i}},{{end}}{{$i}}{{end}}",
]


@pytest.fixture
def image() -> BuiltImage:
    return build_image(fmt="oci", seed=41, layer_count=2, layer_size=700, labels={"b": "2", "a": "<x>&"})


@pytest.fixture
def names(image: BuiltImage, tmp_path: Path) -> dict[str, str]:
    write_dir(image, tmp_path / "dir")
    write_oci_layout(image, tmp_path / "layout", "v1")
    return {"dir": f"dir:{tmp_path / 'dir'}", "oci": f"oci:{tmp_path / 'layout'}:v1"}


@pytest.mark.parametrize("template", SHARED_TEMPLATES)
@pytest.mark.parametrize("transport", ["dir", "oci"])
def test_same_bytes_as_skopeo_1_9_3(run_skopo: SkopoRunner, skopeo: Skopeo, names: dict[str, str],
                                     transport: str, template: str) -> None:
    theirs = skopeo.run("inspect", "--format", template, names[transport], check=False)
    ours = run_skopo("inspect", "--format", template, names[transport])
    assert theirs.returncode == 0, describe_result(theirs)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), describe_result(ours)


@pytest.mark.parametrize("template", ["{{.OS}}/{{.Architecture}}", "{{.RootFS.Type}} {{.RootFS.DiffIDs}}",
                                      "{{.Config.Labels}} {{len .History}}"])
def test_config_same_bytes_as_skopeo_1_9_3(run_skopo: SkopoRunner, skopeo: Skopeo, names: dict[str, str],
                                            template: str) -> None:
    theirs = skopeo.run("inspect", "--config", "--format", template, names["dir"])
    ours = run_skopo("inspect", "--config", "--format", template, names["dir"])
    assert (ours.returncode, ours.stdout) == (0, theirs.stdout), describe_result(ours)


def test_registry_image_side_by_side(run_skopo: SkopoRunner, skopeo: Skopeo, registry_server: RegistryServer,
                                     image: BuiltImage) -> None:
    push_image(registry_server, "fmt/side", "t1", image)
    push_image(registry_server, "fmt/side", "t2", image)
    name = registry_server.docker_ref("fmt/side:t1")
    for template in ["{{.Name}} {{.RepoTags}}", "{{range .RepoTags}}{{.}},{{end}}", "{{.Digest}}"]:
        theirs = skopeo.run("inspect", "--tls-verify=false", "--format", template, name)
        ours = run_skopo("inspect", "--tls-verify=false", "--format", template, name)
        assert (ours.returncode, ours.stdout) == (0, theirs.stdout), describe_result(ours)


def test_an_oci_image_has_an_empty_name(run_skopo: SkopoRunner, names: dict[str, str]) -> None:
    result = run_skopo("inspect", "--format", "[{{.Name}}][{{.Tag}}]", names["oci"])
    assert result.stdout == b"[][]\n", describe_result(result)
    # ... while the JSON output omits both fields, as skopeo's omitempty does.
    doc = json.loads(run_skopo("inspect", names["oci"]).stdout)
    assert "Name" not in doc and "Tag" not in doc


def test_skopeo_main_extensions(run_skopo: SkopoRunner, names: dict[str, str], image: BuiltImage) -> None:
    name = names["dir"]

    def fmt(template: str, *extra: str) -> bytes:
        result = run_skopo("inspect", *extra, "--format", template, name)
        assert result.returncode == 0, describe_result(result)
        return result.stdout

    assert fmt("{{json .Labels}}") == b'{"a":"<x>&","b":"2"}\n'  # no HTML escaping in json
    assert fmt("{{upper .Os}} {{join .Layers \",\"}}") == (
        b"LINUX " + ",".join(layer.digest for layer in image.layers).encode() + b"\n")
    assert fmt("table {{.Os}} {{.Architecture}}") == b"linux       amd64\n"
    assert fmt("{{.Os}}\\t{{.Architecture}}") == b"linux\tamd64\n"
    assert fmt("{{- .Os -}}") == b"linux"
    assert json.loads(fmt("json")) == json.loads(run_skopo("inspect", name).stdout)
    assert json.loads(fmt("{{json .}}"))["Digest"] == image.manifest_digest
    assert fmt("{{.OS}} {{.RootFS.Type}} {{len .RootFS.DiffIDs}}", "--config") == b"linux layers 2\n"


def test_an_execution_error_prints_what_came_before(run_skopo: SkopoRunner, names: dict[str, str]) -> None:
    result = run_skopo("inspect", "--format", "{{.Os}} {{index .Layers 9}}", names["dir"])
    line = assert_clean_error(result, expected_exit=1, match="error calling index: index out of range: 9")
    assert line.startswith('template: skopeo inspect:1:21: executing "skopeo inspect" at <index .Layers 9>')
    assert result.stdout == b"linux "
    # A type error, as Go reports it: .Digest is a digest.Digest, not a string.
    assert_clean_error(run_skopo("inspect", "--format", "{{lower .Digest}}", names["dir"]),
                       match="wrong type for value; expected string; got digest.Digest")
