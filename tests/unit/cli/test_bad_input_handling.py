"""Bad inputs that used to escape as tracebacks or be silently ignored (review fixes)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from toolkit.cli.common import check_digest_file
from toolkit.cli.gotemplate import render_template
from toolkit.errors import InvalidInputError, ToolkitError
from toolkit.limits import read_file_limited
from toolkit.ops.sign import read_passphrase_file


def test_read_file_limited_refuses_a_directory_cleanly(tmp_path: Path) -> None:
    with pytest.raises(ToolkitError, match="not a regular file"):
        read_file_limited(tmp_path, 1024, "policy file")


@pytest.mark.parametrize("template", ["{{", "{{.Digest", "a {{.Name}} b {{"])
def test_template_with_an_unclosed_action_is_an_error(template: str) -> None:
    with pytest.raises(InvalidInputError, match="unclosed action"):
        render_template(template, {"Digest": "d", "Name": "n"})


def test_template_with_stray_closing_braces_is_literal() -> None:
    assert render_template("a}}b", {}) == "a}}b"


def test_digest_file_checked_before_copying(tmp_path: Path) -> None:
    check_digest_file(tmp_path / "digest")
    with pytest.raises(InvalidInputError, match="directory does not exist"):
        check_digest_file(tmp_path / "missing" / "digest")
    with pytest.raises(InvalidInputError, match="is a directory"):
        check_digest_file(tmp_path)


def test_gpg_passphrase_file_may_be_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "pass"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as f:
            f.write("secret\nignored\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_passphrase_file(fifo) == "secret"
    finally:
        writer.join(5)


def test_gpg_passphrase_file_empty_and_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"\n")
    assert read_passphrase_file(tmp_path / "empty") is None
    with pytest.raises(InvalidInputError, match="(?i)is a directory"):
        read_passphrase_file(tmp_path)
