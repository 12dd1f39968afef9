"""`toolkit.policy` loads its evaluator and model only when used (`--insecure-policy` needs neither)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import toolkit.policy


def test_insecure_policy_context_does_not_load_the_evaluator() -> None:
    code = (
        "import sys, toolkit.policy, toolkit.cli.common, toolkit.ops.copy\n"
        "toolkit.policy.InsecureAcceptAnything().is_running_image_allowed(None)\n"
        "print(sorted(m for m in sys.modules if m in ('toolkit.policy.evaluate', 'toolkit.policy.model')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lazy_names_resolve_to_the_submodule_objects() -> None:
    from toolkit.policy import evaluate, model

    assert toolkit.policy.SignaturePolicyContext is evaluate.SignaturePolicyContext
    assert toolkit.policy.parse_policy is model.parse_policy
    for name in toolkit.policy.__all__:
        assert getattr(toolkit.policy, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        toolkit.policy.nothing_here  # noqa: B018


def test_a_policy_without_signed_by_does_not_load_gpg() -> None:
    """An evaluated policy (insecureAcceptAnything, reject) needs no GPG code: python-gnupg and
    the simple-signing verifier load only when a `signedBy` requirement is evaluated."""
    code = (
        "import sys, toolkit.policy\n"
        "from toolkit.policy import SignaturePolicyContext, parse_policy\n"
        "policy = parse_policy(b'{\"default\": [{\"type\": \"insecureAcceptAnything\"}]}')\n"
        "SignaturePolicyContext(policy)\n"
        "print(sorted(m for m in sys.modules if m in ('gnupg', 'toolkit.signature.gpg', 'toolkit.signature.simple')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
