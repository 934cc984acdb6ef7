"""Observational memory: older history condensed into dated observations per resource, that
every thread of the resource carries in its requests."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

import threadline as tl
from threadline.runtime._memory import ObservationalMemory
from threadline.runtime._observer import observable_prefix
from threadline.testing import ScriptedModel, Step, tool_call
from threadline.types import (
    Item,
    ModelError,
    Payload,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

PADDING = " and some more words about the weather" * 10  # about 100 tokens a message


def observer(*answers: str) -> ScriptedModel:
    """An observer that answers each call with the next of `answers`."""
    return ScriptedModel([Step(text=a) for a in answers])


def memory(model: Any, **options: Any) -> tl.ObservationalMemory:
    settings: dict[str, Any] = {"threshold_tokens": 300, "keep_recent_tokens": 50, **options}
    return tl.ObservationalMemory(model=model, **settings)


async def chat(app: tl.Threadline, text: str, thread_id: str, **options: Any) -> tl.Thread:
    result = await app.chat("assistant", text + PADDING, thread_id=thread_id, **options)
    assert result.status == "completed", result.error
    return await app.threads.resume(result.thread_id)


async def test_a_second_thread_of_the_resource_knows_what_the_first_learned(
    make_app: Any,
) -> None:
    watcher = observer("2026-03-01: The user's name is Ada.\n- Ada likes green tea.")
    app, model = await make_app(["ok"] * 4, observational_memory=memory(watcher))

    first = None
    for text in ["My name is Ada", "I like green tea", "What is the weather"]:
        first = await chat(app, text, "first", resource_id="user-42")
    assert first is not None
    await chat(app, "What do you know about me?", "second", resource_id="user-42")

    # The observer read the first thread's older history, and ...
    [observed] = watcher.requests
    assert "YYYY-MM-DD" in (observed.instructions or "")
    assert [i.text.split(" and")[0] for i in observed.items if i.type == "user_message"] == [
        "My name is Ada",
        "I like green tea",
    ]
    # ... the first thread's next request carried the observations instead of that history.
    third = model.requests[2]
    assert "2026-03-01: The user's name is Ada." in (third.instructions or "")
    assert [i.type for i in third.items] == ["user_message"]
    assert third.items[0].text.startswith("What is the weather")
    # The second thread of the resource is told what the first one learned.
    fourth = model.requests[3]
    assert "- 2026-03-01: The user's name is Ada." in (fourth.instructions or "")
    assert "Ada likes green tea." in (fourth.instructions or "")
    assert (fourth.instructions or "").startswith("Be brief.")

    stored = await app.memory("user-42").list()
    assert [o.text for o in stored] == ["The user's name is Ada.", "Ada likes green tea."]
    assert {(o.scope, o.owner, o.namespace, o.source_thread_id) for o in stored} == {
        ("resource", "user-42", "assistant", first.id)
    }
    assert time.strftime("%Y-%m-%d", time.gmtime(stored[0].observed_at)) == "2026-03-01"
    assert await first.items() != []  # the stored thread keeps everything


async def test_the_observer_counts_toward_the_turn_usage(make_app: Any) -> None:
    watcher = observer("2026-03-01: noted")
    app, _ = await make_app(["ok"] * 3, observational_memory=memory(watcher))
    await chat(app, "one", "t")
    await chat(app, "two", "t")

    envelopes = [e async for e in app.chat_stream("assistant", "three" + PADDING, thread_id="t")]

    phases = [
        e.event.params.get("phase")
        for e in envelopes
        if e.event is not None and e.event.type == "usage_delta"
    ]
    assert phases == ["observation", None]
    result = envelopes[-1].result
    assert result is not None
    assert len(watcher.requests) == 1
    assert result.usage.input_tokens == 20  # 10 a call: the observer's and the answer's


async def test_a_failing_observer_leaves_the_raw_history(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ScriptedModel([Step(text="", error=ModelError("observer down"))])
    app, model = await make_app(["ok"] * 3, observational_memory=memory(broken))
    await chat(app, "one", "t", resource_id="r")
    await chat(app, "two", "t", resource_id="r")

    with caplog.at_level(logging.WARNING, logger="threadline.runtime"):
        await chat(app, "three", "t", resource_id="r")

    assert len(model.requests[-1].items) == 5  # everything, raw
    assert "observer" in caplog.text
    assert await app.memory("r").list() == []


async def test_observations_never_hold_a_secret(make_store: Any) -> None:
    secret = "sk-observed-0123456789"
    watcher = observer(f"2026-03-01: the user's API key is {secret}")
    agent = tl.Agent(name="assistant", observational_memory=memory(watcher))
    async with tl.Threadline(
        agents=[agent],
        store=make_store(),
        model=ScriptedModel(["ok"] * 3),
        env={"API_KEY": tl.Secret(secret)},
    ) as app:
        for text in ["one", "two", "three"]:
            await chat(app, text, "t", resource_id="r")
        [stored] = await app.memory("r").list()
        assert stored.text == "the user's API key is [redacted:API_KEY]"
        edited = await app.memory("r").update(stored.observation_id, f"key {secret}")
        assert edited.text == "key [redacted:API_KEY]"


async def test_the_reflector_merges_observations_that_grew(make_app: Any) -> None:
    def condense(request: tl.ModelRequest) -> str:
        if "grew long" in (request.instructions or ""):
            listing = request.items[0].text
            assert "- 2026-03-01: fact one" in listing and "fact two" in listing
            return "2026-03-02: facts one and two"
        return "2026-03-01: fact one\n2026-03-02: fact two"

    watcher = ScriptedModel([condense, condense])
    app, model = await make_app(
        ["ok"] * 3, observational_memory=memory(watcher, reflect_threshold_tokens=5)
    )
    for text in ["one", "two", "three"]:
        await chat(app, text, "t", resource_id="r")

    assert [o.text for o in await app.memory("r").list()] == ["facts one and two"]
    instructions = model.requests[-1].instructions or ""
    assert "2026-03-02: facts one and two" in instructions
    assert "fact one" not in instructions


async def test_the_memory_handle_lists_edits_and_deletes_its_own(make_app: Any) -> None:
    watcher = observer("2026-03-01: first\n2026-03-02: second\n2026-03-03: third")
    app, _ = await make_app(["ok"] * 3, observational_memory=memory(watcher))
    for text in ["one", "two", "three"]:
        await chat(app, text, "t", resource_id="user-42")
    mine = app.memory("user-42", agent="assistant")
    first, second, third = await mine.list()

    assert await mine.get(first.observation_id) == first
    assert (await mine.update(first.observation_id, "  changed ")).text == "changed"
    assert await mine.delete(second.observation_id)
    assert not await mine.delete(second.observation_id)
    assert [o.text for o in await app.memory("user-42").list()] == ["changed", "third"]
    # Another resource, or another namespace, sees none of them: as if they did not exist.
    for other in (app.memory("user-7"), app.memory("user-42", agent="sales")):
        assert await other.list() == []
        with pytest.raises(tl.NotFoundError):
            await other.get(third.observation_id)
        with pytest.raises(tl.NotFoundError):
            await other.update(third.observation_id, "hacked")
        assert not await other.delete(third.observation_id)
        assert await other.clear() == 0
    with pytest.raises(tl.InvalidInputError):
        await mine.update(third.observation_id, "  ")
    with pytest.raises(tl.InvalidInputError):
        app.memory()
    assert await mine.clear() == 2
    assert await mine.list() == []


async def test_a_thread_without_a_resource_keeps_its_observations_to_itself(
    make_app: Any,
) -> None:
    watcher = observer("2026-03-01: private fact")
    app, model = await make_app(["ok"] * 4, observational_memory=memory(watcher))
    for text in ["one", "two", "three"]:
        thread = await chat(app, text, "lonely")
    await chat(app, "hello", "another")

    [own] = await app.memory(thread_id=thread.id).list()
    assert (own.scope, own.owner, own.text) == ("thread", thread.id, "private fact")
    assert "private fact" in (model.requests[2].instructions or "")
    assert "private fact" not in (model.requests[3].instructions or "")  # another thread

    assert await thread.delete()
    assert await app.memory(thread_id=thread.id).list() == []


async def test_memory_works_for_thread_run_and_a_memory_agent_id_shares_it(
    make_app: Any,
) -> None:
    watcher = observer("2026-03-01: shared fact")
    settings = memory(watcher, threshold_tokens=150)
    agents = [
        tl.Agent(name="support", observational_memory=settings),
        tl.Agent(name="billing", observational_memory=settings),
    ]
    app, model = await make_app(["ok"] * 4, agents=agents)
    await app.chat("support", "hi", thread_id="a", resource_id="r", memory_agent_id="desk")
    thread = await app.threads.start(agent="support", key="a")
    for text in ["one", "two"]:
        assert (await thread.run(text + PADDING)).status == "completed"

    await app.chat("billing", "hi", thread_id="b", resource_id="r", memory_agent_id="desk")

    assert "shared fact" in (model.requests[3].instructions or "")
    [stored] = await app.memory("r", agent="desk").list()
    assert stored.namespace == "desk"


def items(*payloads: Payload) -> list[Item]:
    return [
        Item(
            item_id=f"item_{n}",
            thread_id="thr",
            turn_id="turn",
            seq=n + 1,
            status="completed",
            payload=payload,
            created_at=1.0,
        )
        for n, payload in enumerate(payloads)
    ]


def test_a_cut_never_separates_a_tool_call_from_its_result() -> None:
    history = items(
        UserMessage(content=(TextPart(text="q1"),)),
        ToolCall(tool_call_id="c1", name="lookup", arguments="x" * 800),
        ToolResult(tool_call_id="c1", name="lookup", output="r"),
        UserMessage(content=(TextPart(text="q2"),)),
    )
    settings = ObservationalMemory(
        threshold_tokens=100,
        keep_recent_tokens=20,
        count_tokens=lambda i: 200 if isinstance(i.payload, ToolCall) else 100 if i.seq == 1 else 1,
    )

    # The newest 20 tokens end inside the call's 200: the cut falls before the call.
    assert observable_prefix(history, settings) == 1
    # Below the threshold nothing is observed.
    small = ObservationalMemory(threshold_tokens=1_000, count_tokens=lambda i: 1)
    assert observable_prefix(history, small) == 0


async def test_a_tool_call_and_its_result_stay_together_in_requests(make_app: Any) -> None:
    @tl.tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "found " + query

    watcher = observer("2026-03-01: looked something up")
    app, model = await make_app(
        [tool_call("lookup", {"query": "x" * 1500}), "done", "ok"],
        tools=[lookup],
        observational_memory=memory(watcher, keep_recent_tokens=200),
    )
    await chat(app, "look it up", "t")
    await chat(app, "thanks", "t")

    for request in model.requests:
        calls = {i.payload.tool_call_id for i in request.items if isinstance(i.payload, ToolCall)}
        results = {
            i.payload.tool_call_id for i in request.items if isinstance(i.payload, ToolResult)
        }
        assert calls == results
    assert "looked something up" in (model.requests[-1].instructions or "")


def test_bad_settings_are_refused() -> None:
    for options in [
        {"scope": "user"},
        {"threshold_tokens": 0},
        {"reflect_threshold_tokens": -1},
        {"threshold_tokens": 100, "keep_recent_tokens": 100},
    ]:
        with pytest.raises(tl.ConfigurationError):
            tl.ObservationalMemory(**options)
    with pytest.raises(tl.ConfigurationError):
        tl.Agent(name="a", observational_memory={"scope": "thread"})  # type: ignore[arg-type]
