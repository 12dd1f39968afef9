"""toolkit.transports._tar: safe tar index/stream reading and the streaming tar writer."""

from __future__ import annotations

import contextlib
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.compression import CompressionError
from toolkit.errors import (
    ArchiveError,
    InvalidInputError,
    NotSupportedError,
    SizeLimitError,
    SizeMismatchError,
    ToolkitError,
)
from toolkit.transports._tar import (
    MAX_EXTENSION_SIZE,
    MemberNotFoundError,
    MemberType,
    TarIndex,
    TarStreamWriter,
    clean_member_name,
    iter_tar_stream,
)

HEX = "a" * 64
HAVE_GNU_TAR = shutil.which("tar") is not None
needs_tar = pytest.mark.skipif(not HAVE_GNU_TAR, reason="needs GNU tar")


# ----------------------------------------------------------------------------- helpers


def octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def raw_header(
    name: bytes | str,
    *,
    typeflag: bytes = b"0",
    size: int = 0,
    size_field: bytes | None = None,
    linkname: bytes | str = b"",
    magic: bytes = b"ustar\x0000",
    prefix: bytes = b"",
    mode: int = 0o644,
    bad_checksum: bool = False,
) -> bytes:
    """One 512-byte header, built by hand (so it can be as hostile as needed)."""
    name_b = name.encode() if isinstance(name, str) else name
    link_b = linkname.encode() if isinstance(linkname, str) else linkname
    block = bytearray(512)
    block[0 : len(name_b[:100])] = name_b[:100]
    block[100:108] = octal(mode, 8)
    block[108:116] = octal(0, 8)
    block[116:124] = octal(0, 8)
    block[124:136] = size_field if size_field is not None else octal(size, 12)
    block[136:148] = octal(0, 12)
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    block[157 : 157 + len(link_b[:100])] = link_b[:100]
    block[257 : 257 + len(magic)] = magic
    block[345 : 345 + len(prefix)] = prefix
    assert len(block) == 512, "a field overflowed its width"
    checksum = sum(block) + (1 if bad_checksum else 0)
    block[148:156] = b"%06o\x00 " % checksum
    return bytes(block)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def member(name: str | bytes, data: bytes = b"", **kw: object) -> bytes:
    return raw_header(name, size=len(data), **kw) + pad(data)  # type: ignore[arg-type]


def pax(records: bytes, typeflag: bytes = b"x") -> bytes:
    return raw_header("PaxHeaders.0/x", typeflag=typeflag, size=len(records)) + pad(records)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    size = len(body) + len(str(len(body)))
    rec = str(size).encode() + body
    if len(rec) != size:
        rec = str(len(rec)).encode() + body
    return rec


END = bytes(1024)


def index_of(data: bytes) -> TarIndex:
    return TarIndex.from_file(io.BytesIO(data))


def stream_all(data: bytes) -> list[tuple[str, bytes]]:
    return [(hdr.name, m.read()) for hdr, m in iter_tar_stream(io.BytesIO(data))]


def write_archive(path: Path, build: object) -> None:
    with open(path, "wb") as f:
        w = TarStreamWriter(f)
        build(w)  # type: ignore[operator]
        w.close()


def tarfile_archive(fmt: int, entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ------------------------------------------------------------------------- name cleaning


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("manifest.json", "manifest.json"),
        ("./manifest.json", "manifest.json"),
        ("a//b/./c/", "a/b/c"),
        ("a/b/../c", "a/c"),
        ("blobs/sha256/../../x", "x"),
        ("/etc/passwd", None),
        ("../x", None),
        ("a/../../x", None),
        ("..", None),
        (".", None),
        ("./", None),
        ("", None),
        ("/", None),
        ("a\x00b", None),
    ],
)
def test_clean_member_name(name: str, expected: str | None) -> None:
    assert clean_member_name(name) == expected


# ----------------------------------------------------------------------------- writer


def test_writer_headers_look_like_go(tmp_path: Path) -> None:
    buf = io.BytesIO()
    w = TarStreamWriter(buf)
    w.add_bytes("manifest.json", b"[]")
    w.close()
    data = buf.getvalue()
    assert len(data) == 512 + 512 + 1024  # header, data block, two zero blocks (no record padding)
    hdr = data[:512]
    assert hdr[0:13] == b"manifest.json"
    assert hdr[100:108] == b"0000444\x00"
    assert hdr[108:116] == b"0000000\x00"
    assert hdr[116:124] == b"0000000\x00"
    assert hdr[124:136] == b"00000000002\x00"
    assert hdr[136:148] == b"00000000000\x00"
    assert hdr[156:157] == b"0"
    assert hdr[257:265] == b"ustar\x0000"
    assert hdr[265:345].strip(b"\x00") == b"0000000\x000000000"  # empty uname/gname, zero devs
    assert hdr[154:156] == b"\x00 "
    assert data[-1024:] == END


def test_writer_round_trip_tarfile_gnu_tar_and_ours(tmp_path: Path) -> None:
    long_name = "dir/" * 40 + "file"  # > 100 bytes, splittable into prefix/name
    very_long = "x" * 150 + "/" + "y" * 120  # not splittable: PAX path
    unicode_name = "blobs/ünïcødé"
    long_target = "t/" * 70 + "target"
    big = os.urandom(3 * 1024 * 1024 + 17)

    def build(w: TarStreamWriter) -> None:
        w.add_dir("blobs/sha256")
        w.add_file(f"blobs/sha256/{HEX}", io.BytesIO(big), len(big))
        w.add_bytes("manifest.json", b'[{"Config":"x"}]')
        w.add_symlink("link", f"blobs/sha256/{HEX}")
        w.add_symlink("longlink", long_target)
        w.add_bytes(long_name, b"long")
        w.add_bytes(very_long, b"very long")
        w.add_bytes(unicode_name, b"uni")
        w.add_bytes("empty", b"")

    path = tmp_path / "out.tar"
    write_archive(path, build)

    with tarfile.open(path) as t:
        members = {m.name: m for m in t.getmembers()}
        assert members[f"blobs/sha256/{HEX}"].size == len(big)
        assert t.extractfile(f"blobs/sha256/{HEX}").read() == big  # type: ignore[union-attr]
        assert t.extractfile(long_name).read() == b"long"  # type: ignore[union-attr]
        assert t.extractfile(very_long).read() == b"very long"  # type: ignore[union-attr]
        assert t.extractfile(unicode_name).read() == b"uni"  # type: ignore[union-attr]
        assert members["longlink"].linkname == long_target
        assert members["blobs/sha256"].isdir()
        m = members["manifest.json"]
        assert (m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) == (0o444, 0, 0, "", "", 0)

    if HAVE_GNU_TAR:
        listing = subprocess.run(["tar", "-tvf", str(path)], capture_output=True, text=True, check=True)
        assert listing.stderr == ""
        assert f"{len(big)} 1970-01-01 00:00 blobs/sha256/{HEX}" in listing.stdout
        assert very_long in listing.stdout
        assert "-r--r--r-- 0/0" in listing.stdout
        extracted = subprocess.run(
            ["tar", "-xOf", str(path), f"blobs/sha256/{HEX}"], capture_output=True, check=True
        ).stdout
        assert extracted == big

    with open(path, "rb") as f:
        idx = TarIndex.from_file(f)
        assert idx.open_member(f"blobs/sha256/{HEX}").read() == big
        assert idx.open_member("link").read() == big
        assert idx.open_member(very_long).read() == b"very long"
        assert idx.open_member(long_name).read() == b"long"
        assert idx.open_member(unicode_name).read() == b"uni"
        assert idx.open_member("empty").read() == b""
        assert idx.member_size("link") == len(big)
        assert "blobs/sha256" in idx.names()


def test_writer_unknown_size_patches_header(tmp_path: Path) -> None:
    payload = os.urandom(2 * 1024 * 1024 + 5)
    path = tmp_path / "u.tar"
    with open(path, "wb") as f:
        w = TarStreamWriter(f)
        assert w.can_patch_sizes
        w.add_bytes("before", b"1")
        assert w.add_file_unknown_size("unknown", io.BytesIO(payload)) == len(payload)
        assert w.add_file_unknown_size("d/" * 60 + "long-unknown", io.BytesIO(b"abc")) == 3
        w.add_bytes("after", b"2")
        w.close()
    with tarfile.open(path) as t:
        assert t.extractfile("unknown").read() == payload  # type: ignore[union-attr]
        assert t.extractfile("d/" * 60 + "long-unknown").read() == b"abc"  # type: ignore[union-attr]
        assert t.extractfile("after").read() == b"2"  # type: ignore[union-attr]
    if HAVE_GNU_TAR:
        out = subprocess.run(["tar", "-tvf", str(path)], capture_output=True, text=True, check=True)
        assert f"{len(payload)} 1970-01-01 00:00 unknown" in out.stdout
    with open(path, "rb") as f:
        assert TarIndex.from_file(f).open_member("unknown").read() == payload


def test_writer_unknown_size_needs_seekable_output() -> None:
    r, wfd = os.pipe()
    try:
        with open(wfd, "wb", closefd=True) as pipe:
            w = TarStreamWriter(pipe)
            assert not w.can_patch_sizes
            with pytest.raises(NotSupportedError, match="seekable"):
                w.add_file_unknown_size("x", io.BytesIO(b"data"))
            w.add_bytes("still-usable", b"ok")  # nothing was written: the writer is fine
    finally:
        os.close(r)


def test_writer_unknown_size_refuses_append_mode(tmp_path: Path) -> None:
    with open(tmp_path / "a.tar", "ab") as f:
        assert not TarStreamWriter(f).can_patch_sizes


@pytest.mark.parametrize("patchable", [True, False])
def test_sizes_beyond_8gib_readable_everywhere(tmp_path: Path, patchable: bool) -> None:
    """Base-256 (unknown-size patch) and PAX size (known size) headers, on a sparse file."""
    size = (9 << 30) + 5
    w = TarStreamWriter(io.BytesIO())
    header = w._header("big", b"0", size, 0o444, 0, patchable=patchable)
    if patchable:
        assert header[124] == 0x80 and len(header) == 512
    else:
        assert b" size=9663676421\n" in header
    path = tmp_path / "big.tar"
    with open(path, "wb") as f:
        f.write(header)
        f.seek(len(header) + size + (-size % 512))
        f.write(bytes(1024))
    with tarfile.open(path) as t:
        assert [(m.name, m.size) for m in t] == [("big", size)]
    if HAVE_GNU_TAR:
        out = subprocess.run(["tar", "-tvf", str(path)], capture_output=True, text=True, check=True)
        assert f" {size} 1970-01-01 00:00 big" in out.stdout
    with open(path, "rb") as f:
        idx = TarIndex.from_file(f)
        assert idx.member_size("big") == size
        assert idx.open_member("big").read(10) == bytes(10)


def test_add_file_size_mismatch_breaks_writer() -> None:
    for data, size in ((b"short", 10), (b"too long", 3)):
        buf = io.BytesIO()
        w = TarStreamWriter(buf)
        with pytest.raises(SizeMismatchError):
            w.add_file("f", io.BytesIO(data), size)
        with pytest.raises(ArchiveError, match="unusable"):
            w.add_bytes("g", b"")
        before = buf.getvalue()
        w.close()
        assert buf.getvalue() == before  # no end marker on a failed archive


def test_add_file_stops_at_size_with_verifying_stream() -> None:
    class Counting(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.reads: list[int] = []

        def read(self, n: int | None = -1) -> bytes:
            self.reads.append(-1 if n is None else n)
            return super().read(n)

    src = Counting(b"x" * 5000)
    w = TarStreamWriter(io.BytesIO())
    w.add_file("f", src, 5000)
    assert max(src.reads) <= 1 << 20
    assert src.reads[-1] == 1  # probed for extra data after the announced size


def test_writer_rejects_bad_names_without_breaking() -> None:
    w = TarStreamWriter(io.BytesIO())
    for bad in ("", "a\x00b", "\udcff"):
        with pytest.raises(InvalidInputError):
            w.add_bytes(bad, b"")
    with pytest.raises(InvalidInputError):
        w.add_file("x", io.BytesIO(b""), -1)
    w.add_bytes("ok", b"")
    w.close()
    w.close()  # idempotent
    with pytest.raises(ArchiveError):
        w.add_bytes("late", b"")


def test_writer_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "t.tar"
    blobs = {f"blob{i}": os.urandom(100_000 + i) for i in range(12)}
    with open(path, "wb") as f:
        w = TarStreamWriter(f)
        threads = [
            threading.Thread(target=w.add_file, args=(name, io.BytesIO(data), len(data)))
            for name, data in blobs.items()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        w.close()
    with open(path, "rb") as f:
        idx = TarIndex.from_file(f)
        for name, data in blobs.items():
            assert idx.open_member(name).read() == data


def test_write_errors_are_wrapped() -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            raise OSError(28, "No space left on device")

    w = TarStreamWriter(Full())
    with pytest.raises(ArchiveError, match="No space left"):
        w.add_bytes("x", b"data")


# ------------------------------------------------------------- reading foreign archives


ENTRIES = [
    ("manifest.json", b"[]"),
    ("d" * 120 + "/long/" + "n" * 90, b"long name"),
    ("x" * 200, b"unsplittable"),
    (f"blobs/sha256/{HEX}", os.urandom(70_000)),
    ("empty", b""),
]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_python_tarfile_archives(fmt: int) -> None:
    entries = ENTRIES if fmt != tarfile.USTAR_FORMAT else [e for e in ENTRIES if not e[0].startswith("x")]
    data = tarfile_archive(fmt, entries)
    idx = index_of(data)
    for name, content in entries:
        assert idx.open_member(name).read() == content
        assert idx.member_size(name) == len(content)
    assert stream_all(data) == entries


def test_reads_tarfile_links_dirs_and_long_links() -> None:
    buf = io.BytesIO()
    target = "blobs/sha256/" + "t" * 150
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        d = tarfile.TarInfo("blobs/sha256")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
        info = tarfile.TarInfo(target)
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
        sym = tarfile.TarInfo("blobs/sha256/sym")
        sym.type = tarfile.SYMTYPE
        sym.linkname = "t" * 150
        t.addfile(sym)
        hard = tarfile.TarInfo("hard")
        hard.type = tarfile.LNKTYPE
        hard.linkname = target
        t.addfile(hard)
    idx = index_of(buf.getvalue())
    assert idx.open_member("blobs/sha256/sym").read() == b"abc"
    assert idx.open_member("hard").read() == b"abc"
    with pytest.raises(ArchiveError, match="not a regular file"):
        idx.open_member("blobs/sha256")


@needs_tar
@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar", "v7", "oldgnu"])
def test_reads_gnu_tar_archives(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    (src / "blobs" / "sha256").mkdir(parents=True)
    content = os.urandom(12345)
    (src / "blobs" / "sha256" / HEX).write_bytes(content)
    (src / "manifest.json").write_bytes(b"[]")
    (src / "link").symlink_to(f"blobs/sha256/{HEX}")
    if fmt in ("gnu", "posix", "oldgnu"):
        (src / ("L" * 150)).write_bytes(b"long")
    out = tmp_path / "a.tar"
    subprocess.run(["tar", f"--format={fmt}", "-cf", str(out), "-C", str(src), "."], check=True)
    with open(out, "rb") as f:
        idx = TarIndex.from_file(f)
        assert idx.open_member(f"blobs/sha256/{HEX}").read() == content
        assert idx.open_member(f"./blobs/sha256/{HEX}").read() == content
        assert idx.open_member("link").read() == content
        assert idx.open_member("manifest.json").read() == b"[]"
        if fmt in ("gnu", "posix", "oldgnu"):
            assert idx.open_member("L" * 150).read() == b"long"
        with pytest.raises(ArchiveError, match="not a regular file"):
            idx.open_member("blobs")
    # And the gzip-compressed version, through from_stream.
    gz = tmp_path / "a.tar.gz"
    subprocess.run(["tar", f"--format={fmt}", "-czf", str(gz), "-C", str(src), "."], check=True)
    with TarIndex.open(gz, tmpdir=tmp_path, budget=None) as idx:
        assert idx.open_member(f"blobs/sha256/{HEX}").read() == content


def test_v7_directory_and_contiguous_types() -> None:
    data = (
        member("olddir/", magic=b"", typeflag=b"\x00")
        + member("contig", b"ccc", typeflag=b"7")
        + member("v7file", b"v7", magic=b"", typeflag=b"\x00")
        + END
    )
    idx = index_of(data)
    assert idx.open_member("contig").read() == b"ccc"
    assert idx.open_member("v7file").read() == b"v7"
    with pytest.raises(ArchiveError, match="not a regular file"):
        idx.open_member("olddir")


def test_gnu_magic_does_not_use_prefix_field() -> None:
    data = member("name", b"x", magic=b"ustar  \x00", prefix=b"ignored") + END
    assert index_of(data).names() == ["name"]
    data = member("name", b"x", prefix=b"pre") + END
    assert index_of(data).names() == ["pre/name"]


def test_end_of_archive_variants() -> None:
    body = member("a", b"1")
    for tail in (b"", bytes(512), END, END + bytes(8192), END + b"garbage after two zero blocks"):
        assert index_of(body + tail).open_member("a").read() == b"1"
        assert stream_all(body + tail) == [("a", b"1")]
    assert index_of(b"").names() == []
    with pytest.raises(ArchiveError, match="after a zero block"):
        index_of(body + bytes(512) + member("b", b"2"))


def test_index_lookups() -> None:
    data = member("./manifest.json", b"[]") + member("dir/", typeflag=b"5") + member("dir/f", b"f") + END
    idx = index_of(data)
    assert idx.names() == ["manifest.json", "dir", "dir/f"]
    assert idx.has("manifest.json") and idx.has("./manifest.json") and idx.has("dir/../manifest.json")
    assert not idx.has("missing") and not idx.has("../manifest.json")
    with pytest.raises(MemberNotFoundError, match='file "missing" does not exist'):
        idx.open_member("missing")
    assert [e.type for e in idx.entries] == [MemberType.REGULAR, MemberType.DIRECTORY, MemberType.REGULAR]


def test_index_without_fileno_and_concurrent_readers(tmp_path: Path) -> None:
    blobs = {f"b{i}": os.urandom(300_000) for i in range(8)}
    data = b"".join(member(k, v) for k, v in blobs.items()) + END
    path = tmp_path / "c.tar"
    path.write_bytes(data)
    for f in (io.BytesIO(data), open(path, "rb")):  # noqa: SIM115
        with contextlib.closing(f):
            idx = TarIndex.from_file(f)
            errors: list[BaseException] = []

            def read(name: str, expected: bytes, idx: TarIndex = idx, errors: list[BaseException] = errors) -> None:
                try:
                    for _ in range(5):
                        r = idx.open_member(name)
                        got = b"".join(iter(lambda r=r: r.read(7777), b""))  # type: ignore[misc]
                        assert got == expected
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=read, args=item) for item in blobs.items()]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors


def test_member_reader_is_bounded() -> None:
    idx = index_of(member("a", b"AAAA") + member("b", b"BBBB") + END)
    r = idx.open_member("a")
    assert r.read(100) == b"AAAA"
    assert r.read(100) == b""
    assert idx.open_member("a").read() == b"AAAA"
    buf = bytearray(3)
    assert idx.open_member("b").readinto(buf) == 3 and bytes(buf) == b"BBB"


# ---------------------------------------------------------------------- from_stream/open


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: b,
        gzip.compress,
        lzma.compress,
        lambda b: zstandard.ZstdCompressor().compress(b),
        lambda b: __import__("bz2").compress(b),
    ],
)
def test_from_stream_sniffs_and_spools(tmp_path: Path, compress: object) -> None:
    data = member("manifest.json", b"[]") + member("layer.tar", os.urandom(50_000)) + END
    raw = compress(data)  # type: ignore[operator]
    spool = tmp_path / "spool"
    spool.mkdir()
    with TarIndex.from_stream(io.BytesIO(raw), tmpdir=spool, budget=None) as idx:
        assert idx.open_member("manifest.json").read() == b"[]"
        assert list(spool.iterdir()) == []  # unnamed temp file
    assert list(spool.iterdir()) == []


def test_from_stream_does_not_close_callers_stream(tmp_path: Path) -> None:
    src = io.BytesIO(gzip.compress(member("a", b"1") + END))
    idx = TarIndex.from_stream(src, tmpdir=tmp_path, budget=None)
    idx.close()
    import gc

    gc.collect()
    assert not src.closed


def _zero_gzip_stream(total_mib: int) -> Iterator[bytes]:
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    yield comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
    for _ in range(total_mib - 1):
        yield block


class Chunks(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return b""
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


@pytest.mark.timeout(60)
def test_gzip_bomb_archive_hits_budget_and_leaves_no_temp_file(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    # ~10 MB of gzip that would expand to 10 GiB of zeros.
    with pytest.raises(SizeLimitError, match="spooling the archive .*exceeded maximum allowed size of 67108864 bytes"):
        TarIndex.from_stream(Chunks(_zero_gzip_stream(10 * 1024)), tmpdir=spool, budget=64 << 20)
    assert list(spool.iterdir()) == []


def test_gzip_bomb_file_via_open(tmp_path: Path) -> None:
    bomb = tmp_path / "x.tar.gz"
    with open(bomb, "wb") as f:
        for chunk in _zero_gzip_stream(256):
            f.write(chunk)
    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(SizeLimitError):
        TarIndex.open(bomb, tmpdir=spool, budget=16 << 20)
    assert list(spool.iterdir()) == []


def test_from_stream_corrupt_compressed_input(tmp_path: Path) -> None:
    good = gzip.compress(member("a", os.urandom(10_000)) + END)
    with pytest.raises(CompressionError):
        TarIndex.from_stream(io.BytesIO(good[: len(good) // 2]), tmpdir=tmp_path, budget=None)
    assert list(tmp_path.iterdir()) == []


def test_open_paths(tmp_path: Path) -> None:
    plain = tmp_path / "a.tar"
    plain.write_bytes(member("a", b"1") + END)
    with TarIndex.open(plain, tmpdir=tmp_path, budget=None) as idx:
        assert idx.open_member("a").read() == b"1"
    with pytest.raises(ArchiveError, match="no such file"):
        TarIndex.open(tmp_path / "missing.tar", tmpdir=tmp_path, budget=None)
    with pytest.raises(ArchiveError, match="directory"):
        TarIndex.open(tmp_path, tmpdir=tmp_path, budget=None)


@pytest.mark.timeout(30)
def test_open_fifo_reads_as_stream(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    payload = gzip.compress(member("manifest.json", b"[]") + END)

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(payload)

    t = threading.Thread(target=feed)
    t.start()
    spool = tmp_path / "spool"
    spool.mkdir()
    with TarIndex.open(fifo, tmpdir=spool, budget=None) as idx:
        assert idx.open_member("manifest.json").read() == b"[]"
    t.join()


def test_max_entries() -> None:
    data = b"".join(member(f"f{i}") for i in range(11)) + END
    assert len(TarIndex.from_file(io.BytesIO(data), max_entries=11).entries) == 11
    with pytest.raises(ArchiveError, match="more than 10 entries"):
        TarIndex.from_file(io.BytesIO(data), max_entries=10)


# ------------------------------------------------------------------------ iter_tar_stream


def test_iter_tar_stream_skips_unread_data_and_invalidates_old_readers() -> None:
    data = member("a", b"A" * 1000) + member("l", typeflag=b"2", linkname="a") + member("b", b"B" * 10) + END
    it = iter_tar_stream(io.BytesIO(data))
    hdr_a, ra = next(it)
    assert (hdr_a.name, hdr_a.size, hdr_a.type) == ("a", 1000, MemberType.REGULAR)
    assert ra.read(10) == b"A" * 10  # leave the rest unread
    hdr_l, rl = next(it)
    assert hdr_l.type is MemberType.SYMLINK and hdr_l.linkname == "a" and rl.read() == b""
    with pytest.raises(ArchiveError, match="moved on"):
        ra.read(1)
    _, rb = next(it)
    assert rb.read() == b"B" * 10
    assert next(it, None) is None


def test_iter_tar_stream_truncated() -> None:
    data = member("a", b"A" * 5000)
    for cut in (100, 512 + 10, len(data) - 1):
        with pytest.raises(ArchiveError, match="truncated"):
            stream_all(data[:cut])


# ------------------------------------------------------------------------ hostile archives

OUTSIDE_SECRET = b"host secret that must never be read"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_bytes(OUTSIDE_SECRET)
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() if p.is_file() else b"" for p in sorted(root.rglob("*"))}


@pytest.mark.timeout(10)
def test_absolute_and_dotdot_names_never_match(tmp_path: Path) -> None:
    data = (
        member("/etc/passwd", b"abs")
        + member("../escape", b"up")
        + member("a/../../escape2", b"up2")
        + member("./", typeflag=b"5")
        + member("ok", b"ok")
        + END
    )
    idx = index_of(data)
    assert idx.names() == ["ok"]
    for wanted in ("/etc/passwd", "etc/passwd", "../escape", "escape", "../../etc/passwd", "escape2", ".", ""):
        with pytest.raises(MemberNotFoundError):
            idx.open_member(wanted)
    assert [h.clean_name for h in idx.entries] == [None, None, None, None, "ok"]


@pytest.mark.timeout(10)
def test_symlink_dir_to_outside_then_file_below_it(tmp_path: Path, outside: Path) -> None:
    before = snapshot(tmp_path)
    data = (
        member("blobs", typeflag=b"2", linkname=str(outside))
        + member(f"blobs/sha256/{HEX}", b"content from the archive")
        + member("secret", typeflag=b"2", linkname=str(outside / "secret"))
        + member("rel-secret", typeflag=b"2", linkname="../" * 10 + str(outside / "secret").lstrip("/"))
        + member("blobs2/x", typeflag=b"2", linkname="../../secret")
        + END
    )
    idx = index_of(data)
    # The file is found by its exact name, and its bytes come from the archive.
    assert idx.open_member(f"blobs/sha256/{HEX}").read() == b"content from the archive"
    for name in ("secret", "rel-secret", "blobs2/x"):
        with pytest.raises(ArchiveError, match="refusing link"):
            idx.open_member(name)
    with pytest.raises(ArchiveError):
        idx.open_member("blobs")
    assert snapshot(tmp_path) == before  # nothing written anywhere


@pytest.mark.timeout(10)
def test_hardlinks_to_host_files_refused() -> None:
    data = (
        member("shadow", typeflag=b"1", linkname="/etc/shadow")
        + member("shadow2", typeflag=b"1", linkname="../../../etc/shadow")
        + member("empty-link", typeflag=b"1", linkname="")
        + END
    )
    idx = index_of(data)
    for name in ("shadow", "shadow2", "empty-link"):
        with pytest.raises(ArchiveError, match="refusing link"):
            idx.open_member(name)


@pytest.mark.timeout(10)
def test_link_resolution_rules() -> None:
    data = (
        member("dir/target", b"T")
        + member("dir/sym", typeflag=b"2", linkname="target")  # relative to dir/
        + member("dir/up", typeflag=b"2", linkname="../top")
        + member("top", b"TOP")
        + member("hard", typeflag=b"1", linkname="dir/target")  # relative to the root
        + member("chain", typeflag=b"2", linkname="dir/sym")  # two hops: refused
        + member("dangling", typeflag=b"2", linkname="nowhere")
        + member("self", typeflag=b"2", linkname="self")
        + END
    )
    idx = index_of(data)
    assert idx.open_member("dir/sym").read() == b"T"
    assert idx.open_member("dir/up").read() == b"TOP"
    assert idx.open_member("hard").read() == b"T"
    assert idx.member_size("hard") == 1
    with pytest.raises(ArchiveError, match="not a regular file"):
        idx.open_member("chain")
    with pytest.raises(MemberNotFoundError):
        idx.open_member("dangling")
    with pytest.raises(ArchiveError, match="not a regular file"):
        idx.open_member("self")


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("typeflag", "kind"), [(b"3", "char"), (b"4", "block"), (b"6", "fifo"), (b"5", "dir")])
def test_special_files_are_not_regular(typeflag: bytes, kind: str) -> None:
    # A device header announcing data: the size is ignored (header-only type), as in Go.
    data = raw_header("dev", typeflag=typeflag, size=4096) + member("after", b"ok") + END
    idx = index_of(data)
    with pytest.raises(ArchiveError, match="not a regular file"):
        idx.open_member("dev")
    assert idx.open_member("after").read() == b"ok"
    link = member("dev", typeflag=typeflag) + member("l", typeflag=b"2", linkname="dev") + END
    with pytest.raises(ArchiveError, match="not a regular file"):
        index_of(link).open_member("l")


@pytest.mark.timeout(10)
def test_duplicate_names_are_ambiguous_on_lookup() -> None:
    data = member("manifest.json", b"1") + member("./manifest.json", b"2") + member("other", b"o") + END
    idx = index_of(data)
    assert idx.open_member("other").read() == b"o"  # indexing itself succeeds
    with pytest.raises(ArchiveError, match=r'ambiguous: 2 entries named "manifest\.json"'):
        idx.open_member("manifest.json")
    link = member("a", b"1") + member("a", b"2") + member("l", typeflag=b"2", linkname="a") + END
    with pytest.raises(ArchiveError, match="ambiguous"):
        index_of(link).open_member("l")


HOSTILE = {
    "negative base-256 size": raw_header("neg", size_field=b"\xff" * 12) + END,
    "base-256 overflow": raw_header("big", size_field=b"\x80" + b"\xff" * 11) + END,
    "non-octal size": raw_header("x", size_field=b"12345678z\x00\x00\x00") + END,
    "bad checksum": raw_header("x", bad_checksum=True) + END,
    "garbage first block": b"\x01" * 512 + END,
    "zero-length PAX record": pax(b"0 path=x\n") + member("f") + END,
    "PAX length 1": pax(b"1 path=x\n") + member("f") + END,
    "PAX length beyond data": pax(b"99 path=x\n") + member("f") + END,
    "PAX no newline": pax(b"10 path=xy") + member("f") + END,
    "PAX no equals": pax(b"9 pathxy\n") + member("f") + END,
    "PAX non-digit length": pax(b"-9 path=x\n") + member("f") + END,
    "PAX negative size": pax(pax_record("size", "-1")) + member("f") + END,
    "PAX size not a number": pax(pax_record("size", "1e9")) + member("f") + END,
    "PAX NUL in path": pax(pax_record("path", "a\x00b")) + member("f") + END,
    "bad global PAX": pax(b"0 comment=x\n", typeflag=b"g") + member("f") + END,
    "PAX then EOF": pax(pax_record("path", "x")),
    "PAX then end marker": pax(pax_record("path", "x")) + END,
    "longname then EOF": raw_header("././@LongLink", typeflag=b"L", size=5) + pad(b"long\x00"),
    "huge longname": raw_header("././@LongLink", typeflag=b"L", size=MAX_EXTENSION_SIZE + 1)
    + pad(b"x" * (MAX_EXTENSION_SIZE + 1))
    + member("f")
    + END,
    "huge PAX announced, absent": raw_header("p", typeflag=b"x", size=1 << 32) + END,
    "many extension headers": b"".join(pax(pax_record("path", f"p{i}")) for i in range(9)) + member("f") + END,
    "truncated mid-member": member("a", b"A" * 5000)[:3000],
    "truncated mid-header": member("a", b"A")[:1000] + member("b")[:100],
    "truncated padding": raw_header("a", size=10) + b"A" * 10,
    "size beyond EOF": raw_header("a", size=1 << 30) + END,
    "sparse ext blocks run out": raw_header("s", typeflag=b"S")[:482] + b"\x01" + b"\x00" * 29,
}


def _fix_checksum(block: bytes) -> bytes:
    b = bytearray(block)
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\x00 " % sum(b)
    return bytes(b)


HOSTILE["sparse ext blocks run out"] = _fix_checksum(HOSTILE["sparse ext blocks run out"])


@pytest.mark.timeout(10)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_clean_errors(case: str) -> None:
    data = HOSTILE[case]
    with pytest.raises(ArchiveError):
        index_of(data)
    with pytest.raises(ArchiveError):
        stream_all(data)


@pytest.mark.timeout(10)
def test_hostile_archive_on_disk_and_compressed(tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    path = tmp_path / "h.tar"
    for case, data in HOSTILE.items():
        path.write_bytes(data)
        with pytest.raises(ArchiveError), open(path, "rb") as f:
            TarIndex.from_file(f)
        with pytest.raises(ArchiveError):
            TarIndex.from_stream(io.BytesIO(gzip.compress(data)), tmpdir=tmp_path, budget=None)
        assert case
    path.unlink()
    assert snapshot(tmp_path) == before


def test_pax_records_applied() -> None:
    records = pax_record("path", "renamed/" + "p" * 200) + pax_record("mtime", "1.5") + pax_record("size", "3")
    data = pax(records) + raw_header("short", size=0) + pad(b"abc") + END
    idx = index_of(data)
    assert idx.open_member("renamed/" + "p" * 200).read() == b"abc"
    assert stream_all(data) == [("renamed/" + "p" * 200, b"abc")]
    # Global headers are ignored; NUL padding after records is tolerated.
    data = pax(pax_record("path", "ignored"), typeflag=b"g") + pax(pax_record("path", "n") + b"\x00" * 7)
    data += member("orig", b"z") + END
    assert index_of(data).names() == ["n"]


def test_pax_sparse_member_is_not_regular() -> None:
    data = pax(pax_record("GNU.sparse.major", "1") + pax_record("GNU.sparse.name", "f")) + member("f", b"x") + END
    with pytest.raises(ArchiveError, match="not a regular file"):
        index_of(data).open_member("f")


def test_old_gnu_sparse_extension_blocks_skipped() -> None:
    head = bytearray(raw_header("sparse", typeflag=b"S", size=512, magic=b"ustar  \x00"))
    head[482] = 1
    ext1 = bytearray(512)
    ext1[504] = 1
    ext2 = bytes(512)
    data = _fix_checksum(bytes(head)) + bytes(ext1) + ext2 + b"D" * 512 + member("after", b"ok") + END
    idx = index_of(data)
    assert idx.open_member("after").read() == b"ok"
    with pytest.raises(ArchiveError, match="not a regular file"):
        idx.open_member("sparse")


def test_signed_checksum_accepted() -> None:
    block = bytearray(raw_header("caf\xe9".encode("latin-1"), size=1))
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    block[148:156] = b"%06o\x00 " % signed
    data = bytes(block) + pad(b"x") + END
    assert index_of(data).entries[0].name == "caf\udce9"


# ------------------------------------------------------------------------------ property


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_property_any_bytes_only_toolkit_errors(data: bytes) -> None:
    with contextlib.suppress(ToolkitError):
        idx = index_of(data)
        for name in idx.names():
            with contextlib.suppress(ToolkitError):
                idx.open_member(name).read()
    with contextlib.suppress(ToolkitError):
        stream_all(data)


_VALID = (
    tarfile_archive(tarfile.PAX_FORMAT, [("p" * 120, b"pax"), ("n", b"x" * 700)])
    + tarfile_archive(tarfile.GNU_FORMAT, [("g" * 130, b"gnu")])[:-1024]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
    fix=st.booleans(),
    cut=st.one_of(st.none(), st.integers(0, len(_VALID))),
)
def test_property_mutated_archives_only_toolkit_errors(
    edits: list[tuple[int, int]], fix: bool, cut: int | None
) -> None:
    data = bytearray(_VALID)
    for pos, value in edits:
        data[pos] = value
    if fix:  # recompute header checksums so the damage reaches the field parsers
        for off in range(0, len(data) - 511, 512):
            if data[off + 257 : off + 262] == b"ustar":
                data[off : off + 512] = _fix_checksum(bytes(data[off : off + 512]))
    blob = bytes(data[:cut] if cut is not None else data)
    with contextlib.suppress(ToolkitError):
        idx = index_of(blob)
        for name in idx.names():
            with contextlib.suppress(ToolkitError):
                assert len(idx.open_member(name).read()) == idx.member_size(name)
    with contextlib.suppress(ToolkitError):
        stream_all(blob)


_NAME = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/"), min_size=1, max_size=40
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.dictionaries(
        st.lists(_NAME, min_size=1, max_size=8).map("/".join).filter(lambda n: clean_member_name(n) == n),
        st.binary(max_size=2000),
        max_size=6,
    )
)
def test_property_writer_round_trip(files: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    w = TarStreamWriter(buf)
    for name, data in files.items():
        w.add_file(name, io.BytesIO(data), len(data))
    w.close()
    idx = index_of(buf.getvalue())
    for name, data in files.items():
        assert idx.open_member(name).read() == data
    buf.seek(0)
    with tarfile.open(fileobj=buf) as t:
        assert {m.name: t.extractfile(m).read() for m in t} == files  # type: ignore[union-attr]


@pytest.mark.timeout(10)
def test_indexing_skips_data_without_reading_it(tmp_path: Path) -> None:
    """Indexing a big (sparse) archive reads headers only: data is skipped by arithmetic."""
    path = tmp_path / "sparse.tar"
    with open(path, "wb") as f:
        f.write(raw_header("big", size=1 << 30))
        f.seek(512 + (1 << 30))
        f.write(END)
    with open(path, "rb") as f:
        idx = TarIndex.from_file(f)
    assert idx.entries[0].size == 1 << 30


def test_writer_unknown_size_rename_and_drop(tmp_path: Path) -> None:
    """`rename` patches the name chosen after the data; None drops the entry entirely."""
    payload = os.urandom(300_000)
    path = tmp_path / "r.tar"
    with open(path, "wb") as f:
        w = TarStreamWriter(f)
        w.add_bytes("before", b"1")
        sizes: list[int] = []

        def rename(size: int) -> str:
            sizes.append(size)
            return "b" * 64 + ".tar"

        assert w.add_file_unknown_size("0" * 64 + ".tar", io.BytesIO(payload), rename=rename) == len(payload)
        assert sizes == [len(payload)]
        end = f.tell()
        assert w.add_file_unknown_size("0" * 64 + ".tar", io.BytesIO(b"dup" * 1000), rename=lambda _n: None) == 3000
        assert f.tell() == end  # dropped: nothing of it remains
        w.add_bytes("after", b"2")
        w.close()
    with tarfile.open(path) as t:
        assert t.getnames() == ["before", "b" * 64 + ".tar", "after"]
        assert t.extractfile("b" * 64 + ".tar").read() == payload  # type: ignore[union-attr]
    with open(path, "rb") as f:
        assert TarIndex.from_file(f).open_member("b" * 64 + ".tar").read() == payload


def test_writer_rename_to_other_length_breaks_the_writer(tmp_path: Path) -> None:
    with open(tmp_path / "x.tar", "wb") as f:
        w = TarStreamWriter(f)
        with pytest.raises(InvalidInputError, match="header length changed"):
            w.add_file_unknown_size("a" * 100, io.BytesIO(b"x"), rename=lambda _n: "a" * 101)
        with pytest.raises(ArchiveError, match="unusable"):
            w.add_bytes("y", b"1")
