"""Shared machinery of the bad-input corpus (security.md §4): one guarded destination per test.

Every corpus test copies (or inspects) hostile input into `guard.ref`, an existing `dir:`
image, and then calls `guard.check(result, match=...)`, which asserts the whole contract:
non-zero exit, exactly one stderr line, no traceback (`helpers.assert_clean_error`), the
destination tree byte-identical to before (`helpers.trees.snapshot`) and no temp file
anywhere under the test's folder (`helpers.trees.leftovers`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_guard import Guard

from helpers import SkopoRunner


@pytest.fixture
def guard(tmp_path: Path, run_skopo: SkopoRunner) -> Guard:
    """An existing `dir:` destination plus the corpus contract check (see the module doc)."""
    return Guard(tmp_path, run_skopo)
