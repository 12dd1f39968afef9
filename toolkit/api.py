"""skopo's library verbs (layer 8). Import them from `toolkit` (`toolkit.copy`, ...): the
names in `toolkit.__all__` are the stable API, and this module is only where they live.

Contract of every function here:
- images are `"transport:details"` strings, exactly as `skopo` takes them
  (`"docker://quay.io/org/app:1.4"`, `"oci:layout:tag"`, `"dir:/path"`), or references
  from `parse_image_name`; an unparsable name raises `InvalidImageNameError` before
  anything is opened;
- options are keyword-only with defaults that mean what `skopo` means without flags; a
  `ctx` is the `SystemContext` (registry TLS and credentials, `--override-*`, paths);
- nothing is printed: progress goes to the optional `progress` callback (a
  `ProgressEvent` at a time), warnings to the `toolkit.api` logger;
- every failure is a `ToolkitError` subclass (one-line message, `exit_code` as the CLI
  would exit); a failed or refused copy leaves its destination as it was;
- calls may run in any thread and concurrently: no process-wide state is changed (no
  signal handler, working directory, umask or environment), and the policy contexts,
  options and results are immutable. A `progress` callback runs on the copying threads.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TypeAlias

from toolkit.digest import Digest
from toolkit.errors import InvalidInputError, safe_text
from toolkit.manifest import manifest_digest as _manifest_digest
from toolkit.ops.copy import CopyOptions, CopyResult, copy_image
from toolkit.ops.inspect import InspectInfo, inspect_image
from toolkit.ops.policy_check import PolicyCheckResult
from toolkit.ops.policy_check import check_policy as _check_policy
from toolkit.ops.report import CallbackReporter, NullReporter, ProgressCallback
from toolkit.ops.sign import standalone_sign, standalone_verify
from toolkit.ops.sync import (
    DEFAULT_PARALLEL_IMAGES,
    DestinationKind,
    NullSyncEvents,
    SourceKind,
    SyncOptions,
    SyncResult,
    plan_sync,
    run_sync,
)
from toolkit.ops.tags import list_tags as _list_tags
from toolkit.policy import PolicyContext, policy_context
from toolkit.signature.simple import VerifiedSignature
from toolkit.transports import parse_image_name
from toolkit.transports.base import ImageReference
from toolkit.types import SystemContext

__all__ = [
    "ImageName",
    "copy",
    "inspect",
    "manifest_digest",
    "list_tags",
    "delete",
    "check_policy",
    "sign",
    "verify",
    "sync",
]

log = logging.getLogger(__name__)

#: What every verb accepts as an image: `"transport:details"` or a parsed reference.
ImageName: TypeAlias = str | ImageReference


def _reference(image: ImageName) -> ImageReference:
    return parse_image_name(image) if isinstance(image, str) else image


def _with_progress(options: CopyOptions, progress: ProgressCallback | None) -> CopyOptions:
    if progress is None:
        return options
    if not isinstance(options.reporter, NullReporter):
        raise InvalidInputError("give either progress= or options.reporter, not both")
    return dataclasses.replace(options, reporter=CallbackReporter(progress))


def copy(
    src: ImageName,
    dest: ImageName,
    *,
    policy: PolicyContext | None = None,
    options: CopyOptions | None = None,
    progress: ProgressCallback | None = None,
) -> CopyResult:
    """Copy the image `src` to `dest` (source first, as in `skopo copy SRC DEST`).

    `policy` is the trust policy asked before anything but the source's manifest and
    signatures is read and before `dest` is opened; None means the policy.json skopo
    finds without `--policy` (`policy_context()`), so with no policy file at all this
    raises `PolicyError`, as `skopo copy` does. `options` are `skopo copy`'s flags
    (`CopyOptions`: contexts, `--multi-arch`, `--format`, compression, signing).
    `progress` gets every event (see `ProgressEvent`); it cannot be combined with an
    `options.reporter`. Returns what was written at the destination's top level.

    Raises `PolicyRejectedError` if the policy refuses the image, `ImageNotFoundError`
    if it does not exist, another `ToolkitError` for any other failure; the destination
    is then as it was.
    """
    src_ref, dest_ref = _reference(src), _reference(dest)
    options = _with_progress(options if options is not None else CopyOptions(), progress)
    return copy_image(policy if policy is not None else policy_context(), dest_ref, src_ref, options=options)


def _warn(message: str) -> None:
    log.warning("%s", message)


def inspect(image: ImageName, *, ctx: SystemContext | None = None, no_tags: bool = False) -> InspectInfo:
    """What `skopo inspect IMAGE` reports, as an `InspectInfo` (`.to_json()` is the JSON
    skopeo prints; fields `digest`, `layers_data`, `labels`, `architecture`, ...).

    For a multi-architecture image, the instance for this machine's platform (or for
    `ctx.override_os`/`override_arch`/`override_variant`) is inspected; a list without
    one raises `NoMatchingInstanceError` (an `ImageNotFoundError`). `repo_tags` lists the
    repository's tags for `docker://` images unless `no_tags`.
    """
    return inspect_image(_reference(image), ctx if ctx is not None else SystemContext(), no_tags=no_tags,
                         warn=_warn)


def manifest_digest(manifest: bytes) -> Digest:
    """The digest of a manifest's exact bytes (a schema1 signature block is left out, as
    `skopo manifest-digest` does). Raises `ManifestError` for a malformed signed schema1."""
    return _manifest_digest(manifest)


def list_tags(repository: ImageName, *, ctx: SystemContext | None = None) -> list[str]:
    """The tags of `docker://NAME` (a repository, no tag or digest), or the `NAME:TAG`s
    in `docker-archive:PATH`, as `skopo list-tags` lists them."""
    name = repository if isinstance(repository, str) else (
        f"{repository.transport.name}:{repository.string_within_transport()}"
    )
    return _list_tags(name, ctx if ctx is not None else SystemContext())[1]


def delete(image: ImageName, *, ctx: SystemContext | None = None) -> None:
    """Delete `image` (in a registry, the manifest and so every tag pointing at it; in an
    `oci:` layout, the tagged image). Raises `ImageNotFoundError` if it does not exist."""
    _reference(image).delete_image(ctx if ctx is not None else SystemContext())


def check_policy(
    image: ImageName, *, policy: PolicyContext | None = None, ctx: SystemContext | None = None
) -> PolicyCheckResult:
    """The trust policy's verdict for `image` without copying it (`skopo policy check`):
    `.accepted`, the `scope` used and one verdict per requirement; a rejection is a
    result, not an error. `policy` must come from `policy_context()` (None: that default).
    Reads only the image's top-level manifest and signatures."""
    chosen = policy if policy is not None else policy_context()
    return _check_policy(chosen, _reference(image), ctx if ctx is not None else SystemContext())


def sign(manifest: bytes, docker_reference: str, key: str, *, passphrase: str | None = None) -> bytes:
    """A standalone simple-signing (GPG) signature of `manifest` for `docker_reference`,
    made with the secret key `key` (a fingerprint) of the user's keyring (`$GNUPGHOME`);
    `skopo standalone-sign`. Raises `SignatureError` (bad passphrase, no such key, ...)."""
    return standalone_sign(manifest, docker_reference, key, passphrase=passphrase)


def verify(
    manifest: bytes,
    docker_reference: str,
    signature: bytes,
    *,
    fingerprints: str | Sequence[str],
    public_keys: bytes | None = None,
) -> VerifiedSignature:
    """Check a standalone signature (`skopo standalone-verify`): it must be made by one of
    `fingerprints` (a list, a comma-separated string, or `"any"` for every key of
    `public_keys`), for the digest of `manifest` and for `docker_reference`.

    `public_keys` (an exported keyring, binary or armored) are the only keys trusted when
    given; else the user's keyring is used. Raises `SignatureError` on any mismatch."""
    wanted = fingerprints.split(",") if isinstance(fingerprints, str) else list(fingerprints)
    return standalone_verify(manifest, docker_reference, wanted, signature, public_keys=public_keys)


def sync(
    source: str,
    destination: str,
    *,
    source_kind: SourceKind | str,
    dest_kind: DestinationKind | str,
    policy: PolicyContext | None = None,
    options: CopyOptions | None = None,
    scoped: bool = False,
    append_suffix: str = "",
    dry_run: bool = False,
    keep_going: bool = False,
    parallel_images: int = DEFAULT_PARALLEL_IMAGES,
    progress: ProgressCallback | None = None,
) -> SyncResult:
    """Copy every image found at `source` to `destination` (`skopo sync --src KIND
    --dest KIND SOURCE DESTINATION`).

    `source_kind` is "docker" (a repository: every tag; or one `repo:tag`), "dir" (a tree
    of `dir:` images) or "yaml" (a sync file); `dest_kind` is "docker" (a registry and
    namespace), "dir" (one directory per image) or "oci" (one layout for all). Images the
    destination already holds are skipped. Each copy goes through `policy` (None:
    `policy_context()`) with the per-image `options` (`options.source_ctx` is the base a
    YAML file refines). `progress` also gets one "message" event per image.

    Raises `SyncFailedError` (with `.result`) if an image failed and `keep_going`, else
    the first failure (nothing new is started after it).
    """
    try:
        kinds = SourceKind(source_kind), DestinationKind(dest_kind)
    except ValueError as exc:
        raise InvalidInputError(f"invalid sync transport kind: {safe_text(str(exc))}") from exc
    if parallel_images < 1:
        raise InvalidInputError("parallel_images must be at least 1")
    copy_options = _with_progress(options if options is not None else CopyOptions(), progress)
    sync_options = SyncOptions(
        source_kind=kinds[0],
        dest_kind=kinds[1],
        copy=copy_options,
        scoped=scoped,
        append_suffix=append_suffix,
        dry_run=dry_run,
        keep_going=keep_going,
        parallel_images=parallel_images,
        events=CallbackReporter(progress) if progress is not None else NullSyncEvents(),
    )
    chosen = policy if policy is not None else policy_context()
    return run_sync(chosen, plan_sync(source, destination, sync_options), sync_options)
