"""`sync`: copy many images from a registry, a directory tree or a YAML list to a registry,
a directory tree or one OCI layout (skopeo `cmd/skopeo/sync.go`).

Two steps, both usable on their own:
1. `plan_sync(source, destination, options)` lists the images (tag listing for a repository,
   a walk for `dir`, the file's rules for `yaml`) and names each destination exactly as
   skopeo does: `DEST/<last element of the source name>` (`busybox:latest`), or
   `DEST/<full source name>` (`registry.example.com/busybox:latest`) with `scoped`, then
   `append_suffix`; a `dir` source contributes its path relative to SOURCE (or SOURCE's
   base name when SOURCE itself is the image). Nothing is written while planning.
2. `run_sync(policy, plan, options)` copies them, `parallel_images` at a time, each copy
   going through `copy_image` (so through the policy gate, with its own layer
   parallelism and its blob reuse: HEAD / cross-repository mount / existing file).

Beyond skopeo:
- Unchanged images are skipped cheaply: the source digest comes from one manifest HEAD
  (none for a digest reference; a local read for `dir`), the destination's from one HEAD
  (or a local read), and equal digests mean no manifest or blob is read or written. When
  the source is a list copied without `--all`, the destination holds the instance for this
  platform: then the list is fetched once (one GET) to pick that instance and compare.
  A skip needs no policy decision: nothing is read from the source and nothing is written.
  With `--referrers` nothing is skipped (blobs still are): referrers may have been added.
- A `dir` destination that already holds exactly the source manifest is skipped instead of
  refused; any other existing directory is refused as in skopeo
  (`Refusing to overwrite destination directory`).
- `oci` destination: DESTINATION is one OCI layout shared by every image (blobs stored
  once); each image is tagged with the name skopeo's naming gives (`busybox:latest`, or
  `registry.example.com/busybox:latest` with `scoped`) followed by `append_suffix`.
- Failures while listing a repository of a YAML file are reported and counted as failed
  (skopeo only logs them), so the command exits non-zero.

Progress goes through `SyncEvents` (thread-safe), never printed here. The item-level lines
come in plan order whatever order the parallel items finish in (`_OrderedEvents`); a copy's
own progress lines (its `Reporter`) are live, prefixed with the image's name when
`parallel_images > 1`.
"""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from toolkit._record import field, record
from toolkit.digest import Digest
from toolkit.errors import (
    CommandTimeoutError,
    DestinationError,
    ImageNotFoundError,
    InvalidInputError,
    InvalidReferenceError,
    ToolkitError,
    safe_text,
)
from toolkit.gocompat import path_base, path_clean, path_join
from toolkit.manifest import manifest_digest, mime, parse_list
from toolkit.ops.copy import CopyOptions, CopyResult, MultiArch, copy_image
from toolkit.ops.report import BlobProgress, Reporter
from toolkit.reference import NamedReference, is_valid_tag, parse_normalized_named
from toolkit.safefile import make_dirs
from toolkit.transports.base import ImageReference, PathReference
from toolkit.transports.docker import TRANSPORT as DOCKER
from toolkit.transports.docker import DockerReference
from toolkit.types import OptionalBool, SystemContext

if TYPE_CHECKING:
    from toolkit.config.sync_file import RegistrySync
    from toolkit.policy import PolicyContext
    from toolkit.transports.docker import ManifestProbe

# Imported where used, so a docker -> docker sync loads neither the YAML parser (`--src
# yaml`) nor the local transports: `toolkit.config.sync_file`, `toolkit.transports.dir`,
# `toolkit.transports.oci`; nor the HTTP stack before a registry is contacted
# (`ManifestProbe`, `list_repository_tags`).

__all__ = [
    "SourceKind",
    "DestinationKind",
    "SyncOptions",
    "SyncEvents",
    "SyncItem",
    "SyncPlan",
    "ItemStatus",
    "ItemResult",
    "SyncResult",
    "SyncFailedError",
    "DEFAULT_PARALLEL_IMAGES",
    "plan_sync",
    "run_sync",
    "destination_suffix",
]

log = logging.getLogger(__name__)

DEFAULT_PARALLEL_IMAGES = 4
SYNC_FAILED = "Sync failed due to previous reported error(s) for one or more images"


class SourceKind(enum.Enum):
    """`--src`."""

    DOCKER = "docker"
    DIR = "dir"
    YAML = "yaml"


class DestinationKind(enum.Enum):
    """`--dest`."""

    DOCKER = "docker"
    DIR = "dir"
    OCI = "oci"


class SyncEvents(Protocol):
    """Receives sync progress. Implementations must be thread-safe."""

    def message(self, text: str) -> None:
        """A line for the user (`Copying image ref 1/3: ...`, errors kept going past)."""
        ...


class NullSyncEvents:
    """Ignores everything."""

    def message(self, text: str) -> None:
        return None


def _call(operation: Callable[[], Any]) -> Any:
    return operation()


@record(kw_only=True)
class SyncOptions:
    """How to sync. `copy` carries the per-image options (contexts, signing, `--all` as
    `multi_arch=ALL`, reporter); its `source_ctx` is the base that a YAML file's per-registry
    settings refine."""

    source_kind: SourceKind
    dest_kind: DestinationKind
    copy: CopyOptions = field(default_factory=CopyOptions)
    scoped: bool = False
    append_suffix: str = ""
    dry_run: bool = False
    keep_going: bool = False
    parallel_images: int = DEFAULT_PARALLEL_IMAGES
    #: Skip images whose destination digest equals the source's (see the module doc).
    skip_unchanged: bool = True
    #: Wraps each network operation (tag listing, one image copy) with retries (`--retry-times`).
    retry: Callable[[Callable[[], Any]], Any] = _call
    events: SyncEvents = field(default_factory=NullSyncEvents)


@record
class SyncItem:
    """One image to copy: its source, and its destination as a transport-relative name
    (`host/repo:tag` for docker, a path for dir, `LAYOUT:REFNAME` for oci)."""

    source: ImageReference
    source_ctx: SystemContext
    dest_kind: DestinationKind
    dest_name: str
    #: Position within its source group (skopeo's "ref i/n"), 1-based.
    number: int
    group_size: int

    @property
    def source_name(self) -> str:
        return f"{self.source.transport.name}:{self.source.string_within_transport()}"

    @property
    def dest_image_name(self) -> str:
        prefix = "//" if self.dest_kind is DestinationKind.DOCKER else ""
        return f"{self.dest_kind.value}:{prefix}{self.dest_name}"


@record
class SyncPlan:
    """The images to sync, in order; `sources` counts skopeo's "sources" (repositories or
    directories); `errors` are listing failures already reported (YAML source only)."""

    items: tuple[SyncItem, ...]
    sources: int
    errors: tuple[str, ...] = ()


class ItemStatus(enum.Enum):
    COPIED = "copied"
    SKIPPED = "skipped"
    FAILED = "failed"
    WOULD_COPY = "would copy"


@record
class ItemResult:
    """What happened to one item; `digest` is the destination's top manifest digest."""

    item: SyncItem
    status: ItemStatus
    digest: Digest | None = None
    error: ToolkitError | None = None


@record
class SyncResult:
    """Every item's result (plan order) and the plan's listing errors."""

    results: tuple[ItemResult, ...]
    sources: int
    listing_errors: int = 0

    def count(self, status: ItemStatus) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def failed(self) -> int:
        return self.count(ItemStatus.FAILED) + self.listing_errors

    def summary(self) -> str:
        """`N copied, N skipped, N failed`."""
        return (
            f"{self.count(ItemStatus.COPIED)} copied, {self.count(ItemStatus.SKIPPED)} skipped, "
            f"{self.failed} failed"
        )


class SyncFailedError(ToolkitError):
    """Some images failed and `keep_going` was set: skopeo's final message. `result` has details."""

    def __init__(self, result: SyncResult) -> None:
        super().__init__(SYNC_FAILED)
        self.result = result


# ------------------------------------------------------------------ naming (Go path rules: gocompat)


def destination_suffix(source: ImageReference, dir_base: str | None, *, scoped: bool) -> str:
    """skopeo's destination suffix for `source` (before joining with DESTINATION).

    docker: the normalized reference (`docker.io/library/busybox:latest`); dir: the
    image's resolved path without the `dir_base` prefix (SOURCE as typed), or SOURCE's
    base name when that leaves nothing. Without `scoped`, only the last path element.
    """
    docker_ref = source.docker_reference()
    if source.transport.name == "docker" and docker_ref is not None:
        suffix = str(docker_ref)
    else:
        resolved = source.resolved_path if isinstance(source, PathReference) else source.string_within_transport()
        base = dir_base or ""
        suffix = resolved[len(base) :] if base and resolved.startswith(base) else resolved
        if not suffix:
            suffix = path_base(base)
    return suffix if scoped else path_base(suffix)


def _dest_name(kind: DestinationKind, destination: str, suffix: str, append: str) -> str:
    if kind is DestinationKind.OCI:
        return f"{destination}:{suffix}{append}"
    return path_join(destination, suffix) + append


# ------------------------------------------------------------------------------- planning


def plan_sync(source: str, destination: str, options: SyncOptions) -> SyncPlan:
    """List the images of `source` and name their destinations (see the module doc).

    Raises `InvalidInputError` for a bad SOURCE/DESTINATION (`dir` to `dir`, a missing
    source directory, a destination name that is not a valid reference), and the listing's
    error for a `docker` repository (`No images to sync found in "X"` when it has no tags).
    Writes nothing.
    """
    if options.source_kind is SourceKind.DIR and options.dest_kind is DestinationKind.DIR:
        raise InvalidInputError("sync from 'dir' to 'dir' not implemented, consider using rsync instead")
    if options.dest_kind is DestinationKind.OCI and ":" in destination:
        raise InvalidInputError(f'oci: the layout path "{safe_text(destination)}" must not contain ":"')
    if not destination:
        raise InvalidInputError("an empty destination is not valid")
    groups: list[tuple[list[ImageReference], SystemContext, str | None]] = []
    errors: list[str] = []
    base_ctx = options.copy.source_ctx
    if options.source_kind is SourceKind.DOCKER:
        groups.append((_docker_source_refs(source, base_ctx, options), base_ctx, None))
    elif options.source_kind is SourceKind.DIR:
        groups.append((_dir_source_refs(source), base_ctx, source))
    else:
        from toolkit.config.sync_file import load_sync_file

        sync_file = load_sync_file(Path(source))
        for registry in sync_file.registries:
            groups.extend((refs, ctx, None) for refs, ctx in _yaml_groups(registry, base_ctx, options, errors))
    items: list[SyncItem] = []
    for refs, ctx, dir_base in groups:
        for number, ref in enumerate(refs, start=1):
            suffix = destination_suffix(ref, dir_base, scoped=options.scoped)
            name = _dest_name(options.dest_kind, destination, suffix, options.append_suffix)
            if options.dest_kind is DestinationKind.DOCKER:
                _check_docker_destination(name)
            items.append(SyncItem(ref, ctx, options.dest_kind, name, number, len(refs)))
    return SyncPlan(tuple(items), len(groups), tuple(errors))


def _check_docker_destination(name: str) -> None:
    try:
        DOCKER.parse_reference("//" + name)
    except ToolkitError as exc:
        raise InvalidInputError(
            f'Cannot obtain a valid image reference for transport "docker" and reference "{safe_text(name)}": {exc}'
        ) from exc


def _docker_source_refs(source: str, ctx: SystemContext, options: SyncOptions) -> list[ImageReference]:
    try:
        named = parse_normalized_named(source)
    except ToolkitError as exc:
        raise InvalidInputError(
            f'Cannot obtain a valid image reference for transport "docker" and reference "{safe_text(source)}": {exc}'
        ) from exc
    if not named.is_name_only():
        return [DockerReference.of(named)]
    refs = _repository_refs(named, ctx, options)
    if not refs:
        raise InvalidInputError(f'No images to sync found in "{safe_text(source)}"')
    return refs


def _repository_refs(repo: NamedReference, ctx: SystemContext, options: SyncOptions) -> list[ImageReference]:
    """Every tag of `repo` as a docker reference (registry order)."""
    from toolkit.transports.docker import list_repository_tags

    try:
        tags: list[str] = options.retry(lambda: list_repository_tags(ctx, repo))
    except ToolkitError as exc:
        exc.message = f"Error determining repository tags for repo {repo.name}: {exc.message}"
        raise
    return [DockerReference.of(repo.with_tag(tag)) for tag in tags]


def _dir_source_refs(source: str) -> list[ImageReference]:
    """Every directory under `source` holding a `manifest.json` (not descended further),
    in lexical walk order as Go's `filepath.WalkDir`."""
    try:
        os.stat(source)
    except OSError as exc:
        raise InvalidInputError(f"Invalid source directory specified: {safe_text(source)}: {exc.strerror}") from exc
    from toolkit.transports import dir as dir_transport

    found: list[ImageReference] = []

    def walk(path: str) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            raise InvalidInputError(f'Error walking the path "{safe_text(source)}": {exc.strerror}') from exc
        if any(e.name == "manifest.json" and not e.is_dir(follow_symlinks=False) for e in entries):
            found.append(dir_transport.TRANSPORT.parse_reference(path_clean(path)))
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                walk(path_join(path, entry.name))

    walk(source)
    if not found:
        raise InvalidInputError(f'No images to sync found in "{safe_text(source)}"')
    return found


def _registry_ctx(registry: RegistrySync, base: SystemContext) -> SystemContext:
    ctx = base
    if registry.cert_dir is not None:
        ctx = replace(ctx, cert_dir=registry.cert_dir)
    if registry.tls_verify is not None:
        ctx = replace(ctx, tls_verify=OptionalBool.of(registry.tls_verify))
    if registry.credentials is not None:
        ctx = replace(ctx, credentials=registry.credentials, no_credentials=False)
    return ctx


def _yaml_groups(
    registry: RegistrySync, base: SystemContext, options: SyncOptions, errors: list[str]
) -> list[tuple[list[ImageReference], SystemContext]]:
    """The groups of one registry entry. A repository that fails (bad name, listing error)
    is reported through `options.events`, recorded in `errors` and skipped."""
    ctx = _registry_ctx(registry, base)
    events = options.events
    out: list[tuple[list[ImageReference], SystemContext]] = []
    if not (registry.images or registry.images_by_tag_regex or registry.images_by_semver):
        events.message(f'No images specified for registry "{safe_text(registry.registry)}"')
        return out

    def report(repo: str, exc: ToolkitError) -> None:
        if isinstance(exc, CommandTimeoutError):
            raise exc  # the deadline is the whole command's: no later repository gets time
        text = f'Error processing repo "{safe_text(registry.registry)}/{safe_text(repo)}", skipping: {exc}'
        events.message(text)
        errors.append(text)

    def repository(repo: str) -> NamedReference | None:
        try:
            named = parse_normalized_named(f"{registry.registry}/{repo}")
        except ToolkitError as exc:
            report(repo, exc)
            return None
        if not named.is_name_only():
            report(repo, InvalidReferenceError("input names a reference, not a repository"))
            return None
        return named

    for repo, wanted in registry.images:
        named = repository(repo)
        if named is None:
            continue
        refs: list[ImageReference] = []
        if wanted:
            for value in wanted:
                try:
                    if value.startswith(("sha256:", "sha512:")):
                        refs.append(DockerReference.of(named.with_digest(Digest.parse(value))))
                    elif is_valid_tag(value):
                        refs.append(DockerReference.of(named.with_tag(value)))
                    else:
                        raise InvalidReferenceError(f'invalid tag or digest "{safe_text(value)}"')
                except ToolkitError as exc:
                    report(repo, exc)
        else:
            try:
                refs = _repository_refs(named, ctx, options)
            except ToolkitError as exc:
                report(repo, exc)
                continue
        if refs:
            out.append((refs, ctx))
        else:
            events.message(f'No refs to sync found in "{named.name}"')

    filters: list[tuple[str, Callable[[str], bool]]] = [
        (repo, _searcher(pattern)) for repo, pattern in registry.images_by_tag_regex
    ] + [(repo, constraint.check) for repo, constraint in registry.images_by_semver]
    for repo, accept in filters:
        named = repository(repo)
        if named is None:
            continue
        try:
            refs = _repository_refs(named, ctx, options)
        except ToolkitError as exc:
            report(repo, exc)
            continue
        selected = [r for r in refs if _tag_of(r) is not None and accept(_tag_of(r) or "")]
        if selected:
            out.append((selected, ctx))
        else:
            events.message(f'No refs to sync found in "{named.name}"')
    return out


def _searcher(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """RE2 `MatchString` semantics: unanchored search."""
    return lambda tag: pattern.search(tag) is not None


def _tag_of(ref: ImageReference) -> str | None:
    docker_ref = ref.docker_reference()
    return docker_ref.tag if docker_ref is not None else None


# -------------------------------------------------------------------------------- running


class _PrefixedReporter:
    """Prefixes an image copy's messages with its name, so parallel copies stay readable."""

    def __init__(self, inner: Reporter, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix

    def message(self, text: str) -> None:
        self._inner.message(self._prefix + text)

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        return self._inner.blob(kind, digest, size)


class _OrderedEvents:
    """The item-level lines (`Copying`, `Skipping`, `Would have copied`, `Error copying`) in
    plan order, however the parallel items finish: a line of item `i` is passed on at once
    while every earlier item is finished, held otherwise, and passed on as soon as they are.
    So the output reads as skopeo's one-image-after-another run would. Thread-safe."""

    def __init__(self, inner: SyncEvents) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._next = 0  # the first item not finished: its lines go out live
        self._held: dict[int, list[str]] = {}
        self._finished: set[int] = set()

    def message(self, index: int, text: str) -> None:
        with self._lock:
            if index == self._next:
                self._inner.message(text)
            else:
                self._held.setdefault(index, []).append(text)

    def finish(self, index: int) -> None:
        """Item `index` will say nothing more: pass on what the next items hold."""
        with self._lock:
            self._finished.add(index)
            while self._next in self._finished:
                self._finished.discard(self._next)
                self._next += 1
                for text in self._held.pop(self._next, ()):
                    self._inner.message(text)

    def flush(self) -> None:
        """Pass on everything still held, in plan order (the run ends early: an error)."""
        with self._lock:
            for index in sorted(self._held):
                for text in self._held.pop(index):
                    self._inner.message(text)


class _Runner:
    """State shared by the image copies of one `run_sync`."""

    def __init__(self, policy: PolicyContext, options: SyncOptions) -> None:
        self.policy = policy
        self.options = options
        self.events = _OrderedEvents(options.events)
        #: By the context's identity (every item of a group shares its context object):
        #: hashing a `SystemContext` (some forty fields) twice per item cost more than
        #: the rest of the item's own bookkeeping. The context is kept, so its id is not reused.
        self._probes: dict[int, tuple[SystemContext, ManifestProbe]] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def close(self) -> None:
        for _, probe in self._probes.values():
            probe.close()

    def probe(self, ctx: SystemContext) -> ManifestProbe:
        with self._lock:
            known = self._probes.get(id(ctx))
            if known is None:
                from toolkit.transports.docker import ManifestProbe

                known = self._probes[id(ctx)] = (ctx, ManifestProbe(ctx))
            return known[1]

    # -- digests

    def _docker_manifest(self, ref: NamedReference, ctx: SystemContext) -> tuple[Digest, str | None] | None:
        if ref.digest is not None and ref.tag is None:
            return ref.digest, None
        return self.probe(ctx).manifest(ref)

    @staticmethod
    def _local_manifest(ref: ImageReference, ctx: SystemContext) -> tuple[Digest, str] | None:
        """Digest and type of the top manifest of a local image; None if there is none."""
        try:
            with ref.new_image_source(ctx) as source:
                raw, mime_type = source.get_manifest()
        except ImageNotFoundError:
            return None
        return manifest_digest(raw), mime_type

    def source_manifest(self, item: SyncItem) -> tuple[Digest, str | None] | None:
        docker_ref = item.source.docker_reference()
        if item.source.transport.name == "docker" and docker_ref is not None:
            return self._docker_manifest(docker_ref, item.source_ctx)
        return self._local_manifest(item.source, item.source_ctx)

    def dest_digest(self, item: SyncItem, dest: ImageReference | None) -> Digest | None:
        """The digest at the destination, None if nothing is there (or it cannot be told)."""
        dest_ctx = self.options.copy.dest_ctx
        if item.dest_kind is DestinationKind.DOCKER:
            # `dest` is the parsed destination (`_destination`): no second parse per tag.
            parsed = dest if isinstance(dest, DockerReference) else DOCKER.parse_reference("//" + item.dest_name)
            docker_ref = parsed.ref
            found = self.probe(dest_ctx).manifest(docker_ref)
            return found[0] if found is not None else None
        if dest is None:
            return None
        if item.dest_kind is DestinationKind.DIR and not os.path.isfile(os.path.join(item.dest_name, "manifest.json")):
            return None
        local = self._local_manifest(dest, dest_ctx)
        return local[0] if local is not None else None

    def unchanged(self, item: SyncItem, dest: ImageReference | None) -> Digest | None:
        """The destination digest if the destination already holds what a copy would write."""
        try:
            dest_digest = self.dest_digest(item, dest)
            if dest_digest is None:
                return None
            src = self.source_manifest(item)
            if src is None:
                return None
            src_digest, src_mime = src
            if src_digest == dest_digest:
                return dest_digest
            if self.options.copy.multi_arch is MultiArch.SYSTEM and src_mime in mime.LIST_TYPES:
                # The destination holds this platform's instance: one GET of the list.
                with item.source.new_image_source(item.source_ctx) as source:
                    raw, list_mime = source.get_manifest()
                chosen = parse_list(raw, list_mime).choose_instance(item.source_ctx)
                if chosen == dest_digest:
                    return dest_digest
        except CommandTimeoutError:
            raise
        except ToolkitError as exc:
            # Not fatal: the copy will run and report any real problem.
            log.debug("checking whether %s is up to date failed: %s", item.dest_image_name, exc)
        return None

    # -- one item

    def _destination(self, item: SyncItem) -> ImageReference:
        """Parse the destination reference, creating what the transport needs to exist."""
        if item.dest_kind is DestinationKind.DOCKER:
            return DOCKER.parse_reference("//" + item.dest_name)
        if item.dest_kind is DestinationKind.DIR:
            from toolkit.transports import dir as dir_transport

            parent = os.path.dirname(os.path.abspath(item.dest_name))
            _makedirs(parent)
            return dir_transport.TRANSPORT.parse_reference(item.dest_name)
        from toolkit.transports import oci as oci_transport

        layout = item.dest_name.split(":", 1)[0]
        _makedirs(os.path.dirname(os.path.abspath(layout)))
        return oci_transport.TRANSPORT.parse_reference(item.dest_name)

    def run_item(self, index: int, item: SyncItem) -> ItemResult:
        # skopeo's fields (from=, to=), so scripts that grep them keep working.
        where = (
            f'image ref {item.number}/{item.group_size} from="{safe_text(item.source_name)}" '
            f'to="{safe_text(item.dest_image_name)}"'
        )
        if self.options.dry_run:
            self.events.message(index, f"Would have copied {where}")
            return ItemResult(item, ItemStatus.WOULD_COPY)
        if self.stop.is_set():
            raise _CancelledError
        try:
            dest_exists = item.dest_kind is DestinationKind.DIR and os.path.lexists(item.dest_name)
            dest = self._destination(item)
            # With --referrers an unchanged image is copied again (its blobs are found at the
            # destination): referrers may have been added since.
            if self.options.skip_unchanged and not self.options.copy.copy_referrers:
                digest = self.unchanged(item, dest)
                if digest is not None:
                    self.events.message(index, f"Skipping {where} (image already present at destination)")
                    return ItemResult(item, ItemStatus.SKIPPED, digest)
            if dest_exists:
                raise DestinationError(f'Refusing to overwrite destination directory "{safe_text(item.dest_name)}"')
            self.events.message(index, f"Copying {where}")
            copy_options = replace(
                self.options.copy,
                source_ctx=item.source_ctx,
                reporter=_PrefixedReporter(self.options.copy.reporter, f"[{item.dest_image_name}] ")
                if self.options.parallel_images > 1
                else self.options.copy.reporter,
            )
            result: CopyResult = self.options.retry(
                lambda: copy_image(self.policy, dest, item.source, options=copy_options)
            )
        except CommandTimeoutError:
            raise  # even with --keep-going: the deadline is the whole command's
        except ToolkitError as exc:
            return ItemResult(item, ItemStatus.FAILED, error=exc)
        return ItemResult(item, ItemStatus.COPIED, result.manifest_digest)


class _CancelledError(Exception):
    """An item not started because an earlier one failed (without `keep_going`)."""


def _makedirs(path: str) -> None:
    try:
        make_dirs(path, 0o755)
    except OSError as exc:
        raise DestinationError(f"Error creating directory {safe_text(path)}: {exc.strerror}") from exc


def run_sync(policy: PolicyContext, plan: SyncPlan, options: SyncOptions) -> SyncResult:
    """Copy (or, with `dry_run`, list) every item of `plan`; see the module doc.

    Without `keep_going`, the first failure stops new copies (running ones finish) and is
    raised as `Error copying ref "NAME": ...` (its exit code kept, so a missing image still
    exits 2). With `keep_going`, every failure is reported through `options.events` and
    `SyncFailedError` is raised at the end. Listing errors in the plan also end in
    `SyncFailedError`. Returns the result when nothing failed.
    """
    runner = _Runner(policy, options)
    results: dict[int, ItemResult] = {}
    first_error: tuple[int, ItemResult] | None = None
    parallel = max(1, options.parallel_images)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = {pool.submit(runner.run_item, index, item): index for index, item in enumerate(plan.items)}
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                try:
                    outcome = future.result()
                except _CancelledError:
                    runner.events.finish(index)
                    continue
                except CommandTimeoutError:
                    runner.stop.set()  # items not started yet are not started
                    raise
                results[index] = outcome
                if outcome.status is ItemStatus.FAILED:
                    assert outcome.error is not None
                    if options.keep_going:
                        text = f'Error copying ref "{outcome.item.source_name}": {outcome.error}'
                        runner.events.message(index, text)
                    elif first_error is None or index < first_error[0]:
                        first_error = (index, outcome)
                        runner.stop.set()
                runner.events.finish(index)
    finally:
        runner.events.flush()
        runner.close()
    result = SyncResult(
        tuple(results[i] for i in sorted(results)), plan.sources, listing_errors=len(plan.errors)
    )
    if first_error is not None:
        failed = first_error[1]
        assert failed.error is not None
        error = ToolkitError(f'Error copying ref "{failed.item.source_name}": {failed.error}')
        error.exit_code = failed.error.exit_code
        raise _with_result(error, result) from failed.error
    if result.failed:
        raise SyncFailedError(result)
    return result


def _with_result(error: ToolkitError, result: SyncResult) -> ToolkitError:
    error.sync_result = result  # type: ignore[attr-defined]
    return error
