"""`skopo sync --src docker|dir|yaml --dest docker|dir|oci SOURCE DESTINATION`."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli import common
from toolkit.cli.common import base_context, log_line, policy_context, with_retries
from toolkit.cli.context import global_options
from toolkit.cli.copying import limit_malloc_arenas, selection_flags, shared_copy_options
from toolkit.cli.flags import (
    Flag,
    FlagValues,
    auth_flags,
    command_with_flags,
    copy_shared_flags,
    deprecated_tls_verify_flag,
    retry_flags,
    system_context,
    warn_deprecated_tls_verify,
)
from toolkit.cli.progress import make_reporter
from toolkit.cli.signing import signers_from_flags
from toolkit.errors import InvalidInputError, ToolkitError, safe_text
from toolkit.ops.sync import (
    DEFAULT_PARALLEL_IMAGES,
    DestinationKind,
    ItemStatus,
    SourceKind,
    SyncOptions,
    SyncResult,
    plan_sync,
    run_sync,
)
from toolkit.transports import parse_image_name

#: For `man skopo-sync` (toolkit/cli/manpages.py).
EXAMPLES = [
    "Mirror every tag of a repository into a private registry (unchanged tags cost one HEAD each side):\n"
    "$ skopo sync --src docker --dest docker registry.example.com/busybox my-registry.local.lan",
    "Copy the images listed in a YAML file into a directory tree for an air-gapped site, scoped by source name:\n"
    "$ skopo sync --src yaml --dest dir --scoped sync.yaml /media/usb",
    "Collect several images into one OCI layout, sharing their blobs:\n"
    "$ skopo sync --src yaml --dest oci sync.yaml ./mirror-layout",
]
SEE_ALSO = ["skopo-copy(1)", "skopo-policy.json(5)", "skopo-transports(5)"]

SYNC_FLAGS: list[Flag] = [
    Flag("src", str | None, None, "SOURCE transport type (docker, dir or yaml)", metavar="TRANSPORT", short="-s"),
    Flag("dest", str | None, None, "DESTINATION transport type (docker, dir or oci)", metavar="TRANSPORT",
         short="-d"),
    Flag("scoped", bool, False, "Images at DESTINATION are prefixed using the full source image path as scope"),
    Flag("append-suffix", str, "", "String to append to DESTINATION tags", metavar="SUFFIX"),
    Flag("digestfile", Path | None, None, "Write the digests and image references of the resulting images to "
         "the specified file, one per line", metavar="PATH"),
    Flag("dry-run", bool, False, "Run without actually copying data"),
    Flag("keep-going", bool, False, "Do not abort the sync if any image copy fails"),
    Flag("parallel-images", int, DEFAULT_PARALLEL_IMAGES, "Number of images copied at the same time "
         f"(default {DEFAULT_PARALLEL_IMAGES}; each copy also copies its layers in parallel)", metavar="N"),
    Flag("quiet", bool, False, "Suppress the per-image copy progress", short="-q"),
]


class _Events:
    """Sync lines on stderr, one whole line at a time from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def message(self, text: str) -> None:
        with self._lock:
            log_line(text)


def _kind(value: str | None, kinds: type[SourceKind] | type[DestinationKind], what: str) -> str:
    if not value:
        raise InvalidInputError(f"A {what} transport must be specified")
    if value not in {k.value for k in kinds}:
        raise InvalidInputError(f'"{safe_text(value)}" is not a valid {what} transport')
    return value


@command_with_flags(auth_flags("src-", with_shared_authfile=True, creds_alias="screds"),
                    auth_flags("dest-", creds_alias="dcreds"), retry_flags(),
                    copy_shared_flags(), selection_flags(), SYNC_FLAGS, deprecated_tls_verify_flag())
def sync(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="SOURCE", show_default=False)],
    destination: Annotated[str, typer.Argument(metavar="DESTINATION", show_default=False)],
    flags: FlagValues,
) -> None:
    """Synchronize one or more images from one location to another.

    Copies all the images found at SOURCE to DESTINATION. SOURCE is a repository
    (`--src docker`: `registry.example.com/busybox`, every tag; or one `repo:tag` /
    `repo@digest`), a directory tree of `dir:` images (`--src dir`) or a YAML file
    (`--src yaml`, see skopeo-sync(1)). DESTINATION is a registry with an optional
    namespace (`--dest docker`), a directory (`--dest dir`, one directory per image) or one
    OCI layout (`--dest oci`, images tagged with their destination names, blobs shared).
    Images whose destination already has the source's manifest digest are skipped after one
    HEAD at each side (with `--referrers`, every image is copied again, its blobs skipped,
    so that new referrers come along). Every copy is checked against the trust policy. Ends with
    `N copied, N skipped, N failed` on stderr, and exits 1 if anything failed.
    """
    warn_deprecated_tls_verify(flags, lambda m: log_line(f"Warning: {m}"))
    options = global_options(ctx)
    base = base_context(options)
    source_kind = SourceKind(_kind(flags.get("src"), SourceKind, "source"))
    dest_kind = DestinationKind(_kind(flags.get("dest"), DestinationKind, "destination"))
    src_ctx = system_context(flags, "src-", base=base)
    dest_ctx = system_context(flags, "dest-", base=base)
    parallel: int = flags.get("parallel-images")
    if parallel < 1:
        raise InvalidInputError("--parallel-images must be at least 1")
    signing = flags.get("sign-by") or flags.get("sign-by-sigstore-private-key") or flags.get("sign-by-sigstore")
    if signing and dest_kind is not DestinationKind.DOCKER:
        raise InvalidInputError(f"Cannot sign images synced to --dest {dest_kind.value}: a signature needs the "
                                "destination's docker reference (use --dest docker)")
    # Same signer wiring as `copy` (the identity is each destination's reference).
    signers = signers_from_flags(flags, None, parse_image_name("docker://localhost/sync"))

    policy = policy_context(ctx)
    reporter = make_reporter(flags.get("quiet"))
    events = _Events()
    copy_options = shared_copy_options(flags, source_ctx=src_ctx, dest_ctx=dest_ctx, reporter=reporter,
                                       signers=signers)
    sync_options = SyncOptions(
        source_kind=source_kind,
        dest_kind=dest_kind,
        copy=copy_options,
        scoped=flags.get("scoped"),
        append_suffix=flags.get("append-suffix"),
        dry_run=flags.get("dry-run"),
        keep_going=flags.get("keep-going"),
        parallel_images=parallel,
        retry=lambda operation: with_retries(flags, operation, log_line),
        events=events,
    )
    dry_run: bool = flags.get("dry-run")
    if dry_run:
        events.message("Running in dry-run mode")
    digestfile: Path | None = flags.get("digestfile")
    if digestfile is not None and not dry_run:
        common.check_digest_file(digestfile)  # fails early; written (atomically) at the end
    plan = with_retries(flags, lambda: plan_sync(source, destination, sync_options), log_line)
    result: SyncResult | None = None
    if not dry_run:
        limit_malloc_arenas()  # before the copies' threads start
    try:
        result = run_sync(policy, plan, sync_options)
    except ToolkitError as exc:
        result = getattr(exc, "sync_result", None) or getattr(exc, "result", None)
        raise
    finally:
        close = getattr(reporter, "close", None)
        if callable(close):
            close()
        if result is not None:
            _finish(result, dry_run, digestfile, events)


def _finish(result: SyncResult, dry_run: bool, digestfile: Path | None, events: _Events) -> None:
    """skopeo's closing line, our summary, and the digest file (copied and skipped images)."""
    done = result.count(ItemStatus.COPIED) + result.count(ItemStatus.SKIPPED)
    if dry_run:
        events.message(f"Would have synced {result.count(ItemStatus.WOULD_COPY)} images from {result.sources} sources")
    else:
        events.message(f"Synced {done} images from {result.sources} sources")
        events.message(result.summary())
    if digestfile is not None and not dry_run:
        lines = [
            f"{r.digest} {r.item.dest_image_name}\n"
            for r in result.results
            if r.status in (ItemStatus.COPIED, ItemStatus.SKIPPED) and r.digest is not None
        ]
        common.write_digest_file(digestfile, "".join(lines))
    sys.stderr.flush()
