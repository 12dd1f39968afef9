"""`ops.sync` through its library API with local transports: naming and planning as skopeo's
`cmd/skopeo/sync.go` does it, and running plans into `oci:` and `dir:` destinations.

The expected names follow sync.go: `destSuffix` is the docker reference's `String()`, or the
`dir` path without the SOURCE prefix (SOURCE's `path.Base` when that leaves nothing); without
`--scoped` only its `path.Base` is kept; the destination is `path.Join(DEST, suffix)` plus the
suffix to append. The registry tests of `skopo sync` are in tests/integration/test_sync.py.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from helpers.images import BuiltImage, build_image, write_dir
from toolkit.errors import InvalidInputError, ToolkitError
from toolkit.ops.copy import CopyOptions
from toolkit.ops.sync import (
    DestinationKind,
    ItemStatus,
    SourceKind,
    SyncFailedError,
    SyncOptions,
    SyncPlan,
    destination_suffix,
    plan_sync,
    run_sync,
)
from toolkit.policy import InsecureAcceptAnything
from toolkit.reference import parse_normalized_named
from toolkit.transports import parse_image_name
from toolkit.transports.docker import DockerReference
from toolkit.types import LayerCompression, SystemContext


class Messages:
    """Collects `SyncEvents` messages."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def options(source: SourceKind, dest: DestinationKind, **extra: object) -> SyncOptions:
    return SyncOptions(source_kind=source, dest_kind=dest, **extra)  # type: ignore[arg-type]


def image(seed: int) -> BuiltImage:
    """The images of `tree` (OCI, so that an `oci:` destination keeps their digests)."""
    return build_image(fmt="oci", layer_count=1, layer_size=512, seed=seed)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """SRC with three images: a/one (seed 1), a/b/two (2) and three (3), and an empty directory."""
    src = Path(os.path.realpath(tmp_path)) / "src"
    for seed, rel in enumerate(["a/one", "a/b/two", "three"], start=1):
        write_dir(image(seed), src / rel)
    (src / "empty").mkdir()
    return src


# ------------------------------------------------------------------------------- naming


@pytest.mark.parametrize(
    ("name", "scoped", "suffix"),
    [
        ("busybox:latest", True, "docker.io/library/busybox:latest"),
        ("busybox:latest", False, "busybox:latest"),
        ("registry.example.com:5000/ns/app:v1", True, "registry.example.com:5000/ns/app:v1"),
        ("registry.example.com:5000/ns/app:v1", False, "app:v1"),
        ("quay.io/ns/app@sha256:" + "a" * 64, False, "app@sha256:" + "a" * 64),
    ],
)
def test_docker_source_suffix_is_the_normalized_reference(name: str, scoped: bool, suffix: str) -> None:
    ref = DockerReference.of(parse_normalized_named(name))
    assert destination_suffix(ref, None, scoped=scoped) == suffix


def test_dir_source_suffix_is_the_path_below_source(tree: Path) -> None:
    ref = parse_image_name(f"dir:{tree}/a/b/two")
    assert destination_suffix(ref, str(tree), scoped=True) == "/a/b/two"
    assert destination_suffix(ref, str(tree), scoped=False) == "two"
    # SOURCE is the image itself: its base name.
    assert destination_suffix(ref, f"{tree}/a/b/two", scoped=True) == "two"


# ----------------------------------------------------------------------------- planning


def test_dir_to_docker_names_each_image_after_its_directory(tree: Path) -> None:
    plan = plan_sync(str(tree), "registry.example.com/mirror", options(SourceKind.DIR, DestinationKind.DOCKER))
    # filepath.WalkDir order: lexical, and a directory with a manifest.json is not descended.
    assert [item.source.string_within_transport() for item in plan.items] == [
        f"{tree}/a/b/two", f"{tree}/a/one", f"{tree}/three",
    ]
    assert [item.dest_name for item in plan.items] == [
        "registry.example.com/mirror/two", "registry.example.com/mirror/one", "registry.example.com/mirror/three",
    ]
    assert plan.items[0].dest_image_name == "docker://registry.example.com/mirror/two"
    assert [(item.number, item.group_size) for item in plan.items] == [(1, 3), (2, 3), (3, 3)]
    assert plan.sources == 1 and plan.errors == ()
    assert plan.items[0].source_name == f"dir:{tree}/a/b/two"


def test_scoped_names_keep_the_path_and_the_appended_suffix(tree: Path) -> None:
    plan = plan_sync(
        str(tree), "registry.example.com/mirror",
        options(SourceKind.DIR, DestinationKind.DOCKER, scoped=True, append_suffix=":synced"),
    )
    assert [item.dest_name for item in plan.items] == [
        "registry.example.com/mirror/a/b/two:synced",
        "registry.example.com/mirror/a/one:synced",
        "registry.example.com/mirror/three:synced",
    ]


def test_source_that_is_an_image_is_named_after_its_base(tree: Path) -> None:
    plan = plan_sync(f"{tree}/a/one/", "registry.example.com/x", options(SourceKind.DIR, DestinationKind.DOCKER))
    assert [item.dest_name for item in plan.items] == ["registry.example.com/x/one"]
    assert plan.items[0].source.string_within_transport() == f"{tree}/a/one"  # path.Clean'ed


def test_oci_destination_tags_one_layout(tree: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    plan = plan_sync(str(tree), str(layout), options(SourceKind.DIR, DestinationKind.OCI, append_suffix="-v1"))
    assert [item.dest_name for item in plan.items] == [f"{layout}:two-v1", f"{layout}:one-v1", f"{layout}:three-v1"]
    assert plan.items[0].dest_image_name == f"oci:{layout}:two-v1"


def test_yaml_source_with_explicit_tags_and_digests_needs_no_listing(tmp_path: Path) -> None:
    digest = "sha256:" + "b" * 64
    text = f'registry.example.com:\n  images:\n    ns/app: ["1.0", "{digest}", "bad tag"]\n'.encode()
    source = tmp_path / "sync.yaml"
    source.write_bytes(text)
    events = Messages()
    plan = plan_sync(str(source), "mirror.example.com", options(SourceKind.YAML, DestinationKind.DOCKER, events=events))
    assert [item.source_name for item in plan.items] == [
        "docker://registry.example.com/ns/app:1.0", f"docker://registry.example.com/ns/app@{digest}",
    ]
    assert [item.dest_name for item in plan.items] == ["mirror.example.com/app:1.0", f"mirror.example.com/app@{digest}"]
    # The bad tag is reported and counted, the rest of the repository still syncs.
    assert len(plan.errors) == 1 and 'invalid tag or digest "bad tag"' in plan.errors[0]
    assert events.lines == list(plan.errors)


@pytest.mark.parametrize(
    ("source_kind", "dest_kind", "destination", "message"),
    [
        (SourceKind.DIR, DestinationKind.DIR, "out", "sync from 'dir' to 'dir' not implemented, consider using rsync"),
        (SourceKind.DIR, DestinationKind.OCI, "a:b", 'oci: the layout path "a:b" must not contain ":"'),
        (SourceKind.DIR, DestinationKind.DOCKER, "", "an empty destination is not valid"),
        (SourceKind.DIR, DestinationKind.DOCKER, "UPPER/case",
         'Cannot obtain a valid image reference for transport "docker" and reference "UPPER/case/'),
    ],
)
def test_bad_plans_are_refused(
    tree: Path, source_kind: SourceKind, dest_kind: DestinationKind, destination: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        plan_sync(str(tree), destination, options(source_kind, dest_kind))
    assert str(info.value).startswith(message)


def test_missing_or_empty_dir_source(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="Invalid source directory specified"):
        plan_sync(str(tmp_path / "nope"), "r.example/x", options(SourceKind.DIR, DestinationKind.DOCKER))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(InvalidInputError, match=r'^No images to sync found in ".*/empty"$'):
        plan_sync(str(tmp_path / "empty"), "r.example/x", options(SourceKind.DIR, DestinationKind.DOCKER))


# ------------------------------------------------------------------------------ running


def test_dry_run_lists_and_writes_nothing(tree: Path, tmp_path: Path) -> None:
    events = Messages()
    opts = options(SourceKind.DIR, DestinationKind.OCI, dry_run=True, events=events)
    layout = tmp_path / "layout"
    result = run_sync(InsecureAcceptAnything(), plan_sync(str(tree), str(layout), opts), opts)
    assert [r.status for r in result.results] == [ItemStatus.WOULD_COPY] * 3
    assert events.lines[0] == f'Would have copied image ref 1/3 from="dir:{tree}/a/b/two" to="oci:{layout}:two"'
    assert not layout.exists()


def test_second_run_skips_unchanged_images(tree: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    opts = options(SourceKind.DIR, DestinationKind.OCI)
    plan = plan_sync(str(tree), str(layout), opts)
    first = run_sync(InsecureAcceptAnything(), plan, opts)
    assert [r.status for r in first.results] == [ItemStatus.COPIED] * 3
    expected = [image(seed).manifest_digest for seed in (2, 1, 3)]  # plan order: two, one, three
    assert [str(r.digest) for r in first.results] == expected
    assert first.summary() == "3 copied, 0 skipped, 0 failed"

    events = Messages()
    again = run_sync(InsecureAcceptAnything(), plan, options(SourceKind.DIR, DestinationKind.OCI, events=events))
    assert [r.status for r in again.results] == [ItemStatus.SKIPPED] * 3
    assert [str(r.digest) for r in again.results] == expected
    assert all(line.startswith("Skipping image ref") for line in events.lines)
    forced = run_sync(InsecureAcceptAnything(), plan, options(SourceKind.DIR, DestinationKind.OCI,
                                                              skip_unchanged=False))
    assert [r.status for r in forced.results] == [ItemStatus.COPIED] * 3


def _into_dirs(plan: SyncPlan, out: Path) -> SyncPlan:
    """The same images with `dir:` destinations OUT/<name> (a plan sync would build for a
    registry source; the runner takes any plan)."""
    items = tuple(
        replace(item, dest_kind=DestinationKind.DIR, dest_name=str(out / item.dest_name.rsplit("/", 1)[-1]))
        for item in plan.items
    )
    return replace(plan, items=items)


def test_existing_dir_destination_with_other_content_is_refused(tree: Path, tmp_path: Path) -> None:
    other = image(99)
    dir_plan = plan_sync(str(tree), "r.example/x", options(SourceKind.DIR, DestinationKind.DOCKER))
    opts = options(SourceKind.YAML, DestinationKind.DIR)
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        write_dir(other, out / "two")  # not what "two" holds

    with pytest.raises(ToolkitError) as info:
        run_sync(InsecureAcceptAnything(), _into_dirs(dir_plan, first), opts)
    assert str(info.value) == (
        f'Error copying ref "dir:{tree}/a/b/two": Refusing to overwrite destination directory "{first}/two"'
    )
    assert (first / "two" / "manifest.json").read_bytes() == other.manifest  # left as it was

    events = Messages()
    with pytest.raises(SyncFailedError) as failed:
        run_sync(InsecureAcceptAnything(), _into_dirs(dir_plan, second), replace(opts, keep_going=True, events=events))
    result = failed.value.result
    assert [r.status for r in result.results] == [ItemStatus.FAILED, ItemStatus.COPIED, ItemStatus.COPIED]
    assert result.summary() == "2 copied, 0 skipped, 1 failed"
    assert (second / "one" / "manifest.json").read_bytes() == image(1).manifest
    assert (second / "two" / "manifest.json").read_bytes() == other.manifest
    assert any(line.startswith(f'Error copying ref "dir:{tree}/a/b/two"') for line in events.lines)


def test_dir_destination_already_holding_the_image_is_skipped(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_dir(image(2), out / "two")  # what "two" holds
    plan = _into_dirs(plan_sync(str(tree), "r.example/x", options(SourceKind.DIR, DestinationKind.DOCKER)), out)
    result = run_sync(InsecureAcceptAnything(), plan, options(SourceKind.YAML, DestinationKind.DIR))
    assert [r.status for r in result.results] == [ItemStatus.SKIPPED, ItemStatus.COPIED, ItemStatus.COPIED]


def test_copy_options_reach_each_copy(tree: Path, tmp_path: Path) -> None:
    """`run_sync` copies with `options.copy` (here: layers decompressed)."""
    layout = tmp_path / "layout"
    copy = CopyOptions(dest_ctx=SystemContext(oci_accept_uncompressed_layers=True),
                       layer_compression=LayerCompression.DECOMPRESS)
    opts = options(SourceKind.DIR, DestinationKind.OCI, copy=copy)
    result = run_sync(InsecureAcceptAnything(), plan_sync(str(tree), str(layout), opts), opts)
    assert str(result.results[0].digest) != image(2).manifest_digest  # a new manifest was written
    with parse_image_name(f"oci:{layout}:two").new_image_source(SystemContext()) as src:
        raw, _ = src.get_manifest()
    assert b"application/vnd.oci.image.layer.v1.tar\"" in raw
