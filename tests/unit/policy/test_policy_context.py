"""`toolkit.policy.policy_context`: the one factory of trust policies (CLI and library)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.errors import InvalidInputError, PolicyError
from toolkit.ops.policy_check import INSECURE_SCOPE, check_policy
from toolkit.policy import InsecureAcceptAnything, SignaturePolicyContext, policy_context
from toolkit.transports import parse_image_name
from toolkit.types import SystemContext

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_insecure_accepts_anything_and_refuses_a_path_too(tmp_path: Path) -> None:
    assert isinstance(policy_context(insecure=True), InsecureAcceptAnything)
    with pytest.raises(InvalidInputError, match="cannot be used together"):
        policy_context(tmp_path / "policy.json", insecure=True)


def test_explicit_path_is_parsed_now(tmp_path: Path) -> None:
    context = policy_context(EXAMPLES / "demo-policy.json")
    assert isinstance(context, SignaturePolicyContext)
    assert context.policy.source == str(EXAMPLES / "demo-policy.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"default": [{"type": "insecureAcceptAnything"}], "extra": 1}')
    with pytest.raises(PolicyError, match="bad.json"):
        policy_context(str(bad))


def test_default_search_uses_home_then_the_system_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SKOPO_SYSTEM_POLICY_PATH", str(tmp_path / "none.json"))
    with pytest.raises(PolicyError, match="no policy.json file found"):
        policy_context()
    user = tmp_path / ".config/containers/policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": [{"type": "reject"}]}))
    context = policy_context()
    assert isinstance(context, SignaturePolicyContext)
    assert context.policy.source == str(user)


def test_check_policy_takes_the_contexts_it_makes() -> None:
    ref = parse_image_name(f"dir:{EXAMPLES / 'image-signed'}")
    insecure = check_policy(policy_context(insecure=True), ref, SystemContext())
    assert (insecure.scope, insecure.accepted) == (INSECURE_SCOPE, True)
    demo = check_policy(policy_context(EXAMPLES / "demo-policy.json"), ref, SystemContext())
    assert demo.accepted and demo.policy == str(EXAMPLES / "demo-policy.json")

    class Custom:
        def is_running_image_allowed(self, image: object) -> None:
            return None

    with pytest.raises(InvalidInputError, match="cannot explain a Custom"):
        check_policy(Custom(), ref, SystemContext())  # type: ignore[arg-type]
