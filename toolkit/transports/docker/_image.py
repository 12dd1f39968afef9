"""`docker://` image source and destination (containers/image `docker_image_src.go`,
`docker_image_dest.go`), and the repository-level verbs (tags, delete).

Source: the manifest is fetched when the source is opened, trying registries.conf
mirrors in order and then the primary location; the endpoint that served it serves every
blob. Manifests are capped at 4 MiB and, when fetched by digest, checked on the exact
bytes. Blobs are verified (`VerifyingReader`) and resume after broken connections
(`ResumableBody`); a `ReadAheadReader` thread keeps downloading and verifying (at most
`READ_AHEAD_DEPTH` chunks ahead) while the destination writes or uploads: ~10% off the
wall time of a registry-to-registry copy. Foreign `urls` are never fetched.

Destination: blobs already present (HEAD) or mountable from the source repository on the
same registry (`POST ...?mount=&from=`) are not uploaded. A blob whose digest and size are
known (passed through unchanged) is uploaded monolithically: POST + PUT `?digest=` with the
body, the registry checking the digest before it commits. Others (recompressed on the way)
are POST + PATCH (streamed; `Content-Length` when the size is known; hashed as they go) +
an empty PUT `?digest=`, see `_HashingUpload`. A failed upload restarts its
session when the stream can be rewound (seekable streams, e.g. configs) or nothing was read
from it yet; otherwise the error is a `RetryableError` and `--retry-times` re-runs the copy. Manifests
are PUT by tag, by digest for list instances and digest references. Registries apply writes
at once: `commit()` has nothing left to do and an abort cannot undo uploaded blobs (they
are unreferenced and harmless).

Signatures (containers/image order): the source returns the lookaside signatures, then,
when registries.d sets `use-sigstore-attachments`, every layer of the `sha256-<hex>.sig`
attachment as a sigstore storage blob (`_attachments`). The destination writes sigstore
signatures to that attachment (refused with "writing sigstore attachments is disabled by
configuration" without the switch, after the manifest, as containers/image) and the
others to the lookaside.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote, urlencode, urljoin, urlsplit

from toolkit.compression import ReadAheadReader
from toolkit.config.registries_conf import PullSource, RegistriesConf, load_registries_conf
from toolkit.digest import CHUNK_SIZE, Digest, VerifyingReader
from toolkit.errors import (
    DigestMismatchError,
    ImageNotFoundError,
    NotSupportedError,
    RegistryError,
    SignatureError,
    ToolkitError,
    safe_text,
)
from toolkit.limits import MAX_MANIFEST_SIZE
from toolkit.manifest import Descriptor, manifest_digest, mime
from toolkit.reference import NamedReference, is_valid_tag
from toolkit.signature import Sigstore, parse_signature_blob
from toolkit.transports.base import BlobStream, DestinationCapabilities, ImageDestinationBase, ImageSourceBase
from toolkit.transports.docker._attachments import (
    ATTACHMENTS_DISABLED,
    read_attachment_signatures,
    use_sigstore_attachments,
    write_attachment_signatures,
)
from toolkit.transports.docker._body import ResumableBody
from toolkit.transports.docker._client import RegistryClient, scope_for
from toolkit.transports.docker._errors import (
    ManifestRejectedError,
    TransientRegistryError,
    describe_errors,
    parse_error_body,
)
from toolkit.transports.docker._response import Response, check_content_length, error_from_response, read_limited_body
from toolkit.transports.docker._signatures import read_lookaside_signatures, write_lookaside_signatures
from toolkit.types import BlobInfo, LayerCompression, SystemContext

if TYPE_CHECKING:
    from toolkit.signature.sigstore_attachments import AttachmentBlob
    from toolkit.transports.docker._reference import DockerReference

__all__ = [
    "DockerImageSource",
    "DockerImageDestination",
    "fetch_manifest",
    "head_manifest",
    "list_tags",
    "delete_image",
    "MAX_TAG_PAGES",
]

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(mime.DEFAULT_ACCEPT)
MAX_TAG_PAGES = 1000
MAX_TAG_PAGE_SIZE = 8 << 20
UPLOAD_ATTEMPTS = 3
_NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN"})
#: A manifest PUT answered 400 with only these codes is tried again after each delay (see
#: `put_manifest`); a blob that is really missing costs under 2 s more before the error.
_BLOB_RACE_CODES = frozenset({"MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "DIGEST_INVALID"})
_BLOB_RACE_DELAYS = (0.1, 0.4, 1.2)


def _manifest_path(ref: NamedReference, tail: str) -> str:
    return f"/v2/{ref.path}/manifests/{tail}"


def _tail(ref: NamedReference) -> str:
    if ref.digest is not None:
        return str(ref.digest)
    assert ref.tag is not None
    return ref.tag


def fetch_manifest(client: RegistryClient, ref: NamedReference, tail: str) -> tuple[bytes, str]:
    """GET a manifest by tag or digest; (exact bytes, MIME type without parameters).

    Raises `ImageNotFoundError` for 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN,
    `DigestMismatchError` when fetched by digest and the bytes do not match.
    """
    what = f"reading manifest {safe_text(tail)} in {ref.name}"
    resp = client.request("GET", _manifest_path(ref, tail), headers={"Accept": MANIFEST_ACCEPT})
    if resp.status_code != 200:
        _raise_manifest_error(resp, what)
    raw = read_limited_body(resp, MAX_MANIFEST_SIZE, f"manifest {safe_text(tail)}")
    content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if tail.startswith(("sha256:", "sha512:")):
        expected = Digest.parse(tail)
        if not expected.matches(raw):
            raise DigestMismatchError(f"Manifest does not match provided manifest digest {expected}")
    return raw, content_type


def head_manifest(client: RegistryClient, ref: NamedReference) -> tuple[Digest, str] | None:
    """HEAD the manifest `ref` names: `(digest, MIME type)` from `Docker-Content-Digest` and
    `Content-Type`, without transferring the manifest (HEADs do not count against Docker Hub's
    pull limit). None when the manifest does not exist (404, MANIFEST_UNKNOWN, NAME_UNKNOWN) or
    the registry sent no valid digest header (the caller must then fall back to a GET).

    For a digest reference the header, if any, must equal that digest (else
    `DigestMismatchError`); other statuses raise as `fetch_manifest` does. The header is
    untrusted: callers may only compare it, never use it to address content.
    """
    tail = _tail(ref)
    what = f"checking manifest {safe_text(tail)} in {ref.name}"
    resp = client.request("HEAD", _manifest_path(ref, tail), headers={"Accept": MANIFEST_ACCEPT})
    status = resp.status_code
    if status == 404:
        resp.close()
        return None
    if status != 200:
        _raise_manifest_error(resp, what)
    untrusted_digest = resp.headers.get("Docker-Content-Digest", "")
    content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    resp.close()
    try:
        digest = Digest.parse(untrusted_digest)
    except ToolkitError:
        return None
    if ref.digest is not None and digest != ref.digest:
        raise DigestMismatchError(f"{what}: the registry reported digest {digest}")
    return digest, content_type


def _raise_manifest_error(resp: Response, what: str) -> None:
    status = resp.status_code
    try:
        body = read_limited_body(resp, 1 << 20, "error body")
    except ToolkitError:
        body = b""
    entries = parse_error_body(body)
    text = f"{what}: {describe_errors(entries, status, resp.reason or '')}"
    if status == 404 or {e.code for e in entries} & _NOT_FOUND_CODES:
        raise ImageNotFoundError(text)
    codes = {e.code for e in entries}
    from toolkit.transports.docker._errors import NON_RETRYABLE_CODES, UnauthorizedError

    if status == 401 or "UNAUTHORIZED" in codes:
        raise UnauthorizedError(text)
    if status in (429, 502, 503, 504) or (entries and not codes & NON_RETRYABLE_CODES):
        raise TransientRegistryError(text)
    raise RegistryError(text)


def _get_small_blob(client: RegistryClient, ref: NamedReference, desc: Descriptor, limit: int) -> bytes:
    """A blob read whole, at most `limit` bytes (sigstore attachment layers and configs)."""
    what = f"fetching blob {desc.digest} from {ref.name}"
    resp = client.request("GET", f"/v2/{ref.path}/blobs/{desc.digest}")
    if resp.status_code != 200:
        raise error_from_response(resp, what)
    return read_limited_body(resp, limit, f"blob {desc.digest}")


def _client_for(
    ctx: SystemContext, conf: RegistriesConf, ref: NamedReference, actions: str, *, insecure: bool = False
) -> RegistryClient:
    return RegistryClient(
        ctx,
        ref.domain,
        repo_name=ref.name,
        scopes=[scope_for(ref.path, actions)],
        insecure=insecure or conf.is_insecure(ref.domain),
    )


class DockerImageSource(ImageSourceBase):
    """Reads one image from a registry (or a registries.conf mirror of it)."""

    has_thread_safe_get_blob = True

    def __init__(self, ref: DockerReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        conf = load_registries_conf(ctx)
        registry = conf.check_not_blocked(ref.ref)
        sources = registry.pull_sources(ref.ref) if registry is not None else [PullSource(ref.ref, False, False)]
        errors: list[str] = []
        for index, source in enumerate(sources):
            client = _client_for(ctx, conf, source.reference, "pull", insecure=source.insecure)
            try:
                self._manifest = fetch_manifest(client, source.reference, _tail(source.reference))
            except ToolkitError as exc:
                client.close()
                if index == len(sources) - 1:
                    if errors:
                        exc.message = f"{exc.message} (Mirrors also failed: [{'; '.join(errors)}])"
                    raise
                errors.append(f"{source.reference}: {exc}")
                log.info("pulling from mirror %s failed: %s", source.reference, exc)
                continue
            self._client = client
            self._physical = source.reference
            break

    @property
    def reference(self) -> DockerReference:
        return self._ref

    def get_manifest(self, instance_digest: Digest | None = None) -> tuple[bytes, str]:
        if instance_digest is None:
            return self._manifest
        return fetch_manifest(self._client, self._physical, str(instance_digest))

    def _blob_path(self, digest: Digest) -> str:
        return f"/v2/{self._physical.path}/blobs/{digest}"

    def get_blob(self, info: BlobInfo) -> tuple[BlobStream, int]:
        if info.digest is None:
            raise ToolkitError("docker: a blob without a digest cannot be read")
        digest = info.digest
        path = self._blob_path(digest)
        what = f"blob {digest}"
        resp = self._client.request("GET", path)
        if resp.status_code != 200:
            raise error_from_response(resp, f"fetching {what}")
        length = check_content_length(resp)
        size = info.size if info.size >= 0 else length
        if info.size >= 0 and length >= 0 and length != info.size:
            resp.close()
            raise RegistryError(f"fetching {what}: the registry announced {length} bytes, expected {info.size}")

        def reopen(offset: int) -> Response:
            return self._client.request("GET", path, headers={"Range": f"bytes={offset}-"})

        body = ResumableBody(resp, reopen, total=size, what=what, sleep=self._client.sleep)
        verified = VerifyingReader(body, digest, size if size >= 0 else None, what=what)  # type: ignore[arg-type]
        return ReadAheadReader(verified), size

    def _manifest_digest(self, instance_digest: Digest | None) -> Digest:
        if instance_digest is not None:
            return instance_digest
        return manifest_digest(self._manifest[0])

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        digest = self._manifest_digest(instance_digest)

        def http_get(url: str) -> Response:
            # Lookaside servers never see registry credentials.
            return self._client._follow("GET", url, {}, None, lambda _: None)

        # containers/image order: lookaside (simple signing), then sigstore attachments.
        signatures = read_lookaside_signatures(self._ctx, self._ref.ref, digest, http_get)
        if use_sigstore_attachments(self._ctx, self._ref.ref):
            signatures += read_attachment_signatures(
                lambda tag: fetch_manifest(self._client, self._physical, tag),
                lambda desc, limit: _get_small_blob(self._client, self._physical, desc, limit),
                digest,
                self._physical.name,
            )
        else:
            log.debug("Not looking for sigstore attachments: disabled by configuration")
        return signatures

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()


class _HashingUpload:
    """The body of a blob upload (a monolithic PUT, or a streamed PATCH): yields a stream in
    `CHUNK_SIZE` pieces, counting them.

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

    def __iter__(self) -> Iterator[bytes]:
        self.started = True
        length = self._length
        hasher = self.hasher
        while True:
            chunk = self._stream.read(CHUNK_SIZE)
            if not chunk:
                break
            if 0 <= length < self.size + len(chunk):
                raise DigestMismatchError(f"uploading a blob: the stream is longer than its size {length}")
            if hasher is not None:
                hasher.update(chunk)
            self.size += len(chunk)
            yield chunk
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

    def __init__(self, ref: DockerReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        conf = load_registries_conf(ctx)
        conf.check_not_blocked(ref.ref)
        self._client = _client_for(ctx, conf, ref.ref, "pull,push")
        self._mount_source: NamedReference | None = None
        self._top_digest: Digest | None = None
        self._committed = False

    @property
    def reference(self) -> DockerReference:
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
            supports_signatures=True,
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
        url = urljoin(base, location)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise RegistryError(f"invalid upload location {safe_text(url, 200)}")
        return url

    def put_blob(self, stream: BinaryIO, info: BlobInfo, *, is_config: bool = False) -> BlobInfo:
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
            except TransientRegistryError:
                if attempt >= UPLOAD_ATTEMPTS:
                    raise
                if upload.started and not _rewind(stream, start):
                    raise
                log.info("uploading blob failed; restarting the upload session (attempt %d)", attempt + 1)
                continue
            return BlobInfo(digest=digest, size=size, media_type=info.media_type)

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
        tail = str(instance_digest) if instance_digest is not None else _tail(ref)
        what = f"uploading manifest {safe_text(tail)} to {ref.name}"
        for delay in (*_BLOB_RACE_DELAYS, None):
            resp = self._client.request(
                "PUT", _manifest_path(ref, quote(tail, safe=":")), headers={"Content-Type": mime_type}, data=raw
            )
            if resp.status_code == 201:
                resp.close()
                if instance_digest is None:
                    self._top_digest = manifest_digest(raw)
                return
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
                lambda desc, limit: _get_small_blob(self._client, ref, desc, limit),
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
            "PUT", _manifest_path(ref, quote(tag, safe="")), headers={"Content-Type": mime_type}, data=raw
        )
        if resp.status_code == 201:
            resp.close()
            return
        raise error_from_response(resp, what)

    def commit(self) -> None:
        self._committed = True

    def close(self) -> None:
        self._client.close()


# ---------------------------------------------------------------- repository verbs


def _link_next(resp: Response) -> str | None:
    """The path (and query) of a `Link: <...>; rel="next"` header; only the path is used."""
    link = resp.headers.get("Link")
    if not link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    parts = urlsplit(target)
    if not parts.path.startswith("/v2/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def list_tags(ctx: SystemContext, ref: NamedReference) -> list[str]:
    """Every tag of repository `ref` (registry order), following `Link` pagination.

    Invalid tags (not matching the tag grammar) are skipped; pagination stops after
    `MAX_TAG_PAGES` pages or when a page link repeats.
    """
    conf = load_registries_conf(ctx)
    conf.check_not_blocked(ref)
    client = _client_for(ctx, conf, ref, "pull")
    try:
        tags: list[str] = []
        path: str | None = f"/v2/{ref.path}/tags/list"
        seen: set[str] = set()
        pages = 0
        while path is not None:
            if path in seen or pages >= MAX_TAG_PAGES:
                log.warning("stopping tag listing of %s after %d pages", ref.name, pages)
                break
            seen.add(path)
            pages += 1
            doc, resp = client.get_json(path, MAX_TAG_PAGE_SIZE, f"fetching tags list of {ref.name}")
            page = doc.get("tags") if isinstance(doc, dict) else None
            if isinstance(page, list):
                for tag in page:
                    if isinstance(tag, str) and is_valid_tag(tag):
                        tags.append(tag)
                    elif tag is not None:
                        log.debug("ignoring invalid tag %r from the registry", safe_text(str(tag), 80))
            path = _link_next(resp)
        return tags
    finally:
        client.close()


def delete_image(ctx: SystemContext, ref: NamedReference) -> None:
    """Delete the manifest `ref` points to (a tag is resolved to its digest first).

    Deleting by digest removes every tag pointing at that manifest, as in skopeo.
    """
    conf = load_registries_conf(ctx)
    conf.check_not_blocked(ref)
    client = _client_for(ctx, conf, ref, "*")
    try:
        tail = _tail(ref)
        resp = client.request("GET", _manifest_path(ref, tail), headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code == 404:
            resp.close()
            raise RegistryError(
                f"Unable to delete {ref}. Image may not exist or is not stored with a v2 Schema in a v2 registry"
            )
        if resp.status_code != 200:
            raise error_from_response(resp, f"deleting {ref}")
        raw = read_limited_body(resp, MAX_MANIFEST_SIZE, "manifest")
        digest = manifest_digest(raw)
        resp = client.request("DELETE", _manifest_path(ref, str(digest)), headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code != 202:
            raise error_from_response(resp, f"deleting {ref}")
        resp.close()
    finally:
        client.close()

