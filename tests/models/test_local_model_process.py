"""The local model runs in a worker process: when native code dies there, this process lives,
the call fails as a retryable ModelError, and the next call gets a new worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import threadline as tl
from threadline.models import LocalModel, TextDelta
from threadline.testing import check_invariants
from threadline.types import ConfigurationError, ModelError

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Ask, Collect

pytestmark = pytest.mark.local_model

LONG_STORY = "Write a very long story about a dragon."


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV, signal.SIGILL])
async def test_a_worker_killed_mid_answer_is_a_retryable_error_and_the_next_call_works(
    bundled_model_path: str, ask: Ask, collect: Collect, sig: signal.Signals
) -> None:
    model = LocalModel(bundled_model_path, n_ctx=1024)
    await model.load()
    first_pid = model.process_id
    assert first_pid is not None and first_pid != os.getpid()
    deltas = 0

    with pytest.raises(ModelError) as raised:
        async with contextlib.aclosing(
            model.stream(ask(LONG_STORY, max_output_tokens=1000))
        ) as events:
            async for event in events:
                assert isinstance(event, TextDelta)
                deltas += 1
                if deltas == 3:
                    os.kill(first_pid, sig)

    assert raised.value.retryable is True
    assert sig.name in raised.value.message
    # A build for another CPU dies of SIGILL: the message says how to rebuild.
    assert ("GGML_NATIVE=OFF" in raised.value.message) == (sig == signal.SIGILL)
    _, response = await collect(model.stream(ask("What is the capital of France?")))
    assert "Paris" in response.text
    assert model.process_id not in (None, first_pid)


async def test_a_worker_killed_between_calls_is_replaced_without_an_error(
    bundled_model_path: str, ask: Ask, collect: Collect
) -> None:
    model = LocalModel(bundled_model_path, n_ctx=768)
    await model.load()
    first_pid = model.process_id
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)

    _, response = await collect(model.stream(ask("What is the capital of France?")))

    assert "Paris" in response.text
    assert model.process_id not in (None, first_pid)


async def test_a_turn_whose_worker_dies_fails_cleanly_and_the_thread_runs_on(
    make_store: Callable[[], tl.Store], bundled_model_path: str
) -> None:
    model = LocalModel(bundled_model_path, n_ctx=1280)
    agent = tl.Agent(name="assistant", instructions="Be brief.")
    async with tl.Threadline(agents=[agent], store=make_store(), model=model) as app:
        thread = await app.threads.start(user_id="me")
        deltas = 0
        with pytest.raises(tl.TurnFailedError) as raised:
            async for event in thread.run_streamed(LONG_STORY):
                if event.type == "agent_message_delta":
                    deltas += 1
                    if deltas == 3:
                        pid = model.process_id
                        assert pid is not None
                        os.kill(pid, signal.SIGKILL)

        assert raised.value.error_code == "model_error"
        result = await thread.run("What is the capital of France?")
        assert result.status == "completed"
        assert "Paris" in result.text
        [failed, completed] = await thread.turns()
        assert (failed.status, completed.status) == ("failed", "completed")
        assert await check_invariants(app.store) == []


def test_a_library_built_with_amx_loads_models_without_extra_buffer_types() -> None:
    # Run where native code may crash: never in the test process.
    script = (
        "import llama_cpp\n"
        "from threadline.models._local_worker import _without_extra_buffer_types\n"
        "before = llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts\n"
        "_without_extra_buffer_types(llama_cpp)\n"
        "after = llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts\n"
        "print(before, after)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert output == ["True", "False"]


async def test_a_file_llama_cpp_cannot_load_is_a_configuration_error(tmp_path: Path) -> None:
    not_a_model = tmp_path / "notes.gguf"
    not_a_model.write_text("these are not weights")
    model = LocalModel(str(not_a_model))

    with pytest.raises(ConfigurationError, match="cannot load local model"):
        await model.load()
    assert model.process_id is None
