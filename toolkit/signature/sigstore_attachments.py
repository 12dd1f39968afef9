"""Sigstore attachments in a registry: the `sha256-<hex>.sig` OCI manifest, as pure functions.

containers/image (`docker/docker_image_src.go`, `docker_image_dest.go`, `docker_client.go`)
stores the sigstore signatures of manifest D in the same repository, under the tag
`attachment_tag(D)` = `<algorithm>-<hex>.sig`: an OCI image manifest whose config is an
OCI image config with `rootfs.diff_ids` listing the payload digests, and one layer per
signature (media type = the signature's MIME type, blob = the payload, annotations = the
signature's annotations).

The docker transport does the I/O; these functions only build and check bytes:

- `attachment_tag(manifest_digest) -> str`
- `parse_attachment_manifest(raw, mime_type) -> AttachmentManifest` (layers capped at
  `MAX_ATTACHMENT_LAYERS` = 128; security.md row 16: c/image has no cap)
- `signature_from_layer(layer, untrusted_blob) -> Sigstore` (size <= 4 MiB, digest checked)
- `build_attachment(existing_manifest, existing_config, new_signatures) -> AttachmentUpdate`:
  the new manifest and config bytes (Go `json.Marshal` layouts, so digests agree with
  containers/image) and the blobs to upload; signatures already present (same media type,
  digest, size and annotations) are not added twice.

Every input is untrusted. Errors: `ManifestError` (malformed manifest or config),
`SizeLimitError` (too many layers), `InvalidSignatureError` (a layer blob that does not
match its descriptor), `InvalidDigestError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from toolkit.digest import Digest
from toolkit.errors import InvalidSignatureError, ManifestError, SizeLimitError, safe_text
from toolkit.limits import MAX_SIGNATURE_SIZE, MAX_SIGNATURES
from toolkit.manifest import OCI1, Descriptor, docker_config_to_oci, mime, parse_manifest
from toolkit.manifest.gojson import GoStruct, marshal
from toolkit.manifest.strictjson import expect_object, get_list, loads_strict
from toolkit.signature import Sigstore
from toolkit.signature.sigstore import sigstore_from_components

__all__ = [
    "MAX_ATTACHMENT_LAYERS",
    "AttachmentManifest",
    "AttachmentBlob",
    "AttachmentUpdate",
    "attachment_tag",
    "parse_attachment_manifest",
    "signature_from_layer",
    "signatures_in_attachment",
    "build_attachment",
]

#: Cap on layers of one attachment manifest (like c/image's 128 lookaside signatures).
MAX_ATTACHMENT_LAYERS: Final = MAX_SIGNATURES
_MAX_ATTACHMENT_MANIFEST_SIZE: Final = 4 << 20


def attachment_tag(manifest_digest: Digest | str) -> str:
    """The tag holding the attachments of `manifest_digest`: `sha256:abc` -> `sha256-abc.sig`.

    A string is validated first (`InvalidDigestError`), so the tag is always safe in a URL.
    """
    digest = manifest_digest if isinstance(manifest_digest, Digest) else Digest.parse(manifest_digest)
    return f"{digest.algorithm}-{digest.hex}.sig"


@dataclass(frozen=True, slots=True)
class AttachmentManifest:
    """A parsed attachment manifest: the view and its (capped) layers."""

    view: OCI1
    layers: tuple[Descriptor, ...]

    @property
    def config(self) -> Descriptor:
        return self.view.config


def _count_layers(raw: bytes) -> int:
    doc = expect_object(
        loads_strict(raw, what="sigstore attachment manifest", limit=_MAX_ATTACHMENT_MANIFEST_SIZE),
        what="sigstore attachment manifest",
    )
    layers = get_list(doc, "layers", what="sigstore attachment manifest")
    return len(layers or [])


def parse_attachment_manifest(raw: bytes, mime_type: str = mime.OCI_MANIFEST) -> AttachmentManifest:
    """Parse the manifest served for the attachment tag.

    `mime_type` is the Content-Type the registry gave; anything but an OCI image manifest
    is refused ("unexpected MIME type for sigstore attachment manifest"), as containers/image
    does. More than `MAX_ATTACHMENT_LAYERS` layers raise `SizeLimitError` before any
    descriptor is examined further.
    """
    if mime_type != mime.OCI_MANIFEST:
        raise ManifestError(f'unexpected MIME type for sigstore attachment manifest: "{safe_text(mime_type, 100)}"')
    count = _count_layers(raw)
    if count > MAX_ATTACHMENT_LAYERS:
        raise SizeLimitError(
            f"sigstore attachment manifest has {count} layers, more than the maximum of {MAX_ATTACHMENT_LAYERS}; "
            "assuming that is unreasonable and a registry error"
        )
    view = parse_manifest(raw, mime.OCI_MANIFEST)
    if not isinstance(view, OCI1):  # pragma: no cover - parse_manifest honours the MIME type
        raise ManifestError("sigstore attachment manifest is not an OCI image manifest")
    return AttachmentManifest(view=view, layers=view.layers)


def signature_from_layer(layer: Descriptor, untrusted_blob: bytes) -> Sigstore:
    """The signature carried by one attachment layer, after checking the blob.

    The blob must be at most 4 MiB and hash to the layer digest (containers/image
    `getOCIDescriptorContents`); else `InvalidSignatureError`. Layers of other media types
    (attestations, SBOMs) are returned as-is: the verifier skips non-signature MIME types.
    """
    if len(untrusted_blob) > MAX_SIGNATURE_SIZE:
        raise InvalidSignatureError(
            f"reading blob {layer.digest}: exceeded maximum allowed size of {MAX_SIGNATURE_SIZE} bytes"
        )
    if not layer.digest.matches(untrusted_blob):
        actual = Digest.from_bytes(untrusted_blob, layer.digest.algorithm)
        raise InvalidSignatureError(f'digest mismatch, expected "{layer.digest}", got "{actual}"')
    return sigstore_from_components(layer.media_type, untrusted_blob, dict(layer.annotations))


def signatures_in_attachment(
    attachment: AttachmentManifest, fetch_blob: Callable[[Descriptor], bytes]
) -> list[Sigstore]:
    """Every layer of `attachment` as a `Sigstore`, fetching blobs with `fetch_blob(descriptor) -> bytes`.

    `fetch_blob` must read at most `MAX_SIGNATURE_SIZE + 1` bytes (a bounded read).
    """
    return [signature_from_layer(layer, fetch_blob(layer)) for layer in attachment.layers]


@dataclass(frozen=True, slots=True)
class AttachmentBlob:
    """A blob to upload before the manifest: its descriptor and bytes."""

    descriptor: Descriptor
    data: bytes


@dataclass(frozen=True, slots=True)
class AttachmentUpdate:
    """What to write to the registry, in order: `new_blobs`, `config`, then `manifest` under the tag."""

    manifest: bytes
    config: AttachmentBlob
    new_blobs: tuple[AttachmentBlob, ...]


def _descriptor_struct(d: Descriptor) -> GoStruct:
    """imgspecv1.Descriptor in Go field order (image-spec v1.1)."""
    out = GoStruct([("mediaType", d.media_type), ("digest", str(d.digest)), ("size", d.size)])
    out.add("urls", list(d.urls), omitempty=True)
    out.add("annotations", dict(d.annotations), omitempty=True)
    if d.data:
        out.add("data", base64.b64encode(base64.b64decode(d.data.replace("\r", "").replace("\n", ""))).decode())
    if d.platform is not None:
        plat = GoStruct([("architecture", d.platform.architecture), ("os", d.platform.os)])
        plat.add("os.version", d.platform.os_version, omitempty=True)
        plat.add("os.features", list(d.platform.os_features), omitempty=True)
        plat.add("variant", d.platform.variant, omitempty=True)
        out.add("platform", plat)
    out.add("artifactType", d.artifact_type, omitempty=True)
    return out


def _layer_matches(layer: Descriptor, sig: Sigstore) -> bool:
    """containers/image `layerMatchesSigstoreSignature` (digest compared as sha256, as it does)."""
    return (
        layer.media_type == sig.untrusted_mime_type
        and layer.size == len(sig.untrusted_payload)
        and str(layer.digest) == str(Digest.from_bytes(sig.untrusted_payload))
        and dict(layer.annotations) == dict(sig.untrusted_annotations)
    )


def _config_with_diff_ids(existing_config: bytes | None, new_diff_ids: Sequence[Digest]) -> bytes:
    """The attachment config after appending `new_diff_ids` (Go: unmarshal into v1.Image, append, marshal)."""
    if existing_config is None:
        base = b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":null}}'
    else:
        base = docker_config_to_oci(existing_config)  # Go's v1.Image round trip
    # Parsed back in order (GoStruct pairs), so marshal() reproduces the Go bytes around our edit.
    doc = json.loads(base, object_pairs_hook=GoStruct)
    rootfs = next((v for k, v in doc if k == "rootfs"), None)
    if not isinstance(rootfs, GoStruct):  # pragma: no cover - docker_config_to_oci always writes rootfs
        raise ManifestError("sigstore attachment config: missing rootfs")
    for i, (key, value) in enumerate(rootfs):
        if key == "diff_ids":
            ids = list(value or [])
            if new_diff_ids:
                ids.extend(str(d) for d in new_diff_ids)
            rootfs[i] = ("diff_ids", ids if (value is not None or new_diff_ids) else None)
    return marshal(doc)


def build_attachment(
    existing_manifest: bytes | None,
    existing_config: bytes | None,
    new_signatures: Sequence[Sigstore],
) -> AttachmentUpdate:
    """Append `new_signatures` to an attachment (or start one), as containers/image does.

    - `existing_manifest`: the bytes currently under the attachment tag (already checked to
      be an OCI manifest by `parse_attachment_manifest`' rules), or None if the tag is absent.
    - `existing_config`: that manifest's config blob, verified against its descriptor by the
      caller, or None when there is no manifest.

    Signatures identical to an existing layer are skipped; the result still rewrites config
    and manifest (containers/image always re-uploads them). Raises `SizeLimitError` if the
    attachment would exceed `MAX_ATTACHMENT_LAYERS` layers, `ManifestError` for malformed
    input, `InvalidSignatureError` for a signature payload over 4 MiB.
    """
    if (existing_manifest is None) != (existing_config is None):
        raise ManifestError("sigstore attachment: the manifest and its config must be given together")
    attachment = parse_attachment_manifest(existing_manifest) if existing_manifest is not None else None
    layers: list[Descriptor] = list(attachment.layers) if attachment is not None else []
    if attachment is not None and existing_config is not None and not attachment.config.digest.matches(existing_config):
        raise ManifestError("sigstore attachment config does not match its digest")
    new_blobs: list[AttachmentBlob] = []
    new_diff_ids: list[Digest] = []
    for sig in new_signatures:
        if len(sig.untrusted_payload) > MAX_SIGNATURE_SIZE:
            raise InvalidSignatureError(
                f"sigstore payload exceeds the maximum allowed size of {MAX_SIGNATURE_SIZE} bytes"
            )
        if any(_layer_matches(layer, sig) for layer in layers):
            continue
        digest = Digest.from_bytes(sig.untrusted_payload)
        desc = Descriptor(
            media_type=sig.untrusted_mime_type,
            digest=digest,
            size=len(sig.untrusted_payload),
            annotations=dict(sig.untrusted_annotations),
        )
        layers.append(desc)
        new_blobs.append(AttachmentBlob(descriptor=desc, data=sig.untrusted_payload))
        new_diff_ids.append(digest)
    if len(layers) > MAX_ATTACHMENT_LAYERS:
        raise SizeLimitError(
            f"sigstore attachment would have {len(layers)} layers, more than the maximum of {MAX_ATTACHMENT_LAYERS}"
        )
    config_bytes = _config_with_diff_ids(existing_config, new_diff_ids)
    config_desc = Descriptor(media_type=mime.OCI_CONFIG, digest=Digest.from_bytes(config_bytes), size=len(config_bytes))
    view = attachment.view if attachment is not None else None
    out = GoStruct([("schemaVersion", view.schema_version if view else 2)])
    out.add("mediaType", view.media_type_field if view else mime.OCI_MANIFEST, omitempty=True)
    out.add("artifactType", view.artifact_type if view else "", omitempty=True)
    out.add("config", _descriptor_struct(config_desc))
    out.add("layers", [_descriptor_struct(d) for d in layers] if layers else None)
    if view is not None and view.subject is not None:
        out.add("subject", _descriptor_struct(view.subject))
    out.add("annotations", dict(view.annotations) if view else {}, omitempty=True)
    return AttachmentUpdate(
        manifest=marshal(out),
        config=AttachmentBlob(descriptor=config_desc, data=config_bytes),
        new_blobs=tuple(new_blobs),
    )
