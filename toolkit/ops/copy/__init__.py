"""The copy engine: `copy_image(policy, dest_ref, src_ref, options=...)` (c/image `copy/`).

The arguments come in containers/image's order (`copy.Image(ctx, policyContext, destRef,
srcRef, options)`): the policy, the DESTINATION, then the SOURCE; `options` is keyword-only
and defaults to `skopeo copy` without flags.

Order of work (the contract, after c/image `copy/copy.go` and `copy/single.go`):
1. open the source, read the top-level manifest (and its signatures);
2. ask the trust policy — before anything else is read and before the destination is
   opened, so a refusal leaves the destination untouched;
3. open the destination, choose the instance(s) to copy (`--multi-arch`);
4. per image (`single.py`): read and verify the config, copy layers in parallel through the
   blob pipeline (`blob.py`: each stream verified against its digest and size as it flows,
   transformed on the fly only where containers/image would transform it), build the
   manifest the destination accepts, write it, copy signatures (`sign.py`); lists as a
   group in `multiple.py`; with `copy_referrers`, what refers to what was written
   (`referrers.py`);
5. commit. Any exception before commit aborts the destination (its `close()` undoes
   everything), so the destination is as before.

The engine never prints; it reports through a `Reporter`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit._lazy import lazy_getattr
from toolkit.errors import InvalidInputError, NoMatchingPlatformError, ToolkitError, safe_text
from toolkit.ops.copy.options import DEFAULT_PARALLEL_COPIES, CopyOptions, CopyResult, MultiArch, Signer

if TYPE_CHECKING:
    from toolkit.ops.copy.blob import CopyCancelledError
    from toolkit.policy import PolicyContext
    from toolkit.transports.base import ImageReference

# The engine's modules are imported by `copy_image` itself: the options above are all that
# building a copy (the CLI, `sync`, which may copy nothing) needs.
__getattr__ = lazy_getattr(__name__, {"CopyCancelledError": "toolkit.ops.copy.blob"}, globals())

__all__ = [
    "MultiArch",
    "CopyOptions",
    "CopyResult",
    "CopyCancelledError",
    "Signer",
    "copy_image",
    "DEFAULT_PARALLEL_COPIES",
]


def copy_image(
    policy: PolicyContext,
    dest_ref: ImageReference,
    src_ref: ImageReference,
    *,
    options: CopyOptions | None = None,
) -> CopyResult:
    """Copy the image at `src_ref` to `dest_ref`, as allowed by `policy`.

    Raises `PolicyRejectedError` if the policy refuses the source; `ToolkitError`
    subclasses for any other failure; in every failure case the destination is left
    as it was (for transports that can promise it; a pipe cannot be un-written).
    """
    from toolkit.image import UnparsedImage
    from toolkit.manifest import mime, parse_list
    from toolkit.ops.copy.copier import Copier
    from toolkit.ops.copy.multiple import copy_list
    from toolkit.ops.copy.referrers import check_referrers_support, copy_referrers
    from toolkit.ops.copy.sign import check_signature_support
    from toolkit.ops.copy.single import copy_single_image
    from toolkit.transports.base import BlobMountHint, TopLevelManifestSink

    options = options if options is not None else CopyOptions()
    _check_options(options)
    reporter = options.reporter
    with src_ref.new_image_source(options.source_ctx) as source:
        top = UnparsedImage(source)
        top_raw, top_mime = top.manifest()
        is_list = mime.is_list_type(top_mime)
        as_group = is_list and options.multi_arch is not MultiArch.SYSTEM
        if options.remove_list_signatures and not as_group:
            raise ToolkitError("removing list signatures is not applicable when copying a single instance")
        top_signatures: list[bytes] = []
        if not (options.remove_signatures or (options.remove_list_signatures and as_group)):
            reporter.message("Getting image list signatures" if is_list else "Getting image source signatures")
            top_signatures = top.signatures()
        policy.is_running_image_allowed(top)

        with dest_ref.new_image_destination(options.dest_ctx) as dest:
            if isinstance(dest, BlobMountHint):
                # docker://: the source repository, so blobs can be mounted across
                # repositories of the same registry instead of uploaded.
                dest.set_reuse_source(src_ref.docker_reference())
            copier = Copier(source, dest, options)
            if options.copy_referrers:
                check_referrers_support(copier)  # before anything is written
            if not is_list:
                check_signature_support(dest, options, top_signatures)
                result = copy_single_image(copier, top, top_signatures, instance=None)
            elif options.multi_arch is MultiArch.SYSTEM:
                try:
                    chosen = parse_list(top_raw, top_mime).choose_instance(options.source_ctx)
                except NoMatchingPlatformError as exc:
                    raise NoMatchingPlatformError(
                        f"choosing an image from manifest list {src_ref.transport.name}:"
                        f"{safe_text(src_ref.string_within_transport())}: {exc}"
                    ) from exc
                instance = UnparsedImage(source, chosen)
                policy.is_running_image_allowed(instance)
                signatures = [] if options.remove_signatures else instance.signatures()
                check_signature_support(dest, options, signatures)
                if isinstance(dest, TopLevelManifestSink):
                    dest.set_top_level_manifest(top_raw, top_mime)
                result = copy_single_image(copier, instance, signatures, instance=None)
            else:
                check_signature_support(dest, options, top_signatures)
                result = copy_list(copier, top, top_signatures)
            if options.copy_referrers:
                copy_referrers(copier)
            dest.commit()
    return result


def _check_options(options: CopyOptions) -> None:
    """Refuse, before any image is opened, option sets c/image refuses."""
    if options.force_compression_format:
        if options.compression_format is None:
            raise InvalidInputError("cannot use ForceCompressionFormat with undefined default compression format")
        if options.zstd_chunked and options.encryption is not None:
            raise InvalidInputError(
                "explicitly requested to combine zstd:chunked with encryption, which is not beneficial; "
                "use plain zstd instead"
            )
