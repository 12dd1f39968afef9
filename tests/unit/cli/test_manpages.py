"""Man pages: generated from the live CLI tree, complete, committed up to date, rendering cleanly.

- Every visible command of the live tree (plugins included) has a page, and every option a
  user may type is listed in it with all its spellings, its metavar and its help; hidden
  options are left out, and hidden commands unless their module sets `DOCUMENT_HIDDEN`.
- `man/*.1` are exactly what `make man` writes today (other work adding a command or a flag
  makes this fail until the pages are regenerated).
- Every page in `man/` renders with `groff -man -ww` without a single warning.
- `man/skopo-transports.5` names every transport, and says "not supported" exactly for the
  transports the code refuses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from toolkit.cli import manpages
from toolkit.cli.manpages import (
    GENERATED_MARKER,
    CommandInfo,
    ManPage,
    build_root,
    generate_pages,
    main,
    roff_escape,
    roff_inline,
    root_context,
    stale_pages,
    visible_options,
    walk_commands,
    write_pages,
)
from toolkit.transports import ENTRY_POINT_GROUP
from toolkit.transports.unsupported import UnsupportedTransport

MAN_DIR = Path(__file__).resolve().parents[3] / "man"
SECTION5 = ("skopo-policy.json.5", "skopo-registries.d.5", "skopo-tls-details.yaml.5", "skopo-transports.5")
GROFF = shutil.which("groff")
REGENERATE_HINT = (
    "the committed man pages are out of date with the CLI definitions (a command, option or help text "
    "changed): run `make man` and commit man/*.1"
)


# --- helpers -------------------------------------------------------------------------


def plain(roff: str) -> str:
    """Roff text as a reader sees it: font escapes dropped, `\\-` as `-`, `\\[uXXXX]` decoded."""
    text = re.sub(r"\\f[BIRP]", "", roff)
    text = re.sub(r"\\\[u([0-9A-F]{4,6})\]", lambda m: chr(int(m.group(1), 16)), text)
    return text.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")


def squash(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def section(page: str, title: str) -> list[str]:
    """The roff lines of section `.SH title` (up to the next `.SH`)."""
    lines = page.splitlines()
    start = lines.index(f".SH {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(".SH ")), len(lines))
    return lines[start + 1 : end]


def tagged_entries(lines: list[str]) -> list[tuple[str, str]]:
    """`.TP` entries of a section as (tag, body), in plain text."""
    entries: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        if line == ".TP" and i + 1 < len(lines):
            body: list[str] = []
            for follow in lines[i + 2 :]:
                if follow.startswith("."):
                    break
                body.append(follow)
            entries.append((plain(lines[i + 1]), plain(" ".join(body))))
    return entries


def spellings_in(tag: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])-{1,2}[A-Za-z0-9][\w.-]*", tag))


def all_spellings(param: Any) -> list[str]:
    return [*param.opts, *param.secondary_opts]


def check_options(page: ManPage, title: str, options: list[Any]) -> list[str]:
    """Problems with the documentation of `options` in section `title` of `page`."""
    problems: list[str] = []
    entries = tagged_entries(section(page.text, title))
    for param in options:
        names = all_spellings(param)
        found = [(tag, body) for tag, body in entries if set(names) <= spellings_in(tag)]
        if not found:
            problems.append(f"{page.filename}: option {'/'.join(names)} is missing from {title}")
            continue
        tag, body = found[0]
        if param.metavar and not (param.is_flag or param.count) and str(param.metavar) not in tag:
            problems.append(f"{page.filename}: {names[0]}: metavar {param.metavar} missing in {tag!r}")
        if param.is_flag and param.secondary_opts and f"{param.opts[0]}[=BOOL]" not in tag:
            problems.append(f"{page.filename}: tri-state {names[0]} not shown as {param.opts[0]}[=BOOL]")
        if param.help and squash(param.help) not in squash(body):
            problems.append(f"{page.filename}: {names[0]}: help {param.help!r} missing in {body!r}")
    return problems


@pytest.fixture(scope="module")
def live_root() -> Any:
    return build_root()


@pytest.fixture(scope="module")
def live_commands(live_root: Any) -> list[CommandInfo]:
    return walk_commands(live_root)


@pytest.fixture(scope="module")
def live_pages(live_root: Any) -> dict[str, ManPage]:
    """Pages for the whole live tree, plugin commands included."""
    return {p.filename: p for p in generate_pages(live_root, builtin_only=False)}


def _all_commands(command: Any, ctx: Any) -> Iterator[tuple[str, Any, Any]]:
    for name, sub in getattr(command, "commands", {}).items():
        sub_ctx = sub.context_class(sub, info_name=name, parent=ctx, **(sub.context_settings or {}))
        yield name, sub, sub_ctx
        yield from _all_commands(sub, sub_ctx)


# --- completeness against the live tree ----------------------------------------------


def test_every_visible_command_has_a_page_and_a_line_in_skopo_1(
    live_commands: list[CommandInfo], live_pages: dict[str, ManPage]
) -> None:
    assert {"copy", "inspect", "manifest-digest"} <= {c.path[0] for c in live_commands}
    listed = {tag.removesuffix("(1)") for tag, _ in tagged_entries(section(live_pages["skopo.1"].text, "COMMANDS"))}
    for info in live_commands:
        assert f"{info.page_name}.1" in live_pages, info.page_name
        assert info.page_name in listed, f"{info.page_name} is not listed in skopo.1 COMMANDS"


def test_hidden_commands_have_a_page_only_when_asked(live_root: Any, live_pages: dict[str, ManPage]) -> None:
    documented = []
    for name, sub, _ in _all_commands(live_root, root_context(live_root)):
        if getattr(sub, "hidden", False):
            module = sys.modules[sub.callback.__module__]
            has_page = any(f"-{name}.1" in filename for filename in live_pages)
            assert has_page == (getattr(module, "DOCUMENT_HIDDEN", False) is True), name
            assert f"skopo-{name}" not in live_pages["skopo.1"].text, name  # never listed in skopo(1)
            if has_page:
                documented.append(name)
    assert "experimental-image-proxy" in documented


def test_every_global_option_is_in_skopo_1(live_root: Any, live_pages: dict[str, ManPage]) -> None:
    options = visible_options(live_root, root_context(live_root))
    assert {"--policy", "--debug", "--help"} <= {n for p in options for n in p.opts}
    assert check_options(live_pages["skopo.1"], "GLOBAL OPTIONS", options) == []


def test_every_option_of_every_command_is_in_its_page(
    live_commands: list[CommandInfo], live_pages: dict[str, ManPage]
) -> None:
    problems: list[str] = []
    for info in live_commands:
        page = live_pages[f"{info.page_name}.1"]
        problems += check_options(page, "OPTIONS", visible_options(info.command, info.context))
    assert problems == []


def test_hidden_options_are_left_out(live_root: Any, live_pages: dict[str, ManPage]) -> None:
    checked = 0
    trees = [("skopo.1", live_root, root_context(live_root))]
    trees += [(f"skopo-{name}.1", sub, ctx) for name, sub, ctx in _all_commands(live_root, root_context(live_root))]
    for filename, command, ctx in trees:
        if filename not in live_pages:
            continue
        tags = set().union(*(spellings_in(t) for t, _ in tagged_entries(live_pages[filename].text.splitlines())))
        for param in command.get_params(ctx):
            if getattr(param, "hidden", False) and param.param_type_name == "option":
                checked += 1
                assert not set(all_spellings(param)) & tags, f"hidden {param.opts} documented in {filename}"
    assert checked >= 1  # --registries-conf is hidden


def test_synopsis_names_every_argument(live_commands: list[CommandInfo], live_pages: dict[str, ManPage]) -> None:
    for info in live_commands:
        synopsis = plain(" ".join(section(live_pages[f"{info.page_name}.1"].text, "SYNOPSIS")))
        for arg in (p for p in info.command.params if p.param_type_name == "argument"):
            assert manpages.argument_metavar(arg) in synopsis, (info.page_name, arg.name)
    copy = plain(" ".join(section(live_pages["skopo-copy.1"].text, "SYNOPSIS")))
    assert "copy [OPTIONS] SOURCE-IMAGE DESTINATION-IMAGE" in copy


def test_examples_of_command_modules_are_in_the_pages(
    live_commands: list[CommandInfo], live_pages: dict[str, ManPage]
) -> None:
    with_examples = 0
    for info in live_commands:
        examples = manpages._module_value(info.command, "EXAMPLES")
        if not examples:
            continue
        with_examples += 1
        text = plain("\n".join(section(live_pages[f"{info.page_name}.1"].text, "EXAMPLES")))
        for example in examples:
            for line in example.splitlines():
                if line.startswith("$ "):
                    assert line in text, (info.page_name, line)
    assert with_examples >= 3  # copy, inspect, manifest-digest


def test_description_comes_from_the_docstring(live_pages: dict[str, ManPage]) -> None:
    text = squash(plain("\n".join(section(live_pages["skopo-copy.1"].text, "DESCRIPTION"))))
    assert "The trust policy is checked on the source before anything is written" in text
    name = plain(" ".join(section(live_pages["skopo-copy.1"].text, "NAME")))
    assert name == "skopo-copy - Copy an image from one location to another"


def test_skopo_1_has_the_required_sections(live_pages: dict[str, ManPage]) -> None:
    page = live_pages["skopo.1"].text
    for title in ("NAME", "SYNOPSIS", "DESCRIPTION", "GLOBAL OPTIONS", "COMMANDS", "IMAGE NAMES",
                  "SHELL COMPLETION", "EXIT STATUS", "FILES", "SEE ALSO"):
        assert f".SH {title}" in page, title
    codes = [tag for tag, _ in tagged_entries(section(page, "EXIT STATUS"))]
    assert codes == ["0", "1", "2"]
    assert "not found" in plain(" ".join(section(page, "EXIT STATUS")))
    image_names = plain(" ".join(section(page, "IMAGE NAMES")))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and ep.dist.metadata["Name"] == "skopo":
            assert f"{ep.name}:" in image_names, ep.name
    see_also = plain(" ".join(section(page, "SEE ALSO")))
    for ref in ("skopo-copy(1)", "skopo-policy.json(5)", "skopo-registries.d(5)", "skopo-transports(5)"):
        assert ref in see_also


# --- the generator on a synthetic tree ------------------------------------------------

EXAMPLES = ["Say hello:\n$ skopo hello --name world", "Twice:\n$ skopo hello\n$ skopo hello"]


def _synthetic_root() -> Any:
    app = typer.Typer(name="skopo", help="Root help.", add_completion=False)

    @app.callback()
    def root(debug: Annotated[bool, typer.Option("--debug", help="Debug")] = False) -> None:
        """Root help."""

    @app.command("hello")
    def hello(
        who: Annotated[str, typer.Argument(metavar="WHO", help="Whom to greet")] = "you",
        name: Annotated[str, typer.Option("--name", "-n", help="A `name`", metavar="NAME")] = "x",
        secret: Annotated[str, typer.Option("--secret", hidden=True, help="Hidden")] = "",
        verify: Annotated[bool | None, typer.Option("--tls-verify/--no-tls-verify", help="Verify")] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag", metavar="TAG")] = None,
    ) -> None:
        """Greet somebody.

        Long text with `code`,
        wrapped.

        - first item
        - second item
        """

    @app.command("ghost", hidden=True)
    def ghost() -> None:
        """Hidden command."""

    return typer.main.get_command(app)


def test_synthetic_page_layout() -> None:
    root = _synthetic_root()
    pages = {p.filename: p.text for p in generate_pages(root, builtin_only=False)}
    assert sorted(pages) == ["skopo-hello.1", "skopo.1"]
    page = pages["skopo-hello.1"]
    assert page.startswith(GENERATED_MARKER + "\n")
    assert "\\fB\\-\\-name\\fR, \\fB\\-n\\fR \\fINAME\\fR" in page
    assert "\\fB\\-\\-tls\\-verify\\fR[=\\fIBOOL\\fR], \\fB\\-\\-no\\-tls\\-verify\\fR" in page
    assert "A tag (may be repeated)" in page
    assert "secret" not in page and "ghost" not in pages["skopo.1"]
    assert "Long text with \\fBcode\\fR, wrapped." in page
    assert page.count(".IP \\(bu 2") == 2
    assert ".SH ARGUMENTS" in page and "Whom to greet" in page
    assert "[\\fIWHO\\fR]" in page  # optional argument
    assert plain(page).count("$ skopo hello") == 3
    assert "skopo hello --name world" in plain(page)


def test_output_is_deterministic_and_undated() -> None:
    first = generate_pages(_synthetic_root(), builtin_only=False)
    second = generate_pages(_synthetic_root(), builtin_only=False)
    assert first == second
    th = next(line for line in first[0].text.splitlines() if line.startswith(".TH "))
    assert re.fullmatch(r'\.TH "SKOPO\\-HELLO" "1" "" "skopo [^"]+" "User Commands"', th)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--tls-verify", "\\-\\-tls\\-verify"),
        (".starts with a dot", "\\&.starts with a dot"),
        ("'quote", "\\&'quote"),
        ("back\\slash", "back\\eslash"),
        ("café", "caf\\[u00E9]"),
        ("tab\there", "tab here"),
    ],
)
def test_roff_escape(text: str, expected: str) -> None:
    assert roff_escape(text) == expected


def test_roff_inline_code_spans() -> None:
    assert roff_inline("use `--raw` here") == "use \\fB\\-\\-raw\\fR here"
    assert roff_inline("`.hidden` first") == "\\fB.hidden\\fR first"
    assert roff_inline("odd ` tick") == "odd ` tick"


def test_write_pages_removes_only_stale_generated_pages(tmp_path: Path) -> None:
    (tmp_path / "skopo-gone.1").write_text(GENERATED_MARKER + "\nold\n")
    (tmp_path / "hand.1").write_text(".TH HAND 1\n")
    (tmp_path / "skopo-policy.json.5").write_text(".TH X 5\n")
    pages = generate_pages(_synthetic_root(), builtin_only=False)
    assert stale_pages(tmp_path, pages) == ["skopo-gone.1", "skopo-hello.1", "skopo.1"]
    write_pages(tmp_path, pages)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hand.1", "skopo-hello.1", "skopo-policy.json.5", "skopo.1"
    ]
    assert stale_pages(tmp_path, pages) == []


def test_main_check_says_run_make_man(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(tmp_path)]) == 1
    assert "run `make man`" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "skopo-copy.1").is_file()
    assert main(["--check", str(tmp_path)]) == 0


# --- the committed pages ----------------------------------------------------------------


def test_committed_pages_are_up_to_date() -> None:
    stale = stale_pages(MAN_DIR, generate_pages())
    assert stale == [], f"{REGENERATE_HINT}; differing: {', '.join(stale)}"


def test_section_5_pages_exist() -> None:
    for name in SECTION5:
        text = (MAN_DIR / name).read_text(encoding="utf-8")
        assert text.count(".TH ") == 1 and '"5"' in text.split(".TH ", 1)[1].splitlines()[0], name


def _man_files() -> list[Path]:
    return sorted([*MAN_DIR.glob("*.1"), *MAN_DIR.glob("*.5")])


def _groff(path: Path) -> subprocess.CompletedProcess[str]:
    assert GROFF is not None
    return subprocess.run(
        [GROFF, "-man", "-Tutf8", "-ww", "-z", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(GROFF is None, reason="groff is not installed")
@pytest.mark.parametrize("path", _man_files(), ids=lambda p: p.name)
def test_committed_page_renders_without_warnings(path: Path) -> None:
    result = _groff(path)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.skipif(GROFF is None, reason="groff is not installed")
def test_generated_pages_render_without_warnings(tmp_path: Path, live_pages: dict[str, ManPage]) -> None:
    for page in live_pages.values():
        path = tmp_path / page.filename
        path.write_text(page.text, encoding="utf-8")
        result = _groff(path)
        assert result.returncode == 0 and result.stderr == "", f"{page.filename}: {result.stderr}"


def test_all_pages_exist_for_section_1_and_5() -> None:
    names = {p.name for p in _man_files()}
    assert {"skopo.1", "skopo-copy.1", "skopo-inspect.1", "skopo-manifest-digest.1", *SECTION5} <= names


# --- skopo-transports(5) against the code ----------------------------------------------


def _transport_sections() -> dict[str, str]:
    """Transport name -> plain text of its `.SS` section in skopo-transports.5."""
    text = (MAN_DIR / "skopo-transports.5").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for chunk in text.split("\n.SS ")[1:]:
        heading, _, body = chunk.partition("\n")
        name = re.match(r'"?([a-z-]+):', plain(heading))
        assert name is not None, heading
        out[name.group(1)] = plain(body.split("\n.SH ", 1)[0])
    return out


def test_transports_page_names_every_transport() -> None:
    sections = _transport_sections()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and ep.dist.metadata["Name"] == "skopo":
            assert ep.name in sections, f"skopo-transports.5 has no section for {ep.name}:"


def test_transports_page_status_matches_the_code() -> None:
    """"Status: not supported" exactly for transports the code refuses. A placeholder still
    saying "is not supported yet" marks a transport being implemented: the page may already
    document it as supported."""
    for name, body in _transport_sections().items():
        status = re.search(r"Status: ([^\n.(;]*)", body)
        assert status is not None, f"{name}: no Status line"
        says_unsupported = status.group(1).strip() == "not supported"
        eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        transport = eps[0].load() if eps else None
        refused = transport is None or isinstance(transport, UnsupportedTransport)
        if says_unsupported:
            assert refused, f"skopo-transports.5 says {name}: is not supported, but skopo implements it"
        elif refused:
            assert isinstance(transport, UnsupportedTransport) and transport.reason == "is not supported yet", (
                f"skopo-transports.5 documents {name}: as supported, but skopo refuses it"
            )
