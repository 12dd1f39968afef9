"""manifest_digest() agrees with `skopeo manifest-digest` on the fixture files (peer: skopeo)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolkit.errors import ToolkitError
from toolkit.manifest import manifest_digest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
FILES = sorted(
    p
    for p in list(FIXTURES.glob("*.json")) + list(FIXTURES.glob("*.bin")) + list(FIXTURES.glob("conv/*.json"))
)
SKOPEO = shutil.which("skopeo")

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(SKOPEO is None, reason="skopeo (the interop peer) is not installed"),
]


def test_enough_files() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_digest_matches_skopeo(path: Path) -> None:
    assert SKOPEO is not None
    proc = subprocess.run(
        [SKOPEO, "manifest-digest", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    raw = path.read_bytes()
    if proc.returncode != 0:
        # skopeo refuses (e.g. malformed JWS signatures): so must we.
        with pytest.raises(ToolkitError):
            manifest_digest(raw)
        return
    assert str(manifest_digest(raw)) == proc.stdout.strip()
