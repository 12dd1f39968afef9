"""skopo: copy, inspect, sign and verify container images without a container engine.

The names listed in `toolkit.__all__` (below) are skopo's stable Python API: they keep
their meaning and signatures across releases (new keyword arguments may be added).
Everything else (`toolkit.ops`, `toolkit.transports.docker`, modules and names starting
with `_`, ...) is internal and may change without notice.

A copy, as `skopo --insecure-policy copy oci:examples/image:demo dir:demo-copy`, run from
a checkout of skopo:

```python
import toolkit

result = toolkit.copy("oci:examples/image:demo", "dir:demo-copy", policy=toolkit.policy_context(insecure=True))
print(result.manifest_digest)
print(toolkit.inspect("dir:demo-copy").to_json())
```

Verbs (images are `"transport:details"` strings, as the `skopo` command takes them, or
references from `parse_image_name`; options are keyword-only):

- `copy(src, dest, *, policy=None, options=None, progress=None) -> CopyResult`
- `inspect(image, *, ctx=None, no_tags=False) -> InspectInfo` (`.to_json()`: skopeo's JSON)
- `check_policy(image, *, policy=None, ctx=None) -> PolicyCheckResult`
- `manifest_digest(manifest_bytes) -> Digest`
- `list_tags(repository, *, ctx=None) -> list[str]`, `delete(image, *, ctx=None)`
- `sign(manifest, docker_reference, key, *, passphrase=None) -> bytes` and
  `verify(manifest, docker_reference, signature, *, fingerprints, public_keys=None)`:
  standalone (GPG simple-signing) signatures
- `sync(source, destination, *, source_kind, dest_kind, ...) -> SyncResult`
- `policy_context(path=None, *, insecure=False)`: the trust policy every copy asks
  (None: the policy.json skopo finds; with no policy file a copy is refused)
- `parse_image_name(name) -> ImageReference`

Options and results: `SystemContext` (TLS, credentials, `override_*`, config paths),
`CopyOptions`, `CopyResult`, `MultiArch`, `OptionalBool`, `Credentials`, `InspectInfo`,
`PolicyCheckResult`, `SyncResult`, `ProgressEvent` (what a `progress` callback gets;
it is called from the copying threads). Errors: `ToolkitError` and its subclasses
(`ImageNotFoundError`, `PolicyRejectedError`, `SignatureError`, ...); a failed or refused
copy leaves its destination as it was. Every verb may be called from any thread.

For plugins (see the README's "Plugins"): `global_options(typer_context)` gives a plugin
command the global flags (`.system_context()`, `.policy_context()`); `get_transport`,
`Transport`, `ImageReference`, `ImageSource`, `BlobStream`, `BlobInfo`, `Digest` and
`NamedReference` are what a plugin transport implements or builds on.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from toolkit.api import (
        ImageName,
        check_policy,
        copy,
        delete,
        inspect,
        list_tags,
        manifest_digest,
        sign,
        sync,
        verify,
    )
    from toolkit.cli.context import GlobalOptions, global_options
    from toolkit.digest import Digest
    from toolkit.errors import (
        AmbiguousManifestError,
        ArchiveError,
        ConfigError,
        DestinationError,
        DigestMismatchError,
        ImageNotFoundError,
        InvalidDigestError,
        InvalidImageNameError,
        InvalidInputError,
        InvalidReferenceError,
        InvalidSignatureError,
        ManifestError,
        ManifestTypeRejectedError,
        NonImageArtifactError,
        NotSupportedError,
        PolicyError,
        PolicyRejectedError,
        RegistryError,
        RetryableError,
        SignatureError,
        SizeLimitError,
        SizeMismatchError,
        ToolkitError,
    )
    from toolkit.ops.copy import CopyCancelledError, CopyOptions, CopyResult, MultiArch
    from toolkit.ops.inspect import InspectInfo, InspectLayer, NoMatchingInstanceError
    from toolkit.ops.policy_check import PolicyCheckResult, RequirementVerdict
    from toolkit.ops.report import ProgressEvent
    from toolkit.ops.sync import DestinationKind, ItemResult, ItemStatus, SourceKind, SyncFailedError, SyncResult
    from toolkit.policy import PolicyContext, policy_context
    from toolkit.reference import NamedReference
    from toolkit.signature.simple import VerifiedSignature
    from toolkit.transports import get_transport, parse_image_name
    from toolkit.transports.base import BlobStream, ImageReference, ImageSource, Transport
    from toolkit.types import BlobInfo, Credentials, OptionalBool, SystemContext

# The marker `toolkit._marker.check()` looks for: another distribution's
# `toolkit/__init__.py` written over this one lacks it (see `toolkit/_marker.py`).
__skopo__ = "skopo"

# Public name -> the module that defines it. Nothing is imported until a name is used, so
# `import toolkit` (which every `toolkit.*` import runs) costs nothing at start-up.
_LAZY: dict[str, str] = {
    "copy": "toolkit.api",
    "inspect": "toolkit.api",
    "check_policy": "toolkit.api",
    "manifest_digest": "toolkit.api",
    "list_tags": "toolkit.api",
    "delete": "toolkit.api",
    "sign": "toolkit.api",
    "verify": "toolkit.api",
    "sync": "toolkit.api",
    "ImageName": "toolkit.api",
    "policy_context": "toolkit.policy",
    "PolicyContext": "toolkit.policy",
    "parse_image_name": "toolkit.transports",
    "get_transport": "toolkit.transports",
    "SystemContext": "toolkit.types",
    "OptionalBool": "toolkit.types",
    "Credentials": "toolkit.types",
    "BlobInfo": "toolkit.types",
    "CopyOptions": "toolkit.ops.copy",
    "CopyResult": "toolkit.ops.copy",
    "MultiArch": "toolkit.ops.copy",
    "CopyCancelledError": "toolkit.ops.copy",
    "InspectInfo": "toolkit.ops.inspect",
    "InspectLayer": "toolkit.ops.inspect",
    "NoMatchingInstanceError": "toolkit.ops.inspect",
    "PolicyCheckResult": "toolkit.ops.policy_check",
    "RequirementVerdict": "toolkit.ops.policy_check",
    "ProgressEvent": "toolkit.ops.report",
    "SyncResult": "toolkit.ops.sync",
    "ItemResult": "toolkit.ops.sync",
    "ItemStatus": "toolkit.ops.sync",
    "SourceKind": "toolkit.ops.sync",
    "DestinationKind": "toolkit.ops.sync",
    "SyncFailedError": "toolkit.ops.sync",
    "VerifiedSignature": "toolkit.signature.simple",
    "Digest": "toolkit.digest",
    "NamedReference": "toolkit.reference",
    "Transport": "toolkit.transports.base",
    "ImageReference": "toolkit.transports.base",
    "ImageSource": "toolkit.transports.base",
    "BlobStream": "toolkit.transports.base",
    "global_options": "toolkit.cli.context",
    "GlobalOptions": "toolkit.cli.context",
    "ToolkitError": "toolkit.errors",
    "InvalidInputError": "toolkit.errors",
    "InvalidReferenceError": "toolkit.errors",
    "InvalidImageNameError": "toolkit.errors",
    "InvalidDigestError": "toolkit.errors",
    "DigestMismatchError": "toolkit.errors",
    "SizeMismatchError": "toolkit.errors",
    "SizeLimitError": "toolkit.errors",
    "ManifestError": "toolkit.errors",
    "AmbiguousManifestError": "toolkit.errors",
    "NonImageArtifactError": "toolkit.errors",
    "ImageNotFoundError": "toolkit.errors",
    "NotSupportedError": "toolkit.errors",
    "ConfigError": "toolkit.errors",
    "PolicyError": "toolkit.errors",
    "PolicyRejectedError": "toolkit.errors",
    "SignatureError": "toolkit.errors",
    "InvalidSignatureError": "toolkit.errors",
    "ArchiveError": "toolkit.errors",
    "DestinationError": "toolkit.errors",
    "RegistryError": "toolkit.errors",
    "RetryableError": "toolkit.errors",
    "ManifestTypeRejectedError": "toolkit.errors",
}

__all__ = [
    "__version__", "copy", "inspect", "check_policy", "manifest_digest", "list_tags", "delete", "sign",
    "verify", "sync", "ImageName", "policy_context", "PolicyContext", "parse_image_name", "get_transport",
    "SystemContext", "OptionalBool", "Credentials", "BlobInfo", "CopyOptions", "CopyResult", "MultiArch",
    "CopyCancelledError", "InspectInfo", "InspectLayer", "NoMatchingInstanceError", "PolicyCheckResult",
    "RequirementVerdict", "ProgressEvent", "SyncResult", "ItemResult", "ItemStatus", "SourceKind",
    "DestinationKind", "SyncFailedError", "VerifiedSignature", "Digest", "NamedReference", "Transport",
    "ImageReference", "ImageSource", "BlobStream", "global_options", "GlobalOptions", "ToolkitError",
    "InvalidInputError", "InvalidReferenceError", "InvalidImageNameError", "InvalidDigestError",
    "DigestMismatchError", "SizeMismatchError", "SizeLimitError", "ManifestError", "AmbiguousManifestError",
    "NonImageArtifactError", "ImageNotFoundError", "NotSupportedError", "ConfigError", "PolicyError",
    "PolicyRejectedError", "SignatureError", "InvalidSignatureError", "ArchiveError", "DestinationError",
    "RegistryError", "RetryableError", "ManifestTypeRejectedError",
]


def __getattr__(name: str) -> Any:
    # __version__: a constant in toolkit/_version.py, not a lookup in the installed metadata.
    module = "toolkit._version" if name == "__version__" else _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
