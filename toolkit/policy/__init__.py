"""The trust policy gate (layer 6).

`PolicyContext` is what the copy engine asks before it reads anything but the source's
manifest and signatures, and before it touches the destination.

- `load_policy(explicit, env=None)`: find (`--policy`, `~/.config/containers/policy.json`,
  `/etc/containers/policy.json`) and parse policy.json strictly (`toolkit.policy.model`);
- `SignaturePolicyContext(policy)`: evaluates it (`toolkit.policy.evaluate`);
- `InsecureAcceptAnything`: the `--insecure-policy` context.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

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


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{submodule}"), name)


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
