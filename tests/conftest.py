"""Shared fixtures: the real public data folder, skipped cleanly where it is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    """``../shared/data/real`` beside the checkout; tests using it skip where it is absent."""
    if not REAL.is_dir():
        pytest.skip(f"real public data not found at {REAL} (only present beside the main checkout)")
    return REAL
