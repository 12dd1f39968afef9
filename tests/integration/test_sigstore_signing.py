"""`copy --sign-by-sigstore-private-key` / `--sign-by-sigstore PARAMFILE` into `dir:`, verified
by a `sigstoreSigned` policy; passphrase sources (file, terminal prompt, none) and refusals
(clear message, destination untouched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, describe_result
from helpers.env import merge_env
from helpers.images import build_image, write_dir
from helpers.trees import snapshot
from helpers.tty import ANSWERED, run_on_pty
from toolkit.signature import Sigstore, parse_signature_blob, serialize_signature
from toolkit.signature.sigstore import SIGSTORE_SIGNATURE_ANNOTATION, SIGSTORE_SIGNATURE_MIME_TYPE

IDENTITY = "registry.example.com/team/app:v1"


class Env:
    def __init__(self, run: SkopoRunner, tmp: Path) -> None:
        self.run = run
        self.tmp = tmp
        self.passphrase = tmp / "passphrase"
        self.passphrase.write_text("s3cret\nignored second line\n")
        result = run("generate-sigstore-key", "--output-prefix", tmp / "key", "--passphrase-file", self.passphrase)
        assert result.returncode == 0, describe_result(result)
        self.key = tmp / "key.private"
        self.pub = tmp / "key.pub"
        self.src = write_dir(build_image(seed=31, layer_count=1, layer_size=512), tmp / "src")

    def policy(self, identity: str = IDENTITY, pub: Path | None = None) -> Path:
        path = self.tmp / "policy.json"
        path.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"dir": {"": [{
            "type": "sigstoreSigned", "keyPath": str(pub or self.pub),
            "signedIdentity": {"type": "exactReference", "dockerReference": identity}}]}}}))
        return path

    def verify(self, image: Path) -> None:
        result = self.run("--policy", self.policy(), "copy", "-q", f"dir:{image}", f"dir:{self.tmp / 'verified'}")
        assert result.returncode == 0, describe_result(result)


@pytest.fixture
def env(run_skopo: SkopoRunner, tmp_path: Path) -> Env:
    return Env(run_skopo, tmp_path)


def existing(tmp: Path) -> tuple[Path, object]:
    dest = write_dir(build_image(seed=4, layer_count=1, layer_size=64), tmp / "dest")
    return dest, snapshot(dest)


def test_sign_with_private_key_and_passphrase_file(env: Env) -> None:
    out = env.tmp / "signed"
    result = env.run("--insecure-policy", "copy", "-q", "--sign-by-sigstore-private-key", env.key,
                     "--sign-passphrase-file", env.passphrase, "--sign-identity", IDENTITY,
                     f"dir:{env.src}", f"dir:{out}")
    assert result.returncode == 0, describe_result(result)
    blob = (out / "signature-1").read_bytes()
    sig = parse_signature_blob(blob)
    assert isinstance(sig, Sigstore)
    assert sig.untrusted_mime_type == SIGSTORE_SIGNATURE_MIME_TYPE
    assert set(sig.untrusted_annotations) == {SIGSTORE_SIGNATURE_ANNOTATION}
    assert serialize_signature(sig) == blob  # the stored bytes are c/image's json.Marshal
    payload = json.loads(sig.untrusted_payload)
    assert payload["critical"]["identity"] == {"docker-reference": IDENTITY}
    env.verify(out)
    # The signature is carried by a further copy, and refused under another key.
    other = env.run("generate-sigstore-key", "--output-prefix", env.tmp / "other", "--passphrase-file", env.passphrase)
    assert other.returncode == 0
    dest, before = existing(env.tmp)
    result = env.run("--policy", env.policy(pub=env.tmp / "other.pub"), "copy", "-q", f"dir:{out}", f"dir:{dest}")
    assert_clean_error(result, match="cryptographic signature verification failed")
    assert snapshot(dest) == before


def test_sign_with_parameter_file(env: Env) -> None:
    params = env.tmp / "params.yaml"
    params.write_text(f"privateKeyFile: {env.key}\nprivateKeyPassphraseFile: {env.passphrase}\n")
    out = env.tmp / "signed"
    result = env.run("--insecure-policy", "copy", "-q", "--sign-by-sigstore", params, "--sign-identity", IDENTITY,
                     f"dir:{env.src}", f"dir:{out}")
    assert result.returncode == 0, describe_result(result)
    env.verify(out)


def test_sign_with_key_and_parameter_file_makes_two_signatures(env: Env) -> None:
    params = env.tmp / "params.yaml"
    params.write_text(f"privateKeyFile: {env.key}\nprivateKeyPassphraseFile: {env.passphrase}\n")
    out = env.tmp / "signed"
    result = env.run("--insecure-policy", "copy", "-q", "--sign-by-sigstore", params, "--sign-identity", IDENTITY,
                     "--sign-by-sigstore-private-key", env.key, "--sign-passphrase-file", env.passphrase,
                     f"dir:{env.src}", f"dir:{out}")
    assert result.returncode == 0, describe_result(result)
    assert (out / "signature-2").exists() and not (out / "signature-3").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("fulcio:\n  fulcioURL: https://fulcio.example.com\n  oidcMode: interactive\n", "fulcio .*not support"),
        ("privateKeyFile: KEY\nrekorURL: https://rekor.example.com\n", "rekorURL: .*not support"),
        ("privateKeyFile: KEY\nprivateKeyPassphrase: x\n", "privateKeyPassphrase"),
        ("privateKeyFile: KEY\n---\nprivateKeyFile: KEY\n", "unexpected trailing data"),
        ("{}\n", "no private key source"),
        ("privateKeyFile: [1]\n", "must be a string"),
    ],
    ids=["fulcio", "rekor", "unknown-field", "two-documents", "empty", "not-a-string"],
)
def test_parameter_file_refusals(env: Env, content: str, match: str) -> None:
    params = env.tmp / "params.yaml"
    params.write_text(content.replace("KEY", str(env.key)))
    dest, before = existing(env.tmp)
    result = env.run("--insecure-policy", "copy", "-q", "--sign-by-sigstore", params, "--sign-identity", IDENTITY,
                     f"dir:{env.src}", f"dir:{dest}")
    assert_clean_error(result, match=match)
    assert snapshot(dest) == before


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ((), "Cannot prompt for a passphrase for key .*key.private, standard input is not a TTY"),
        (("--sign-passphrase-file", "WRONG"), "initializing private key: .*"),
        (("--sign-passphrase-file", "MISSING"), "reading passphrase file"),
        (("--sign-passphrase-file", "RIGHT", "--sign-by", "ABCD"),
         "Only one of --sign-by and sign-by-sigstore-private-key can be used with sign-passphrase-file"),
    ],
    ids=["no-tty", "wrong-passphrase", "missing-passphrase-file", "two-signers-one-passphrase"],
)
def test_private_key_refusals(env: Env, extra: tuple[str, ...], match: str) -> None:
    wrong = env.tmp / "wrong"
    wrong.write_text("not it\n")
    names = {"WRONG": str(wrong), "MISSING": str(env.tmp / "absent"), "RIGHT": str(env.passphrase)}
    dest, before = existing(env.tmp)
    result = env.run("--insecure-policy", "copy", "-q", "--sign-by-sigstore-private-key", env.key,
                     "--sign-identity", IDENTITY, *(names.get(x, x) for x in extra), f"dir:{env.src}", f"dir:{dest}")
    assert_clean_error(result, match=match)
    assert snapshot(dest) == before


def test_dir_destination_needs_a_sign_identity(env: Env) -> None:
    dest, before = existing(env.tmp)
    result = env.run("--insecure-policy", "copy", "-q", "--sign-by-sigstore-private-key", env.key,
                     "--sign-passphrase-file", env.passphrase, f"dir:{env.src}", f"dir:{dest}")
    assert_clean_error(result, match="use --sign-identity")
    assert snapshot(dest) == before


def test_passphrase_prompt_on_a_terminal(env: Env) -> None:
    """Without --sign-passphrase-file the passphrase is asked on the terminal (skopeo's prompt)."""
    out = env.tmp / "signed"
    args = ["--insecure-policy", "copy", "-q", "--sign-by-sigstore-private-key", str(env.key),
            "--sign-identity", IDENTITY, f"dir:{env.src}", f"dir:{out}"]
    code, transcript = run_on_pty(args, [b"s3cret\n"], merge_env(env.run.env, {}), cwd=env.tmp)
    assert ANSWERED in transcript, transcript
    assert code == 0, transcript
    assert f"Passphrase for key {env.key}: ".encode() in transcript
    assert b"s3cret" not in transcript.split(b"Passphrase for key", 1)[1]  # not echoed
    env.verify(out)
