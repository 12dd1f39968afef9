"""What skopeo's own system tests (containers/skopeo `systemtest/`) expect of the binary, for
the behaviours skopo had wrong: files named on the command line may be devices or pipes,
`sync --dry-run` prints skopeo's from=/to= fields. (Orphan blobs after a conversion:
test_layout_orphans.py; a list without this platform: test_inspect_multiarch.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import GnupgHome, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import build_image
from helpers.registry import RegistryServer, push_image


def test_standalone_sign_and_verify_a_device(run_skopo: SkopoRunner, gnupg_home: GnupgHome, tmp_path: Path) -> None:
    # systemtest/050-signing.bats probes signing with `standalone-sign /dev/null ...`, right
    # after `gpgconf --kill gpg-agent`: signing must start the agent it needs.
    key = gnupg_home.make_key("Probe <probe@example.com>", "secret", algo="ed25519")
    env: dict[str, str | None] = {"GNUPGHOME": str(gnupg_home.path)}
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(gnupg_home.path)},
                   check=False, capture_output=True)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("secret\n")
    sig = tmp_path / "probe.sig"
    result = run_skopo("standalone-sign", "/dev/null", "example.com/probe:1", key, "-o", sig,
                       "--passphrase-file", passphrase, env=env)
    assert result.returncode == 0, describe_result(result)
    result = run_skopo("standalone-verify", "/dev/null", "example.com/probe:1", key, sig, env=env)
    assert result.returncode == 0, describe_result(result)
    assert "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" in result.stdout.decode()


def test_manifest_digest_reads_devices_and_pipes(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    image = build_image(fmt="oci", seed=3)
    result = run_skopo("manifest-digest", "/dev/null")
    assert result.stdout == skopeo.run("manifest-digest", "/dev/null").stdout
    # a pipe with a writer: the manifest arrives through it
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:
            time.sleep(0.3)
            f.write(image.manifest)

    writer = threading.Thread(target=feed)
    writer.start()
    result = run_skopo("manifest-digest", fifo)
    writer.join()
    assert result.stdout.decode().strip() == image.manifest_digest, describe_result(result)
    # a pipe nobody writes to is an error after a bounded wait, never a hang
    lonely = tmp_path / "lonely.fifo"
    os.mkfifo(lonely)
    started = time.monotonic()
    result = run_skopo("manifest-digest", lonely, timeout=60)
    assert_clean_error(result, match="nothing was written to the pipe")
    assert time.monotonic() - started < 30
    # process substitution, as a shell user writes it
    (tmp_path / "m.json").write_bytes(image.manifest)
    shell = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m toolkit manifest-digest <(cat "$0")', str(tmp_path / "m.json")],
        capture_output=True, env=dict(run_skopo.env), check=False, cwd=Path(__file__).parents[2],
    )
    assert shell.stdout.decode().strip() == image.manifest_digest, shell
    # a directory is still refused
    assert_clean_error(run_skopo("manifest-digest", tmp_path), match="is a directory")


def test_sync_dry_run_prints_skopeo_fields(run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path) -> None:
    # systemtest/040-sync.bats "sync: --dry-run"
    push_image(registry, "libpod/busybox", "latest", build_image(fmt="docker", seed=4))
    out = tmp_path / "out"
    result = run_skopo("sync", "--insecure-policy", "--dry-run", "--src", "docker", "--dest", "dir", "--scoped",
                       "--src-tls-verify=false", f"{registry.host}/libpod/busybox:latest", out)
    assert result.returncode == 0, describe_result(result)
    err = result.stderr.decode()
    assert "Would have copied image" in err
    assert (f'from="docker://{registry.host}/libpod/busybox:latest" '
            f'to="dir:{out}/{registry.host}/libpod/busybox:latest"') in err, err
    assert "Would have synced 1 images from 1 sources" in err
    assert not out.exists() or not any(out.iterdir())
