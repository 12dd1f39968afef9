"""`containers-storage:` references (c/image 5.23 `storage/storage_transport.go`,
`storage_reference.go`).

Syntax: `containers-storage:[DRIVER@GRAPHROOT+RUNROOT:OPT,OPT]NAME[:TAG][@DIGEST][@ID]`, or
an image ID (full, or a prefix of at least 3 characters of an image in the store). Every
part of the store specifier is optional: without `[...]` the default store (storage.conf,
`toolkit.config.storage_conf`); a missing graph or run root comes from the defaults as
c/storage `GetStore` fills it. A missing driver is chosen as c/storage does: a non-vfs
driver that already has state in the graph root, else overlay if the kernel has it, else
vfs. Names are normalised (`busybox` is `docker.io/library/busybox:latest`).

Parsing reads the store (briefly, under a shared lock) only to expand a truncated image
ID, as c/image does; it never creates anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from toolkit.config.storage_conf import default_store_options
from toolkit.digest import Digest
from toolkit.errors import (
    ImageNotFoundError,
    InvalidDigestError,
    InvalidImageNameError,
    InvalidReferenceError,
    PolicyError,
    ToolkitError,
    safe_text,
)
from toolkit.manifest import guess_mime_type, mime, parse_list
from toolkit.reference import NamedReference, parse_normalized_named, tag_name_only
from toolkit.transports.containers_storage._store import (
    SUPPORTED_DRIVERS,
    ImageRecord,
    ImageTable,
    Store,
    StoreLocation,
)
from toolkit.types import SystemContext

if TYPE_CHECKING:
    from toolkit.transports.containers_storage._destination import StorageImageDestination
    from toolkit.transports.containers_storage._source import StorageImageSource

__all__ = [
    "StorageTransport",
    "StorageReference",
    "TRANSPORT",
    "manifest_key",
    "signature_key",
    "resolve_image",
]

MINIMUM_TRUNCATED_ID_LENGTH: Final = 3
#: c/storage drivers, in `drivers.New`'s priority order (vfs is never chosen from prior state).
_PRIORITY: Final = ("overlay", "aufs", "btrfs", "zfs", "vfs")
_STATEFUL_DRIVERS: Final = ("overlay", "overlay2", "aufs", "btrfs", "zfs", "devicemapper")
_INVALID: Final = "invalid reference"


def manifest_key(digest: Digest | str) -> str:
    """c/image `manifestBigDataKey`."""
    return f"manifest-{digest}"


def signature_key(digest: Digest) -> str:
    """c/image `signatureBigDataKey`."""
    return f"signature-{digest.encoded}"


def _is_image_id(text: str) -> bool:
    """c/image `validateImageID`: `sha256:` + text parses as a digest."""
    try:
        Digest.parse("sha256:" + text)
    except InvalidDigestError:
        return False
    return True


def _looks_like_digest(text: str) -> bool:
    try:
        Digest.parse(text)
    except InvalidDigestError:
        return False
    return True


def _kernel_has_overlay() -> bool:
    try:
        with open("/proc/filesystems", "rb") as f:
            return any(line.split()[-1:] == [b"overlay"] for line in f.read(1 << 16).splitlines())
    except OSError:
        return False


def choose_driver(graph_root: str) -> str:
    """c/storage `drivers.New("")`: prior non-vfs state wins (several is an error), else the
    first usable driver in priority order (approximated: overlay if the kernel has it)."""
    prior = [d for d in _STATEFUL_DRIVERS if os.path.exists(os.path.join(graph_root, d))]
    for name in _PRIORITY[:-1]:
        if name in prior:
            if len(prior) > 1:
                raise InvalidImageNameError(
                    f"{safe_text(graph_root)} contains several valid graphdrivers: {', '.join(prior)}; "
                    "Please cleanup or explicitly choose storage driver (-s <DRIVER>)"
                )
            return name
    return "overlay" if _kernel_has_overlay() else "vfs"


@dataclass(frozen=True, slots=True)
class StorageTransport:
    """The `containers-storage` transport."""

    name: str = "containers-storage"

    def parse_reference(self, reference: str) -> StorageReference:
        """c/image `ParseReference`; raises `InvalidImageNameError` (or `ConfigError` for a
        broken storage.conf)."""
        location, id_mapping_keys, rest = _parse_store_spec(reference)
        return _parse_store_reference(location, id_mapping_keys, rest)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """c/image `ValidatePolicyConfigurationScope`: `[DRIVER@ROOT]` or `[ROOT]`, then an
        optional `NAME[:TAG]`, `NAME@DIGEST`, `NAME@ID` or `NAME@DIGEST@ID`."""
        if not scope.startswith("["):
            raise PolicyError(f"invalid scope {safe_text(scope)!r}: {_INVALID}")
        close = scope.find("]")
        if close < 1:
            raise PolicyError(f"invalid scope {safe_text(scope)!r}: {_INVALID}")
        spec, rest = scope[1:close], scope[close + 1 :]
        parts = spec.split("@", 1)
        if len(parts) == 1 and parts[0]:
            root = parts[0]
        elif len(parts) == 2 and parts[0] and parts[1]:
            root = parts[1]
        else:
            raise PolicyError(f"invalid scope {safe_text(scope)!r}: {_INVALID}")
        if not root.startswith("/"):
            raise PolicyError(f"invalid scope {safe_text(scope)!r}: path name is not absolute")
        if not rest:
            return
        fields = rest.split("@", 2)
        if len(fields) == 2 and not _is_image_id(fields[1]) and not _looks_like_digest(fields[1]):
            raise PolicyError(
                f"invalid scope {safe_text(scope)!r}: {safe_text(fields[1])} is neither a valid digest nor a valid ID"
            )
        if len(fields) == 3 and (not _looks_like_digest(fields[1]) or not _is_image_id(fields[2])):
            raise PolicyError(f"invalid scope {safe_text(scope)!r}: bad digest or ID")


TRANSPORT: Final = StorageTransport()


def _parse_store_spec(reference: str) -> tuple[StoreLocation, tuple[str, ...], str]:
    """Split `[spec]rest`: the store's location, the ID-mapping options that apply to it
    (only the default store has any: c/image passes none with a store specifier), `rest`."""
    defaults = default_store_options()
    if not reference.startswith("["):
        graph = os.path.abspath(defaults.effective_graph_root)
        driver = defaults.driver or choose_driver(graph)
        run = os.path.abspath(defaults.effective_run_root)
        return StoreLocation(driver, graph, run, defaults.driver_options), defaults.id_mapping_keys, reference
    close = reference.find("]")
    if close < 1:
        raise InvalidImageNameError(_INVALID)
    spec, rest = reference[1:close], reference[close + 1 :]
    driver = ""
    if "@" in spec:
        driver, spec = spec.split("@", 1)
        if not driver or not spec:
            raise InvalidImageNameError(_INVALID)
    elif not spec:
        raise InvalidImageNameError(_INVALID)
    options: tuple[str, ...] = ()
    if ":" in spec:
        spec, opts = spec.split(":", 1)
        options = tuple(opts.split(","))
    graph, _, run = spec.partition("+")
    if (graph and not graph.startswith("/")) or (run and not run.startswith("/")):
        raise InvalidImageNameError("path name is not absolute")
    graph = os.path.abspath(graph or defaults.fallback_graph_root)
    run = os.path.abspath(run or defaults.fallback_run_root)
    if not driver:
        driver = choose_driver(graph)
    return StoreLocation(driver, graph, run, options), (), rest


def _parse_store_reference(location: StoreLocation, id_mapping_keys: tuple[str, ...], ref: str) -> StorageReference:
    """c/image `ParseStoreReference`."""
    if not ref:
        raise InvalidImageNameError(f'"{safe_text(ref)}" is an empty reference: {_INVALID}')
    if ref.startswith("["):
        close = ref.find("]")
        if close < 1:
            raise InvalidImageNameError(f'store specifier in "{safe_text(ref)}" did not end: {_INVALID}')
        ref = ref[close + 1 :]
    store = Store(location)
    image_id = ""
    split = ref.rfind("@")
    if split != -1:
        possible = ref[split + 1 :]
        if not possible:
            raise InvalidImageNameError(f'empty trailing digest or ID in "{safe_text(ref)}": {_INVALID}')
        if not _looks_like_digest(possible):
            if _is_image_id(possible):
                image_id = possible
            else:
                found = _lookup(store, possible) if len(possible) >= MINIMUM_TRUNCATED_ID_LENGTH else None
                if found is None or not found.id.startswith(possible):
                    raise InvalidImageNameError(
                        f'"{safe_text(possible)}" does not look like an image ID or digest: {_INVALID}'
                    )
                image_id = found.id
            ref = ref[:split]
    if not image_id and len(ref) >= MINIMUM_TRUNCATED_ID_LENGTH and "@" not in ref and ":" not in ref:
        found = _lookup(store, ref)
        if found is not None and found.id.startswith(ref):
            image_id, ref = found.id, ""
    named: NamedReference | None = None
    if ref:
        try:
            named = tag_name_only(parse_normalized_named(ref))
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise InvalidImageNameError(f'parsing named reference "{safe_text(ref)}": {exc}') from exc
    if named is None and not image_id:
        raise InvalidImageNameError(_INVALID)
    return StorageReference(location=location, named=named, id=image_id, id_mapping_keys=id_mapping_keys)


def _lookup(store: Store, text: str) -> ImageRecord | None:
    with store.reading_images() as table:
        return table.lookup(text)


@dataclass(frozen=True, slots=True)
class StorageReference:
    """An image (by name and/or ID) in one store. `id` is "" when only a name is known."""

    location: StoreLocation
    named: NamedReference | None
    id: str = ""
    #: storage.conf ID-mapping options in force for this store (writes refuse them).
    id_mapping_keys: tuple[str, ...] = ()

    @property
    def transport(self) -> StorageTransport:
        return TRANSPORT

    @property
    def store(self) -> Store:
        return Store(self.location)

    def _store_spec(self, *, with_run_root: bool) -> str:
        loc = self.location
        if not with_run_root:
            return f"[{loc.driver}@{loc.graph_root}]"
        options = ":" + ",".join(loc.options) if loc.options else ""
        return f"[{loc.driver}@{loc.graph_root}+{loc.run_root}{options}]"

    def _suffix(self) -> str:
        text = str(self.named) if self.named is not None else ""
        return text + ("@" + self.id if self.id else "")

    def string_within_transport(self) -> str:
        return self._store_spec(with_run_root=True) + self._suffix()

    def docker_reference(self) -> NamedReference | None:
        return self.named

    def policy_configuration_identity(self) -> str:
        return self._store_spec(with_run_root=False) + self._suffix()

    def policy_configuration_namespaces(self) -> list[str]:
        spec = self._store_spec(with_run_root=False)
        out: list[str] = []
        named = self.named
        if named is not None:
            if self.id:
                out.append(spec + str(named))
            if named.tag is not None and named.digest is not None:
                out.append(f"{spec}{named.name}:{named.tag}")
            components = named.name.split("/")
            while components:
                out.append(spec + "/".join(components))
                components.pop()
        out.append(spec)
        out.append(f"[{self.location.graph_root}]")
        return out

    def new_image_source(self, ctx: SystemContext) -> StorageImageSource:
        from toolkit.transports.containers_storage._source import StorageImageSource

        return StorageImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> StorageImageDestination:
        from toolkit.transports.containers_storage._destination import StorageImageDestination

        return StorageImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        """c/image `DeleteImage`: the whole image (all its names) and the layers only it used."""
        from toolkit.transports.containers_storage._cli import StorageCommand

        check_driver(self.location)
        with self.store.reading_images() as table:
            image = resolve_image(self, table, self.store, ctx)
        StorageCommand(self.location).delete_image(image.id)

    def __str__(self) -> str:
        return f"containers-storage:{self.string_within_transport()}"


def check_driver(location: StoreLocation) -> None:
    """Refuse drivers skopo cannot handle, before anything is read or written."""
    if location.driver not in SUPPORTED_DRIVERS:
        raise ToolkitError(
            f'containers-storage: the "{safe_text(location.driver)}" storage driver is not supported '
            "(skopo supports overlay and vfs)"
        )


def _matches_repo(image: ImageRecord, named: NamedReference) -> bool:
    """c/image `imageMatchesRepo`."""
    for name in image.names:
        try:
            if parse_normalized_named(name).name == named.name:
                return True
        except ToolkitError:
            continue
    return False


def _multi_arch_matches(store: Store, image: ImageRecord, digest: Digest, ctx: SystemContext) -> bool:
    """c/image `multiArchImageMatchesSystemContext`."""
    try:
        raw = store.read_big_data(image, manifest_key(digest), 4 << 20)
        if raw is None:
            return False
        mime_type = guess_mime_type(raw)
        if not mime.is_list_type(mime_type):
            return False
        chosen = parse_list(raw, mime_type).choose_instance(ctx)
    except ToolkitError:
        return False
    return manifest_key(chosen) in image.big_data_names


def resolve_image(ref: StorageReference, table: ImageTable, store: Store, ctx: SystemContext) -> ImageRecord:
    """c/image `resolveImage` (the caller holds the images lock). Raises `ImageNotFoundError`."""
    loaded: ImageRecord | None = None
    image_id = ref.id
    named = ref.named
    if not image_id and named is not None:
        loaded = table.by_name(str(named))
        if loaded is None and named.digest is not None:
            for image in table.by_digest(str(named.digest)):
                if _matches_repo(image, named) and (
                    loaded is None or _multi_arch_matches(store, image, named.digest, ctx)
                ):
                    loaded = image
        if loaded is not None:
            image_id = loaded.id
    if not image_id:
        raise ImageNotFoundError(
            f'reference "{safe_text(ref.string_within_transport())}" does not resolve to an image ID: '
            "identifier is not an image"
        )
    if loaded is None:
        loaded = table.lookup(image_id)
        if loaded is None:
            raise ImageNotFoundError(f'reading image "{image_id}": image not known')
    if named is not None and not _matches_repo(loaded, named):
        raise ImageNotFoundError(
            f'no image matching reference "{safe_text(ref.string_within_transport())}" found: '
            "identifier is not an image"
        )
    return loaded
