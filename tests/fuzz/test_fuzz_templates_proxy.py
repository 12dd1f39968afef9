"""Fuzzing of the two interpreters of user and client input added for skopeo main parity:
Go templates (`inspect --format`) and image proxy requests.

Property: a template either renders or raises `TemplateError`/`TemplateExecError`; a proxy
request packet always gets a reply (or ends the session for Shutdown), whose JSON has the
five keys of the protocol. Any other exception would be a traceback or a dead proxy.
Budget: `SKOPO_FUZZ_EXAMPLES` (default 50), as tests/fuzz/test_fuzz_parsers.py.
"""

from __future__ import annotations

import contextlib
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.cli.gotemplate import TemplateError, TemplateExecError, render_report, render_template
from toolkit.ops.proxy import ProxyHandler
from toolkit.policy import InsecureAcceptAnything
from toolkit.types import SystemContext

EXAMPLES = int(os.environ.get("SKOPO_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 50,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_TOKENS = ["{{", "}}", "{{- ", " -}}", ".", ".A", ".L", ".M", ".M.k", "$", "$x", "$x :=", "$i, $v :=", "|", "(",
           ")", "if", "else", "end", "range", "with", "define", "template", "block", '"t"', "break", "continue",
           "nil", "true", "1", "-1", "2.5", "'a'", '"s"', "`r`", "len", "index", "slice", "printf",
           '"%v %d %s %q %x %5.2f %-3v %!"', "print", "println", "eq", "ne", "lt", "and", "or", "not", "call", "html",
           "js", "urlquery", "json", "join", "split", "pad", "truncate", "upper", " ", "\n", "x", "{{/*", "*/}}", ",",
           "=", "\\n", "\\t", "table "]
DATA = {"A": "a", "L": ["x", "y"], "M": {"k": 1, "n": None}}

templates = st.one_of(
    st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=16).map("".join),
    st.text(max_size=60),
)


@FUZZ
@given(templates)
def test_templates_render_or_fail_cleanly(text: str) -> None:
    for render in (lambda: render_template(text, DATA), lambda: render_report(text, DATA)):
        with contextlib.suppress(TemplateError, TemplateExecError):
            render()


_METHODS = ["Initialize", "OpenImageOptional", "OpenImage", "CloseImage", "GetManifest", "GetConfig", "GetFullConfig",
            "GetBlob", "GetRawBlob", "GetLayerInfo", "GetLayerInfoPiped", "FinishPipe", "Bogus", ""]
# No colon in strings: OpenImage must not reach a real transport (a registry, a file).
_SAFE_TEXT = st.text(alphabet=st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), max_size=20)
_ARGS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False),
              _SAFE_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SAFE_TEXT, inner, max_size=3),
    max_leaves=6,
)
packets = st.one_of(
    st.builds(lambda m, a: json.dumps({"method": m, "args": a}).encode(), st.sampled_from(_METHODS),
              st.lists(_ARGS, max_size=4)),
    st.builds(lambda m, a: json.dumps({"method": m, "args": a}).encode(), st.sampled_from(_METHODS), _ARGS),
    st.binary(max_size=64),
)


@FUZZ
@given(st.lists(packets, min_size=1, max_size=6))
def test_every_request_gets_a_reply(batch: list[bytes]) -> None:
    handler = ProxyHandler(system_context=SystemContext, policy_context=InsecureAcceptAnything)
    try:
        for packet in batch:
            reply, terminate = handler.process(packet)
            assert not terminate and reply is not None
            doc = json.loads(reply.encode())
            assert list(doc) == ["success", "value", "pipeid", "error_code", "error"]
            reply.close_fds()
    finally:
        handler.close()
