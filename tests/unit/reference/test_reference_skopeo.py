"""Differential test: toolkit.reference against skopeo (the interop peer) on the same inputs.

skopeo parses `docker://REF` before any network access; the proxy variables point at a
closed loopback port so a reference that parses fails at once with "pinging container
registry" and nothing leaves the machine. Known, deliberate differences are left out of
the corpus: bracketed IPv6 hosts (skopo accepts them), sha384 digests (toolkit.digest
refuses them) and the empty-domain case (`a_b.c/x`, skopo refuses it at parse time).
"""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers.peers import Skopeo
from toolkit.errors import InvalidDigestError, InvalidReferenceError
from toolkit.reference import parse_normalized_named

F64 = "f" * 64
_NO_NETWORK = {
    # A closed loopback port: a reference that parses fails at once, nothing goes out.
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": None,
    "no_proxy": None,
}

FIXED_CORPUS = [
    "",
    "busybox",
    "busybox:latest",
    "busybox@sha256:" + F64,
    "busybox:1@sha256:" + F64,
    "library/busybox",
    "docker.io/busybox",
    "index.docker.io/busybox",
    "index.docker.io/library/busybox:1",
    "localhost/x",
    "localhost:5000/x",
    "localhost:5000",
    "example.com",
    "example.com:5000",
    "example.com/x",
    "Example.com/x",
    "EXAMPLE.COM:5000/x/y:T",
    "Foo",
    "Foo/bar",
    "foo/Bar",
    "FOO:5000/bar",
    "LOCALDOMAIN/debian",
    "foo/bar:Tag",
    "foo/bar:-tag",
    "foo/bar:" + "t" * 128,
    "foo/bar:" + "t" * 129,
    "a" * 64,
    "a" * 63,
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "a" * 237,
    "a" * 238,
    "example.com/" + "a" * 243,
    "example.com/" + "a" * 244,
    "a.b/" + "c/" * 124 + "c",
    "a.b/" + "c/" * 125 + "c",
    "x@sha256:" + "f" * 63,
    "x@sha256:" + "F" * 64,
    "x@SHA256:" + F64,
    "x@md5:" + "f" * 32,
    "x@sha512:" + "f" * 128,
    "x@sha256:" + "f" * 31,
    "x@",
    "x:",
    ":x",
    "@x",
    "/x",
    "x/",
    "x//y",
    "-x",
    "x-",
    "x__y",
    "x___y",
    "x._y",
    "x..y",
    "x.y",
    "x---y",
    "foo_bar.com:8080",
    "foo/foo_bar.com:8080",
    "bad_hostname.com:8080/myapp:tag",
    "test:5000/Uppercase/lowercase:tag",
    "localhost:http/name",
    "127.0.0.1:5000/docker/docker",
    "192.168.0.1:80",
    "fc00::1:5000/debian",
    "https://github.com/docker/docker",
    "foo:tag/bar",
    "foo:a:b",
    "a:b@sha256:" + F64 + "@sha256:" + F64,
]

_ALPHABET = "abcAB019._-/:@"


def _random_corpus(count: int) -> list[str]:
    """Deterministic near-miss inputs: random strings over the grammar's characters and
    single-character mutations of valid references."""
    rng = random.Random(20240611)
    seeds = [t for t in FIXED_CORPUS if t and len(t) < 80]
    out: list[str] = []
    for i in range(count):
        if i % 2:
            out.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 16))))
        else:
            text = list(rng.choice(seeds))
            pos = rng.randrange(len(text) + 1)
            op = rng.choice("ids")
            if op == "i":
                text.insert(pos, rng.choice(_ALPHABET))
            elif op == "d" and pos < len(text):
                del text[pos]
            elif pos < len(text):
                text[pos] = rng.choice(_ALPHABET)
            out.append("".join(text))
    return out


def _known_difference(text: str) -> bool:
    first, slash, _ = text.partition("/")
    empty_domain = bool(slash) and "." in first and "_" in first and ":" not in first
    return "[" in text or "sha384:" in text or empty_domain


_MSG_RE = re.compile(r'level=fatal msg="(.*)"\s*$')


def _skopeo_verdict(skopeo: Skopeo, text: str, registries_conf: Path) -> str | None:
    """None if skopeo parsed `text`, else its parse error message."""
    proc = skopeo.run(
        "--registries-conf",
        registries_conf,
        "inspect",
        "--retry-times",
        "0",
        f"docker://{text}",
        check=False,
        env=_NO_NETWORK,
        timeout=60,
    )
    if proc.returncode == 0:
        return None
    stderr = proc.stderr.decode("utf-8", "replace")
    lines = [line for line in stderr.splitlines() if "level=fatal" in line]
    assert lines, stderr
    match = _MSG_RE.search(lines[-1])
    assert match, lines[-1]
    message = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
    prefix = f'Error parsing image name "docker://{text}": '
    assert message.startswith(prefix), message
    rest = message[len(prefix) :]
    # Raised after the reference parsed: skopeo 1.9.3's docker transport refuses tag+digest.
    if rest.startswith(("pinging container registry", "Docker references with both a tag and digest")):
        return None
    return rest


def _skopo_verdict(text: str) -> str | None:
    try:
        parse_normalized_named(text)
    except (InvalidReferenceError, InvalidDigestError) as exc:
        return str(exc)
    return None


def test_same_verdicts_as_skopeo(skopeo: Skopeo, tmp_path: Path) -> None:
    registries_conf = tmp_path / "registries.conf"
    registries_conf.write_text("")
    corpus = [t for t in dict.fromkeys(FIXED_CORPUS + _random_corpus(300)) if not _known_difference(t)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        theirs = list(pool.map(lambda t: _skopeo_verdict(skopeo, t, registries_conf), corpus))
    mismatches = []
    for text, their in zip(corpus, theirs, strict=True):
        ours = _skopo_verdict(text)
        if (ours is None) != (their is None):
            mismatches.append((text, ours, their))
        elif ours is not None and their is not None and "@" not in text and ours != their:
            # Reference errors must read the same; digest errors are toolkit.digest's own.
            mismatches.append((text, ours, their))
    assert not mismatches, "\n".join(f"{t!r}: skopo={o!r} skopeo={s!r}" for t, o, s in mismatches)
