"""`SignaturePolicyContext.explain` and `toolkit.ops.policy_check.check_policy`, on the signed
example image shipped for the demo (a sigstore signature: no gpg needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from toolkit.image import UnparsedImage
from toolkit.ops.policy_check import INSECURE_SCOPE, check_policy
from toolkit.policy import SignaturePolicyContext, parse_policy
from toolkit.transports import parse_image_name
from toolkit.types import SystemContext

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SIGNED = EXAMPLES / "image-signed"


def _policy(requirements: list[dict[str, object]]) -> bytes:
    return json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": requirements}}}).encode()


SIGSTORE = {
    "type": "sigstoreSigned",
    "keyPath": str(EXAMPLES / "demo-key.pub"),
    "signedIdentity": {"type": "exactReference", "dockerReference": "docker.io/skopo/demo:latest"},
}


def test_explain_gives_every_requirement_a_verdict() -> None:
    policy = parse_policy(_policy([SIGSTORE, {"type": "reject"}, {"type": "insecureAcceptAnything"}]), source="p")
    ref = parse_image_name(f"dir:{SIGNED}")
    with ref.new_image_source(SystemContext()) as source:
        explanation = SignaturePolicyContext(policy).explain(UnparsedImage(source))
    assert explanation.scope.description == 'transports["dir"][""]'
    assert [r.accepted for r in explanation.results] == [True, False, True]
    assert not explanation.accepted
    assert "rejected by policy" in (explanation.results[1].reason or "")


def test_check_policy_accepts_the_signed_example() -> None:
    result = check_policy(parse_policy(_policy([SIGSTORE]), source="demo"), parse_image_name(f"dir:{SIGNED}"),
                          SystemContext())
    assert result.accepted
    doc = result.to_json()
    assert doc == {
        "image": f"dir:{SIGNED}",
        "policy": "demo",
        "scope": 'transports["dir"][""]',
        "digest": "sha256:f79e3cf44074156d87743ddd348fcb4e8d37bd2777ad31b02b2f583b847ea2c8",
        "accepted": True,
        "requirements": [{"type": "sigstoreSigned", "accepted": True, "reason": None}],
    }


def test_check_policy_refuses_a_tampered_copy(tmp_path: Path) -> None:
    tampered = shutil.copytree(SIGNED, tmp_path / "tampered")
    with open(tampered / "manifest.json", "ab") as f:
        f.write(b"\n")
    result = check_policy(parse_policy(_policy([SIGSTORE]), source="demo"), parse_image_name(f"dir:{tampered}"),
                          SystemContext())
    assert not result.accepted
    assert "does not match" in (result.requirements[0].reason or "")


def test_insecure_policy_result() -> None:
    result = check_policy(None, parse_image_name(f"dir:{SIGNED}"), SystemContext())
    assert result.accepted and result.policy == result.scope == INSECURE_SCOPE
    assert [r.type for r in result.requirements] == ["insecureAcceptAnything"]
