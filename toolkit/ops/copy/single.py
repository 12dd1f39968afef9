"""Copying one image (c/image `copy/single.go`).

`copy_single_image(copier, image, signatures, instance=..., forced_mime=...)` reads the
manifest and the (verified) config, decides the target manifest type and every layer's
plan before any blob is written, copies the layers (`blob.py`), then builds the manifest
the destination accepts (trying the other types c/image would try when a destination
refuses one), writes it and the signatures.

Refused before any blob is written: a change of representation that the manifest forbids
(`Copier.why_not_modifiable`), an artifact a destination cannot hold, a v2s1 target the
conversion would refuse (no history, history and layers that disagree), zstd layers for a
destination without OCI manifests.

A v2s1 target for a schema2 or OCI image is converted as c/image does (`to_schema1`):
named after the destination's reference, signed with a throwaway key, the gzipped empty
layer written beside the layers when the history has empty entries, and no config blob.

Encryption (c/image `copy/encryption.go` rules, decided here for every layer before any
blob is written): with `options.decryption` every encrypted layer is decrypted, and one no
key opens fails the copy naming it; with `options.encryption` the layers
`options.encrypt_layers` selects (all by default) are encrypted, each with its own key
wrapped for every recipient now, except layers already encrypted (copied as they are);
either needs a manifest that may change (no signatures kept, no `--preserve-digests`), and
encrypted layers need an OCI manifest. zstd:chunked is written as plain zstd for encrypted
layers (its TOC would describe the plaintext in the clear), as current c/image does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from toolkit.digest import Digest
from toolkit.errors import (
    DestinationError,
    ManifestError,
    ManifestTypeRejectedError,
    NonImageArtifactError,
    NotSupportedError,
    ToolkitError,
)
from toolkit.image import UnparsedImage, read_config
from toolkit.manifest import (
    Conversion,
    convert,
    manifest_digest,
    mime,
    parse_config,
    parse_manifest,
    update_layer_infos,
)
from toolkit.manifest.formats import ImageManifest, Schema1
from toolkit.ops.copy.blob import CopiedLayer, LayerPlan, copy_config, copy_layers, copy_small_blob, plan_layer
from toolkit.ops.copy.copier import Copier
from toolkit.ops.copy.options import CopyResult
from toolkit.ops.copy.sign import put_signatures
from toolkit.types import BlobInfo, Compression, LayerCrypto

__all__ = ["copy_single_image", "ManifestWriter", "SCHEMA1_TYPES"]

log = logging.getLogger(__name__)

SCHEMA1_TYPES = frozenset({mime.DOCKER_V2S1, mime.DOCKER_V2S1_SIGNED})


#: Writes a manifest: (bytes, media type, digest it is stored under or None for the top level).
ManifestWriter = Callable[[bytes, str, Digest | None], None]


def copy_single_image(
    copier: Copier,
    image: UnparsedImage,
    signatures: list[bytes],
    *,
    instance: Digest | None,
    forced_mime: str | None = None,
    writer: ManifestWriter | None = None,
) -> CopyResult:
    """Copy one image; `instance` is set when it is written as a list instance (or a
    referrer). `writer` replaces the destination's `put_manifest` for the final write."""
    return _ImageCopier(copier, image, signatures, instance=instance, forced_mime=forced_mime, writer=writer).copy()


class _ImageCopier:
    """The state of one image's copy (c/image `imageCopier`)."""

    def __init__(
        self,
        copier: Copier,
        image: UnparsedImage,
        signatures: list[bytes],
        *,
        instance: Digest | None,
        forced_mime: str | None,
        writer: ManifestWriter | None,
    ) -> None:
        self.copier = copier
        self.writer: ManifestWriter = writer or copier.dest.put_manifest
        self.image = image
        self.signatures = signatures
        self.instance = instance
        self.forced_mime = forced_mime
        self.raw, self.src_mime = image.manifest()
        self.manifest: ImageManifest = parse_manifest(self.raw, self.src_mime)
        #: The manifest as the source stored it, before `_use_source_layer_infos` (a schema1
        #: conversion derives its v1 IDs from these layer digests, as c/image does).
        self.source_manifest: ImageManifest = self.manifest
        self.not_modifiable = copier.why_not_modifiable(signatures, image.manifest_digest())
        self.forced = forced_mime or copier.options.forced_manifest_mime
        self.config_info: BlobInfo = self.manifest.config_info()
        self.config_bytes: bytes | None = None
        self.diff_ids: list[Digest] = []
        self.new_layers: list[BlobInfo] = []
        self.layers_changed = False
        self.computed_diff_ids: list[Digest] | None = None
        #: A schema1 image whose source serves other layers than it names (see
        #: `_use_source_layer_infos`): copied from these infos, named only by a conversion.
        self.schema1_layers: list[BlobInfo] | None = None

    def copy(self) -> CopyResult:
        copier, manifest = self.copier, self.manifest
        target_mime = self._choose_manifest_mime(self.src_mime, self.forced)
        self._refuse_artifact_conversion(target_mime)
        self._read_config()
        if target_mime in SCHEMA1_TYPES and not isinstance(manifest, Schema1):
            # A dry run refuses what the conversion would refuse, before any blob is copied.
            self._convert(target_mime, sign=lambda unsigned: unsigned)

        source_layers = copier.source.layer_infos_for_copy(self.image.instance_digest)
        if source_layers is not None:
            manifest = self._use_source_layer_infos(source_layers)
        layers: list[BlobInfo] = self.schema1_layers or list(manifest.layer_infos())
        plans = [plan_layer(copier, manifest, layer) for layer in layers]
        plans = self._plan_decryption(layers, plans)
        target_mime = self._target_for_encryption(layers, plans, target_mime)
        plans = self._plan_encryption(layers, plans)
        target_mime = self._target_for_zstd(plans, target_mime)
        self._refuse_forbidden_changes(plans, target_mime)
        needs_diff_ids = isinstance(manifest, Schema1) and target_mime not in SCHEMA1_TYPES
        # A config that will be written unchanged goes up beside the layers instead of after
        # them (one fewer round of requests on a registry's critical path). One that the
        # conversion replaces (v2s2 -> OCI makes a new one; schema1 has none; a schema1
        # target keeps none) waits: written early, it would be an orphan in a layout.
        early_config = (
            (self.config_info, self.config_bytes)
            if self.config_bytes is not None and _config_survives(self.src_mime, target_mime)
            else None
        )
        copied = copy_layers(
            copier, layers, plans, self.diff_ids, compute_diff_ids=needs_diff_ids, config=early_config
        )
        self._record_layers(copied, needs_diff_ids)
        return self._write_first_accepted(target_mime)

    # ------------------------------------------------------------------ decisions

    def _use_source_layer_infos(self, infos: list[BlobInfo]) -> ImageManifest:
        """A source that serves other blobs than its manifest names (containers-storage:
        uncompressed layers, c/image `LayerInfosForCopy`): from here on the image is the
        manifest that names what will really be copied (digests, sizes and the media types
        of the source's infos). Refused, as c/image does, when the manifest must not change.
        """
        current = list(self.manifest.layer_infos())
        if len(infos) != len(current):
            raise ManifestError(
                f"the source lists {len(infos)} layers to copy for a manifest of {len(current)} layers"
            )
        if all(
            (a.digest, a.size, a.media_type or b.media_type) == (b.digest, b.size, b.media_type)
            for a, b in zip(infos, current, strict=True)
        ):
            return self.manifest
        if self.not_modifiable:
            raise ToolkitError(
                "Copying this image would require changing layer representation, which we cannot do: "
                f'"{self.not_modifiable}"'
            )
        if isinstance(self.manifest, Schema1):
            # A schema1 manifest is not edited in place (c/image re-signs it); a conversion
            # to v2s2 or OCI names the layers as copied, a schema1 target refuses them.
            self.schema1_layers = list(infos)
            return self.manifest
        edits = [
            BlobInfo(
                digest=new.digest,
                size=new.size,
                media_type=old.media_type,
                urls=old.urls,
                annotations=old.annotations,
                compression=(
                    mime.layer_compression(new.media_type)
                    if new.media_type and new.media_type != old.media_type
                    else None
                ),
            )
            for new, old in zip(infos, current, strict=True)
        ]
        self.raw = update_layer_infos(self.manifest, edits)
        self.manifest = parse_manifest(self.raw, self.src_mime)
        return self.manifest

    def _read_config(self) -> None:
        info = self.config_info
        if info.digest is None:
            return
        # Copied byte for byte; parsed only when it is an image config (an artifact's
        # config may be anything, `{}` or not JSON at all).
        self.config_bytes = read_config(self.copier.source, info)
        if self.manifest.non_image_artifact_type is None and info.media_type in mime.IMAGE_CONFIG_TYPES:
            self.diff_ids = list(parse_config(self.config_bytes).diff_ids)

    def _refuse_artifact_conversion(self, target_mime: str) -> None:
        """An OCI artifact can only be written as the OCI manifest it is: refuse, before any
        blob is copied, a `--format` or a destination that needs another manifest type."""
        artifact_type = self.manifest.non_image_artifact_type
        if artifact_type is None or target_mime == mime.OCI_MANIFEST:
            return
        supported = self.copier.caps.supported_manifest_mime_types
        if supported is not None and mime.OCI_MANIFEST not in supported:
            detail = f'the "{self.copier.dest.reference.transport.name}" transport can only store container images'
        else:
            detail = f"an artifact cannot be converted to {target_mime}"
        raise NonImageArtifactError(artifact_type, detail)

    def _plan_decryption(self, layers: list[BlobInfo], plans: list[LayerPlan]) -> list[LayerPlan]:
        """With decryption keys: unwrap the key of every encrypted layer (or fail naming it)."""
        config = self.copier.options.decryption
        if config is None:
            return plans
        from toolkit.crypt import LayerDecryptionError, open_layer  # only copies given keys import it

        out = []
        for layer, plan in zip(layers, plans, strict=True):
            plain_type = mime.decrypted_layer_type(layer.media_type)
            if plain_type is None:
                out.append(plan)
                continue
            if self.not_modifiable:
                raise ToolkitError(
                    f"layer {layer.digest} should be decrypted, but we can\u2019t modify the manifest: "
                    f"{self.not_modifiable}"
                )
            try:
                decryption = open_layer(layer.annotations, config)
            except LayerDecryptionError as exc:
                raise LayerDecryptionError(f"decrypting layer {layer.digest}: {exc}") from exc
            base = plan_layer(self.copier, self.manifest, replace(layer, media_type=plain_type))
            out.append(replace(base, decrypt=decryption))
        return out

    def _encrypted_indices(self, count: int) -> set[int]:
        chosen = self.copier.options.encrypt_layers
        if chosen is None or not chosen:
            return set(range(count))
        indices = set()
        for index in chosen:
            if not -count <= index < count:
                raise ToolkitError(
                    f"when choosing layers to encrypt, layer index {index} out of range ({count} layers exist)"
                )
            indices.add(index % count)
        return indices

    def _target_for_encryption(self, layers: list[BlobInfo], plans: list[LayerPlan], target_mime: str) -> str:
        """Encrypted layers (made now or kept) need an OCI manifest (c/image's messages)."""
        kept = any(mime.is_encrypted_layer_type(layer.media_type) and plan.decrypt is None
                   for layer, plan in zip(layers, plans, strict=True))
        if not (kept or self.copier.options.encryption is not None) or target_mime == mime.OCI_MANIFEST:
            return target_mime
        if self.forced is not None:
            raise NotSupportedError(
                f"encryption required together with format {self.forced}, which does not support encryption"
            )
        supported = self.copier.caps.supported_manifest_mime_types
        if supported is not None and mime.OCI_MANIFEST not in supported:
            raise NotSupportedError(
                f"encryption required but the destination only supports MIME types [{', '.join(supported)}], "
                "none of which support encryption"
            )
        return mime.OCI_MANIFEST

    def _plan_encryption(self, layers: list[BlobInfo], plans: list[LayerPlan]) -> list[LayerPlan]:
        """With recipients: a new key per chosen layer, wrapped for all of them now."""
        options = self.copier.options
        config = options.encryption
        if config is None:
            return plans
        from toolkit.crypt import CryptError, prepare_encryption  # only copies given recipients import it

        chosen = self._encrypted_indices(len(layers))
        out = list(plans)
        warned = False
        for i in sorted(chosen):
            layer, plan = layers[i], plans[i]
            if mime.is_encrypted_layer_type(layer.media_type):
                log.debug("layer %s is already encrypted: copied as it is", layer.digest)
                continue
            if self.not_modifiable:
                raise ToolkitError(
                    f"layer {layer.digest} should be encrypted, but we can\u2019t modify the manifest: "
                    f"{self.not_modifiable}"
                )
            if mime.encrypted_layer_type(layer.media_type) is None or not plan.changeable:
                raise NotSupportedError(
                    f'unsupported mediaType to encrypt: "{layer.media_type}" (layer {layer.digest})'
                )
            if options.zstd_chunked and not warned:
                log.warning("Compression using zstd:chunked is not beneficial for encrypted layers, "
                            "using plain zstd instead")
                warned = True
            try:
                encryption = prepare_encryption(config, str(layer.digest))
            except CryptError as exc:
                raise type(exc)(f"encrypting blob {layer.digest}: {exc}") from exc
            out[i] = replace(plan, encrypt=encryption)
        return out

    def _target_for_zstd(self, plans: list[LayerPlan], target_mime: str) -> str:
        """zstd layers need an OCI manifest (v2s2 and v2s1 cannot express them); a forced
        other format is refused with c/image's words, never silently replaced."""
        if any(plan.operation is Compression.ZSTD for plan in plans) and target_mime != mime.OCI_MANIFEST:
            if self.forced is not None:
                raise NotSupportedError(
                    f"compression using zstd required together with format {self.forced}, which does not support it"
                )
            supported = self.copier.caps.supported_manifest_mime_types
            if supported is not None and mime.OCI_MANIFEST not in supported:
                raise NotSupportedError("zstd compression is not supported by the destination's manifest formats")
            return mime.OCI_MANIFEST
        return target_mime

    def _refuse_forbidden_changes(self, plans: list[LayerPlan], target_mime: str) -> None:
        if not self.not_modifiable:
            return
        if any(plan.changes for plan in plans):
            raise ToolkitError(
                "Copying this image would require changing layer representation, which we cannot do: "
                f'"{self.not_modifiable}"'
            )
        if target_mime != self.src_mime:
            raise ToolkitError(
                f"Copying this image would require changing the manifest format from {self.src_mime} to "
                f'{target_mime}, which we cannot do: "{self.not_modifiable}"'
            )

    def _choose_manifest_mime(self, src_mime: str, forced: str | None) -> str:
        supported = self.copier.caps.supported_manifest_mime_types
        if forced is not None:
            if supported is not None and forced not in supported:
                raise NotSupportedError(
                    f"the destination does not support manifest type {forced} (it accepts {', '.join(supported)})"
                )
            return forced
        if supported is None or src_mime in supported:
            return src_mime
        for candidate in (mime.DOCKER_V2S2, mime.OCI_MANIFEST, *supported):
            if candidate in supported and candidate in mime.SINGLE_IMAGE_TYPES:
                return candidate
        raise DestinationError("the destination accepts no single-image manifest type")

    def _record_layers(self, copied: list[CopiedLayer], needs_diff_ids: bool) -> None:
        self.new_layers = [c.info for c in copied]
        self.layers_changed = any(c.info.compression is not None or c.info.crypto_operation is not None
                                  for c in copied)
        if self.schema1_layers is not None:
            # Unchanged bytes keep the compression the source's media type says.
            self.new_layers = [
                replace(info, compression=mime.layer_compression(info.media_type)) if info.compression is None else info
                for info in self.new_layers
            ]
            self.layers_changed = True
        self.computed_diff_ids = [c.diff_id for c in copied if c.diff_id is not None] if needs_diff_ids else None

    # ------------------------------------------------------------------ the manifest

    def _write_first_accepted(self, target_mime: str) -> CopyResult:
        """Write the manifest as `target_mime`, or (c/image) as the other types the
        destination may accept when it refuses that one."""
        candidates = [target_mime]
        # Encrypted layers (kept or made) have no other manifest type to fall back to.
        encrypted = any(
            info.crypto_operation is LayerCrypto.ENCRYPT
            or (info.crypto_operation is None and mime.is_encrypted_layer_type(info.media_type))
            for info in self.new_layers
        )
        if (self.forced_mime is None and self.copier.options.forced_manifest_mime is None and not self.not_modifiable
                and not encrypted):
            # c/image's order: its preferred v2s2 and v2s1 (signed), then what the destination
            # lists. (c/image also tries unsigned v2s1: the same document again.)
            supported = self.copier.caps.supported_manifest_mime_types
            others = (mime.DOCKER_V2S2, mime.DOCKER_V2S1_SIGNED, *(supported or (mime.OCI_MANIFEST,)))
            candidates += [
                m for m in dict.fromkeys(others)
                if m not in (target_mime, mime.DOCKER_V2S1) and m in mime.SINGLE_IMAGE_TYPES
                and (supported is None or m in supported)
            ]
        failures: list[str] = []
        for candidate in candidates:
            try:
                return self._write_manifest(candidate)
            except ManifestTypeRejectedError as exc:
                failures.append(f"{candidate}({exc})")
                log.debug("destination refused manifest type %s: %s", candidate, exc)
            except ToolkitError as exc:
                # After the first refusal, any failure of a fallback (a conversion this image
                # does not allow, a registry error) is recorded and the next one tried, as c/image.
                if candidate == target_mime:
                    raise
                failures.append(f"{candidate}({exc})")
        raise DestinationError("Uploading manifest failed, attempted the following formats: " + ", ".join(failures))

    def _convert(
        self,
        target_mime: str,
        *,
        layer_infos: list[BlobInfo] | None = None,
        sign: Callable[[bytes], bytes] | None = None,
    ) -> Conversion:
        """`convert` the source manifest to `target_mime` with what this copy knows; a
        schema1 target is named after the destination's reference and signed with a
        throwaway key (c/image `convertToManifestSchema1`) unless `sign` replaces that."""
        name = tag = ""
        view = self.manifest
        if target_mime in SCHEMA1_TYPES and not isinstance(self.manifest, Schema1):
            view = self.source_manifest
            named = self.copier.dest.reference.docker_reference()
            if named is not None:
                name, tag = named.path, named.tag or ""
            if sign is None:
                from toolkit.signature.libtrust import add_dummy_schema1_signature

                sign = add_dummy_schema1_signature
        return convert(
            view,
            target_mime,
            config_bytes=self.config_bytes,
            diff_ids=self.computed_diff_ids,
            layer_infos=layer_infos,
            sign=sign,
            docker_name=name,
            docker_tag=tag,
        )

    def _write_manifest(self, target_mime: str) -> CopyResult:
        """Build the manifest of type `target_mime`, copy its config, write it and the signatures.

        Raises `ManifestTypeRejectedError` if the destination refuses this manifest type.
        """
        copier = self.copier
        new_raw = self.raw
        config_info, config_bytes = self.config_info, self.config_bytes
        if target_mime != self.src_mime:
            converted = self._convert(target_mime, layer_infos=self.new_layers)
            new_raw = converted.manifest
            for info, data in converted.blobs:
                copy_small_blob(copier, info, data, what="blob", is_config=False)
            if converted.config is not None:
                config_bytes = converted.config
                media = mime.OCI_CONFIG if target_mime == mime.OCI_MANIFEST else mime.DOCKER_CONFIG
                config_info = BlobInfo(digest=Digest.from_bytes(config_bytes), size=len(config_bytes), media_type=media)
            elif target_mime in SCHEMA1_TYPES:
                config_bytes = None  # schema1 has no config blob (c/image writes none)
        elif self.layers_changed:
            new_raw = update_layer_infos(self.manifest, self.new_layers)
        if config_bytes is not None and config_info.digest not in copier.configs_written:
            copy_config(copier, config_info, config_bytes)

        copier.reporter.message("Writing manifest to image destination")
        written_digest = manifest_digest(new_raw)
        # A list instance is stored under the digest of what is actually written.
        stored_as = None if self.instance is None else written_digest
        self.writer(new_raw, target_mime, stored_as)
        source_digest = self.image.manifest_digest()
        copier.mark_written(source_digest, written_digest)
        put_signatures(copier, new_raw, self.signatures, instance=stored_as, source_digest=source_digest)
        return CopyResult(new_raw, target_mime, written_digest)


def _config_survives(src_mime: str, target_mime: str) -> bool:
    """Whether the source's config blob is the one the manifest written as `target_mime`
    references (no conversion, or OCI -> v2s2, which keeps the config bytes)."""
    return target_mime == src_mime or (src_mime == mime.OCI_MANIFEST and target_mime == mime.DOCKER_V2S2)
