"""Every file a flag names may be a FIFO nobody writes, a device, or an endless pipe: skopo
never blocks forever and never reads without bound (one clean line, or success).

Also the output side: `--digestfile` pointing at devices, `/dev/stdout`, links to our
stdout; `generate-sigstore-key` and `standalone-sign -o` against planted links; stdout on a
full device.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import SkopoRunner, assert_clean_error, fatal_message
from helpers.images import build_image, write_dir
from helpers.trees import leftovers

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod and mount need root")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return write_dir(build_image(seed=616, layer_count=1, layer_size=512), tmp_path / "src")


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _cert_dir_with_fifo(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    directory.mkdir()
    _fifo(directory / "ca.crt")
    return directory


# (flag, how to make its value, the image names the copy uses)
FLAG_CASES: dict[str, tuple[list[str], Callable[[Path], Path]]] = {
    "--authfile": (["--authfile"], lambda t: _fifo(t / "auth.json")),
    "--src-authfile": (["--src-authfile"], lambda t: _fifo(t / "auth.json")),
    "--dest-authfile": (["--dest-authfile"], lambda t: _fifo(t / "auth.json")),
    "--sign-passphrase-file": (["--sign-passphrase-file"], lambda t: _fifo(t / "pass")),
    "--sign-by-sigstore-private-key": (["--sign-by-sigstore-private-key"], lambda t: _fifo(t / "key")),
    "--sign-by-sigstore": (["--sign-by-sigstore"], lambda t: _fifo(t / "params.yaml")),
    "--decryption-key": (["--decryption-key"], lambda t: _fifo(t / "key.pem")),
    "--encryption-key": (["--encryption-key"], lambda t: Path(f"jwe:{_fifo(t / 'pub.pem')}")),
    "--digestfile": (["--digestfile"], lambda t: _fifo(t / "digest")),
}
GLOBAL_CASES: dict[str, Callable[[Path], Path]] = {
    "--policy": lambda t: _fifo(t / "policy.json"),
    "--registries-conf": lambda t: _fifo(t / "registries.conf"),
}


@pytest.mark.parametrize("flag", sorted(FLAG_CASES))
def test_a_fifo_for_a_copy_flag_never_blocks(run_skopo: SkopoRunner, tmp_path: Path, src: Path, flag: str) -> None:
    names, make = FLAG_CASES[flag]
    value = make(tmp_path)
    start = time.monotonic()
    result = run_skopo("--insecure-policy", "copy", "-q", *names, value, f"dir:{src}", f"dir:{tmp_path / 'out'}",
                       timeout=60)
    assert time.monotonic() - start < 45
    if result.returncode != 0:
        assert_clean_error(result)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("flag", sorted(GLOBAL_CASES))
def test_a_fifo_for_a_global_flag_never_blocks(run_skopo: SkopoRunner, tmp_path: Path, src: Path, flag: str) -> None:
    value = GLOBAL_CASES[flag](tmp_path)
    trust = [] if flag == "--policy" else ["--insecure-policy"]
    start = time.monotonic()
    result = run_skopo(*trust, flag, value, "copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'out'}", timeout=60)
    assert time.monotonic() - start < 45
    if result.returncode != 0:
        assert_clean_error(result)


@pytest.mark.parametrize("where", ["--src-cert-dir", "certs.d"])
def test_a_fifo_ca_file_never_blocks(run_skopo: SkopoRunner, tmp_path: Path, where: str) -> None:
    host = "127.0.0.1:9"
    if where == "certs.d":
        home = tmp_path / "home"
        certs = home / ".config/containers/certs.d" / host
        certs.mkdir(parents=True)
        _fifo(certs / "ca.crt")
        args: list[str | Path] = []
        env: dict[str, str | None] = {"HOME": str(home)}
    else:
        args = ["--src-cert-dir", _cert_dir_with_fifo(tmp_path)]
        env = {}
    result = run_skopo("--insecure-policy", "copy", "-q", *args, f"docker://{host}/x:y", f"dir:{tmp_path / 'out'}",
                       env=env, timeout=60)
    assert_clean_error(result, match="ca.crt: not a regular file")


def test_endless_password_stdin_is_bounded(tmp_path: Path, run_skopo: SkopoRunner) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "toolkit", "login", "--tls-verify=false", "-u", "u",
                             "--password-stdin", "127.0.0.1:9"], env=dict(run_skopo.env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None

    def feed() -> None:
        try:
            while True:
                proc.stdin.write(b"x" * (1 << 20))  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"exceeded maximum allowed size of 65536 bytes" in err, err
    assert b"Traceback" not in err


# ---------------------------------------------------------------- endless archive pipes


def _endless_tar_writer(pipe: object) -> None:
    """A tar header announcing an 8 GiB member, then zeros until the reader goes away."""
    import tarfile

    info = tarfile.TarInfo("manifest.json")
    info.size = 8 << 30
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    try:
        pipe.write(header)  # type: ignore[attr-defined]
        zeros = bytes(1 << 20)
        while True:
            pipe.write(zeros)  # type: ignore[attr-defined]
    except (BrokenPipeError, ValueError, OSError):
        pass


@needs_root
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_an_endless_archive_pipe_keeps_free_space(run_skopo: SkopoRunner, tmp_path: Path, transport: str) -> None:
    small = tmp_path / "small-tmp"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(small)], check=False,
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        err_path = tmp_path / "stderr"
        with open(err_path, "wb") as err_file:
            proc = subprocess.Popen([sys.executable, "-m", "toolkit", "--insecure-policy", "--tmpdir", str(small),
                                     "copy", "-q", f"{transport}:/dev/stdin", f"dir:{tmp_path / 'out'}"],
                                    env=dict(run_skopo.env), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=err_file)
            # Not communicate(): it would close stdin, and the pipe must stay endless.
            writer = threading.Thread(target=_endless_tar_writer, args=(proc.stdin,), daemon=True)
            writer.start()
            proc.wait(timeout=120)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, b"", err_path.read_bytes())
        line = assert_clean_error(result, match="spooling")
        assert "exceeded maximum allowed size" in line and "margin" in line, line
        assert "decompress" not in line, line
        st = os.statvfs(small)
        assert st.f_bavail * st.f_frsize >= 16 << 20, "the spool did not keep its margin free"
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


# ---------------------------------------------------------------- outputs


def _copy_with_digestfile(run_skopo: SkopoRunner, src: Path, tmp_path: Path, target: Path | str
                          ) -> subprocess.CompletedProcess[bytes]:
    return run_skopo("--insecure-policy", "copy", "-q", "--digestfile", target, f"dir:{src}",
                     f"dir:{tmp_path / 'out'}")


def test_digestfile_dev_stdout_prints_the_digest(run_skopo: SkopoRunner, tmp_path: Path, src: Path) -> None:
    result = _copy_with_digestfile(run_skopo, src, tmp_path, "/dev/stdout")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"sha256:") and len(result.stdout) == 71, result.stdout
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)


def test_digestfile_link_to_proc_self_fd_1_prints_the_digest(run_skopo: SkopoRunner, tmp_path: Path,
                                                              src: Path) -> None:
    link = tmp_path / "digest"
    link.symlink_to("/proc/self/fd/1")
    result = _copy_with_digestfile(run_skopo, src, tmp_path, link)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"sha256:")
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


@needs_root
def test_digestfile_on_devices(run_skopo: SkopoRunner, tmp_path: Path, src: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    result = _copy_with_digestfile(run_skopo, src, tmp_path, null)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(null.lstat().st_mode), "the device was replaced"
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    result = _copy_with_digestfile(run_skopo, src, tmp_path, full)
    assert_clean_error(result, match="No space left on device")
    assert stat.S_ISCHR(full.lstat().st_mode)
    assert leftovers(tmp_path) == []


def test_digestfile_fifo_with_a_reader(run_skopo: SkopoRunner, tmp_path: Path, src: Path) -> None:
    fifo = _fifo(tmp_path / "digest")
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = _copy_with_digestfile(run_skopo, src, tmp_path, fifo)
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert got and got[0].startswith(b"sha256:")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_digestfile_planted_link_is_not_followed(run_skopo: SkopoRunner, tmp_path: Path, src: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / "digest"
    link.symlink_to(victim)
    result = _copy_with_digestfile(run_skopo, src, tmp_path, link)
    assert result.returncode == 0, result.stderr
    assert victim.read_bytes() == b"precious"
    assert link.read_bytes().startswith(b"sha256:") and not link.is_symlink()


@pytest.mark.parametrize("suffix", [".private", ".pub"])
def test_generate_sigstore_key_refuses_planted_links(run_skopo: SkopoRunner, tmp_path: Path, suffix: str) -> None:
    victim = tmp_path / "victim"
    (tmp_path / f"key{suffix}").symlink_to(victim)
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "key", "--passphrase-file", pw)
    assert_clean_error(result, match="Refusing to overwrite")
    assert not victim.exists()


def test_generate_sigstore_key_modes(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    result = run_skopo("generate-sigstore-key", "--output-prefix", tmp_path / "key", "--passphrase-file", pw)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "key.private").stat().st_mode) == 0o600


def test_stdout_on_a_full_device_is_an_ordinary_error(run_skopo: SkopoRunner, src: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "toolkit", "--insecure-policy", "inspect", f"dir:{src}"],
                              check=False, env=dict(run_skopo.env), stdout=full, stderr=subprocess.PIPE,
                              timeout=60)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, lines
    assert fatal_message(lines[0]) == "writing standard output: No space left on device", lines


@needs_root
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_an_archive_to_a_device_stays_a_device(run_skopo: SkopoRunner, tmp_path: Path, src: Path,
                                               transport: str) -> None:
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    result = run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", f"{transport}:{null}")
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(null.lstat().st_mode), "the device was replaced by a regular file"
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    assert_clean_error(run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", f"{transport}:{full}"),
                       match="No space left on device")
    assert stat.S_ISCHR(full.lstat().st_mode)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_an_archive_to_dev_stdout(run_skopo: SkopoRunner, tmp_path: Path, src: Path, transport: str) -> None:
    import io
    import tarfile

    result = run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", f"{transport}:/dev/stdout")
    assert result.returncode == 0, result.stderr
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        names = archive.getnames()
    assert ("index.json" if transport == "oci-archive" else "manifest.json") in names, names
