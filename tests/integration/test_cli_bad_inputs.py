"""Odd paths and flag combinations through the real CLI: one error line, nothing written."""

from __future__ import annotations

from pathlib import Path

from helpers import SkopoRunner, assert_clean_error
from helpers.images import build_image, write_dir


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_dir(build_image(seed=3, layer_count=1, layer_size=512), src)
    return src


def test_policy_file_that_is_a_directory(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = _source(tmp_path)
    result = run_skopo("--policy", str(tmp_path), "copy", "-q", f"dir:{src}", f"dir:{tmp_path / 'dest'}")
    assert_clean_error(result, match="not a regular file")
    assert not (tmp_path / "dest").exists()


def test_authfile_that_is_a_directory(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    result = run_skopo("logout", "--authfile", str(tmp_path), "localhost:1")
    assert_clean_error(result, match="not a regular file")


def test_digestfile_in_a_missing_directory_refused_before_copying(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = _source(tmp_path)
    result = run_skopo("--insecure-policy", "copy", "-q", "--digestfile", str(tmp_path / "no" / "d"),
                       f"dir:{src}", f"dir:{tmp_path / 'dest'}")
    assert_clean_error(result, match="directory does not exist")
    assert not (tmp_path / "dest").exists()


def test_inspect_bad_templates_fail_with_go_messages(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = _source(tmp_path)
    # skopeo main wraps the format in {{range .}}...{{end -}}, so "{{" meets "{{end": Go says so.
    assert_clean_error(run_skopo("inspect", "--format", "{{", f"dir:{src}"),
                       match='template: skopeo inspect:1: unexpected "{" in command')
    # --config takes --format (skopeo main); the data is a *v1.Image, whose field is .OS.
    assert_clean_error(run_skopo("inspect", "--config", "--format", "{{.os}}", f"dir:{src}"),
                       match="can't evaluate field os in type interface {}")
    assert_clean_error(run_skopo("inspect", "--raw", "--format", "{{.Os}}", f"dir:{src}"),
                       match="raw output does not support format option")
