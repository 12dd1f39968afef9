"""`skopo inspect IMAGE-NAME`: low-level information about an image, as skopeo prints it."""

# No `from __future__ import annotations`: `command_with_flags` reads the command's
# signature with its annotations evaluated, and evaluating a string annotation compiles it
# (~0.3 M instructions each, on every run); evaluated at definition they cost next to nothing.
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Annotated, Any

import typer

from toolkit.cli.common import base_context, log_line, with_retries
from toolkit.cli.context import global_options
from toolkit.cli.flags import (
    Flag,
    FlagValues,
    command_with_flags,
    image_argument,
    image_flags,
    retry_flags,
    system_context,
)
from toolkit.digest import SUPPORTED_ALGORITHMS
from toolkit.errors import InvalidInputError, safe_text
from toolkit.manifest.gojson import indent, marshal_indent
from toolkit.ops.inspect import (
    image_config,
    inspect_image,
    list_platforms,
    platform_struct,
    raw_manifest,
    referrers_tree,
)
from toolkit.transports import parse_image_name

#: For `man skopo-inspect` (toolkit/cli/manpages.py): a description, then `$ ` command lines.
EXAMPLES = [
    "Show the digest, tags, layers, labels and environment of an image in a registry:\n"
    "$ skopo inspect docker://docker.io/library/alpine:3.20",
    "Print only the digest and platform, with a Go template:\n"
    "$ skopo inspect --format '{{.Digest}} {{.Os}}/{{.Architecture}}' oci:alpine-layout:3.20",
    "List every platform of a multi-architecture image with its digest and size:\n"
    "$ skopo inspect --platforms docker://docker.io/library/alpine:3.20",
    "Show the SBOMs, signatures and attestations attached to an image, as a tree:\n"
    "$ skopo inspect --referrers --tree docker://registry.example.com/app:1.0",
    "Print the manifest exactly as stored, then the image configuration:\n"
    "$ skopo inspect --raw docker-archive:alpine.tar\n"
    "$ skopo inspect --config docker-archive:alpine.tar",
]
SEE_ALSO = ["skopo-transports(5)", "skopo-registries.d(5)", "skopo-copy(1)"]

#: Extra man page sections (toolkit/cli/manpages.py): the `--format` language.
SECTIONS = [
    ("Format templates", """\
`--format` takes a Go template (Go's `text/template`), run as skopeo main runs it. skopo
follows skopeo main, not skopeo 1.9.3, where they differ (see the end of this section).

- An empty format, `json`, `{{json}}` or `{{ json. }}` (blanks around allowed) print the
  usual indented JSON. `{{json .}}` is a template: compact JSON, without HTML escaping.
- The two-character sequences `\\t` and `\\n` become a TAB and a newline (inside string
  literals too), and a newline is added unless the format ends with one; `{{- .Os -}}` trims it.
- Unless the format contains `{{range .}}...{{end}}`, it is run as
  `{{range .}}FORMAT{{end -}}` on a one-element list holding the image: `.` is the image,
  `$` the list. Error positions count the 11 characters of `{{range .}}`.
- `table FORMAT`: spaces become TABs and the output is aligned in columns (at least 12
  characters wide, 2 spaces apart), as Go's tab writer does.
- If the changed text does not parse, the format as given (wrapped, not changed) is parsed
  instead, so `{{printf "\\n"}}` works; errors name the template `skopeo inspect`.
- A template error exits with status 1, after printing the output made before it.

The image (`inspect.Output`): `Name`, `Tag` (empty strings when the image has no docker
name, as `oci:` images), `Digest` (a `digest.Digest`, with methods `Algorithm`, `Encoded`,
`Hex`), `RepoTags` (list), `Created` (a `*time.Time`: `{{.Created.Year}}`,
`{{.Created.Format "2006-01-02"}}`, `Unix`, `UTC`...), `DockerVersion`, `Labels` (map),
`Architecture`, `Os`, `Layers` (list), `LayersData` (list of `MIMEType`, `Digest`, `Size`,
`Annotations`), `Env` (list). With `--config` the data is the OCI configuration
(`*v1.Image`): `Created`, `Author`, `Architecture`, `OS`, `OSVersion`, `OSFeatures`,
`Variant`, `Platform`, `Config` (`User`, `ExposedPorts`, `Env`, `Entrypoint`, `Cmd`,
`Volumes`, `WorkingDir`, `Labels`, `StopSignal`, `ArgsEscaped`), `RootFS` (`Type`,
`DiffIDs`), `History` (`Created`, `CreatedBy`, `Author`, `Comment`, `EmptyLayer`). With
`--platforms` each element has `Platform`, `Digest`, `Size`, `MIMEType`.

The language is Go's, all of it: text and `{{actions}}`, `{{/* comments */}}`, trim
markers `{{- ` and ` -}}`, `{{if}}`/`{{else if}}`/`{{else}}`, `{{with}}`/`{{else with}}`,
`{{range}}` over lists, maps (in key order) and integers, with `$i, $v :=`, `{{else}}`,
`{{break}}` and `{{continue}}`, `{{define}}`/`{{template}}`/`{{block}}`, variables
(`$x := ...`, `$x = ...`, `$`), pipelines (`.Name | printf "%s!"`: the value becomes the
last argument), parenthesised calls, fields, map keys (`.Labels.version`) and methods,
literals (`"string"`, raw strings between backquotes, `'c'`, numbers, `true`, `false`,
`nil`).

Functions: Go's `and`, `or` (they return the deciding argument), `not`, `len`, `index`,
`slice`, `call`, `print`, `printf`, `println`, `eq` (true if the first argument equals any
other), `ne`, `lt`, `le`, `gt`, `ge`, `html`, `js`, `urlquery`; skopeo main's `json`,
`join LIST SEP`, `lower`, `upper`, `title`, `split S SEP`, `pad S PREFIX SUFFIX`,
`truncate S LENGTH`. Those take strings: `.Digest` is a `digest.Digest`, so write
`{{lower (print .Digest)}}`. `printf` is Go's: `%v %+v %#v %T %s %q %d %x %X %o %b %c %U
%e %f %g %t %%`, flags `-+# 0`, width, precision, `*` and `%[n]`; mistakes print as Go
prints them (`%!d(string=linux)`, `%!s(MISSING)`).

Values print as Go prints them: lists `[a b]`, maps `map[a:1 b:2]` (keys sorted), structs
`{...}`, a missing map key or nil interface `<no value>`, a nil pointer `<nil>`, times
`2016-09-19 18:23:54.9949213 +0000 UTC`. Error messages are Go's, for example
`template: skopeo inspect:1:13: executing "skopeo inspect" at <.Foo>: can't evaluate
field Foo in type interface {}`.

Where skopeo 1.9.3 differs and skopo follows skopeo main: 1.9.3 has none of skopeo's
functions (`json`, `join`, `upper`...), runs `{{range . }}FORMAT{{end}}` whatever the format
holds (so `{{range .}}` inside it fails and error columns are one more), loses any output
line containing a TAB and any output not followed by a newline (its tab writer is never
flushed), and does not retry a format that does not parse. Go releases newer than 1.9.3's
add `{{else with}}` and `{{range N}}`, which skopo has, as skopeo main does."""),
]

INSPECT_FLAGS: list[Flag] = [
    Flag("raw", bool, False, "output raw manifest or configuration"),
    Flag("config", bool, False, "output configuration"),
    Flag("format", str | None, None, "Format the output to a Go template", metavar="TEMPLATE", short="-f"),
    Flag("no-tags", bool, False, "Do not list the available tags from the repository in the output", short="-n"),
    Flag("platforms", bool, False, "List every platform of a multi-architecture image with its digest and size"),
    Flag("referrers", bool, False, "List what refers to the image (OCI 1.1 referrers, recursively, and cosign's "
         "tags) as JSON"),
    Flag("tree", bool, False, "With --referrers, print a readable tree instead of JSON"),
    Flag("manifest-digest", str | None, None, "Algorithm to use for computing manifest digest (sha256, sha512); "
         "defaults to algorithm used in config digest", metavar="ALGORITHM"),
]


@command_with_flags(INSPECT_FLAGS, image_flags(""), retry_flags())
def inspect(
    ctx: typer.Context,
    image_name: Annotated[str, image_argument("IMAGE-NAME")],
    flags: FlagValues,
) -> None:
    """Inspect image IMAGE-NAME: manifest digest, layers, platform, labels, environment.

    `--raw` prints the manifest exactly as stored (a list stays a list); `--config` the
    image configuration; `--platforms` every platform of a multi-architecture image.

    For a multi-architecture image, the instance for this machine's platform (or the one
    chosen with `--override-os`, `--override-arch`, `--override-variant`) is inspected; a
    list without one is an error, as in skopeo, whose message names the platforms the list
    has. `--platforms` lists them with their digests and sizes.

    `--referrers` lists what refers to the image (skopo's addition): OCI 1.1 referrers
    (SBOMs, signatures, attestations whose `subject` names it, found through the
    registry's referrers API or the referrers tag schema, or an OCI layout's index),
    recursively, and cosign's `.sig`/`.att`/`.sbom` tags; for a list, each instance too.
    JSON objects carry `Digest`, `MediaType`, `Size`, `ArtifactType`, `Platform`, `Tag`,
    `Annotations`, `Referrers` (and `Manifests` for a list); `--tree` prints the same as a
    tree, one line per manifest.
    """
    raw: bool = flags.get("raw")
    config: bool = flags.get("config")
    template: str | None = flags.get("format")
    if raw and template:
        raise InvalidInputError("raw output does not support format option")
    referrers: bool = flags.get("referrers")
    if referrers and (raw or config or flags.get("platforms")):
        raise InvalidInputError("--referrers cannot be combined with --raw, --config or --platforms")
    if flags.get("tree") and not referrers:
        raise InvalidInputError("--tree needs --referrers")
    digest_algorithm = _digest_algorithm(flags.get("manifest-digest"))
    if digest_algorithm is not None and (raw or config or referrers or flags.get("platforms")):
        # skopeo ignores it there (no Digest is printed); say so rather than stay silent.
        log_line("Warning: --manifest-digest only changes the Digest of the default output")
    sys_ctx = system_context(flags, "", base=base_context(global_options(ctx)))
    ref = parse_image_name(image_name)
    out = sys.stdout.buffer

    def run() -> bytes:
        if referrers:
            tree = referrers_tree(ref, sys_ctx)
            if flags.get("tree"):
                return ("\n".join(tree.tree_lines()) + "\n").encode()
            return write_output(template, lambda: marshal_indent(tree.go_struct()) + b"\n",
                                lambda: _values().referrers_value(tree))
        if flags.get("platforms"):
            entries = list_platforms(ref, sys_ctx)
            return write_output(template, lambda: marshal_indent([platform_struct(e) for e in entries]) + b"\n",
                                lambda: _values().platforms_value(entries))
        if raw and not config:
            return raw_manifest(ref, sys_ctx)
        if config:
            blob = image_config(ref, sys_ctx, raw=raw)
            if raw:
                return blob
            return write_output(template, lambda: indent(blob) + b"\n", lambda: _values().config_value(blob))
        info = inspect_image(ref, sys_ctx, no_tags=flags.get("no-tags"), warn=lambda m: log_line(f"Warning: {m}"),
                             digest_algorithm=digest_algorithm)
        return write_output(template, lambda: marshal_indent(info.go_struct()) + b"\n",
                            lambda: _values().output_value(info))

    try:
        out.write(with_retries(flags, run, log_line))
    except Exception as exc:
        # A TemplateExecError: skopeo has written the output up to the failure by then.
        # (The template engine is loaded only by a --format, so only then can it be one.)
        gotemplate = sys.modules.get("toolkit.cli.gotemplate")
        if gotemplate is not None and isinstance(exc, gotemplate.TemplateExecError):
            out.write(exc.partial.encode("utf-8", "surrogateescape"))
            out.flush()
        raise
    out.flush()


def _digest_algorithm(value: str | None) -> str | None:
    """`--manifest-digest ALGORITHM` as skopeo main takes it: empty means sha256; an algorithm
    skopo cannot compute is refused (with skopeo's words) before the image is opened.
    skopeo also takes sha384, which is not an OCI-registered algorithm and which skopo's
    digests do not support."""
    if value is None:
        return None
    if value == "":
        return "sha256"
    if value not in SUPPORTED_ALGORITHMS:
        raise InvalidInputError(f'Error computing manifest digest: digest algorithm "{safe_text(value)}" '
                                "is not available")
    return value


def _values() -> ModuleType:
    """toolkit.cli.inspect_output, imported only when a template runs (it pulls in the engine)."""
    from toolkit.cli import inspect_output

    return inspect_output


def write_output(template: str | None, json_output: Callable[[], bytes], value: Callable[[], Any]) -> bytes:
    """skopeo main's `writeOutput`: the indented JSON for no format, an empty one or a JSON
    format (`json`, `{{json}}`), else the Go template run as `skopeo inspect --format` runs it
    on `value()` (a `toolkit.cli.gotemplate.values.Value`).

    Raises `TemplateError` (bad template) or `TemplateExecError` (with the partial output).
    """
    if not template:
        return json_output()
    from toolkit.cli.gotemplate import is_json_format, render_report  # a --format only

    if is_json_format(template):
        return json_output()
    return render_report(template, value()).encode("utf-8", "surrogateescape")
