"""Progress on a real pseudo-terminal, read back from a VT100 screen (pyte), at 60, 80 and
120 columns; Ctrl-C mid-copy; the friendly error line on a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import RegistryServer, SkopoRunner
from helpers.images import build_image, write_dir
from helpers.registry import push_image
from helpers.tty import PtyProcess

DONE = re.compile(r"Copying (blob|config) [0-9a-f]{12} done \(\d+(\.\d)? (B|KiB|MiB), \d+(\.\d+)? (B|KiB|MiB|GiB)/s\)")
PLAIN = "--src-tls-verify=false"


def _env(run_skopo: SkopoRunner) -> dict[str, str]:
    return {**run_skopo.env, "TERM": "xterm-256color"}


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_bars_on_a_terminal(run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path, columns: int) -> None:
    image = build_image(fmt="docker", layer_count=3, layer_size=300_000, seed=61)
    push_image(registry, "tty/app", "v1", image)
    src = write_dir(image, tmp_path / "src")
    args = ["--insecure-policy", "copy", PLAIN, f"docker://{registry.host}/tty/app:v1", f"oci:{tmp_path / 'l'}:v1"]
    with PtyProcess(args, _env(run_skopo), columns=columns) as proc:
        assert proc.wait() == 0
        screen = [line for line in proc.lines if line]
        raw = proc.raw
    # In order: the bars (each finished one with its average speed), then the report lines.
    assert screen[0] == "Getting image source signatures"
    assert screen[-2:] == ["Writing manifest to image destination", "Storing signatures"], screen
    bars = screen[1:-2]
    assert len(bars) == 4 and all(DONE.fullmatch(line) for line in bars), screen
    for layer in image.layers:
        assert any(line.startswith(f"Copying blob {layer.digest.split(':')[1][:12]} done") for line in bars)
    # Nothing ever reached the last column (no wrapping, so no scrolled-off redraws).
    assert all(len(line.rstrip()) < columns for line in proc.screen.display), screen
    assert b"?" not in raw and b"MB/s" not in raw and b"kB" not in raw  # binary units, no unknown speed

    # Again into a registry that has every blob: each says so.
    args = ["--insecure-policy", "copy", "--dest-tls-verify=false", f"dir:{src}", f"docker://{registry.host}/tty/app:v2"]
    with PtyProcess(args, _env(run_skopo), columns=columns) as proc:
        assert proc.wait() == 0
        screen = [line for line in proc.lines if line]
    for layer in image.layers:
        assert f"Copying blob {layer.digest.split(':')[1][:12]} skipped: already exists" in screen, screen


def test_ctrl_c_leaves_the_screen_clean(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    image = build_image(fmt="docker", compression="none", layer_count=3, layer_size=16 << 20, seed=62)
    src = write_dir(image, tmp_path / "big")
    # Slow, CPU-bound recompression keeps the copy busy long enough to be interrupted.
    args = ["--insecure-policy", "copy", "--dest-compress", "--dest-compress-level", "9", f"dir:{src}",
            f"dir:{tmp_path / 'out'}"]
    with PtyProcess(args, _env(run_skopo), columns=80) as proc:
        proc.read_until(lambda lines: any(re.match(r"Copying blob \w{12} \[=+>", line) for line in lines))
        proc.send(b"\x03")  # the terminal turns it into SIGINT, and echoes ^C
        assert proc.wait(timeout=60) == 130
        screen = [line for line in proc.lines if line]
        cursor = (proc.screen.cursor.x, proc.screen.cursor.hidden)
    assert screen[-1] == "Error: interrupted", screen
    assert not any("^C" in line for line in screen), screen  # the echo was cleared by the last redraw
    # Each bar drawn stays on the screen once, as last drawn (no duplicates from redraws).
    # A layer not yet admitted by the copy's buffer budget has no bar yet.
    bars = [line.split()[2] for line in screen if line.startswith("Copying blob ")]
    assert 1 <= len(bars) <= 3 and len(set(bars)) == len(bars), screen
    assert set(bars) <= {layer.digest.split(":")[1][:12] for layer in image.layers}, screen
    assert cursor == (0, False)  # at the start of a line, visible
    assert not (tmp_path / "out").exists()


def test_errors_on_a_terminal_are_friendly(run_skopo: SkopoRunner) -> None:
    with PtyProcess(["inspect", "nope:x"], _env(run_skopo), columns=80) as proc:
        assert proc.wait() == 1
        screen = [line for line in proc.lines if line]
    # One logical line (wrapped by the terminal at 80 columns), in the friendly form.
    assert "".join(screen).startswith('Error: Invalid image name "nope:x", unknown transport "nope"'), screen
    assert "".join(screen).count("Error:") == 1 and "level=fatal" not in "".join(screen), screen
