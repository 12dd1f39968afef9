"""toolkit.zstd_chunked: the streaming writer (c/storage's format and chunking) and the TOC check.

The chunking is checked against a straightforward port of c/storage's rollsum and
holesFinder (one byte at a time, as `compressor.go` does), the output against plain zstd
decoders, and the TOC check against every way a TOC can lie.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import tarfile

import pytest
import zstandard

from toolkit.compression import CompressionError, algorithm_by_name
from toolkit.zstd_chunked import (
    CHECKSUM_KEY,
    POSITION_KEY,
    ChunkedTOCError,
    TOCVerifier,
    ZstdChunkedWriter,
    _Roller,
    toc_annotations,
)

MiB = 1 << 20


# ------------------------------------------------------------------- reference chunker


def reference_chunks(content: bytes) -> list[tuple[int, int, bool]]:
    """c/storage v1.43 `rollingChecksumReader` + `holesFinder`, byte by byte: (file offset,
    size, zeros) of every chunk."""
    s1, s2 = 64 * 31, 64 * 63 * 31
    window = [0] * 64
    wofs = 0

    def roll(b: int) -> bool:
        nonlocal s1, s2, wofs
        drop = window[wofs]
        s1 = (s1 + b - drop) & 0xFFFFFFFF
        s2 = (s2 + s1 - 64 * (drop + 31)) & 0xFFFFFFFF
        window[wofs] = b
        wofs = (wofs + 1) & 63
        return s2 & 0xFFFF == 0xFFFF

    chunks: list[tuple[int, int, bool]] = []
    start = 0
    i = 0
    n = len(content)
    while i < n:
        if content[i] == 0:
            j = i
            while j < n and content[j] == 0:
                j += 1
            if j - i >= 1024:
                if i > start:
                    chunks.append((start, i - start, False))
                for _ in range(j - i):
                    roll(0)
                chunks.append((i, j - i, True))
                start = i = j
                continue
        if roll(content[i]):
            chunks.append((start, i + 1 - start, False))
            start = i + 1
        i += 1
    if n > start:
        chunks.append((start, n - start, False))
    return chunks


def test_vectorised_rollsum_matches_the_byte_loop() -> None:
    rng = random.Random(7)
    data = rng.randbytes(400_000)
    roller = _Roller()
    expected = [off + size - 1 for off, size, _ in reference_chunks(data)][:-1]
    assert roller.splits(data, b"") == expected
    assert len(expected) >= 2  # the data really splits
    # Split anywhere: the window carries over.
    cut = 123_457
    again = roller.splits(data[:cut], b"") + [cut + i for i in roller.splits(data[cut:], data[cut - 64 : cut])]
    assert again == expected


def build_tar(entries: list[tuple[str, bytes | None, dict[str, str]]], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, content, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            info.uid, info.gid = 1000, 100
            info.pax_headers = dict(extra)
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif name.endswith(".lnk"):
                info.type = tarfile.SYMTYPE
                info.linkname = content.decode()
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def write_chunked(tar: bytes, level: int | None = 3) -> tuple[bytes, dict[str, str]]:
    writer = ZstdChunkedWriter(io.BytesIO(tar), level=level)
    out = b"".join(iter(lambda: writer.read(100_000), b""))
    return out, writer.annotations()


def read_toc(blob: bytes, annotations: dict[str, str]) -> dict[str, object]:
    offset, length, ulength, kind = (int(x) for x in annotations[POSITION_KEY].split(":"))
    assert kind == 1
    assert annotations[CHECKSUM_KEY] == "sha256:" + hashlib.sha256(blob[offset : offset + length]).hexdigest()
    plain = zstandard.ZstdDecompressor().decompress(blob[offset : offset + length], max_output_size=ulength)
    assert len(plain) == ulength
    toc = json.loads(plain)
    assert isinstance(toc, dict)
    return toc


def verify(blob: bytes, annotations: dict[str, str], step: int = 65536) -> None:
    reader = TOCVerifier(io.BytesIO(blob), annotations)
    while reader.read(step):
        pass


RNG = random.Random(3)
CONTENT = {
    "random": RNG.randbytes(300_000),
    "holes": RNG.randbytes(5000) + bytes(3000) + RNG.randbytes(700) + bytes(1023) + b"x" + bytes(2 * MiB) + b"end",
    "zeros": bytes(5000),
    "text": b"layer data <&> " * 20_000,
}
ENTRIES: list[tuple[str, bytes | None, dict[str, str]]] = [
    ("usr/", None, {}),
    ("usr/random.bin", CONTENT["random"], {"SCHILY.xattr.user.foo": "bar"}),
    ("usr/holes.bin", CONTENT["holes"], {}),
    ("usr/zeros.bin", CONTENT["zeros"], {}),
    ("usr/empty", b"", {}),
    ("usr/" + "long-name-" * 20 + ".txt", CONTENT["text"], {}),
    ("usr/link.lnk", b"random.bin", {}),
]


def test_writer_output_is_plain_zstd_of_the_same_tar_with_a_valid_toc() -> None:
    tar = build_tar(ENTRIES)
    assert len(tar) % 10240 == 0  # tarfile pads the record: the padding must survive
    blob, annotations = write_chunked(tar)
    assert zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True).read() == tar
    assert set(annotations) == {CHECKSUM_KEY, POSITION_KEY}
    verify(blob, annotations)
    # The 40-byte footer of c/storage 1.43.
    assert blob[-48:-40] == b"\x50\x2a\x4d\x18\x28\x00\x00\x00" and blob[-8:] == b"GnUlInUx"
    toc = read_toc(blob, annotations)
    assert toc["version"] == 1
    entries = toc["entries"]
    assert isinstance(entries, list)
    names = [e["name"] for e in entries if e["type"] != "chunk"]
    assert names == [name for name, _, _ in ENTRIES]
    by_name = {e["name"]: e for e in entries if e["type"] != "chunk"}
    assert by_name["usr/random.bin"]["xattrs"] == {"user.foo": "YmFy"}
    assert by_name["usr/random.bin"]["uid"] == 1000 and by_name["usr/random.bin"]["mode"] == 0o644
    assert by_name["usr/random.bin"]["modtime"] == "2023-11-14T22:13:20Z"
    assert by_name["usr/"]["type"] == "dir" and "digest" not in by_name["usr/"]
    assert by_name["usr/link.lnk"]["type"] == "symlink" and by_name["usr/link.lnk"]["linkName"] == "random.bin"
    assert "digest" not in by_name["usr/empty"] and "offset" not in by_name["usr/empty"]

    for name, content in (("usr/random.bin", CONTENT["random"]), ("usr/holes.bin", CONTENT["holes"]),
                          ("usr/zeros.bin", CONTENT["zeros"])):
        file_entry = by_name[name]
        assert file_entry["digest"] == "sha256:" + hashlib.sha256(content).hexdigest()
        assert file_entry["size"] == len(content)
        # Each file's range decodes to exactly its content.
        start, end = file_entry["offset"], file_entry["endOffset"]
        assert zstandard.ZstdDecompressor().stream_reader(blob[start:end], read_across_frames=True).read() == content
        chunks = [e for e in entries if e["name"] == name]
        expected = reference_chunks(content)
        if len(expected) == 1:
            assert "chunkSize" not in file_entry
            continue
        got = [(e.get("chunkOffset", 0), e["chunkSize"], e.get("chunkType") == "zeros") for e in chunks]
        assert got == expected
        bounds = [e["offset"] for e in chunks] + [end]
        for e, lo, hi in zip(chunks, bounds, bounds[1:], strict=False):
            data = zstandard.ZstdDecompressor().stream_reader(blob[lo:hi], read_across_frames=True).read()
            assert e["chunkDigest"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert len(data) == e["chunkSize"]
    holes = [e for e in entries if e["name"] == "usr/holes.bin"]
    assert [e.get("chunkType") for e in holes].count("zeros") == 2  # 3000 and 2 MiB; 1023 is data


def test_toc_strings_use_go_escaping() -> None:
    blob, annotations = write_chunked(build_tar([("a<b>&c", b"x", {})]))
    offset, length, _, _ = (int(x) for x in annotations[POSITION_KEY].split(":"))
    plain = zstandard.ZstdDecompressor().decompress(blob[offset : offset + length])
    assert b'"name":"a\\u003cb\\u003e\\u0026c"' in plain


def test_gnu_and_ustar_tars_are_read() -> None:
    long = "d/" + "p" * 90 + "/" + "n" * 90  # ustar: prefix + name; GNU: a long-name entry
    entries: list[tuple[str, bytes | None, dict[str, str]]] = [(long, b"payload", {}), ("d/", None, {})]
    for fmt in (tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT):
        tar = build_tar(entries, fmt=fmt)
        blob, annotations = write_chunked(tar)
        assert zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True).read() == tar
        names = [e["name"] for e in read_toc(blob, annotations)["entries"]]  # type: ignore[union-attr]
        assert names == [long, "d/"]


def test_big_file_memory_is_bounded_and_long_chunks_span_frames() -> None:
    content = b"\x01" * (5 * MiB)  # a constant byte: the rollsum never splits it
    blob, annotations = write_chunked(build_tar([("big", content, {})]), level=1)
    entry = read_toc(blob, annotations)["entries"][0]  # type: ignore[index]
    assert "chunkSize" not in entry  # one chunk ...
    start, end = entry["offset"], entry["endOffset"]
    frames = 0
    pos = start
    while pos < end:  # ... written as several frames
        size = zstandard.frame_content_size(blob[pos : pos + 18])
        assert 0 < size <= 2 * MiB
        frames += 1
        pos += len(zstandard.ZstdCompressor(level=1, write_checksum=True).compress(content[: size]))
    assert frames >= 3


@pytest.mark.parametrize(
    ("tar", "message"),
    [
        (b"x" * 700, "bad number in the checksum field"),
        (b"\0" * 100, "unexpected end of data"),
        (b"1" * 512, "header checksum mismatch"),
        (build_tar([("f", b"abc", {})])[:600], "unexpected end of data"),
    ],
)
def test_malformed_tar_is_refused(tar: bytes, message: str) -> None:
    writer = ZstdChunkedWriter(io.BytesIO(tar), level=1)
    with pytest.raises(ChunkedTOCError, match=message):
        while writer.read(65536):
            pass
    assert isinstance(ChunkedTOCError("x"), CompressionError)


def test_unknown_entry_types_are_refused() -> None:
    tar = bytearray(build_tar([("f", b"abc", {})], fmt=tarfile.USTAR_FORMAT))
    tar[156:157] = b"S"  # GNU sparse
    header = bytes(tar[:148]) + b" " * 8 + bytes(tar[156:512])
    tar[148:156] = f"{sum(header):06o}\0 ".encode()
    with pytest.raises(ChunkedTOCError, match="unknown tarball type"):
        write_chunked(bytes(tar))


def test_registry_makes_zstd_chunked_writable() -> None:
    algorithm = algorithm_by_name("zstd:chunked")
    assert algorithm.writable and algorithm.levels == range(1, 21)


# ------------------------------------------------------------------------------ verifier


@pytest.fixture(scope="module")
def good() -> tuple[bytes, dict[str, str]]:
    return write_chunked(build_tar(ENTRIES[:3]))


def replace_toc(blob: bytes, annotations: dict[str, str], toc: bytes) -> tuple[bytes, dict[str, str]]:
    """The blob with its TOC replaced by `toc` (annotations and footer made consistent)."""
    offset, _, _, _ = (int(x) for x in annotations[POSITION_KEY].split(":"))
    compressed = zstandard.ZstdCompressor().compress(toc)
    footer = struct.pack("<QQQQ", offset, len(compressed), len(toc), 1) + b"GnUlInUx"
    new = (blob[: offset - 8] + b"\x50\x2a\x4d\x18" + struct.pack("<I", len(compressed)) + compressed
           + b"\x50\x2a\x4d\x18" + struct.pack("<I", 40) + footer)
    return new, {
        CHECKSUM_KEY: "sha256:" + hashlib.sha256(compressed).hexdigest(),
        POSITION_KEY: f"{offset}:{len(compressed)}:{len(toc)}:1",
    }


def test_verifier_accepts_a_good_blob_and_passes_bytes_through(good: tuple[bytes, dict[str, str]]) -> None:
    blob, annotations = good
    reader = TOCVerifier(io.BytesIO(blob), annotations)
    assert b"".join(iter(lambda: reader.read(777), b"")) == blob
    # The current c/storage annotation names are understood too.
    modern = {k.replace("io.containers.", "io.github.containers."): v for k, v in annotations.items()}
    verify(blob, modern)
    assert toc_annotations(modern) == toc_annotations(annotations)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b, a: (b, {**a, CHECKSUM_KEY: "sha256:" + "0" * 64}), "checksum mismatch"),
        (lambda b, a: (b[:-100], a), "beyond the blob|checksum mismatch"),
        (lambda b, a: (b[:200], a), "beyond the blob"),
        (lambda b, a: (b[:-8] + b"GnUlInUy", a), None),  # footer magic not recognised: annotation wins
        (lambda b, a: (b[:-48] + b"\x50\x2a\x4d\x18\x28\x00\x00\x00" + struct.pack("<QQQQ", 9, 9, 9, 1) + b"GnUlInUx",
                       a), "footer does not match"),
        (lambda b, a: replace_toc(b, a, b"not json"), "not valid JSON"),
        (lambda b, a: replace_toc(b, a, b'{"version":2,"entries":[]}'), "unsupported version"),
        (lambda b, a: replace_toc(b, a, b'{"version":1}'), "no entries list"),
        (lambda b, a: replace_toc(b, a, b'{"version":1,"entries":[{"type":"sock","name":"x"}]}'),
         "invalid type or name"),
        (lambda b, a: replace_toc(b, a, b'{"version":1,"entries":[{"type":"reg","name":"x","size":5,'
                                        b'"offset":99999999,"endOffset":99999999}]}'), "points outside"),
        (lambda b, a: replace_toc(b, a, b'{"version":1,"entries":[{"type":"reg","name":"x","size":-1}]}'),
         "invalid size"),
        (lambda b, a: replace_toc(b, a, b'{"version":1,"entries":[{"type":"reg","name":"x","size":3,'
                                        b'"offset":10,"endOffset":20,"digest":"md5:x"}]}'), "invalid digest"),
        (lambda b, a: replace_toc(b, a, b'{"version":1,"entries":[{"type":"reg","name":"x","size":3}]}'),
         "content but no offset"),
    ],
)
def test_verifier_refuses_a_lying_toc(good: tuple[bytes, dict[str, str]], edit, message: str | None) -> None:
    blob, annotations = edit(*good)
    if message is None:
        verify(blob, annotations)
        return
    with pytest.raises(ChunkedTOCError, match=message):
        verify(blob, annotations)


def test_verifier_refuses_a_toc_that_decompresses_to_another_size(good: tuple[bytes, dict[str, str]]) -> None:
    blob, annotations = good
    blob = blob[:-48]  # no footer (it would disagree first): the annotation alone is checked
    offset, length, ulength, _ = (int(x) for x in annotations[POSITION_KEY].split(":"))
    with pytest.raises(ChunkedTOCError, match="decompresses to"):
        verify(blob, {**annotations, POSITION_KEY: f"{offset}:{length}:{ulength + 1}:1"})
    garbage = os.urandom(length)
    bad = blob[:offset] + garbage + blob[offset + length :]
    with pytest.raises(ChunkedTOCError, match="cannot decompress|decompresses to"):
        verify(bad, {**annotations, CHECKSUM_KEY: "sha256:" + hashlib.sha256(garbage).hexdigest()})


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({CHECKSUM_KEY: "sha256:" + "a" * 64}, "is missing"),
        ({POSITION_KEY: "1:2:3:1"}, "is missing"),
        ({CHECKSUM_KEY: "sha256:" + "a" * 64, POSITION_KEY: "1:2:3"}, "invalid zstd:chunked manifest position"),
        ({CHECKSUM_KEY: "sha256:" + "a" * 64, POSITION_KEY: "-1:2:3:1"}, "invalid zstd:chunked manifest position"),
        ({CHECKSUM_KEY: "sha256:" + "a" * 64, POSITION_KEY: "10:2:3:2"}, "manifest type 2"),
        ({CHECKSUM_KEY: "sha256:" + "a" * 64, POSITION_KEY: f"10:{60 << 20}:3:1"}, "too big"),
        ({CHECKSUM_KEY: "sha256:xyz", POSITION_KEY: "10:2:3:1"}, "manifest checksum"),
        ({CHECKSUM_KEY: "sha256:" + "a" * 64, POSITION_KEY: "10:2:3:1",
          "io.github.containers.zstd-chunked.manifest-checksum": "sha256:" + "b" * 64,
          "io.github.containers.zstd-chunked.manifest-position": "10:2:3:1"}, "disagree"),
    ],
)
def test_malformed_annotations_are_refused_at_once(annotations: dict[str, str], message: str) -> None:
    with pytest.raises(ChunkedTOCError, match=message):
        TOCVerifier(io.BytesIO(b""), annotations)
