"""The trust policy gate (layer 6).

`PolicyContext` is what the copy engine asks before it reads anything but the source's
manifest and signatures, and before it touches the destination.

- `policy_context(path=None, *, insecure=False)`: the one factory of the context a copy
  asks (the CLI's `--policy`/`--insecure-policy` and the library's `toolkit.policy_context`);
- `load_policy(explicit, env=None)`: find (`--policy`, `~/.config/containers/policy.json`,
  `/etc/containers/policy.json`) and parse policy.json strictly (`toolkit.policy.model`);
- `SignaturePolicyContext(policy)`: evaluates it (`toolkit.policy.evaluate`);
- `InsecureAcceptAnything`: the `--insecure-policy` context.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from toolkit._lazy import lazy_getattr
from toolkit.errors import InvalidInputError
from toolkit.image import UnparsedImage

if TYPE_CHECKING:
    from toolkit.policy.evaluate import ScopeMatch, SignaturePolicyContext, image_name
    from toolkit.policy.model import (
        INSECURE_POLICY,
        Policy,
        PRInsecureAcceptAnything,
        PRReject,
        PRSignedBaseLayer,
        PRSignedBy,
        PRSigstoreSigned,
        Requirement,
        parse_policy,
    )

# The evaluator and the policy model (with the signature code they use) are imported on
# first use: `--insecure-policy` needs neither, and they are a tenth of start-up.
_LAZY = {
    "ScopeMatch": "evaluate",
    "SignaturePolicyContext": "evaluate",
    "image_name": "evaluate",
    "INSECURE_POLICY": "model",
    "Policy": "model",
    "PRInsecureAcceptAnything": "model",
    "PRReject": "model",
    "PRSignedBaseLayer": "model",
    "PRSignedBy": "model",
    "PRSigstoreSigned": "model",
    "Requirement": "model",
    "parse_policy": "model",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = [
    "PolicyContext",
    "InsecureAcceptAnything",
    "SignaturePolicyContext",
    "ScopeMatch",
    "Policy",
    "Requirement",
    "PRInsecureAcceptAnything",
    "PRReject",
    "PRSignedBy",
    "PRSignedBaseLayer",
    "PRSigstoreSigned",
    "INSECURE_POLICY",
    "parse_policy",
    "load_policy",
    "policy_context",
    "image_name",
]


class PolicyContext(Protocol):
    """Decides whether an image may be used."""

    def is_running_image_allowed(self, image: UnparsedImage) -> None:
        """Return if allowed; raise `PolicyRejectedError` naming every reason otherwise."""
        ...


class InsecureAcceptAnything:
    """The `--insecure-policy` context: accepts every image without looking at it."""

    def is_running_image_allowed(self, image: UnparsedImage) -> None:
        return None


def load_policy(explicit: Path | None, env: Mapping[str, str] | None = None) -> Policy:
    """Find and parse the policy (see `toolkit.config.policy_file.find_policy_file`).

    Raises `PolicyError` if no file exists (listing the paths tried), it cannot be read,
    or it is invalid (naming the file and the place).
    """
    from toolkit.config.policy_file import find_policy_file, read_policy_file
    from toolkit.policy.model import parse_policy

    path = find_policy_file(explicit, env)
    return parse_policy(read_policy_file(path), source=str(path))


def policy_context(
    path: str | os.PathLike[str] | None = None, *, insecure: bool = False, require_signed: bool = False
) -> PolicyContext:
    """The trust policy a copy asks: `InsecureAcceptAnything` with `insecure`, else the
    policy.json at `path` (None: `$HOME/.config/containers/policy.json`, else
    `/etc/containers/policy.json`), parsed strictly now, before any image is opened.

    With `require_signed` (`--require-signed`), an image is accepted only if at least one
    requirement that verifies signatures (`signedBy`, `sigstoreSigned`) accepted it, as
    c/image's `RequireSignatureVerification(true)`.

    Raises `InvalidInputError` for `insecure` together with a `path` or `require_signed`, and `PolicyError` if
    no policy file exists (listing the paths tried) or it is invalid (naming the place).
    The context holds no state between evaluations and may be shared between threads.
    """
    if insecure:
        if require_signed:
            raise InvalidInputError("--insecure-policy and --require-signed are mutually exclusive")
        if path is not None:
            raise InvalidInputError("--insecure-policy and --policy cannot be used together")
        logging.getLogger(__name__).debug("policy: none (--insecure-policy: every image is accepted)")
        return InsecureAcceptAnything()
    from toolkit.policy.evaluate import SignaturePolicyContext  # not needed when insecure

    return SignaturePolicyContext(load_policy(Path(path) if path is not None else None), require_signed=require_signed)
