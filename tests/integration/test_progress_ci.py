"""Progress in CI logs: with stderr a pipe, skopo prints plain lines (one when each blob
starts, one when it ends), never terminal control codes; `-q` prints nothing at all."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import SkopoRunner, describe_result
from helpers.images import build_image, write_dir

#: A terminal that would get colours and cursor movement if skopo thought it had one.
COLOUR_TERM = {"TERM": "xterm-256color", "COLORTERM": "truecolor", "NO_COLOR": None, "FORCE_COLOR": None}


def _image(tmp_path: Path) -> tuple[Path, list[str], str]:
    image = build_image(seed=41, layer_count=3, layer_size=200_000)
    path = write_dir(image, tmp_path / "src")
    return path, [layer.digest for layer in image.layers], image.config_digest


def test_piped_stderr_gets_plain_blob_lines(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src, layers, config = _image(tmp_path)
    result = run_skopo("--insecure-policy", "copy", f"dir:{src}", f"docker-archive:{tmp_path / 'out.tar'}:ci/app:1",
                       env=COLOUR_TERM)
    assert result.returncode == 0, describe_result(result)
    assert b"\x1b" not in result.stderr and b"\r" not in result.stderr
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    for digest in [*layers, config]:
        kind = "config" if digest == config else "blob"
        started = [ln for ln in lines if re.fullmatch(rf"Copying {kind} {digest} \(\d[^)]*\)", ln)]
        finished = [ln for ln in lines if re.fullmatch(rf"Copying {kind} {digest} done \(.*/s\)", ln)]
        assert len(started) == 1 and len(finished) == 1, describe_result(result)
    assert lines[0] == "Getting image source signatures"
    assert lines[-2:] == ["Writing manifest to image destination", "Storing signatures"]  # as skopeo
    assert all(ln.startswith(("Getting", "Copying", "Writing", "Storing", "Progress:")) for ln in lines), lines


def test_a_blob_already_there_is_one_skipped_line(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src, layers, _ = _image(tmp_path)
    layout = tmp_path / "layout"
    first = run_skopo("--insecure-policy", "copy", f"dir:{src}", f"oci:{layout}:v1")
    assert first.returncode == 0, describe_result(first)
    again = run_skopo("--insecure-policy", "copy", f"dir:{src}", f"oci:{layout}:v2")
    assert again.returncode == 0, describe_result(again)
    lines = again.stderr.decode().splitlines()
    for digest in layers:
        assert [ln for ln in lines if digest in ln] == [f"Copying blob {digest} skipped: already exists"], lines


def test_quiet_prints_nothing(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src, _, _ = _image(tmp_path)
    result = run_skopo("--insecure-policy", "copy", "-q", f"dir:{src}", f"oci:{tmp_path / 'layout'}:v1",
                       env=COLOUR_TERM)
    assert result.returncode == 0, describe_result(result)
    assert result.stderr == b"" and result.stdout == b""


def test_archive_on_stdout_keeps_progress_on_stderr(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src, layers, _ = _image(tmp_path)
    result = run_skopo("--insecure-policy", "copy", f"dir:{src}", "docker-archive:-", env=COLOUR_TERM)
    assert result.returncode == 0, describe_result(result)
    assert b"Copying blob" not in result.stdout and b"\x1b" not in result.stderr
    assert result.stdout[257:262] == b"ustar"  # a tar, untouched by progress output
    assert f"Copying blob {layers[0]} done".encode() in result.stderr
