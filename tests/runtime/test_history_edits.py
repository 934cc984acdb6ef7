from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.types import AgentMessage, TextPart, UserMessage


async def test_append_adds_history_and_delete_hides_an_item(make_app: Any) -> None:
    app, model = await make_app(["sure"])
    thread = await app.threads.start()
    added = await thread.append(
        [
            UserMessage(content=(TextPart(text="imported question"),)),
            AgentMessage(text="imported answer"),
        ]
    )

    assert await thread.delete_item(added[1].item_id) is True
    assert await thread.delete_item(added[1].item_id) is False
    await thread.run("go on")

    assert [i.text for i in model.requests[0].items] == ["imported question", "go on"]
    with pytest.raises(tl.InvalidInputError, match="NUL"):
        await thread.append([UserMessage(content=(TextPart(text="bad \x00"),))])


async def test_rollback_hides_the_last_turns_from_the_model(make_app: Any) -> None:
    app, model = await make_app(["one", "two", "three"])
    thread = await app.threads.start()
    await thread.run("first")
    await thread.run("second")

    await thread.rollback(1)
    await thread.run("third")

    assert [i.text for i in model.requests[-1].items] == ["first", "one", "third"]
    with pytest.raises(tl.InvalidInputError, match="between 1 and"):
        await thread.rollback(5)
    assert len(await thread.turns()) == 3  # the stored log keeps every turn


async def test_fork_copies_the_visible_history(make_app: Any) -> None:
    app, model = await make_app(["one", "two", "in the fork"])
    thread = await app.threads.start(user_id="ann")
    await thread.run("first")
    await thread.run("second")

    fork = await app.threads.fork(thread.id, upto_seq=2)
    await fork.run("next")

    assert fork.record.metadata["forked_from_id"] == thread.id
    assert fork.user_id == "ann"
    assert [i.text for i in model.requests[-1].items] == ["first", "one", "next"]
    assert len(await thread.items()) == 4  # the source is untouched


async def test_adding_a_tool_call_or_result_the_thread_holds_is_refused(make_app: Any) -> None:
    from threadline.types import ToolCall, ToolResult

    app, _ = await make_app()
    thread = await app.threads.start()
    call = ToolCall(tool_call_id="call_1", name="lookup", arguments="{}")
    result = ToolResult(tool_call_id="call_1", name="lookup", output="tea")
    await thread.append([call, result])

    for payloads in ([call], [result], [ToolCall(tool_call_id="c2", name="x", arguments="{}")] * 2):
        with pytest.raises(tl.InvalidInputError, match="call"):
            await thread.append(payloads)

    assert len(await thread.items()) == 2
