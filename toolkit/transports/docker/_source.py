"""`docker://` image source (containers/image `docker_image_src.go`), and the manifest
reads the destination and the repository verbs share.

The manifest is fetched when the source is opened, trying registries.conf mirrors in
order and then the primary location; the endpoint that served it serves every blob.
Manifests are capped at 4 MiB and, when fetched by digest, checked on the exact bytes
(`fetch_manifest`); `head_manifest` answers "which manifest is there" from headers that
are untrusted and only ever compared. Blobs are verified (`VerifyingReader`) and resume
after broken connections (`ResumableBody`). The consumer's thread receives each chunk
straight into its own buffer (`readinto`) and writes or uploads it; the socket's kernel
buffer is the read-ahead (no thread of ours copies chunks on). The hash runs in a
`HashStage` thread while the copy has fewer layers under way than CPUs, and in the
consumer's thread once its layers keep every core busy (`Lease.crowded`, the verifying
reader's default policy under a copy): a thread then adds only handovers. Foreign `urls` are never fetched.

Referrers (`referrers`, `digest_tags`: `ReferrersSource`) come from `_referrers`.

Signatures (containers/image order): the lookaside signatures (`_lookaside`), fetched
without registry credentials, then, when registries.d sets `use-sigstore-attachments`,
every layer of the `sha256-<hex>.sig` attachment as a sigstore storage blob
(`_attachments`).

Errors: `ImageNotFoundError` for a missing manifest (404, MANIFEST_UNKNOWN, NAME_UNKNOWN),
`DigestMismatchError` for bytes that do not match a digest reference, otherwise as
`_response.error_from_response` classifies them.
"""

from __future__ import annotations

import dataclasses
import logging

from toolkit._protocol import Protocol  # as ImageReference's (transports/base.py)
from toolkit.config.registries_conf import PullSource, RegistriesConf, load_registries_conf
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import (
    CommandTimeoutError,
    DigestMismatchError,
    ImageNotFoundError,
    RegistryError,
    ToolkitError,
    safe_text,
)
from toolkit.limits import MAX_MANIFEST_SIZE
from toolkit.manifest import Descriptor, manifest_digest, mime
from toolkit.reference import NamedReference
from toolkit.transports.base import BlobStream, ImageReference, ImageSourceBase
from toolkit.transports.docker._body import ResumableBody
from toolkit.transports.docker._client import RegistryClient, scope_for
from toolkit.transports.docker._errors import (
    NON_RETRYABLE_CODES,
    TransientRegistryError,
    UnauthorizedError,
    describe_errors,
    parse_error_body,
)
from toolkit.transports.docker._reference import manifest_tail
from toolkit.transports.docker._response import (
    Response,
    check_content_length,
    error_from_response,
    read_limited_body,
    unauthorized_text,
)
from toolkit.types import BlobInfo, SystemContext

__all__ = [
    "DockerImageSource",
    "RegistryImageReference",
    "fetch_manifest",
    "head_manifest",
    "get_small_blob",
    "client_for",
    "manifest_path",
    "manifest_tail",
    "MANIFEST_ACCEPT",
]

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(mime.DEFAULT_ACCEPT)
_NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN"})


class RegistryImageReference(ImageReference, Protocol):
    """What the registry source and destination need of their reference (a
    `_reference.DockerReference`): an `ImageReference` and the normalised name it
    addresses. Declared here so that these modules do not import the reference module,
    which imports them."""

    @property
    def ref(self) -> NamedReference: ...

    @property
    def unknown_digest(self) -> bool:
        """A bare repository name to push to by the manifest's digest (`@@unknown-digest@@`)."""
        ...


def manifest_path(ref: NamedReference, tail: str) -> str:
    """`/v2/<repository>/manifests/<tail>`."""
    return f"/v2/{ref.path}/manifests/{tail}"


def fetch_manifest(client: RegistryClient, ref: NamedReference, tail: str) -> tuple[bytes, str]:
    """GET a manifest by tag or digest; (exact bytes, MIME type without parameters).

    Raises `ImageNotFoundError` for 404 / MANIFEST_UNKNOWN / NAME_UNKNOWN,
    `DigestMismatchError` when fetched by digest and the bytes do not match.
    """
    what = f"reading manifest {safe_text(tail)} in {ref.name}"
    resp = client.request("GET", manifest_path(ref, tail), headers={"Accept": MANIFEST_ACCEPT})
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
    `DigestMismatchError`); other statuses raise as `fetch_manifest` does, and a `ref`
    without exactly one of tag and digest raises `InvalidReferenceError` before any
    request. The header is untrusted: callers may only compare it, never use it to
    address content.
    """
    tail = manifest_tail(ref)
    what = f"checking manifest {safe_text(tail)} in {ref.name}"
    resp = client.request("HEAD", manifest_path(ref, tail), headers={"Accept": MANIFEST_ACCEPT})
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
    if status == 401 or "UNAUTHORIZED" in codes:
        raise UnauthorizedError(unauthorized_text(resp, text))
    if status in (429, 502, 503, 504) or (entries and not codes & NON_RETRYABLE_CODES):
        raise TransientRegistryError(text)
    raise RegistryError(text)


def get_small_blob(client: RegistryClient, ref: NamedReference, desc: Descriptor, limit: int) -> bytes:
    """A blob read whole, at most `limit` bytes (sigstore attachment layers and configs)."""
    what = f"fetching blob {desc.digest} from {ref.name}"
    resp = client.request("GET", f"/v2/{ref.path}/blobs/{desc.digest}")
    if resp.status_code != 200:
        raise error_from_response(resp, what)
    return read_limited_body(resp, limit, f"blob {desc.digest}")


def client_for(
    ctx: SystemContext, conf: RegistriesConf, ref: NamedReference, actions: str, *, insecure: bool = False
) -> RegistryClient:
    return RegistryClient(
        ctx,
        ref.domain,
        repo_name=ref.name,
        scopes=[scope_for(ref.path, actions)],
        insecure=insecure or conf.is_insecure(ref.domain),
    )


def _context_for(ctx: SystemContext, logical: NamedReference, physical: NamedReference) -> SystemContext:
    """`ctx` for pulling `logical` from `physical` (itself or a registries.conf mirror).

    Credentials and a bearer token given on the command line (`--src-creds`,
    `--src-registry-token`) name no registry: they are meant for the logical one, and a
    mirror on another host gets none of them; it uses its own entry of the auth files
    (containers/image `newImageSourceAttempt`)."""
    if physical.domain == logical.domain or (ctx.credentials is None and not ctx.registry_token):
        return ctx
    return dataclasses.replace(ctx, credentials=None, registry_token="")


class DockerImageSource(ImageSourceBase):
    """Reads one image from a registry (or a registries.conf mirror of it)."""

    has_thread_safe_get_blob = True
    receives_blobs_over_network = True

    def __init__(self, ref: RegistryImageReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        conf = load_registries_conf(ctx)
        registry = conf.check_not_blocked(ref.ref)
        sources = registry.pull_sources(ref.ref) if registry is not None else [PullSource(ref.ref, False, False)]
        errors: list[str] = []
        for index, source in enumerate(sources):
            client = client_for(_context_for(ctx, ref.ref, source.reference), conf, source.reference, "pull",
                                insecure=source.insecure)
            try:
                self._manifest = fetch_manifest(client, source.reference, manifest_tail(source.reference))
            except CommandTimeoutError:  # the deadline is the command's, not this mirror's
                client.close()
                raise
            except ToolkitError as exc:
                client.close()
                if index == len(sources) - 1:
                    if errors:
                        exc.message = f"{exc.message} (Mirrors also failed: [{'; '.join(errors)}])"
                    raise
                errors.append(f"{source.reference}: {exc}")
                log.debug("pulling from mirror %s failed: %s", source.reference, exc)
                continue
            self._client = client
            self._physical = source.reference
            break

    @property
    def reference(self) -> RegistryImageReference:
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

        body = ResumableBody(
            resp, reopen, total=size, what=what, sleep=self._client.sleep, read_timeout=self._client.read_timeout
        )
        # Under a copy, hashed inline while the copy's layers keep every core busy (the
        # verifying reader's default policy: `Lease.crowded`).
        return VerifyingReader(body, digest, size if size >= 0 else None, what=what), size  # type: ignore[arg-type]

    def _manifest_digest(self, instance_digest: Digest | None) -> Digest:
        if instance_digest is not None:
            return instance_digest
        return manifest_digest(self._manifest[0])

    def get_signatures(self, instance_digest: Digest | None = None) -> list[bytes]:
        # Imported here: `ManifestProbe` (sync's up-to-date check) and tag listing import this
        # module and read no signatures (the signature formats, registries.d).
        from toolkit.transports.docker._attachments import read_attachment_signatures, use_sigstore_attachments
        from toolkit.transports.docker._lookaside import read_lookaside_signatures

        digest = self._manifest_digest(instance_digest)

        def http_get(url: str) -> Response:
            # Lookaside servers never see registry credentials.
            return self._client._follow("GET", url, {}, None, lambda _: None)

        # containers/image order: lookaside (simple signing), then sigstore attachments.
        signatures = read_lookaside_signatures(self._ctx, self._ref.ref, digest, http_get)
        if use_sigstore_attachments(self._ctx, self._ref.ref):
            signatures += read_attachment_signatures(
                lambda tag: fetch_manifest(self._client, self._physical, tag),
                lambda desc, limit: get_small_blob(self._client, self._physical, desc, limit),
                digest,
                self._physical.name,
            )
        else:
            log.debug("Not looking for sigstore attachments: disabled by configuration")
        return signatures

    def referrers(self, subject: Digest) -> list[Descriptor]:
        """OCI 1.1 referrers of `subject` (the API, else the tag schema: `_referrers`)."""
        from toolkit.transports.docker._referrers import list_referrers

        return list_referrers(self._client, self._physical, subject)

    def digest_tags(self, subject: Digest) -> list[tuple[str, Descriptor]]:
        """cosign's tags of `subject` in this repository."""
        from toolkit.transports.docker._referrers import list_digest_tags

        return list_digest_tags(self._client, self._physical, subject)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
