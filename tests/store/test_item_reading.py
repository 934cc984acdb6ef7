"""Items read back from a store decode their row on first use, and are then the items that
were written: equal, hashable where those are, with the same repr and dict, frozen, copyable.
`thread_items` reads a thread's rows without the columns the thread and content repeat."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import AgentMessage, Item, ToolCall


@pytest.fixture
async def written(make_store: Any, weather_tool: tl.Tool) -> tuple[Any, str, list[Item]]:
    """A thread with one tool-using turn, and its items as the turn wrote them."""
    model = ScriptedModel([tool_call("get_weather", {"city": "Oslo"}), "Mild."])
    agent = tl.Agent(name="assistant", tools=[weather_tool])
    async with tl.Threadline(agents=[agent], store=make_store(), model=model) as app:
        thread = await app.threads.start(user_id="ann")
        result = await thread.run("Weather in Oslo?")
    return make_store, thread.id, list(result.items)


async def read_back(make_store: Any, thread_id: str) -> list[Item]:
    async with make_store() as store:
        return await store.load_items(thread_id)


async def test_read_items_equal_the_written_ones(written: tuple[Any, str, list[Item]]) -> None:
    make_store, thread_id, items = written

    stored = await read_back(make_store, thread_id)

    assert stored == items
    assert [repr(i) for i in await read_back(make_store, thread_id)] == [repr(i) for i in items]
    assert [i.to_dict() for i in await read_back(make_store, thread_id)] == [
        i.to_dict() for i in items
    ]
    call = (await read_back(make_store, thread_id))[1]
    assert hash(call) == hash(items[1])
    assert isinstance(call, Item) and isinstance(call.payload, ToolCall)


async def test_a_read_item_behaves_as_a_written_one(written: tuple[Any, str, list[Item]]) -> None:
    make_store, thread_id, items = written
    answer = items[-1]

    unused = (await read_back(make_store, thread_id))[-1]
    assert dataclasses.replace(unused, status="failed") == dataclasses.replace(
        answer, status="failed"
    )
    for make_copy in (copy.copy, copy.deepcopy, lambda i: pickle.loads(pickle.dumps(i))):
        assert make_copy((await read_back(make_store, thread_id))[-1]) == answer
    unused = (await read_back(make_store, thread_id))[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        unused.status = "failed"  # type: ignore[misc]
    assert unused.payload == AgentMessage(text="Mild.")
    with pytest.raises(AttributeError, match="no attribute 'colour'"):
        unused.colour  # type: ignore[attr-defined]  # noqa: B018
