from __future__ import annotations

from pathlib import Path

import pytest
from bank_harness import Bank


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    return Bank(tmp_path / "bank.db")
