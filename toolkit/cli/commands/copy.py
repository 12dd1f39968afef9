"""`skopo copy SOURCE-IMAGE DESTINATION-IMAGE`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.cli.common import (
    base_context,
    check_digest_file,
    log_line,
    policy_context,
    with_retries,
    write_digest_file,
)
from toolkit.cli.context import global_options
from toolkit.cli.copying import limit_malloc_arenas, selection_flags, shared_copy_options
from toolkit.cli.flags import (
    Flag,
    FlagValues,
    command_with_flags,
    copy_shared_flags,
    deprecated_tls_verify_flag,
    dest_flags,
    image_argument,
    image_flags,
    retry_flags,
    system_context,
    warn_deprecated_tls_verify,
)
from toolkit.cli.progress import make_reporter
from toolkit.cli.signing import signers_from_flags
from toolkit.compression import algorithm_by_name
from toolkit.errors import InvalidInputError, safe_text
from toolkit.ops.copy import DEFAULT_PARALLEL_COPIES, copy_image
from toolkit.reference import NamedReference, parse_normalized_named
from toolkit.transports import parse_image_name
from toolkit.types import Compression, LayerCompression, SystemContext

if TYPE_CHECKING:
    from toolkit.crypt import DecryptConfig, EncryptConfig

#: For `man skopo-copy` (toolkit/cli/manpages.py): a description, then `$ ` command lines.
EXAMPLES = [
    "Pull an image from a registry into a `docker load`-able archive, without Docker:\n"
    "$ skopo copy docker://docker.io/library/alpine:3.20 docker-archive:alpine.tar:alpine:3.20",
    "Stream the archive to a host that runs Docker (progress goes to stderr, stdout carries only the tar):\n"
    "$ skopo copy docker://docker.io/library/alpine:3.20 docker-archive:/dev/stdout:alpine:3.20 | ssh HOST docker load",
    "Copy every platform of a multi-architecture image into an OCI layout, keeping the digests:\n"
    "$ skopo copy --all --preserve-digests docker://docker.io/library/alpine:3.20 oci:alpine-layout:3.20",
    "Mirror only two platforms of a multi-architecture image (and their attestations), writing a list of just those:\n"
    "$ skopo copy --multi-arch linux/amd64,linux/arm64 --strip-removed-platforms "
    "docker://docker.io/library/alpine:3.20 docker://registry.example.com/alpine:3.20",
    "Mirror an image with its SBOMs, signatures and attestations (OCI 1.1 referrers, cosign tags):\n"
    "$ skopo copy --referrers docker://registry.example.com/app:1.0 docker://mirror.example.com/app:1.0",
    "Copy a Helm chart stored as an OCI artifact from one registry to another, unchanged:\n"
    "$ skopo copy docker://ghcr.io/example/charts/app:1.2.0 docker://registry.example.com/charts/app:1.2.0",
    "Push an image from an OCI layout to a local registry that serves plain HTTP:\n"
    "$ skopo copy --dest-tls-verify=false oci:alpine-layout:3.20 docker://localhost:5000/alpine:3.20",
    "Encrypt every layer for a JWE public key and a GnuPG recipient, then decrypt it with the private key:\n"
    "$ skopo copy --encryption-key jwe:team.pub.pem --encryption-key pgp:ops@example.com "
    "oci:app-layout:1.4 docker://registry.example.com/team/app:1.4-enc\n"
    "$ skopo copy --decryption-key team.key.pem docker://registry.example.com/team/app:1.4-enc oci:app-plain:1.4",
    "Recompress an image as zstd:chunked, which podman pulls partially (only the files it lacks):\n"
    "$ skopo copy --dest-compress-format zstd:chunked --dest-force-compress-format "
    "docker://registry.example.com/team/app:1.4 docker://registry.example.com/team/app:1.4-chunked",
]
SEE_ALSO = ["skopo-transports(5)", "skopo-policy.json(5)", "skopo-registries.d(5)", "skopo-inspect(1)"]

COPY_FLAGS: list[Flag] = [
    Flag("additional-tag", list[str] | None, None,
         "additional tags (supports docker-archive)", metavar="TAG"),
    Flag("quiet", bool, False, "Suppress output information when copying images", short="-q"),
    Flag("sign-identity", str | None, None, "Identity of signed image, must be a fully specified docker reference",
         metavar="REFERENCE"),
    Flag("digestfile", Path | None, None, "Write the digest of the pushed image to the specified file",
         metavar="PATH"),
    Flag("encryption-key", list[str] | None, None, "*Experimental* key with the encryption protocol to use "
         "needed to encrypt the image (e.g. jwe:/path/to/key.pem, pkcs7:CERT.pem, pgp:NAME); repeatable",
         metavar="KEY"),
    Flag("encrypt-layer", list[int] | None, None, "*Experimental* the 0-indexed layer indices, with support "
         "for negative indexing (e.g. 0 is the first layer, -1 is the last layer)", metavar="INDEX"),
    Flag("decryption-key", list[str] | None, None, "*Experimental* key needed to decrypt the image "
         "(FILE[:PASSWORD]); repeatable", metavar="KEY"),
    Flag("image-parallel-copies", int, 0, "Maximum number of image layers to be copied (pulled/pushed) "
         "simultaneously (0: the default, 6)", metavar="N"),
]


def _parse_compression(flags: FlagValues) -> tuple[LayerCompression | None, Compression | None, int | None]:
    compress: bool = flags.get("dest-compress")
    decompress: bool = flags.get("dest-decompress")
    if compress and decompress:
        raise InvalidInputError("Cannot compress and decompress at the same time")
    layer: LayerCompression | None = None
    if compress:
        layer = LayerCompression.COMPRESS
    elif decompress:
        layer = LayerCompression.DECOMPRESS
    fmt_text: str | None = flags.get("dest-compress-format")
    chosen = algorithm_by_name(fmt_text) if fmt_text is not None else None
    if chosen is not None:
        chosen.require_writable()
    level: int | None = flags.get("dest-compress-level")
    if level is not None:
        # Without a format, the level is for gzip: what a compressing copy then writes.
        algorithm = chosen or algorithm_by_name("gzip")
        if level not in algorithm.levels:
            low, high = algorithm.levels[0], algorithm.levels[-1]
            raise InvalidInputError(f"--dest-compress-level for {algorithm.name} must be between {low} and {high}")
    fmt = chosen.compression if chosen is not None else None
    return layer, fmt, level


def _parse_crypto(flags: FlagValues) -> tuple[EncryptConfig | None, tuple[int, ...] | None, DecryptConfig | None]:
    """`--encryption-key`, `--encrypt-layer`, `--decryption-key` with skopeo's rules."""
    encryption_keys: list[str] = flags.get("encryption-key") or []
    decryption_keys: list[str] = flags.get("decryption-key") or []
    layers: list[int] = flags.get("encrypt-layer") or []
    if encryption_keys and decryption_keys:
        raise InvalidInputError("--encryption-key and --decryption-key cannot be specified together")
    if layers and not encryption_keys:
        raise InvalidInputError("--encrypt-layer can only be used with --encryption-key")
    if not (encryption_keys or decryption_keys):
        return None, None, None  # `toolkit.crypt` stays unimported on a plain copy
    from toolkit.crypt import parse_decryption_keys, parse_encryption_keys

    encryption = parse_encryption_keys(encryption_keys) if encryption_keys else None
    decryption = parse_decryption_keys(decryption_keys) if decryption_keys else None
    return encryption, (tuple(layers) if layers else None), decryption


def _parse_additional_tags(values: list[str] | None) -> tuple[str, ...]:
    tags: list[str] = []
    for value in values or []:
        for item in value.split(","):
            ref = parse_normalized_named(item)
            if ref.tag is None or ref.digest is not None:
                raise InvalidInputError(f'additional tag "{safe_text(item)}" must be a tagged reference')
            tags.append(str(ref))
    return tuple(tags)


@command_with_flags(image_flags("src-", with_shared_authfile=True, creds_alias="screds"), dest_flags(), retry_flags(),
                    copy_shared_flags(), selection_flags(), COPY_FLAGS, deprecated_tls_verify_flag())
def copy(
    ctx: typer.Context,
    source_image: Annotated[str, image_argument("SOURCE-IMAGE")],
    destination_image: Annotated[str, image_argument("DESTINATION-IMAGE")],
    flags: FlagValues,
) -> None:
    """Copy an image from one location to another.

    SOURCE-IMAGE and DESTINATION-IMAGE are `transport:details` names (docker://, dir:,
    oci:, oci-archive:, docker-archive:, tarball:). The trust policy is checked on the
    source before anything is written; on any failure the destination is left as it was.

    OCI artifacts (Helm charts, SBOMs, signatures: anything whose config is not an image
    config) and layers of types skopo does not know (in-toto attestations, SPDX, cosign
    payloads) are copied byte for byte, whatever the compression flags say; a destination
    that can only hold container images (docker-archive:, docker-daemon:) refuses an
    artifact before writing anything. With `--all`, every entry of an index is copied,
    including buildx attestation manifests, and the index digest is kept.

    `--multi-arch` takes a comma-separated platform list (`linux/amd64,linux/arm64/v8`;
    without a variant every variant of that OS and architecture): only those images are
    copied, each with the attestation manifests that describe it. The list written keeps
    the other entries unless `--strip-removed-platforms` is given (most registries refuse a
    list naming images they do not have).

    `--format v2s1` converts a schema2 or OCI image to a docker schema1 manifest as skopeo
    does (the config's history as v1Compatibility entries, empty ones as the gzipped empty
    tar, signed with a throwaway key); registries, `dir:` and `containers-storage:` hold
    schema1, other destinations refuse it before anything is written. A destination
    `docker://NAME@@unknown-digest@@` pushes the image untagged, by its manifest's digest
    (`--digestfile` records it); it takes no signatures.

    `--referrers` also copies what refers to the image: OCI 1.1 referrers (SBOMs,
    signatures, attestations naming it as their `subject`), recursively, and cosign's
    `.sig`/`.att`/`.sbom` tags, through the registry's referrers API or the referrers tag
    schema (an `oci:` layout keeps them as index.json entries). An image with referrers is
    copied unchanged, since they name it by digest.

    Encryption follows containers/ocicrypt, so skopeo and podman open what skopo encrypts and
    the reverse. `--encryption-key` (repeatable) is `jwe:PUBKEY` (RSA or EC, PEM, DER or JWK),
    `pkcs7:CERT` or `pgp:NAME-OR-EMAIL` (GnuPG keyring); `--encrypt-layer` picks layers (0 the
    first, -1 the last; default all); already encrypted layers are copied as they are.
    Encrypted layers need an OCI manifest, and a signed source needs `--remove-signatures`.
    `--decryption-key FILE[:PASSWORD]` (repeatable; PASSWORD is TEXT, pass=TEXT, file=PATH or
    fd=N) opens every encrypted layer: PEM, DER, JWK or PKCS#12 private keys (with the
    certificate for pkcs7) and exported GnuPG secret keyrings. A layer no key opens, a
    tampered or truncated layer (its HMAC is checked before the destination sees its end)
    and a malformed annotation fail the copy with nothing written.

    `--dest-compress-format zstd:chunked` writes the format of containers/storage (a zstd
    stream with a table of contents in skippable frames, annotated on each layer); any zstd
    reader reads it as plain zstd. Every layer that names such a table of contents has it
    checked as it is copied. Encrypted layers are written as plain zstd instead.

    As in skopeo, a layer the destination already has is used as it is, whatever
    `--dest-compress-format` asks for (so a copy within one registry recompresses nothing);
    `--dest-force-compress-format` makes every layer use that format. With
    `--dest-precompute-digests`, a docker:// destination learns the digest of a layer that
    is (re)compressed on the way by writing it to a temporary file (`--tmpdir`) first, and
    does not upload it if the registry has it.
    """
    warn_deprecated_tls_verify(flags, lambda m: log_line(f"Warning: {m}"))
    options = global_options(ctx)
    base = base_context(options)
    src_ctx = system_context(flags, "src-", base=base)
    layer_compression, compression_format, compression_level = _parse_compression(flags)
    force_format: bool = flags.get("dest-force-compress-format")
    if force_format and compression_format is None:
        # skopeo lets c/image refuse it; the same words, before anything is opened.
        raise InvalidInputError("cannot use ForceCompressionFormat with undefined default compression format")
    dest_ctx = system_context(flags, "dest-", base=base)
    dest_ctx = _with_dest_extras(dest_ctx, flags)
    encryption, encrypt_layers, decryption = _parse_crypto(flags)
    sign_identity: NamedReference | None = None
    if flags.get("sign-identity") is not None:
        sign_identity = parse_normalized_named(flags.get("sign-identity"))
        if sign_identity.is_name_only():
            raise InvalidInputError(f"Sign identity must be a fully specified reference {sign_identity}")
    parallel: int = flags.get("image-parallel-copies")
    if parallel < 0:
        raise InvalidInputError("--image-parallel-copies must not be negative")

    digestfile: Path | None = flags.get("digestfile")
    if digestfile is not None:
        check_digest_file(digestfile)

    policy = policy_context(ctx)
    src_ref = parse_image_name(source_image)
    dest_ref = parse_image_name(destination_image)
    signers = signers_from_flags(flags, sign_identity, dest_ref)
    reporter = make_reporter(flags.get("quiet"))
    copy_options = shared_copy_options(
        flags,
        source_ctx=src_ctx,
        dest_ctx=dest_ctx,
        reporter=reporter,
        signers=signers,
        sign_identity=sign_identity,
        layer_compression=layer_compression,
        compression_format=compression_format,
        zstd_chunked=flags.get("dest-compress-format") == "zstd:chunked",
        compression_level=compression_level,
        force_compression_format=force_format,
        parallel_copies=parallel or DEFAULT_PARALLEL_COPIES,
        encryption=encryption,
        encrypt_layers=encrypt_layers,
        decryption=decryption,
    )
    limit_malloc_arenas()  # before the copy's threads start
    try:
        result = with_retries(
            flags,
            lambda: copy_image(policy, dest_ref, src_ref, options=copy_options),
            log_line,
        )
    finally:
        close = getattr(reporter, "close", None)
        if callable(close):
            close()
    if digestfile is not None:
        write_digest_file(digestfile, str(result.manifest_digest))


def _with_dest_extras(dest_ctx: SystemContext, flags: FlagValues) -> SystemContext:
    return replace(
        dest_ctx,
        docker_archive_additional_tags=_parse_additional_tags(flags.get("additional-tag")),
        precompute_digests=flags.get("dest-precompute-digests"),
    )
