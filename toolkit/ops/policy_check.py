"""`policy check`: evaluate the trust policy for an image without copying it.

`check_policy(policy, ref, ctx)` (`policy`: a `Policy`, or a context from
`toolkit.policy.policy_context`) opens the image, reads only its top-level manifest and
its signatures (no config, no layers), and evaluates every requirement of the policy
scope that applies to it, exactly as `copy` does before it reads anything else. Unlike
`copy` it does not stop at the first refusal: each requirement gets its own verdict.

- `policy=None` (or `InsecureAcceptAnything`) stands for `--insecure-policy`: one
  `insecureAcceptAnything` verdict. Any other `PolicyContext` cannot explain itself:
  `InvalidInputError`.
- A multi-architecture image is evaluated at the list level (the list's manifest and
  signatures), which is what every `copy` of it checks first.
- A missing image raises `ImageNotFoundError` (exit 2); a rejection is not an error: the
  result says `accepted=False`.

`PolicyCheckResult.to_json()` is the stable, documented `--format json` schema (fields are only ever added):

    {"image": "TRANSPORT:REFERENCE", "policy": "PATH" | "--insecure-policy",
     "scope": "transports[\\"dir\\"][\\"\\"]" | "default" | "--insecure-policy",
     "digest": "sha256:...", "accepted": true | false,
     "requirements": [{"type": "signedBy", "accepted": true, "reason": null}, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.digest import Digest
from toolkit.errors import InvalidInputError
from toolkit.image import UnparsedImage
from toolkit.policy import InsecureAcceptAnything, PolicyContext
from toolkit.policy.evaluate import SignaturePolicyContext, image_name, verifies_signatures
from toolkit.policy.model import Policy
from toolkit.transports.base import ImageReference
from toolkit.types import SystemContext

__all__ = ["INSECURE_SCOPE", "RequirementVerdict", "PolicyCheckResult", "check_policy"]

#: `policy` and `scope` of a result computed under `--insecure-policy`.
INSECURE_SCOPE = "--insecure-policy"


@dataclass(frozen=True, slots=True)
class RequirementVerdict:
    """One requirement: its policy.json `type`, and None or the reason it refused the image."""

    type: str
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class PolicyCheckResult:
    """The verdict for one image."""

    image: str
    policy: str
    scope: str
    digest: Digest
    requirements: tuple[RequirementVerdict, ...]

    @property
    def accepted(self) -> bool:
        return all(r.accepted for r in self.requirements)

    def to_json(self) -> dict[str, Any]:
        """The `--format json` document (see the module docstring)."""
        return {
            "image": self.image,
            "policy": self.policy,
            "scope": self.scope,
            "digest": str(self.digest),
            "accepted": self.accepted,
            "requirements": [
                {"type": r.type, "accepted": r.accepted, "reason": r.reason} for r in self.requirements
            ],
        }


def check_policy(
    policy: Policy | PolicyContext | None, ref: ImageReference, ctx: SystemContext
) -> PolicyCheckResult:
    """Evaluate `policy` (None: `--insecure-policy`) for the image at `ref`."""
    require_signed = False
    if isinstance(policy, SignaturePolicyContext):
        require_signed = policy.require_signed
        policy = policy.policy
    elif isinstance(policy, InsecureAcceptAnything):
        policy = None
    elif policy is not None and not isinstance(policy, Policy):
        raise InvalidInputError(
            f"cannot explain a {type(policy).__name__}: use a policy from policy_context() or a Policy"
        )
    with ref.new_image_source(ctx) as source:
        image = UnparsedImage(source)
        digest = image.manifest_digest()  # reads (and, for a digested reference, checks) the manifest
        if policy is None:
            return PolicyCheckResult(
                image=image_name(ref),
                policy=INSECURE_SCOPE,
                scope=INSECURE_SCOPE,
                digest=digest,
                requirements=(RequirementVerdict("insecureAcceptAnything", None),),
            )
        explanation = SignaturePolicyContext(policy).explain(image)
        verdicts = [RequirementVerdict(r.requirement.type_name, r.reason) for r in explanation.results]
        if require_signed and not any(verifies_signatures(r.requirement) for r in explanation.results):
            # --require-signed: as one more requirement, so that `accepted` is false.
            verdicts.append(RequirementVerdict(
                "--require-signed", f"No signature verification policy found for image {image_name(ref)}"
            ))
        return PolicyCheckResult(
            image=image_name(ref),
            policy=policy.source,
            scope=explanation.scope.description,
            digest=digest,
            requirements=tuple(verdicts),
        )
