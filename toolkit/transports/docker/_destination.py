"""`docker://` image destination (containers/image `docker_image_dest.go`).

Blobs already present (HEAD) or mountable from the source repository on the same
registry (`POST ...?mount=&from=`) are not uploaded. A blob whose digest and size are
known (passed through unchanged) is uploaded monolithically: POST + PUT `?digest=` with
the body, the registry checking the digest before it commits. Others (recompressed on
the way) are POST + PATCH (streamed; `Content-Length` when the size is known; hashed as
they go) + an empty PUT `?digest=`, see `_HashingUpload`. A failed upload restarts its
session when the stream can be rewound (seekable streams, e.g. configs) or nothing was
read from it yet; otherwise the error is a `RetryableError` and `--retry-times` re-runs
the copy. Manifests are PUT by tag, by digest for list instances and digest references.
Registries apply writes at once: `commit()` has nothing left to do and an abort cannot
undo uploaded blobs (they are unreferenced and harmless).

Signatures: sigstore signatures go to the `sha256-<hex>.sig` attachment (`_attachments`;
refused with "writing sigstore attachments is disabled by configuration" unless
registries.d sets `use-sigstore-attachments`, after the manifest, as containers/image),
the others to the lookaside (`_lookaside`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO, cast
from urllib.parse import quote, urlencode, urljoin, urlsplit

from toolkit.config.registries_conf import load_registries_conf
from toolkit.digest import Digest
from toolkit.errors import (
    DigestMismatchError,
    NotSupportedError,
    RegistryError,
    SignatureError,
    ToolkitError,
    safe_text,
)
from toolkit.manifest import Descriptor, manifest_digest, mime
from toolkit.reference import NamedReference
from toolkit.streams import iter_chunks
from toolkit.transports._fs import big_files_temp_dir, copy_hashing, wrap_os_error
from toolkit.transports.base import DestinationCapabilities, ImageDestinationBase
from toolkit.transports.docker._attachments import (
    ATTACHMENTS_DISABLED,
    use_sigstore_attachments,
    write_attachment_signatures,
)
from toolkit.transports.docker._auth import check_url
from toolkit.transports.docker._client import scope_for
from toolkit.transports.docker._errors import ManifestRejectedError, TransientRegistryError
from toolkit.transports.docker._lookaside import write_lookaside_signatures
from toolkit.transports.docker._response import check_content_length, error_from_response
from toolkit.transports.docker._source import (
    RegistryImageReference,
    client_for,
    fetch_manifest,
    get_small_blob,
    manifest_path,
    manifest_tail,
)
from toolkit.types import BlobInfo, LayerCompression, SystemContext

if TYPE_CHECKING:
    from toolkit.signature.sigstore_attachments import AttachmentBlob

__all__ = ["DockerImageDestination", "UPLOAD_ATTEMPTS"]

log = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 3
#: A manifest PUT answered 400 with only these codes is tried again after each delay (see
#: `put_manifest`); a blob that is really missing costs under 2 s more before the error.
_BLOB_RACE_CODES = frozenset({"MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "DIGEST_INVALID"})
_BLOB_RACE_DELAYS = (0.1, 0.4, 1.2)


class _HashingUpload:
    """The body of a blob upload (a monolithic PUT, or a streamed PATCH): yields a stream in
    chunks (`toolkit.streams.iter_chunks`), counting them.

    With a known size (`info.size > 0`), `len()` is that size, so requests sends a
    `Content-Length` (as containers/image does) instead of chunked framing, which would cost
    urllib3 a copy of every chunk; the stream must then yield exactly that many bytes, else
    `DigestMismatchError` is raised before a byte too many is sent. The stream is hashed as
    it goes unless both its digest and size are known (a blob passed through unchanged,
    which its source verifies as it is read): the registry checks `?digest=` on commit,
    which containers/image also relies on for a known digest (`DigestIfCanonicalUnknown`).
    """

    def __init__(self, stream: BinaryIO, algorithm: str, info: BlobInfo) -> None:
        self._stream = stream
        self._length = info.size
        self._known = info.digest if info.digest is not None and info.size >= 0 else None
        self.hasher = hashlib.new(algorithm) if self._known is None else None
        self.algorithm = algorithm
        self.size = 0
        self.started = False

    def __len__(self) -> int:
        # requests: a non-zero length gives Content-Length, 0 gives chunked framing.
        return max(self._length, 0)

    def __bool__(self) -> bool:
        # requests treats a falsy body as no body: a zero length must not make the stream
        # look empty (it would silently upload nothing).
        return True

    def __iter__(self) -> Iterator[bytes | memoryview]:
        self.started = True
        length = self._length
        hasher = self.hasher
        # Reused chunk buffers (within the copy's buffer budget) when the stream fills them
        # itself: each chunk is sent before the next is read. Fresh 1 MiB `bytes` per chunk
        # held 18 MiB at once in a 6-layer push (the hash threads' and sockets' queues).
        for chunk in iter_chunks(self._stream):
            if 0 <= length < self.size + len(chunk):
                raise DigestMismatchError(f"uploading a blob: the stream is longer than its size {length}")
            if hasher is not None:
                hasher.update(chunk)
            self.size += len(chunk)
            yield chunk  # a view of a reused buffer (sent before the next read), or bytes
        if length >= 0 and self.size != length:
            raise DigestMismatchError(f"uploading a blob: the stream ended after {self.size} of {length} bytes")

    @property
    def known_digest(self) -> Digest | None:
        """The digest, when given in advance together with the size (nothing is hashed)."""
        return self._known

    def digest(self) -> Digest:
        if self._known is not None:
            return self._known
        assert self.hasher is not None
        return Digest(self.algorithm, self.hasher.hexdigest())


def _rewind(stream: BinaryIO, start: int | None) -> bool:
    """Seek `stream` back to `start` if it supports that; False otherwise."""
    if start is None:
        return False
    try:
        if not stream.seekable():
            return False
        stream.seek(start)
    except (AttributeError, OSError, ValueError):
        return False
    return True


class DockerImageDestination(ImageDestinationBase):
    """Writes one image to a registry."""

    def __init__(self, ref: RegistryImageReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        conf = load_registries_conf(ctx)
        conf.check_not_blocked(ref.ref)
        self._client = client_for(ctx, conf, ref.ref, "pull,push")
        self._mount_source: NamedReference | None = None
        self._top_digest: Digest | None = None
        self._committed = False

    @property
    def reference(self) -> RegistryImageReference:
        return self._ref

    @property
    def capabilities(self) -> DestinationCapabilities:
        return DestinationCapabilities(
            supported_manifest_mime_types=(
                mime.OCI_MANIFEST,
                mime.DOCKER_V2S2,
                mime.OCI_INDEX,
                mime.DOCKER_V2LIST,
                mime.DOCKER_V2S1_SIGNED,
                mime.DOCKER_V2S1,
            ),
            # An untagged push has no digest to store signatures under until the manifest is
            # written (c/image then fails); refusing them up front leaves nothing half-pushed.
            supports_signatures=not self._ref.unknown_digest,
            signatures_unsupported_reason=(
                "Unknown manifest digest, can't add signatures" if self._ref.unknown_digest else ""
            ),
            desired_layer_compression=LayerCompression.COMPRESS,
            accepts_foreign_layer_urls=True,
            has_thread_safe_put_blob=True,
            supports_manifest_lists=True,
        )

    def set_reuse_source(self, source: NamedReference | None) -> None:
        """Hint from the copy engine: the source repository, for cross-repository mounts."""
        if source is not None and source.domain == self._ref.ref.domain and source.path != self._ref.ref.path:
            self._mount_source = source
        else:
            self._mount_source = None

    def _blobs(self) -> str:
        return f"/v2/{self._ref.ref.path}/blobs"

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        resp = self._client.request("HEAD", f"{self._blobs()}/{info.digest}")
        status = resp.status_code
        resp.close()
        if status == 200:
            length = check_content_length(resp)
            size = length if length >= 0 else info.size
            if info.size >= 0 and length >= 0 and length != info.size:
                return None
            return BlobInfo(digest=info.digest, size=size, media_type=info.media_type)
        if status != 404:
            what = f"checking whether blob {info.digest} exists in {self._ref.ref.name}"
            if status < 500:
                raise error_from_response(resp, what)
            # A failed probe only costs an upload, which the registry then verifies. (Seen with
            # distribution 2.x: a 500 while a concurrent push of the same blob rewrites its link.)
            log.debug("%s: HTTP %d; uploading it", what, status)
        if self._mount_source is not None:
            return self._try_mount(info)
        return None

    def _try_mount(self, info: BlobInfo) -> BlobInfo | None:
        source = self._mount_source
        assert source is not None and info.digest is not None
        query = urlencode({"mount": str(info.digest), "from": source.path})
        resp = self._client.request(
            "POST", f"{self._blobs()}/uploads/?{query}", extra_scopes=[scope_for(source.path, "pull")]
        )
        status = resp.status_code
        location = resp.headers.get("Location")
        resp.close()
        if status == 201:
            log.debug("mounted %s from %s", info.digest, source)
            return BlobInfo(digest=info.digest, size=info.size, media_type=info.media_type)
        if status == 202 and location:
            # The registry started an upload instead; cancel it.
            with contextlib.suppress(ToolkitError):
                self._client.request("DELETE", self._location(location, self._client.base_url)).close()
        return None

    def _location(self, location: str | None, base: str) -> str:
        if not location:
            raise RegistryError("the registry did not send an upload Location")
        try:
            url = urljoin(base, location)
        except ValueError as exc:  # a malformed IPv6 host
            where = self._client.registry
            raise RegistryError(f"invalid upload location {safe_text(location, 200)!r} from {where}") from exc
        check_url(url, f"{self._client.registry} (upload location)")
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise RegistryError(f"invalid upload location {safe_text(url, 200)}")
        return url

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
        if info.digest is None and self._ctx.precompute_digests:
            return self._put_precomputed(stream, info)
        start: int | None = None
        try:
            start = stream.tell() if stream.seekable() else None
        except (AttributeError, OSError, ValueError):
            start = None
        algorithm = info.digest.algorithm if info.digest is not None else "sha256"
        attempt = 0
        while True:
            attempt += 1
            upload = _HashingUpload(stream, algorithm, info)
            try:
                digest, size = self._upload_once(upload, info)
            except TransientRegistryError as exc:
                if attempt >= UPLOAD_ATTEMPTS:
                    raise
                if upload.started and not _rewind(stream, start):
                    raise
                # Announced as every retry is (skopeo's words); a new upload session starts at once.
                log.warning("Failed, retrying in 0s ... (%d/%d). Error: uploading blob: %s", attempt,
                            UPLOAD_ATTEMPTS - 1, exc)
                continue
            return BlobInfo(digest=digest, size=size, media_type=info.media_type)

    def _put_precomputed(self, stream: BinaryIO, info: BlobInfo) -> BlobInfo:
        """`--dest-precompute-digests` (c/image `streamdigest.ComputeBlobInfo`): a blob whose
        digest is unknown (it is being (re)compressed) is written to an unnamed temporary file
        in the big-files directory first, hashing it; if the registry has that digest, nothing
        is uploaded, else the file is. The stream is read to its end (so verified) first."""
        import tempfile  # only with --dest-precompute-digests

        directory = big_files_temp_dir(self._ctx)
        try:
            spool = tempfile.TemporaryFile(dir=directory, prefix="container_images_stream-blob")  # noqa: SIM115
        except OSError as exc:
            raise wrap_os_error(exc, f"creating temporary on-disk layer in {directory}") from exc
        with spool:
            try:
                digest, size = copy_hashing(stream, spool.write, info)
                spool.flush()
                spool.seek(0)
            except OSError as exc:
                raise wrap_os_error(exc, "writing to temporary on-disk layer") from exc
            known = BlobInfo(digest=digest, size=size, media_type=info.media_type)
            reused = self.try_reusing_blob(known)
            if reused is not None:
                log.debug("blob %s is already in %s: not uploaded", digest, self._ref.ref.name)
                return reused
            return self.put_blob(cast(BinaryIO, spool), known)

    def _upload_once(self, upload: _HashingUpload, info: BlobInfo) -> tuple[Digest, int]:
        """One upload session: POST, then the body. A blob whose digest and size are known
        goes up monolithically (`PUT ?digest=` with the body: the registry checks the digest
        before committing); otherwise it is streamed (PATCH), hashed on the way, then committed
        with an empty PUT, so the digest is known before the commit."""
        what = f"uploading blob to {self._ref.ref.name}"
        resp = self._client.request("POST", f"{self._blobs()}/uploads/")
        if resp.status_code != 202:
            raise error_from_response(resp, what)
        location = self._location(resp.headers.get("Location"), resp.url or self._client.base_url)
        resp.close()
        known = upload.known_digest
        if known is not None:
            self._commit_upload(location, known, upload, what)
            if upload.size != info.size:
                raise DigestMismatchError(f"blob {known}: uploaded {upload.size} bytes, expected {info.size}")
            return known, upload.size
        resp = self._client.request(
            "PATCH", location, headers={"Content-Type": "application/octet-stream"}, data=upload
        )
        if resp.status_code != 202:
            raise error_from_response(resp, what)
        location = self._location(resp.headers.get("Location"), location)
        resp.close()
        digest = upload.digest()
        if info.digest is not None and digest != info.digest:
            raise DigestMismatchError(f"blob digest mismatch: expected {info.digest}, got {digest}")
        if info.size >= 0 and upload.size != info.size:
            raise DigestMismatchError(f"blob {digest}: uploaded {upload.size} bytes, expected {info.size}")
        self._commit_upload(location, digest, b"", what)
        return digest, upload.size

    def _commit_upload(self, location: str, digest: Digest, body: _HashingUpload | bytes, what: str) -> None:
        """`PUT <location>?digest=` with `body` (the whole blob, or empty after PATCHes)."""
        sep = "&" if urlsplit(location).query else "?"
        headers = {"Content-Type": "application/octet-stream"}
        if isinstance(body, bytes):
            headers["Content-Length"] = str(len(body))
        resp = self._client.request(
            "PUT", f"{location}{sep}{urlencode({'digest': str(digest)})}", headers=headers, data=body
        )
        if resp.status_code != 201:
            raise error_from_response(resp, what)
        resp.close()

    def put_manifest(self, raw: bytes, mime_type: str, instance_digest: Digest | None = None) -> None:
        ref = self._ref.ref
        if self._ref.unknown_digest:
            # c/image: an untagged push goes by the manifest's own digest (an instance's too).
            tail = str(manifest_digest(raw))
        else:
            tail = str(instance_digest) if instance_digest is not None else manifest_tail(ref)
        self._put_manifest_at(tail, raw, mime_type)
        if instance_digest is None:
            self._top_digest = manifest_digest(raw)

    def _put_manifest_at(self, tail: str, raw: bytes, mime_type: str) -> dict[str, str]:
        """PUT a manifest by digest or tag (retrying distribution's blob-link race); the
        response headers."""
        ref = self._ref.ref
        what = f"uploading manifest {safe_text(tail)} to {ref.name}"
        for delay in (*_BLOB_RACE_DELAYS, None):
            resp = self._client.request(
                "PUT", manifest_path(ref, quote(tail, safe=":")), headers={"Content-Type": mime_type}, data=raw
            )
            if resp.status_code == 201:
                headers = dict(resp.headers)
                resp.close()
                return headers
            err = error_from_response(resp, what)
            if delay is None or resp.status_code != 400 or not err.codes or not err.codes <= _BLOB_RACE_CODES:
                break
            # The copy engine wrote or found every referenced blob before this PUT, so "blob
            # unknown" here is distribution 2.x losing a race: its filesystem driver rewrites a
            # blob's repository link in place (truncate, then write) each time a concurrent push
            # commits the same blob, and a reader in between sees an empty link.
            log.debug("%s: %s; trying again in %.1f s", what, err, delay)
            self._client.sleep(delay)
        if resp.status_code in (400, 415) and not isinstance(err, TransientRegistryError):
            raise ManifestRejectedError(str(err))
        raise err

    def put_signatures(self, signatures: Sequence[bytes], instance_digest: Digest | None = None) -> None:
        if not signatures:
            return
        digest = instance_digest if instance_digest is not None else self._top_digest
        if digest is None:
            raise ToolkitError("docker: signatures need the manifest digest; write the manifest first")
        from toolkit.signature import Sigstore, parse_signature_blob  # only a copy with signatures

        # containers/image: sigstore signatures go to attachments only, the others to the lookaside.
        sigstore: list[Sigstore] = []
        others: list[bytes] = []
        for blob in signatures:
            try:
                parsed = parse_signature_blob(blob)
            except SignatureError:
                parsed = None
            if isinstance(parsed, Sigstore):
                sigstore.append(parsed)
            else:
                others.append(blob)
        if sigstore:
            if not use_sigstore_attachments(self._ctx, self._ref.ref):
                raise NotSupportedError(ATTACHMENTS_DISABLED)
            ref = self._ref.ref
            write_attachment_signatures(
                lambda tag: fetch_manifest(self._client, ref, tag),
                lambda desc, limit: get_small_blob(self._client, ref, desc, limit),
                self._put_attachment_blob,
                self._put_manifest_by_tag,
                digest,
                sigstore,
                ref.name,
            )
        if others:
            write_lookaside_signatures(self._ctx, self._ref.ref, digest, others)

    def _put_attachment_blob(self, blob: AttachmentBlob) -> None:
        desc = blob.descriptor
        info = BlobInfo(digest=desc.digest, size=desc.size, media_type=desc.media_type)
        if self.try_reusing_blob(info) is None:
            self.put_blob(io.BytesIO(blob.data), info, is_config=desc.media_type == mime.OCI_CONFIG)

    def _put_manifest_by_tag(self, raw: bytes, mime_type: str, tag: str) -> None:
        ref = self._ref.ref
        what = f"uploading manifest {safe_text(tag)} to {ref.name}"
        resp = self._client.request(
            "PUT", manifest_path(ref, quote(tag, safe="")), headers={"Content-Type": mime_type}, data=raw
        )
        if resp.status_code == 201:
            resp.close()
            return
        raise error_from_response(resp, what)

    def put_referrer(self, raw: bytes, mime_type: str, subject: Digest, descriptor: Descriptor) -> None:
        """Push a referrer's manifest by digest; unless the registry answers `OCI-Subject`
        (it keeps the referrers itself), add it to the referrers tag schema index
        (`_referrers.record_referrer`)."""
        from toolkit.transports.docker._referrers import record_referrer

        headers = self._put_manifest_at(str(manifest_digest(raw)), raw, mime_type)
        answered = next((v for k, v in headers.items() if k.lower() == "oci-subject"), None)
        if answered == str(subject):
            return
        record_referrer(
            self._client, self._ref.ref, subject, descriptor, put_index=self._put_index, sleep=self._client.sleep
        )

    def _put_index(self, raw: bytes, tag: str, headers: dict[str, str]) -> int:
        ref = self._ref.ref
        resp = self._client.request(
            "PUT", manifest_path(ref, quote(tag, safe="")), headers={"Content-Type": mime.OCI_INDEX, **headers},
            data=raw,
        )
        if resp.status_code in (201, 412):
            resp.close()
            return resp.status_code
        raise error_from_response(resp, f"uploading the referrers index {safe_text(tag)} to {ref.name}")

    def put_tagged_manifest(self, raw: bytes, mime_type: str, tag: str) -> None:
        """Push a manifest under `tag` in this repository (cosign's digest tags)."""
        self._put_manifest_by_tag(raw, mime_type, tag)

    def commit(self) -> None:
        self._committed = True

    def close(self) -> None:
        self._client.close()
