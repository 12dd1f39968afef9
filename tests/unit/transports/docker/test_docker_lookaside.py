"""`docker/_lookaside.py`: the signature URL layout and `file://` lookaside storage
(atomic writes, stale signatures removed, refusals of links, FIFOs and oversized files)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from toolkit.digest import Digest
from toolkit.errors import SignatureError
from toolkit.reference import parse_normalized_named
from toolkit.transports.docker._lookaside import lookaside_signature_url, read_file_lookaside, write_file_lookaside

DIGEST = Digest.parse("sha256:817a12c32a39bbe394944ba49de563e085f1d3c5266eb8e9723256bc4448680e")
SIG = b"\xa3signature-bytes"


def test_lookaside_url_layout() -> None:
    ref = parse_normalized_named("busybox:latest")
    assert lookaside_signature_url("https://example.com/lookaside", ref, DIGEST, 0) == (
        "https://example.com/lookaside/library/busybox@sha256=" + DIGEST.hex + "/signature-1")
    ref2 = parse_normalized_named("localhost:5000/a/b@" + str(DIGEST))
    assert lookaside_signature_url("file:///var/sigs", ref2, DIGEST, 2) == (
        f"file:///var/sigs/a/b@sha256={DIGEST.hex}/signature-3")


def test_file_lookaside_write_read_and_cleanup(tmp_path: Path) -> None:
    base = f"file://{tmp_path}/store"
    ref = parse_normalized_named("example.com/ns/repo:1")
    write_file_lookaside(base, ref, DIGEST, [SIG + b"1", SIG + b"2", SIG + b"3"])
    sig_dir = tmp_path / f"store/ns/repo@sha256={DIGEST.hex}"
    assert sorted(os.listdir(sig_dir)) == ["signature-1", "signature-2", "signature-3"]
    assert stat.S_IMODE(os.stat(sig_dir / "signature-1").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(sig_dir).st_mode) & 0o755 == 0o755
    assert read_file_lookaside(lookaside_signature_url(base, ref, DIGEST, 1)) == SIG + b"2"
    assert read_file_lookaside(lookaside_signature_url(base, ref, DIGEST, 3)) is None
    # Writing fewer signatures deletes the following ones.
    write_file_lookaside(base, ref, DIGEST, [SIG + b"new"])
    assert sorted(os.listdir(sig_dir)) == ["signature-1"]
    assert read_file_lookaside(lookaside_signature_url(base, ref, DIGEST, 0)) == SIG + b"new"


def test_file_lookaside_refusals(tmp_path: Path) -> None:
    ref = parse_normalized_named("example.com/r:1")
    base = f"file://{tmp_path}"
    with pytest.raises(SignatureError, match="cannot be stored in a lookaside"):
        write_file_lookaside(base, ref, DIGEST, [b"\x00sigstore-json\n{}"])
    sig_dir = tmp_path / f"r@sha256={DIGEST.hex}"
    sig_dir.mkdir()
    os.symlink("/etc/passwd", sig_dir / "signature-1")
    with pytest.raises(SignatureError, match="symbolic link"):
        read_file_lookaside(lookaside_signature_url(base, ref, DIGEST, 0))
    os.mkfifo(sig_dir / "signature-2")
    with pytest.raises(SignatureError, match="not a regular file"):
        read_file_lookaside(lookaside_signature_url(base, ref, DIGEST, 1))
    (sig_dir / "signature-3").write_bytes(b"x" * ((4 << 20) + 1))
    with pytest.raises(Exception, match="exceeded maximum allowed size"):
        read_file_lookaside(lookaside_signature_url(base, ref, DIGEST, 2))


def test_file_lookaside_write_errors_name_the_lookaside(tmp_path: Path) -> None:
    ref = parse_normalized_named("example.com/r:1")
    # The base is a file: creating the signature directory fails.
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(SignatureError, match=r"^writing signatures to file://.*/file: Not a directory$"):
        write_file_lookaside(f"file://{tmp_path}/file", ref, DIGEST, [SIG])
    # signature-1 is a directory: the atomic rename over it fails, and no temp file is left.
    base = f"file://{tmp_path}/store"
    sig_dir = tmp_path / f"store/r@sha256={DIGEST.hex}"
    (sig_dir / "signature-1").mkdir(parents=True)
    with pytest.raises(SignatureError, match=r"^writing signatures to file://.*/store: Is a directory$"):
        write_file_lookaside(base, ref, DIGEST, [SIG])
    assert os.listdir(sig_dir) == ["signature-1"]
