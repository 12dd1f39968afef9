"""When the network or the registry misbehaves, skopo says what and what to do, fast.

Real servers on loopback: the Debian registry over plain HTTP asked for HTTPS, a TLS
registry whose CA skopo does not know, a closed port, a listener that accepts and never
answers, an htpasswd registry. Each failure is one line on stderr (checked exactly), a
non-zero exit, and comes quickly (generous bounds; the measured figures are in bench/).
skopeo 1.9.3 is run beside skopo where it has the same behaviour.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolkit
from helpers import RegistryFactory, RegistryServer, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.fault_proxy import FaultProxy, Forward, ProxyRequest, Reply
from helpers.images import build_image, build_multiarch, write_dir, write_oci_layout
from helpers.registry import push_image
from toolkit.config.paths import auth_file_search

pytestmark = pytest.mark.peer

HTTP_HINT = (
    "http: server gave HTTP response to HTTPS client "
    "(use --tls-verify=false, or mark the registry insecure in registries.conf)"
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """`127.0.0.1:PORT` of a socket that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        server.close()


def _timed(run_skopo: SkopoRunner, *args: str, **kw: object) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    result = run_skopo(*args, **kw)  # type: ignore[arg-type]
    return result, time.monotonic() - started


def _startup(run_skopo: SkopoRunner) -> float:
    """How long a skopo command that fails before any network access takes here."""
    result, elapsed = _timed(run_skopo, "inspect", "dir:/nonexistent/image")
    assert result.returncode != 0
    return elapsed


def _says(result: subprocess.CompletedProcess[bytes], message: str, *, start: bool = False,
          retries: bool = False) -> str:
    """`assert_clean_error` (exit 1) with the message exactly `message` (or starting with it),
    whichever form the CLI prints the fatal line in (`Error: MESSAGE` or logrus's `msg=`)."""
    tail = "" if start else "$"
    return assert_clean_error(result, 1, match=rf"^(?:Error: )?{re.escape(message)}{tail}", retries=retries)


# ------------------------------------------------------------------ plain HTTP, TLS


def test_plain_registry_asked_for_https_says_so_with_the_fix(
    registry: RegistryServer, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    result, elapsed = _timed(run_skopo, "inspect", f"docker://{registry.host}/nothing:here")
    _says(result, HTTP_HINT)
    assert elapsed < 10
    peer = skopeo.run("inspect", "--retry-times", "0", f"docker://{registry.host}/nothing:here", check=False)
    assert peer.returncode != 0 and b"server gave HTTP response to HTTPS client" in peer.stderr


def test_tls_verify_false_against_https_prints_no_library_warning(
    registry_factory: RegistryFactory, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    server = registry_factory(tls=True)
    src = write_dir(build_image(layer_count=1, layer_size=1000, seed=3), tmp_path / "src")
    pushed = run_skopo("--insecure-policy", "copy", "-q", "--dest-cert-dir", str(server.cert_dir), f"dir:{src}",
                       f"docker://{server.host}/quiet/img:v1")
    assert pushed.returncode == 0, describe_result(pushed)
    for extra in ((), ("-q",)):
        result = run_skopo("--insecure-policy", "copy", *extra, "--src-tls-verify=false",
                           f"docker://{server.host}/quiet/img:v1", f"dir:{tmp_path / ('out' + str(len(extra)))}")
        assert result.returncode == 0, describe_result(result)
        assert b"Warning" not in result.stderr and b"InsecureRequest" not in result.stderr, describe_result(result)
    inspected = run_skopo("inspect", "--tls-verify=false", f"docker://{server.host}/quiet/img:v1")
    assert inspected.returncode == 0 and inspected.stderr == b"", describe_result(inspected)


def test_unknown_ca_names_the_host_and_the_three_fixes(
    registry_factory: RegistryFactory, run_skopo: SkopoRunner, skopeo: Skopeo
) -> None:
    server = registry_factory(tls=True)
    ref = f"docker://{server.host}/nothing:here"
    result, elapsed = _timed(run_skopo, "inspect", ref)
    _says(
        result,
        f"x509: certificate signed by unknown authority for {server.host} "
        f"(add its CA to /etc/containers/certs.d/{server.host}/ or pass --cert-dir; "
        "--tls-verify=false skips verification)"
    )
    assert elapsed < 10
    peer = skopeo.run("inspect", "--retry-times", "0", ref, check=False)
    assert peer.returncode != 0 and b"x509: certificate signed by unknown authority" in peer.stderr
    # The fix the message names works.
    fixed = run_skopo("inspect", "--cert-dir", str(server.cert_dir), ref)
    assert b"x509" not in fixed.stderr and b"manifest unknown" in fixed.stderr, describe_result(fixed)


# ------------------------------------------------------------------ closed port, DNS


@pytest.mark.parametrize("extra", [(), ("--tls-verify=false",), ("--retry-times", "2")])
def test_closed_port_fails_at_once_without_retrying(run_skopo: SkopoRunner, extra: tuple[str, ...]) -> None:
    port = _closed_port()
    startup = _startup(run_skopo)
    result, elapsed = _timed(run_skopo, "inspect", *extra, f"docker://127.0.0.1:{port}/a/b:c")
    _says(result, f"connection refused: 127.0.0.1:{port}")
    # Measured: within a few hundredths of a second of start-up; the bound is generous.
    assert elapsed < startup + 1.0, (elapsed, startup)


def test_closed_port_as_skopeo(run_skopo: SkopoRunner, skopeo: Skopeo) -> None:
    port = _closed_port()
    peer = skopeo.run("inspect", "--retry-times", "0", f"docker://127.0.0.1:{port}/a/b:c", check=False)
    assert peer.returncode == 1 and b"connection refused" in peer.stderr
    result = run_skopo("inspect", f"docker://127.0.0.1:{port}/a/b:c")
    assert result.returncode == peer.returncode


def test_unknown_host(run_skopo: SkopoRunner) -> None:
    result = run_skopo("inspect", "docker://no-such-registry.invalid/a/b:c")
    _says(result, "no such host: no-such-registry.invalid")


# ------------------------------------------------------------------ deadlines


@pytest.mark.parametrize("extra", [("--tls-verify=false",), ()])
def test_command_timeout_holds_against_a_listener_that_never_answers(
    run_skopo: SkopoRunner, silent_listener: str, extra: tuple[str, ...]
) -> None:
    result, elapsed = _timed(
        run_skopo, "--command-timeout", "2s", "inspect", *extra, f"docker://{silent_listener}/a/b:c", timeout=60
    )
    _says(result, f"timed out after 2s waiting for {silent_listener}")
    assert 1.9 < elapsed < 8, elapsed


def test_command_timeout_covers_retries_and_their_sleeps(
    registry_server: RegistryServer, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    """A registry that answers 503 forever: the retries stop at the deadline, each announced."""
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: Reply(503, body=b"busy")
        result, elapsed = _timed(
            run_skopo, "--command-timeout", "3s", "--insecure-policy", "copy", "--retry-times", "5",
            "--src-tls-verify=false", f"docker://{proxy.host}/a/b:c", f"dir:{tmp_path / 'out'}", timeout=60,
        )
    _says(result, f"timed out after 3s waiting for {proxy.host}", retries=True)
    assert 2.9 < elapsed < 10, elapsed
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ credentials


def test_unauthorized_says_which_credentials_were_tried(
    registry_factory: RegistryFactory, run_skopo: SkopoRunner
) -> None:
    user, password = "alice", "s3cret-Pw-42"
    server = registry_factory(htpasswd=(user, password))
    ref = f"docker://{server.host}/priv/img:v1"
    anonymous = run_skopo("inspect", "--tls-verify=false", ref)
    files = ", ".join(str(path) for path, _ in auth_file_search(None, run_skopo.env))
    _says(anonymous, (
        f"reading manifest v1 in {server.host}/priv/img: unauthorized: authentication required "
        f"(no credentials found for {server.host} in auth files {files})"
    ))
    wrong = run_skopo("inspect", "--tls-verify=false", "--creds", f"{user}:not-{password}", ref)
    _says(wrong, (
        f"reading manifest v1 in {server.host}/priv/img: unauthorized: authentication required "
        "(credentials from --creds were refused)"
    ))
    assert password.encode() not in wrong.stderr
    authfile = run_skopo.home / "auth.json"
    token = base64.b64encode(f"{user}:bad-{password}".encode()).decode()
    authfile.write_text(json.dumps({"auths": {server.host: {"auth": token}}}))
    stored = run_skopo("inspect", "--tls-verify=false", "--authfile", str(authfile), ref)
    assert assert_clean_error(stored, 1).endswith(f"(credentials from auth file {authfile} were refused)")


# ------------------------------------------------------------------ --debug


def test_debug_of_an_authenticated_copy_explains_every_step_and_hides_every_secret(
    registry_factory: RegistryFactory, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    user, password = "bob", "Very-Secret-Pw-77"
    server = registry_factory(tls=True, htpasswd=(user, password))
    index = build_multiarch(fmt="oci", layer_size=2000)
    source = tmp_path / "index"
    write_oci_layout(index, source, "v1")
    authfile = tmp_path / "auth.json"
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    authfile.write_text(json.dumps({"auths": {server.host: {"auth": basic}}}))
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    regconf = tmp_path / "registries.conf"
    regconf.write_text("")
    registries_d = tmp_path / "rd"
    registries_d.mkdir()
    lookaside = tmp_path / "sigs"
    (registries_d / "default.yaml").write_text(f"default-docker:\n  lookaside: file://{lookaside}\n")
    push = run_skopo(
        "--debug", "--policy", str(policy), "--registries-conf", str(regconf), "--registries.d", str(registries_d),
        "copy", "--dest-authfile", str(authfile), "--dest-cert-dir", str(server.cert_dir),
        "--multi-arch", "system", "--override-arch", "arm64",
        f"oci:{source}:v1", f"docker://{server.host}/dbg/img:v1",
    )
    assert push.returncode == 0, describe_result(push)
    err = push.stderr.decode()
    debug = [line for line in err.splitlines() if line.startswith("debug: ")]
    expected = {
        "policy file": f"debug: policy: using {policy} (--policy)",
        "registries.conf": f"debug: registries.conf: loaded {regconf} (0 registries)",
        "auth file": f"debug: auth file {authfile}: credentials for {server.host}/dbg/img found (user 'bob')",
        "certs": f"debug: TLS for {server.host}: certificates verified, certs dir {server.cert_dir} (1 CA, ",
        "instance": "debug: image index: chose instance ",
    }
    for what, prefix in expected.items():
        assert any(line.startswith(prefix) for line in debug), f"no {what} line\n{err}"
    requests = [line for line in debug if " -> " in line and "https://" in line]
    base = f"debug: PUT https://{server.host}/v2/dbg/img"
    assert any(line.startswith(f"{base}/manifests/v1 -> 201 (") for line in requests), err
    assert any(line.startswith(f"debug: GET https://{server.host}/v2/ -> 401 (") and " ms)" in line
               for line in requests), err
    uploads = [line for line in requests if "/blobs/uploads/" in line and "?" in line]
    assert uploads and all("_state=REDACTED" in line for line in uploads if "_state" in line), err
    for secret in (password, basic, base64.b64encode(password.encode()).decode()):
        assert secret not in err, f"secret {secret!r} in --debug output"
    assert "Authorization" not in err and "Traceback" not in err
    # Reading it back with --insecure-policy: said too, and still no secret.
    again = run_skopo("--debug", "--insecure-policy", "--registries.d", str(registries_d), "copy",
                      "--src-authfile", str(authfile), "--src-cert-dir", str(server.cert_dir),
                      f"docker://{server.host}/dbg/img:v1", f"dir:{tmp_path / 'back'}")
    assert again.returncode == 0, describe_result(again)
    back = again.stderr.decode()
    assert "debug: policy: none (--insecure-policy: every image is accepted)" in back
    assert f"debug: registries.d: reading {registries_d} (default.yaml)" in back, back
    assert (f"debug: registries.d: lookaside for {server.host}/dbg/img:v1: file://{lookaside} (default-docker, "
            f"from {registries_d})") in back, back
    assert password not in again.stderr.decode() and basic not in again.stderr.decode()


def test_retries_are_announced_as_skopeo_does(
    registry_server: RegistryServer, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    push_image(registry_server, "retry/img", "v1", build_image(layer_count=1, layer_size=1000, seed=5))
    with FaultProxy(registry_server.url) as proxy:
        seen: list[int] = []

        def rule(r: ProxyRequest) -> Reply | None:
            if "/manifests/" in r.path and not seen:
                seen.append(1)
                return Reply(503, body=b"busy")
            return None

        proxy.rule = rule
        result = run_skopo("--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                           f"docker://{proxy.host}/retry/img:v1", f"dir:{tmp_path / 'out'}")
    assert result.returncode == 0, describe_result(result)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(rf"Failed, retrying in 0\.[56]s \.\.\. \(1/2\)\. Error: GET http://{proxy.host}/v2/retry/img/"
                        r"manifests/v1: HTTP 503", lines[0]), lines


# ------------------------------------------------------------------ skopeo's small promises


def test_bare_command_is_a_usage_error_as_in_skopeo(run_skopo: SkopoRunner, skopeo: Skopeo) -> None:
    result = run_skopo()
    _says(result, "Missing command 'skopo COMMAND'", start=True)
    peer = subprocess.run([skopeo.binary], capture_output=True, check=False, timeout=60)
    assert peer.returncode == 1 and b"Missing command" in peer.stderr
    assert b"Usage" not in result.stdout


def test_missing_registries_conf_is_an_error_as_in_skopeo(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"
    result = run_skopo("--registries-conf", str(missing), "inspect", "docker://127.0.0.1:1/a/b:c")
    _says(result, (
        f'loading registries configuration "{missing}": open {missing}: no such file or directory'
    ))
    peer = subprocess.run(["/usr/bin/skopeo", "--registries-conf", str(missing), "inspect",
                           "docker://127.0.0.1:1/a/b:c"], capture_output=True, check=False, timeout=60)
    assert peer.returncode == 1 and b"no such file or directory" in peer.stderr


@pytest.mark.parametrize("prefix", ["", "acme-ci/2"])
def test_user_agent_is_skopo_and_version(
    registry_server: RegistryServer, run_skopo: SkopoRunner, prefix: str
) -> None:
    with FaultProxy(registry_server.url) as proxy:
        args = ("--user-agent-prefix", prefix) if prefix else ()
        run_skopo(*args, "inspect", "--tls-verify=false", f"docker://{proxy.host}/no/img:v1")
        agents = {r.headers.get("User-Agent") for r in proxy.requests}
    wanted = f"skopo/{toolkit.__version__}"
    assert agents == {f"{prefix} {wanted}" if prefix else wanted}


def test_unknown_transport_lists_the_known_ones(run_skopo: SkopoRunner) -> None:
    line = _says(
        run_skopo("inspect", "dockr://busybox"),
        'Invalid image name "dockr://busybox", unknown transport "dockr" (did you mean "docker"? ',
        start=True,
    )
    assert "known transports: " in line and "oci-archive" in line


def test_docker_archive_to_a_terminal_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    from helpers.tty import run_on_pty

    image = build_image(layer_count=1, layer_size=500, seed=9)
    write_dir(image, tmp_path / "img")
    status, screen = run_on_pty(
        ["--insecure-policy", "copy", f"dir:{tmp_path / 'img'}", "docker-archive:-"], [], run_skopo.env, timeout=60
    )
    assert status == 1
    assert b"Error: refusing to write an archive to a terminal; redirect stdout" in screen
    assert b"ustar" not in screen


def test_command_timeout_holds_against_a_trickling_blob(
    registry_server: RegistryServer, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    image = build_image(layer_count=1, layer_size=300_000, seed=21, compression="none")
    push_image(registry_server, "trickle/img", "v1", image)
    layer = image.layers[0].digest
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: Forward(trickle=0.01) if layer in r.path and r.method == "GET" else None
        result, elapsed = _timed(
            run_skopo, "--command-timeout", "3s", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
            f"docker://{proxy.host}/trickle/img:v1", f"dir:{tmp_path / 'out'}", timeout=60,
        )
    _says(result, "timed out after 3s", start=True)
    assert 2.9 < elapsed < 10, elapsed
    assert not (tmp_path / "out").exists()


def test_tls_verify_false_reports_the_attempt_that_got_furthest(
    registry_server: RegistryServer, run_skopo: SkopoRunner
) -> None:
    """HTTPS fails at the handshake (the server speaks HTTP); HTTP gets an answer, a 500: the
    500 is what the user needs to hear, not the handshake they asked to skip."""
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: Reply(500, body=b"oops") if r.path == "/v2/" else None
        result = run_skopo("inspect", "--tls-verify=false", f"docker://{proxy.host}/a/b:c")
    _says(result, (
        f"pinging container registry {proxy.host}: invalid status code from registry 500 (Internal Server Error)"
    ))


def test_debug_says_which_mirror_was_tried_and_why_it_was_left(
    registry_server: RegistryServer, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    """registries.conf with a mirror that is down: --debug names the file, the rewrite, the
    mirror's failure; the pull falls back to the primary at once (refused is not retried)."""
    push_image(registry_server, "mir/img", "v1", build_image(layer_count=1, layer_size=500, seed=31))
    port = _closed_port()
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nprefix = "{registry_server.host}/mir"\nlocation = "{registry_server.host}/mir"\n'
        f"insecure = true\n[[registry.mirror]]\nlocation = \"127.0.0.1:{port}/m\"\ninsecure = true\n"
    )
    startup = _startup(run_skopo)
    result, elapsed = _timed(run_skopo, "--debug", "--registries-conf", str(conf), "inspect",
                             f"docker://{registry_server.host}/mir/img:v1")
    assert result.returncode == 0, describe_result(result)
    err = result.stderr.decode()
    assert f"debug: registries.conf: loaded {conf} (1 registries)" in err, err
    assert (f"debug: registries.conf: {registry_server.host}/mir/img:v1 matches prefix {registry_server.host}/mir; "
            f"pulling from 127.0.0.1:{port}/m/img:v1 (mirror), then {registry_server.host}/mir/img:v1") in err, err
    mirror = f"127.0.0.1:{port}"
    assert f"debug: pulling from mirror {mirror}/m/img:v1 failed: connection refused: {mirror}" in err, err
    assert "Failed, retrying" not in err and "Traceback" not in err
    assert elapsed < startup + 5, (elapsed, startup)


def test_debug_gives_no_traceback_for_an_expected_failure(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    result = run_skopo("--debug", "inspect", f"dir:{tmp_path / 'none'}")
    assert result.returncode != 0 and b"Traceback" not in result.stderr, describe_result(result)
    lines = result.stderr.decode().splitlines()
    assert all(line.startswith("debug: ") for line in lines[:-1]) and "no such image directory" in lines[-1], lines


def test_command_timeout_ends_a_sync_even_with_keep_going(
    registry_server: RegistryServer, run_skopo: SkopoRunner, tmp_path: Path
) -> None:
    """The deadline is the whole command's: a sync stops at it, it is not one image's failure
    that `--keep-going` skips to reach the next."""
    images = [build_image(layer_count=1, layer_size=200_000, seed=40 + i, compression="none") for i in range(2)]
    for i, image in enumerate(images):
        push_image(registry_server, "synct/img", f"v{i}", image)
    layers = {image.layers[0].digest for image in images}
    with FaultProxy(registry_server.url) as proxy:
        proxy.rule = lambda r: Forward(trickle=0.01) if r.method == "GET" and any(d in r.path for d in layers) else None
        result, elapsed = _timed(
            run_skopo, "--command-timeout", "3s", "--insecure-policy", "sync", "--keep-going",
            "--src", "docker", "--dest", "dir", "--src-tls-verify=false",
            f"{proxy.host}/synct/img", str(tmp_path / "out"), timeout=60,
        )
    lines = [line for line in result.stderr.decode().splitlines() if line.strip()]
    assert result.returncode == 1, describe_result(result)
    assert re.search(r"timed out after 3s", lines[-1]), describe_result(result)
    assert not any("skipping" in line for line in lines), describe_result(result)
    assert 2.9 < elapsed < 10, elapsed
