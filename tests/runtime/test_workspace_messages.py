"""A tool's thread as a workspace: its identity, and messages it reads, injects and edits,
in the running turn and from the `Thread` handle (both stores)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.runtime._history import visible_history
from threadline.testing import tool_call, tool_calls
from threadline.types import EDITED_PHASE, AgentMessage, SystemEvent, ToolResult, UserMessage


def texts(items: Any) -> list[tuple[str, str]]:
    return [(i.type, i.text or getattr(i.payload, "output", "")) for i in items]


async def test_a_tool_knows_its_thread_and_the_turn_it_runs_in(make_app: Any) -> None:
    seen: dict[str, Any] = {}

    @tl.tool
    async def whoami(thread: tl.ThreadState[Any]) -> str:
        """Say who runs."""
        execution = thread.execution
        assert execution is not None
        seen.update(
            thread_id=thread.thread_id,
            agent_id=thread.agent_id,
            user_id=thread.user_id,
            created_at=thread.created_at,
            turn=(execution.turn_id, execution.status),
            terminated=thread.terminated,
        )
        return "ok"

    app, _ = await make_app([tool_call("whoami"), "done"], tools=[whoami])
    thread = await app.threads.start(user_id="ann")
    assert await thread.execution() is None  # at rest

    result = await thread.run("who?")

    assert seen == {
        "thread_id": thread.id,
        "agent_id": "assistant",
        "user_id": "ann",
        "created_at": thread.record.created_at,
        "turn": (result.turn_id, "running"),
        "terminated": False,
    }
    assert (thread.thread_id, thread.agent_id, thread.user_id) == (thread.id, "assistant", "ann")
    assert thread.created_at == thread.record.created_at
    assert thread.terminated is False


async def test_execution_is_the_unfinished_turn_read_from_the_store(make_app: Any) -> None:
    @tl.tool(needs_approval=True)
    async def pay() -> str:
        """Pay."""
        return "paid"

    app, _ = await make_app([tool_call("pay")], tools=[pay])
    thread = await app.threads.start()
    paused = await thread.run("pay")

    execution = await thread.execution()
    assert execution is not None
    assert (execution.turn_id, execution.status) == (paused.turn_id, "awaiting_approval")
    await thread.interrupt()
    assert await thread.execution() is None


async def test_get_message_finds_the_threads_items_and_nothing_else(make_app: Any) -> None:
    found: list[Any] = []
    other_id: list[str] = []

    @tl.tool
    async def read(item_id: str, thread: tl.ThreadState[Any]) -> str:
        """Read an item."""
        found.append(await thread.get_message(item_id))
        for foreign in (other_id[0], "item_unknown"):
            with pytest.raises(tl.NotFoundError) as caught:
                await thread.get_message(foreign)
            found.append(caught.value.message.replace(foreign, "ID"))
        return "read"

    app, model = await make_app(["one", "?", "two"], tools=[read])
    other = await app.threads.start()
    other_id.append((await other.run("elsewhere")).items[0].item_id)
    thread = await app.threads.start()
    first = await thread.append([UserMessage(content=(tl.TextPart(text="hello"),))])
    model.steps[1] = tool_call("read", {"item_id": first[0].item_id})

    await thread.run("read it")

    assert found[0].item_id == first[0].item_id and found[0].text == "hello"
    assert found[1] == found[2]  # another thread's id and an unknown id look alike
    assert (await thread.get_message(first[0].item_id)).text == "hello"
    for foreign in (other_id[0], "item_unknown"):
        with pytest.raises(tl.NotFoundError):
            await thread.get_message(foreign)


async def test_an_injected_message_is_durable_at_once_and_read_after_the_steps_results(
    make_app: Any, make_store: Any
) -> None:
    injected = asyncio.Event()
    proceed = asyncio.Event()

    @tl.tool
    async def note(thread: tl.ThreadState[Any]) -> str:
        """Leave a note."""
        item = await thread.inject_message("The customer is on the Pro plan.")
        assert item.seq > 0 and item.type == "user_message"
        injected.set()
        await proceed.wait()
        return "noted"

    @tl.tool
    async def other() -> str:
        """Another tool of the same step."""
        return "other done"

    app, model = await make_app(
        [tool_calls(("note", {}), ("other", {})), "Pro it is."], tools=[note, other]
    )
    thread = await app.threads.start()
    running = asyncio.create_task(thread.run("plan?"))
    await asyncio.wait_for(injected.wait(), 5)

    # Stored before the tool returned: another reader of the store sees it now.
    async with make_store() as store:
        stored = await store.load_items(thread.id)
    assert [i.text for i in stored if i.type == "user_message"] == [
        "plan?",
        "The customer is on the Pro plan.",
    ]
    proceed.set()
    result = await running

    # Stored between the calls and their results; the model reads it after the results.
    assert [i.type for i in await thread.items()] == [
        "user_message",
        "tool_call",
        "tool_call",
        "user_message",
        "tool_result",
        "tool_result",
        "agent_message",
    ]
    assert texts(model.requests[1].items) == [
        ("user_message", "plan?"),
        ("tool_call", ""),
        ("tool_call", ""),
        ("tool_result", "noted"),
        ("tool_result", "other done"),
        ("user_message", "The customer is on the Pro plan."),
    ]
    assert result.text == "Pro it is."
    assert texts(visible_history(await thread.items()))[-2:] == [
        ("user_message", "The customer is on the Pro plan."),
        ("agent_message", "Pro it is."),
    ]


async def test_with_result_stores_the_message_with_the_tools_result(make_app: Any) -> None:
    @tl.tool
    async def note(thread: tl.ThreadState[Any]) -> str:
        """Leave notes."""
        staged = await thread.inject_message("an aside", role="assistant", position="with_result")
        assert staged.seq == 0
        return "noted"

    app, model = await make_app([tool_call("note"), "ok"], tools=[note])
    thread = await app.threads.start()
    await thread.run("go")

    assert texts(await thread.items()) == [
        ("user_message", "go"),
        ("tool_call", ""),
        ("tool_result", "noted"),
        ("agent_message", "an aside"),
        ("agent_message", "ok"),
    ]
    assert texts(model.requests[1].items)[-1] == ("agent_message", "an aside")
    started = [e.item_id for e in await thread.events() if e.type == "item_started"]
    assert (await thread.items())[3].item_id in started


async def test_bad_injections_are_refused_and_store_nothing(make_app: Any) -> None:
    problems: list[str] = []

    @tl.tool
    async def bad(thread: tl.ThreadState[Any]) -> str:
        """Try bad messages."""
        attempts: list[Any] = [
            thread.inject_message(""),
            thread.inject_message("x", role="system"),  # type: ignore[arg-type]
            thread.inject_message("x", position="start"),  # type: ignore[arg-type]
            thread.inject_message("bad \x00"),
            thread.inject_message([{"type": "image", "url": "https://x/y.png"}], role="assistant"),
            thread.inject_message("x", role="assistant", sender="ann"),
        ]
        for attempt in attempts:
            with pytest.raises(tl.InvalidInputError) as caught:
                await attempt
            problems.append(caught.value.code)
        return "tried"

    app, _ = await make_app([tool_call("bad"), "ok"], tools=[bad])
    thread = await app.threads.start()
    await thread.run("go")

    assert problems == ["invalid_input"] * 6
    assert [i.type for i in await thread.items()] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_message",
    ]


async def test_a_tool_edits_a_message_and_the_model_reads_the_new_version(make_app: Any) -> None:
    versions: list[list[str]] = []

    @tl.tool
    async def correct(item_id: str, thread: tl.ThreadState[Any]) -> str:
        """Correct an earlier message."""
        edited = await thread.update_message(item_id, "My order is B12.")
        assert edited.item_id == item_id and edited.text == "My order is B12."
        assert (await thread.get_message(item_id)).text == "My order is B12."
        versions.append([i.text for i in await thread.get_message_versions(item_id)])
        return "corrected"

    app, model = await make_app(["Noted: A7.", "?", "Looking up B12."], tools=[correct])
    thread = await app.threads.start()
    first = await thread.run("My order is A7.")
    user_item = first.items[0]
    model.steps[1] = tool_call("correct", {"item_id": user_item.item_id})

    await thread.run("Sorry, I mistyped it.")

    assert versions == [["My order is A7.", "My order is B12."]]
    # From the request after the edit on, the model reads the new version only.
    assert texts(model.requests[1].items)[0] == ("user_message", "My order is A7.")
    assert texts(model.requests[2].items)[0] == ("user_message", "My order is B12.")
    # The original stays in the log; the edit is an item (with its events) of its own.
    items = await thread.items()
    assert items[0].text == "My order is A7."
    (marker,) = [i for i in items if isinstance(i.payload, SystemEvent)]
    assert marker.payload.phase == EDITED_PHASE  # type: ignore[union-attr]
    assert marker.payload.data["item_id"] == user_item.item_id  # type: ignore[union-attr]
    completed = [e.item_id for e in await thread.events() if e.type == "item_completed"]
    assert marker.item_id in completed


async def test_the_thread_handle_edits_messages_between_turns(make_app: Any) -> None:
    app, model = await make_app(["Hello!", "Bye."])
    thread = await app.threads.start()
    result = await thread.run("Hi")
    answer, question = result.items[-1], result.items[0]

    edited = await thread.update_message(answer.item_id, "Hello there!")
    again = await thread.update_message(answer.item_id, ["Hello", " again!"])
    await thread.update_message(question.item_id, "Hi, I am Ann")
    await thread.run("Bye")

    assert (edited.text, again.text) == ("Hello there!", "Hello again!")
    assert [v.text for v in await thread.get_message_versions(answer.item_id)] == [
        "Hello!",
        "Hello there!",
        "Hello again!",
    ]
    versions = await thread.get_message_versions(answer.item_id)
    assert {v.seq for v in versions} == {answer.seq}
    assert versions[1].created_at <= versions[2].created_at
    assert texts(model.requests[1].items) == [
        ("user_message", "Hi, I am Ann"),
        ("agent_message", "Hello again!"),
        ("user_message", "Bye"),
    ]
    assert (await thread.get_message(answer.item_id)).text == "Hello again!"


async def test_what_cannot_be_edited_is_refused_and_changes_nothing(make_app: Any) -> None:
    @tl.tool
    async def wait(thread: tl.ThreadState[Any]) -> str:
        """Wait."""
        return "waited"

    app, _ = await make_app([tool_call("wait"), "ok"], tools=[wait])
    other = await app.threads.start()
    foreign = await other.append([AgentMessage(text="not yours")])
    thread = await app.threads.start()
    result = await thread.run("go")
    call = next(i for i in result.items if i.type == "tool_call")
    tool_result = next(i for i in result.items if isinstance(i.payload, ToolResult))
    before = await thread.items()

    with pytest.raises(tl.NotFoundError):
        await thread.update_message(foreign[0].item_id, "mine now")
    with pytest.raises(tl.NotFoundError):
        await thread.update_message("item_nope", "x")
    with pytest.raises(tl.InvalidInputError, match="only these can be edited"):
        await thread.update_message(call.item_id, "x")
    with pytest.raises(tl.InvalidInputError, match="empty"):
        await thread.update_message(result.items[-1].item_id, "  ")
    assert await thread.items() == before
    assert (await other.get_message(foreign[0].item_id)).text == "not yours"

    # A tool result's output can be corrected; a deleted item is gone.
    fixed = await thread.update_message(tool_result.item_id, "waited 3s")
    assert fixed.payload == ToolResult(
        tool_call_id=fixed.payload.tool_call_id,  # type: ignore[union-attr]
        name="wait",
        output="waited 3s",
    )
    await thread.delete_item(result.items[-1].item_id)
    with pytest.raises(tl.NotFoundError):
        await thread.get_message(result.items[-1].item_id)


async def test_the_thread_handle_injects_a_message_without_starting_a_turn(
    make_app: Any,
) -> None:
    app, model = await make_app(["Noted."])
    thread = await app.threads.start()

    item = await thread.inject_message("We agreed on Friday.", role="assistant")
    await thread.inject_message("And Tuesday?", sender="ann")

    assert item.type == "agent_message" and item.turn_id is None
    assert await thread.turns() == []
    await thread.run("Confirm?")
    assert texts(model.requests[0].items) == [
        ("agent_message", "We agreed on Friday."),
        ("user_message", "And Tuesday?"),
        ("user_message", "Confirm?"),
    ]
    with pytest.raises(tl.InvalidInputError):
        await thread.inject_message("x", role="tool")  # type: ignore[arg-type]
