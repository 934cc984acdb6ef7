from __future__ import annotations

from pathlib import Path

import pytest
from cli_process import CliProcess


@pytest.fixture
def cli(tmp_path: Path) -> CliProcess:
    return CliProcess(tmp_path)
