"""`queue_tool`: a tool queues a call that runs after its step, as a call of the turn."""

from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.models import ModelRequest
from threadline.models._anthropic_format import anthropic_messages
from threadline.models._chat_format import chat_messages
from threadline.models._responses_format import responses_input
from threadline.runtime._history import visible_history
from threadline.testing import tool_call, tool_calls
from threadline.types import ToolCall, ToolResult


def calls_and_results(items: list[tl.Item]) -> list[tuple[str, str, str]]:
    return [
        (i.type, i.payload.name, i.payload.tool_call_id)  # type: ignore[union-attr]
        for i in items
        if isinstance(i.payload, ToolCall | ToolResult)
    ]


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def tools(sent: list[str]) -> list[tl.Tool]:
    @tl.tool
    async def send(text: str) -> str:
        """Send a message."""
        sent.append(text)
        return f"sent {text}"

    @tl.tool(needs_approval=True)
    async def publish(text: str) -> str:
        """Publish (a human approves)."""
        sent.append(f"published {text}")
        return f"published {text}"

    @tl.tool
    async def draft(text: str, then: str, thread: tl.ThreadState[Any]) -> str:
        """Draft a text, then queue a tool that handles it."""
        call_id = await thread.queue_tool(then, {"text": text.upper()})
        return f"drafted; {then} queued as {call_id}"

    return [send, publish, draft]


async def test_a_queued_call_runs_after_the_step_and_the_model_reads_it_as_its_own_step(
    make_app: Any, tools: list[tl.Tool], sent: list[str]
) -> None:
    app, model = await make_app(
        [tool_call("draft", {"text": "hi", "then": "send"}, tool_call_id="c1"), "Done."],
        tools=tools,
    )
    thread = await app.threads.start()

    result = await thread.run("draft and send hi")

    assert result.status == "completed"
    assert sent == ["HI"]
    items = await thread.items()
    shown = calls_and_results(items)
    queued_id = shown[2][2]
    assert shown == [
        ("tool_call", "draft", "c1"),
        ("tool_result", "draft", "c1"),
        ("tool_call", "send", queued_id),
        ("tool_result", "send", queued_id),
    ]
    (draft_result,) = [
        i.payload
        for i in items
        if isinstance(i.payload, ToolResult) and i.payload.tool_call_id == "c1"
    ]
    assert draft_result.output == f"drafted; send queued as {queued_id}"
    # Stored with the queuing tool's result: the same write, hence adjacent seqs.
    seqs = [i.seq for i in items if isinstance(i.payload, ToolCall | ToolResult)]
    assert seqs[2] == seqs[1] + 1
    request = model.requests[-1]
    assert calls_and_results(list(request.items)) == shown
    assert chat_messages(request)[-4:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "draft", "arguments": '{"text":"hi","then":"send"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": draft_result.output},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": queued_id,
                    "type": "function",
                    "function": {"name": "send", "arguments": '{"text":"HI"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": queued_id, "content": "sent HI"},
    ]
    # The queued call is announced as a model's call is: started, then completed.
    (queued_item,) = [
        i.item_id
        for i in items
        if isinstance(i.payload, ToolCall) and i.payload.tool_call_id == queued_id
    ]
    announced = [e.type for e in await thread.events() if e.item_id == queued_item]
    assert announced == ["item_started", "item_completed"]


async def test_a_queued_call_follows_the_approval_policy(
    make_app: Any, tools: list[tl.Tool], sent: list[str]
) -> None:
    app, _ = await make_app(
        [tool_call("draft", {"text": "news", "then": "publish"}), "Published."], tools=tools
    )
    thread = await app.threads.start()

    paused = await thread.run("publish news")

    assert paused.status == "paused"
    assert sent == []
    (request,) = await thread.pending()
    assert (request.name, request.arguments) == ("publish", '{"text":"NEWS"}')  # type: ignore[union-attr]
    await thread.approve(request.tool_call_id)
    done = await thread.resume_turn()

    assert done.status == "completed"
    assert sent == ["published NEWS"]


async def test_a_denied_queued_call_is_answered_and_never_runs(
    make_app: Any, tools: list[tl.Tool], sent: list[str]
) -> None:
    app, _ = await make_app(
        [tool_call("draft", {"text": "news", "then": "publish"}), "Not published."], tools=tools
    )
    thread = await app.threads.start()
    await thread.run("publish news")
    (request,) = await thread.pending()

    await thread.deny(request.tool_call_id, reason="not today")
    done = await thread.resume_turn()

    assert done.status == "completed"
    assert sent == []
    last = [i.payload for i in await thread.items() if isinstance(i.payload, ToolResult)][-1]
    assert last.outcome == "denied"


@pytest.mark.parametrize(
    ("then", "error"),
    [
        ("launch", "there is no tool named 'launch'; available: draft, publish, send"),
        ("send", "Invalid arguments for tool send"),
    ],
)
async def test_an_unknown_tool_or_invalid_arguments_raise_tool_error_and_queue_nothing(
    make_app: Any, sent: list[str], then: str, error: str
) -> None:
    @tl.tool
    async def send(text: str) -> str:
        """Send."""
        sent.append(text)
        return "sent"

    @tl.tool(needs_approval=True)
    async def publish(text: str) -> str:
        """Publish."""
        return "published"

    @tl.tool
    async def draft(text: str, then: str, thread: tl.ThreadState[Any]) -> str:
        """Queue a call with a bad argument when asked to send."""
        arguments = {"text": 5} if then == "send" else {"text": text}
        try:
            await thread.queue_tool(then, arguments)
        except tl.ToolError as exc:
            return f"refused: {exc.message}"
        return "queued"

    app, _ = await make_app(
        [tool_call("draft", {"text": "x", "then": then}), "ok"], tools=[send, publish, draft]
    )
    thread = await app.threads.start()

    await thread.run("go")

    results = [i.payload for i in await thread.items() if isinstance(i.payload, ToolResult)]
    assert len(results) == 1
    assert results[0].output.startswith(f"refused: {error}")
    assert sent == []


async def test_a_call_queued_while_its_batch_waits_for_a_human_comes_after_the_batch(
    make_app: Any, tools: list[tl.Tool], sent: list[str]
) -> None:
    app, model = await make_app(
        [
            tool_calls(("publish", {"text": "a"}), ("draft", {"text": "b", "then": "send"})),
            "Both done.",
        ],
        tools=tools,
    )
    thread = await app.threads.start()
    paused = await thread.run("publish a, send b")
    assert paused.status == "paused"
    (request,) = await thread.pending()

    await thread.approve(request.tool_call_id)
    done = await thread.resume_turn()

    assert done.status == "completed"
    assert sorted(sent) == ["B", "published a"]
    stored = calls_and_results(await thread.items())
    publish_id, draft_id, queued_id = stored[0][2], stored[1][2], stored[3][2]
    # Stored: the queued call follows the draft's result, before the approved publish ran.
    assert [(kind, name) for kind, name, _ in stored] == [
        ("tool_call", "publish"),
        ("tool_call", "draft"),
        ("tool_result", "draft"),
        ("tool_call", "send"),
        ("tool_result", "publish"),
        ("tool_result", "send"),
    ]
    # Shown: the batch's results first, then the queued call as a step of its own.
    request_items = list(model.requests[-1].items)
    assert calls_and_results(request_items) == [
        ("tool_call", "publish", publish_id),
        ("tool_call", "draft", draft_id),
        ("tool_result", "draft", draft_id),
        ("tool_result", "publish", publish_id),
        ("tool_call", "send", queued_id),
        ("tool_result", "send", queued_id),
    ]
    assert_well_formed(model.requests[-1])


def assert_well_formed(request: ModelRequest) -> None:
    """Every provider format pairs each call with its result, in order."""
    chat = chat_messages(request)
    for index, message in enumerate(chat):
        if message["role"] == "assistant" and message.get("tool_calls"):
            ids = {c["id"] for c in message["tool_calls"]}
            following = chat[index + 1 : index + 1 + len(ids)]
            assert {m.get("tool_call_id") for m in following} == ids
    responses = responses_input(request)
    open_calls: set[str] = set()
    for entry in responses:
        if entry.get("type") == "function_call":
            assert not open_calls or entry["call_id"] not in open_calls
            open_calls.add(entry["call_id"])
        elif entry.get("type") == "function_call_output":
            open_calls.remove(entry["call_id"])
        else:
            assert not open_calls
    assert not open_calls
    anthropic = anthropic_messages(request)
    for index, message in enumerate(anthropic):
        uses = [b["id"] for b in message["content"] if b.get("type") == "tool_use"]
        if uses:
            answer = anthropic[index + 1]["content"]
            answered = [b["tool_use_id"] for b in answer if b.get("type") == "tool_result"]
            assert sorted(answered) == sorted(uses)


async def test_calls_queued_by_a_tool_that_then_fails_are_stored_with_its_error(
    make_app: Any,
) -> None:
    @tl.tool
    async def send(text: str) -> str:
        """Send."""
        return "sent"

    @tl.tool
    async def queue_then_fail(thread: tl.ThreadState[Any]) -> str:
        """Queue, then fail."""
        await thread.queue_tool("send", {"text": "x"})
        raise tl.ToolError("broke after queuing")

    app, _ = await make_app([tool_call("queue_then_fail", {}), "ok"], tools=[send, queue_then_fail])
    thread = await app.threads.start()

    await thread.run("go")

    # Like scheduled effects, the queue belongs to the call's result: stored with it.
    names = [n for _, n, _ in calls_and_results(await thread.items())]
    assert names == ["queue_then_fail", "queue_then_fail", "send", "send"]


async def test_calls_that_keep_queueing_calls_are_steps_of_the_budget(make_app: Any) -> None:
    runs: list[int] = []

    @tl.tool
    async def again(n: int, thread: tl.ThreadState[Any]) -> str:
        """Queue itself once more."""
        runs.append(n)
        await thread.queue_tool("again", {"n": n + 1})
        return f"run {n}"

    app, _ = await make_app([tool_call("again", {"n": 0})], tools=[again], max_iterations=4)
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError) as failed:
        await thread.run("go")

    # One model step, then three batches of queued calls: four steps, the limit.
    assert runs == [0, 1, 2, 3]
    assert failed.value.turn is not None and failed.value.turn.error is not None
    assert failed.value.turn.error["code"] == "budget_exceeded"


async def test_queue_tool_outside_a_turn_is_a_configuration_error() -> None:
    state = tl.ThreadState[Any](
        thread_id="t",
        turn_id="u",
        tool_call_id="c",
        user_id=None,
        items=[],
        state={},
        state_type=None,
    )
    with pytest.raises(tl.ConfigurationError, match="queue_tool needs a running turn"):
        await state.queue_tool("send", {})
    with pytest.raises(tl.ConfigurationError, match="invoke_tool needs a running turn"):
        await state.invoke_tool("send", {})


def test_repair_answers_and_orders_a_history_with_a_queued_call() -> None:
    def item(seq: int, payload: Any) -> tl.Item:
        return tl.Item(
            item_id=f"item_{seq}",
            thread_id="thr",
            turn_id="turn",
            seq=seq,
            status="completed",
            payload=payload,
            created_at=0.0,
        )

    history = [
        item(1, ToolCall(tool_call_id="a", name="publish", arguments="{}")),
        item(2, ToolCall(tool_call_id="b", name="draft", arguments="{}")),
        item(3, ToolCall(tool_call_id="c", name="lost", arguments="{}")),
        item(4, ToolResult(tool_call_id="b", name="draft", output="ok")),
        item(5, ToolCall(tool_call_id="q", name="send", arguments="{}")),  # queued by b
        item(6, ToolResult(tool_call_id="q", name="send", output="sent")),
        item(7, ToolResult(tool_call_id="a", name="publish", output="done")),
    ]

    repaired = visible_history(history)

    shown = [(i.type, i.payload.tool_call_id) for i in repaired]  # type: ignore[union-attr]
    assert shown == [
        ("tool_call", "a"),
        ("tool_call", "b"),
        ("tool_call", "c"),
        ("tool_result", "b"),
        ("tool_result", "a"),
        ("tool_result", "c"),  # synthetic: no result was recorded
        ("tool_call", "q"),
        ("tool_result", "q"),
    ]
    assert visible_history(repaired) == repaired  # already in order
