"""The state of one copy between an open source and an open destination.

`Copier` is shared by the per-image copier (`single.py`), the list copier (`multiple.py`)
and the blob pipeline (`blob.py`); it holds what every one of them consults: both ends,
the options, the destination's capabilities, and the configs already written.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from toolkit.digest import Digest
from toolkit.manifest.formats import Descriptor
from toolkit.ops.copy.options import CopyOptions
from toolkit.ops.report import Reporter
from toolkit.transports.base import DestinationCapabilities, ImageDestination, ImageSource, ReferrersSource

__all__ = ["Copier"]


class Copier:
    """Both ends of a copy and what is shared while copying them (c/image `copier`)."""

    def __init__(self, source: ImageSource, dest: ImageDestination, options: CopyOptions) -> None:
        self.source = source
        self.dest = dest
        self.options = options
        self.caps: DestinationCapabilities = dest.capabilities
        self.reporter: Reporter = options.reporter
        #: Configs already written by this copy (early, beside the layers; see `single.py`).
        self.configs_written: set[Digest] = set()
        #: Manifests written, by source digest -> digest as written (they differ when the
        #: copy changed the manifest); what `--referrers` attaches referrers to.
        self.written: dict[Digest, Digest] = {}
        #: Source digests of the manifests whose signatures the copy wrote.
        self.signatures_written: set[Digest] = set()
        self._referrers: dict[Digest, tuple[list[Descriptor], list[tuple[str, Descriptor]]]] = {}
        self._lock = threading.Lock()

    def mark_config_written(self, digest: Digest) -> None:
        with self._lock:
            self.configs_written.add(digest)

    def mark_written(self, source_digest: Digest, written_digest: Digest) -> None:
        with self._lock:
            self.written[source_digest] = written_digest

    def why_not_modifiable(self, signatures: Sequence[bytes], digest: Digest | None = None) -> str:
        """Why the manifest (`digest` at the source) must be written unchanged ("" if it may
        change): c/image's `canModifyManifest` reasons, with its texts, and (with
        `--referrers`) referrers that name it by its digest."""
        if signatures and not self.options.remove_signatures:
            return "Would invalidate signatures"
        if self.options.preserve_digests:
            return "Instructed to preserve digests"
        dest_docker = self.dest.reference.docker_reference()
        if dest_docker is not None and dest_docker.digest is not None:
            return "Destination specifies a digest"
        if digest is not None and self.referrers_of(digest) != ([], []):
            return "Referrers name it by its digest (--referrers)"
        return ""

    def why_not_modifiable_list(self, signatures: Sequence[bytes], digest: Digest | None = None) -> str:
        """Why a manifest list must be written unchanged ("" if it may change): c/image's
        `cannotModifyManifestListReason`, with its texts."""
        if signatures and not self.options.remove_signatures:
            return "Would invalidate signatures; consider removing them from the multi-platform list"
        return self.why_not_modifiable((), digest)

    def referrers_of(self, digest: Digest) -> tuple[list[Descriptor], list[tuple[str, Descriptor]]]:
        """With `--referrers`: what refers to `digest` at the source (referrers, cosign tags),
        asked once per digest; ([], []) without `--referrers` or a capable source."""
        if not self.options.copy_referrers or not isinstance(self.source, ReferrersSource):
            return [], []
        with self._lock:
            cached = self._referrers.get(digest)
        if cached is None:
            cached = (self.source.referrers(digest), self.source.digest_tags(digest))
            with self._lock:
                self._referrers[digest] = cached
        return cached
