"""`inspect`: what skopeo's `inspect` reports about an image, computed as containers/image does.

- `raw_manifest(ref, ctx)`: the top-level manifest bytes, unchanged (a list stays a list).
- `inspect_image(ref, ctx)`: an `InspectInfo` for the instance matching the (overridden)
  platform; `Digest` is the digest of the top-level manifest, as in skopeo.
  `InspectInfo.to_json()` is exactly what `skopo inspect` (and skopeo) prints.
- `image_config(ref, ctx, raw=...)`: the raw config blob, or the OCI form of it.
- `list_platforms(ref, ctx)`: every instance of a list with its platform, digest and size
  (skopo's addition; never fails because the host's platform is missing).
- A list without an image for the wanted platform is `NoMatchingInstanceError` (exit 1, with
  skopeo's message and the platforms the list has), as skopeo fails there too.
- `referrers_tree(ref, ctx)`: the image and, recursively, what refers to it (OCI 1.1
  referrers, cosign tags), as a `ReferrerNode` tree (skopo's addition).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toolkit._record import field, record
from toolkit.digest import Digest
from toolkit.errors import ManifestError, NoMatchingPlatformError, NotSupportedError, ToolkitError, safe_text
from toolkit.image import UnparsedImage, read_config
from toolkit.limits import MAX_CONFIG_SIZE
from toolkit.manifest import (
    docker_config_to_oci,
    manifest_digest,
    mime,
    parse_config,
    parse_list,
    parse_manifest,
)
from toolkit.manifest.formats import ImageManifest, ListEntry, Schema1
from toolkit.manifest.gojson import GoStruct, GoTime, marshal_indent
from toolkit.manifest.referrers import MAX_DEPTH, MAX_REFERRERS
from toolkit.manifest.strictjson import loads_strict
from toolkit.transports.base import ImageReference, ImageSource, ReferrersSource, TagLister
from toolkit.types import SystemContext

__all__ = [
    "InspectInfo",
    "InspectLayer",
    "NoMatchingInstanceError",
    "inspect_image",
    "raw_manifest",
    "image_config",
    "list_platforms",
    "platform_struct",
    "ReferrerNode",
    "referrers_tree",
    "chosen_instance",
]


@record
class InspectLayer:
    """One entry of `LayersData`."""

    mime_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] | None


@record(kw_only=True)
class InspectInfo:
    """skopeo's `inspect` output, field for field."""

    name: str = ""
    tag: str = ""
    digest: Digest
    repo_tags: list[str] = field(default_factory=list)
    created: GoTime | None = None
    docker_version: str = ""
    labels: Mapping[str, str] | None = None
    architecture: str = ""
    variant: str = ""
    os: str = ""
    layers: list[str] = field(default_factory=list)
    layers_data: list[InspectLayer] = field(default_factory=list)
    env: list[str] | None = None

    def go_struct(self) -> GoStruct:
        """The value skopeo marshals (field order and omitempty of its Output struct)."""
        out = GoStruct()
        out.add("Name", self.name, omitempty=True)
        out.add("Tag", self.tag, omitempty=True)
        out.add("Digest", str(self.digest))
        out.add("RepoTags", list(self.repo_tags))
        out.add("Created", self.created)
        out.add("DockerVersion", self.docker_version)
        out.add("Labels", dict(self.labels) if self.labels is not None else None)
        out.add("Architecture", self.architecture)
        out.add("Os", self.os)
        out.add("Layers", list(self.layers))
        out.add(
            "LayersData",
            [
                GoStruct(
                    [
                        ("MIMEType", layer.mime_type),
                        ("Digest", str(layer.digest)),
                        ("Size", layer.size),
                        ("Annotations", dict(layer.annotations) if layer.annotations else None),
                    ]
                )
                for layer in self.layers_data
            ],
        )
        out.add("Env", list(self.env) if self.env is not None else None)
        return out

    def to_json(self) -> str:
        """skopeo's `inspect` JSON for this image (Go's indented encoding, no final newline)."""
        return marshal_indent(self.go_struct()).decode("utf-8")


def platform_struct(entry: ListEntry) -> GoStruct:
    """One instance of a list as `--platforms` prints it: Platform, Digest, Size, MIMEType."""
    return GoStruct(
        [
            ("Platform", str(entry.platform) if entry.platform is not None else ""),
            ("Digest", str(entry.digest)),
            ("Size", entry.size),
            ("MIMEType", entry.media_type),
        ]
    )


class NoMatchingInstanceError(NoMatchingPlatformError):
    """A list has no instance for the wanted platform (exit status 1, as in skopeo)."""


def raw_manifest(ref: ImageReference, ctx: SystemContext) -> bytes:
    """The top-level manifest bytes as stored."""
    with ref.new_image_source(ctx) as source:
        raw, _ = UnparsedImage(source).manifest()
        return raw


def chosen_instance(source: ImageSource, ctx: SystemContext) -> tuple[UnparsedImage, bytes]:
    """The single image for this platform, and the top-level manifest bytes."""
    top = UnparsedImage(source)
    raw, top_mime = top.manifest()
    if not mime.is_list_type(top_mime):
        return top, raw
    try:
        chosen = parse_list(raw, top_mime).choose_instance(ctx)
    except NoMatchingPlatformError as exc:
        # skopeo's words (`inspect` wraps c/image's), then how to go on.
        raise NoMatchingInstanceError(
            f"Error parsing manifest for image: choosing image instance: {exc}; choose one with "
            "--override-os/--override-arch/--override-variant, or list them with --platforms"
        ) from exc
    return UnparsedImage(source, chosen), raw


def image_config(ref: ImageReference, ctx: SystemContext, *, raw: bool) -> bytes:
    """The chosen image's config: the raw blob, or its OCI form (compact JSON)."""
    with ref.new_image_source(ctx) as source:
        image, _ = chosen_instance(source, ctx)
        manifest_raw, manifest_mime = image.manifest()
        view = parse_manifest(manifest_raw, manifest_mime)
        info = view.config_info()
        if info.digest is None:
            raise ManifestError("this image (docker schema1) has no config blob")
        config = read_config(source, info)
    return config if raw else docker_config_to_oci(config)


def inspect_image(
    ref: ImageReference,
    ctx: SystemContext,
    *,
    no_tags: bool = False,
    warn: Callable[[str], None] | None = None,
    digest_algorithm: str | None = None,
) -> InspectInfo:
    """Inspect the image at `ref` (the instance for the wanted platform if it is a list).

    `Digest` is the digest of the top-level manifest (the list's, for a list) computed with
    `digest_algorithm` (`sha256`/`sha512`, `--manifest-digest`); None: with the algorithm of
    the chosen image's config digest, else sha256 (skopeo main).

    `RepoTags` lists every tag of the repository for references that can list them
    (`docker://`), unless `no_tags`; a registry refusing the tag list (DENIED, or ECR's
    404) gives a warning through `warn` and an empty list, as in skopeo. A list without an
    instance for the platform raises `NoMatchingInstanceError`.
    """
    with ref.new_image_source(ctx) as source:
        image, top_raw = chosen_instance(source, ctx)
        manifest_raw, manifest_mime = image.manifest()
        view = parse_manifest(manifest_raw, manifest_mime)
        layer_infos = view.layer_infos()
        layers = [str(layer.digest) for layer in layer_infos]
        layers_data = [
            InspectLayer(
                mime_type=layer.media_type,
                digest=layer.digest,
                size=layer.size,
                annotations=layer.annotations or None,
            )
            for layer in layer_infos
            if layer.digest is not None
        ]
        docker_ref = ref.docker_reference()
        info: dict[str, Any] = {
            "name": docker_ref.name if docker_ref is not None else "",
            "digest": manifest_digest(top_raw, digest_algorithm or _config_algorithm(view)),
            "layers": layers,
            "layers_data": layers_data,
            "repo_tags": [] if no_tags else _repo_tags(ref, ctx, warn),
        }
        if isinstance(view, Schema1):
            info.update(_schema1_details(view))
        elif view.non_image_artifact_type is None:
            config = parse_config(read_config(source, view.config_info()))
            info.update(
                created=GoTime.parse(config.created, what="created") if config.created else None,
                docker_version=config.docker_version,
                labels=dict(config.labels) if config.labels else None,
                architecture=config.architecture,
                variant=config.variant,
                os=config.os,
                env=list(config.env) if config.env else None,
            )
        return InspectInfo(**info)


def _config_algorithm(view: ImageManifest) -> str:
    """The algorithm of an image's config digest (sha256 for schema1, which has none)."""
    if isinstance(view, Schema1):
        return "sha256"
    digest = view.config_info().digest
    return digest.algorithm if digest is not None else "sha256"


def _repo_tags(ref: ImageReference, ctx: SystemContext, warn: Callable[[str], None] | None) -> list[str]:
    if not isinstance(ref, TagLister):
        return []
    try:
        tags = ref.list_tags(ctx)
    except ToolkitError as exc:
        text = str(exc)
        if "denied" in text.lower() or "404 page not found" in text:
            if warn is not None:
                warn("Registry disallows tag list retrieval; skipping")
            return []
        raise
    return tags


def _schema1_details(view: Schema1) -> dict[str, Any]:
    """Inspect fields from a schema1 manifest's top v1Compatibility entry."""
    details: dict[str, Any] = {"tag": view.tag, "architecture": view.architecture}
    if not view.history:
        return details
    top = loads_strict(view.history[0].encode(), what="v1Compatibility", limit=MAX_CONFIG_SIZE)
    if not isinstance(top, dict):
        return details
    created = top.get("created")
    if isinstance(created, str):
        details["created"] = GoTime.parse(created, what="created")
    if isinstance(top.get("docker_version"), str):
        details["docker_version"] = top["docker_version"]
    if isinstance(top.get("os"), str):
        details["os"] = top["os"]
    config = top.get("config")
    if isinstance(config, dict):
        labels = config.get("Labels")
        if isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values()):
            details["labels"] = labels or None
        env = config.get("Env")
        if isinstance(env, list) and all(isinstance(v, str) for v in env):
            details["env"] = env or None
    return details


def list_platforms(ref: ImageReference, ctx: SystemContext) -> list[ListEntry]:
    """Every instance of the image's manifest list (empty for a single image)."""
    with ref.new_image_source(ctx) as source:
        raw, top_mime = UnparsedImage(source).manifest()
        if not mime.is_list_type(top_mime):
            return []
        return parse_list(raw, top_mime).instances()


# --------------------------------------------------------------------------- referrers


@record(kw_only=True)
class ReferrerNode:
    """A manifest and what refers to it (`inspect --referrers`).

    `tag` is set for a manifest found under one of cosign's tags; `platform` for an
    instance of a list; `manifests` holds a list's instances (each with its referrers).
    """

    digest: Digest
    media_type: str
    size: int
    artifact_type: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    tag: str = ""
    platform: str = ""
    referrers: tuple[ReferrerNode, ...] = ()
    manifests: tuple[ReferrerNode, ...] = ()

    def go_struct(self) -> GoStruct:
        """The JSON object: Digest, MediaType, Size, ArtifactType, Platform, Tag, Annotations
        (each omitted when empty), Referrers, and Manifests for a list."""
        out = GoStruct([("Digest", str(self.digest)), ("MediaType", self.media_type), ("Size", self.size)])
        out.add("ArtifactType", self.artifact_type, omitempty=True)
        out.add("Platform", self.platform, omitempty=True)
        out.add("Tag", self.tag, omitempty=True)
        out.add("Annotations", dict(self.annotations), omitempty=True)
        out.add("Referrers", [r.go_struct() for r in self.referrers])
        if self.manifests:
            out.add("Manifests", [m.go_struct() for m in self.manifests])
        return out

    def tree_lines(self) -> list[str]:
        """A readable tree, one line per manifest."""
        lines = [self._label()]
        children = [*self.manifests, *self.referrers]
        for i, child in enumerate(children):
            last = i == len(children) - 1
            sub = child.tree_lines()
            lines.append(("└── " if last else "├── ") + sub[0])
            lines.extend(("    " if last else "│   ") + line for line in sub[1:])
        return lines

    def _label(self) -> str:
        kind = self.artifact_type or self.media_type
        extras = [f"{self.size} B"]
        if self.platform:
            extras.insert(0, self.platform)
        if self.tag:
            extras.insert(0, f"tag {self.tag}")
        text = f"{self.digest} {kind} ({', '.join(extras)})"
        for key in sorted(self.annotations):
            text += f" {key}={safe_text(self.annotations[key], 80)}"
        return text


def referrers_tree(ref: ImageReference, ctx: SystemContext) -> ReferrerNode:
    """The image at `ref` (for a list: with its instances) and, recursively, what refers to
    each manifest (OCI 1.1 referrers and cosign's tags), bounded as `copy --referrers` is.

    Raises `NotSupportedError` if the transport cannot list referrers.
    """
    with ref.new_image_source(ctx) as source:
        if not isinstance(source, ReferrersSource):
            raise NotSupportedError(f"--referrers: the {ref.transport.name} transport cannot list referrers")
        top = UnparsedImage(source)
        raw, top_mime = top.manifest()
        walker = _ReferrerWalker(source)
        manifests: tuple[ReferrerNode, ...] = ()
        if mime.is_list_type(top_mime):
            manifests = tuple(
                walker.node(entry.digest, entry.media_type, entry.size, depth=1,
                            platform=str(entry.platform) if entry.platform is not None else "")
                for entry in parse_list(raw, top_mime).instances()
            )
        root = walker.node(top.manifest_digest(), top_mime, len(raw), depth=0)
        return ReferrerNode(
            digest=root.digest, media_type=root.media_type, size=root.size, referrers=root.referrers,
            manifests=manifests,
        )


class _ReferrerWalker:
    """Walks referrers depth-first with the copy's bounds; each digest appears once."""

    def __init__(self, source: ReferrersSource) -> None:
        self.source = source
        self.seen: set[Digest] = set()
        self.count = 0

    def node(self, digest: Digest, media_type: str, size: int, *, depth: int, platform: str = "",
             tag: str = "", artifact_type: str = "", annotations: Mapping[str, str] | None = None) -> ReferrerNode:
        self.seen.add(digest)
        children: list[ReferrerNode] = []
        for descriptor in self.source.referrers(digest):
            if descriptor.digest in self.seen:
                continue
            self._count(depth)
            children.append(
                self.node(descriptor.digest, descriptor.media_type, descriptor.size, depth=depth + 1,
                          artifact_type=descriptor.artifact_type, annotations=descriptor.annotations)
            )
        for found_tag, descriptor in self.source.digest_tags(digest):
            if descriptor.digest in self.seen:
                continue
            self._count(depth)
            self.seen.add(descriptor.digest)
            children.append(
                ReferrerNode(digest=descriptor.digest, media_type=descriptor.media_type, size=descriptor.size,
                             tag=found_tag)
            )
        return ReferrerNode(
            digest=digest, media_type=media_type, size=size, artifact_type=artifact_type,
            annotations=dict(annotations or {}), tag=tag, platform=platform, referrers=tuple(children),
        )

    def _count(self, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise ToolkitError(f"referrers nested more than {MAX_DEPTH} levels deep; refusing to follow them further")
        self.count += 1
        if self.count > MAX_REFERRERS:
            raise ToolkitError(f"more than {MAX_REFERRERS} referrers; refusing to list them all")
