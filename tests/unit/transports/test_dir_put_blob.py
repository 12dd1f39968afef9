"""`dir:` destination: a blob that does not match its descriptor is refused and leaves nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from toolkit.digest import Digest
from toolkit.errors import DigestMismatchError, SizeMismatchError, ToolkitError
from toolkit.transports.dir import TRANSPORT
from toolkit.types import BlobInfo, SystemContext


@pytest.mark.parametrize(
    ("info", "error"),
    [
        (BlobInfo(digest=Digest.from_bytes(b"other"), size=-1), DigestMismatchError),
        (BlobInfo(digest=Digest.from_bytes(b"data"), size=5), SizeMismatchError),
    ],
)
def test_put_blob_mismatch(tmp_path: Path, info: BlobInfo, error: type[ToolkitError]) -> None:
    target = tmp_path / "img"
    dest = TRANSPORT.parse_reference(str(target)).new_image_destination(SystemContext())
    with pytest.raises(error):
        dest.put_blob(io.BytesIO(b"data"), info)
    dest.close()
    assert list(tmp_path.iterdir()) == []
