"""Subagents: child threads spawned by tools, waited for durably, observed from the parent and
accounted for in its budget."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, Step, text, tool_call
from threadline.types import ToolResult, UserMessage

StoreFactory = Callable[[], tl.Store]


def _scripted(*steps: Any) -> ScriptedModel:
    return ScriptedModel(list(steps))


async def _open(
    make_store: StoreFactory, agents: Sequence[tl.Agent], **kwargs: Any
) -> tl.Threadline:
    app = tl.Threadline(agents=agents, store=make_store(), **kwargs)
    await app.open()
    return app


class Mailing:
    """A lead that delegates to a mailer whose `send_email` needs approval; `sent` records
    each email really sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

        @tl.tool(needs_approval=True)
        async def send_email(to: str) -> str:
            """Send an email."""
            self.sent.append(to)
            return f"sent to {to}"

        self.tool = send_email

    def mailer(self, steps: list[Any]) -> tl.Agent:
        return tl.Agent(name="mailer", tools=[self.tool], model=_scripted(*steps))

    def agents(self, lead_steps: list[Any], mailer_steps: list[Any]) -> list[tl.Agent]:
        mailer = self.mailer(mailer_steps)
        return [tl.Agent(name="lead", model=_scripted(*lead_steps), subagents=[mailer])]

    def pausing(self) -> list[tl.Agent]:
        """Agents whose first turn pauses on the mailer's call `m1`, made by the lead's `d1`."""
        return self.agents(
            [tool_call("mailer", {"input": "Tell ops."}, tool_call_id="d1")],
            [tool_call("send_email", {"to": "ops"}, tool_call_id="m1")],
        )


def _outputs(result: tl.TurnResult) -> list[str]:
    return [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)]


async def test_a_tree_of_agents_delegates_and_each_child_is_a_stored_thread(
    make_store: StoreFactory,
) -> None:
    checker = tl.Agent(
        name="checker",
        description="Checks a claim.",
        model=_scripted("Confirmed."),
    )
    researcher = tl.Agent(
        name="researcher",
        model=_scripted(
            tool_call("checker", {"input": "Is it 42?"}, tool_call_id="c1"),
            text("42, checked.", usage=tl.Usage(input_tokens=30, output_tokens=5)),
        ),
        subagents=[checker],
    )
    lead = tl.Agent(
        name="lead",
        model=_scripted(
            tool_call("researcher", {"input": "Find the answer."}, tool_call_id="r1"),
            "The answer is 42.",
        ),
        subagents=[researcher],
    )
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start(user_id="u1")
        progress: list[dict[str, Any]] = []
        stream = thread.run_streamed("What is the answer?")
        async for event in stream:
            if event.type == "subagent_progress":
                progress.append(dict(event.params))
        result = stream.result

        assert result.status == "completed"
        assert result.text == "The answer is 42."
        assert _outputs(result) == ["42, checked."]

        (child,) = await thread.children()
        assert (child.reference_id, child.agent, child.status) == ("r1", "researcher", "idle")
        assert child.result is not None and child.result.text == "42, checked."
        child_thread = await thread.child("r1")
        assert child_thread is not None and child_thread.user_id == "u1"
        parent = await child_thread.parent()
        assert parent is not None and parent.id == thread.id
        first = (await child_thread.items())[0].payload
        assert isinstance(first, UserMessage) and first.content[0].text == "Find the answer."  # type: ignore[union-attr]
        (grandchild,) = await child_thread.children()
        assert (grandchild.reference_id, grandchild.agent) == ("c1", "checker")
        assert await thread.child("c1") is None  # reference ids are per parent
        own = await app.threads.get_or_create(user_id="u1", agent="researcher")
        assert own.id != child.thread_id  # a user's own threads are not its subagents'

        # The root's stream carried the whole tree's work.
        phases = [(p["phase"], p["agent"]) for p in progress]
        assert phases[0] == ("started", "researcher")
        assert ("started", "checker") in phases
        assert ("ended", "checker") in phases
        assert phases[-1] == ("ended", "researcher")
        texts = [
            p["item"]["content"].get("text")
            for p in progress
            if p["phase"] == "item_completed" and p["item"]["type"] == "agent_message"
        ]
        assert texts == ["Confirmed.", "42, checked."]
        assert all(p["thread_id"] != thread.id for p in progress)

        # Usage: the turn's own, and its children's (theirs and their children's) apart.
        child_turn = child.result.usage + child.result.subagent_usage
        assert result.subagent_usage == child_turn
        assert result.subagent_usage.total_tokens > result.usage.total_tokens - 1
        # The progress is stored with the turn, for a reader who comes later.
        stored = [e for e in await thread.events() if e.type == "subagent_progress"]
        assert [dict(e.params) for e in stored] == progress
    finally:
        await app.close()


async def test_spawn_without_waiting_returns_a_handle_and_finds_the_child_again(
    make_store: StoreFactory,
) -> None:
    seen: list[Any] = []

    @tl.tool
    async def start_research(topic: str, thread: tl.ThreadState[Any]) -> str:
        """Start a researcher on a topic."""
        child = await thread.spawn("researcher", f"Research {topic}", reference_id=topic)
        again = await thread.spawn("researcher", "ignored", reference_id=topic)
        assert again.id == child.id
        found = await thread.get_child_thread(topic)
        assert found is not None and found.id == child.id
        assert await thread.get_child_thread("nothing") is None
        assert await thread.get_parent_thread() is None
        seen.append([c.reference_id for c in await thread.children()])
        return child.id

    researcher = tl.Agent(name="researcher", model=_scripted("Done researching."))
    lead = tl.Agent(
        name="lead",
        tools=[start_research],
        model=_scripted(tool_call("start_research", {"topic": "tides"}), "Started."),
    )
    app = await _open(make_store, [lead, researcher])
    try:
        thread = await app.threads.start()
        result = await thread.run("go")
        assert result.text == "Started."
        assert seen == [["tides"]]
        child = await thread.child("tides")
        assert child is not None and _outputs(result) == [child.id]
        await _until(lambda: _finished(child))
        (info,) = await thread.children()
        assert info.result is not None and info.result.text == "Done researching."
        assert (await child.parent()) is not None
    finally:
        await app.close()


async def test_an_approval_in_a_child_pauses_the_parent_and_is_answered_from_it(
    make_store: StoreFactory,
) -> None:
    mailing = Mailing()
    sent = mailing.sent
    app = await _open(
        make_store,
        mailing.agents(
            [tool_call("mailer", {"input": "Tell ops."}, tool_call_id="d1"), "Done."],
            [tool_call("send_email", {"to": "ops"}, tool_call_id="m1"), "Mailed."],
        ),
    )
    try:
        thread = await app.threads.start()
        paused = await thread.run("notify ops")

        assert paused.status == "paused"
        (request,) = paused.pending_approvals
        child = await thread.child("d1")
        assert child is not None
        assert (request.name, request.tool_call_id, request.thread_id) == (
            "send_email",
            "m1",
            child.id,
        )
        assert [(p.tool_call_id, p.thread_id) for p in await thread.pending()] == [("m1", child.id)]
        assert (await thread.reload()).status == "awaiting_input"
        assert sent == []

        await thread.approve("m1")  # decided from the top
        result = await thread.resume_turn()

        assert result.status == "completed" and result.text == "Done."
        assert sent == ["ops"]
        assert _outputs(result) == ["Mailed."]
        assert await thread.pending() == []
    finally:
        await app.close()


async def test_a_child_approval_is_answered_from_the_parent_in_another_process(
    make_store: StoreFactory,
) -> None:
    mailing = Mailing()
    first = await _open(make_store, mailing.pausing())
    thread = await first.threads.start()
    assert (await thread.run("notify")).status == "paused"
    thread_id = thread.id
    await first.close()

    second = await _open(make_store, mailing.agents(["Done."], ["Mailed."]))
    try:
        thread = await second.threads.resume(thread_id)
        (request,) = await thread.pending()
        await thread.deny(request.tool_call_id, reason="not today")
        result = await thread.resume_turn()
        assert result.status == "completed"
        assert mailing.sent == []
        assert (await thread.children())[0].result.text == "Mailed."  # type: ignore[union-attr]
    finally:
        await second.close()


async def test_a_childs_tokens_count_against_the_parents_budget_and_stop_the_tree(
    make_store: StoreFactory,
) -> None:
    spender = tl.Agent(
        name="spender",
        model=_scripted(text("Spent.", usage=tl.Usage(input_tokens=500, output_tokens=100))),
    )
    lead = tl.Agent(
        name="lead",
        model=_scripted(tool_call("spender", {"input": "spend"}, tool_call_id="s1")),
        subagents=[spender],
        max_tokens=300,
    )
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start()
        with pytest.raises(tl.TurnFailedError) as failed:
            await thread.run("go")
        assert failed.value.error_code == "budget_exceeded"
        (child,) = await thread.children()
        assert child.result is not None and child.result.status == "failed"
        assert child.result.turn.error is not None
        assert child.result.turn.error["code"] == "budget_exceeded"  # held to what was left
        parent_turn = (await thread.turns())[-1]
        assert parent_turn.options["subagent_usage"]["input_tokens"] == 500
    finally:
        await app.close()


async def test_limits_turn_spawns_into_error_results_the_model_reads(
    make_store: StoreFactory,
) -> None:
    leaf = tl.Agent(name="leaf", model=_scripted("leaf"))
    middle = tl.Agent(
        name="middle",
        model=_scripted(tool_call("leaf", {"input": "deeper"}), "could not go deeper"),
        subagents=[leaf],
    )
    lead = tl.Agent(
        name="lead",
        model=_scripted(
            Step(
                tool_calls=[
                    tl_call("middle", "one", "x1"),
                    tl_call("middle", "two", "x2"),
                ]
            ),
            "ok",
        ),
        subagents=[middle],
    )
    app = await _open(
        make_store,
        [lead],
        subagent_limits=tl.SubagentLimits(max_depth=1, max_children_per_turn=1),
    )
    try:
        thread = await app.threads.start()
        result = await thread.run("go")
        deeper, refused = sorted(_outputs(result), key=lambda o: o.startswith("Error"))
        assert deeper == "could not go deeper"
        assert "max_children_per_turn" in refused
        (child,) = await thread.children()
        child_thread = await thread.child(child.reference_id or "")
        assert child_thread is not None and await child_thread.children() == []
        child_items = child.result.items if child.result else []
        (depth_error,) = [
            i.payload.output for i in child_items if isinstance(i.payload, ToolResult)
        ]
        assert "max_depth" in depth_error
    finally:
        await app.close()


def tl_call(name: str, task: str, call_id: str) -> Any:
    from threadline.testing import ScriptedToolCall

    return ScriptedToolCall(name=name, arguments=f'{{"input": "{task}"}}', tool_call_id=call_id)


async def test_interrupting_the_parent_cancels_its_running_child(
    make_store: StoreFactory,
) -> None:
    slow = tl.Agent(name="slow", model=_scripted(Step(text="late", delay=30)))
    lead = tl.Agent(
        name="lead",
        model=_scripted(tool_call("slow", {"input": "take your time"}, tool_call_id="w1")),
        subagents=[slow],
    )
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start()
        running = asyncio.ensure_future(thread.run("go"))
        child = await _until(lambda: thread.child("w1"))
        await _until(lambda: _running(child))

        assert await thread.interrupt()

        with pytest.raises(tl.TurnCancelledError):
            await running
        await _until(lambda: _finished(child))
        (turn,) = await child.turns()
        assert turn.status == "cancelled"
    finally:
        await app.close()


async def test_terminating_a_child_gives_its_waiting_parent_an_error_result(
    make_store: StoreFactory,
) -> None:
    slow = tl.Agent(name="slow", model=_scripted(Step(text="late", delay=30)))
    lead = tl.Agent(
        name="lead",
        model=_scripted(
            tool_call("slow", {"input": "take your time"}, tool_call_id="w1"), "It was stopped."
        ),
        subagents=[slow],
    )
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start()
        running = asyncio.ensure_future(thread.run("go"))
        child = await _until(lambda: thread.child("w1"))
        await _until(lambda: _running(child))

        await child.terminate("no longer needed")

        result = await running
        assert result.text == "It was stopped."
        (output,) = _outputs(result)
        assert "terminated" in output and "no longer needed" in output
        (call_result,) = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
        assert call_result.outcome == "error"
    finally:
        await app.close()


async def test_deleting_a_parent_deletes_its_children(make_store: StoreFactory) -> None:
    helper = tl.Agent(name="helper", model=_scripted("helped"))
    lead = tl.Agent(
        name="lead",
        model=_scripted(tool_call("helper", {"input": "help"}, tool_call_id="h1"), "ok"),
        subagents=[helper],
    )
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start()
        await thread.run("go")
        child = await thread.child("h1")
        assert child is not None
        assert await thread.delete()
        assert await app.store.get_thread(child.id) is None
    finally:
        await app.close()


async def test_a_spawn_of_an_unknown_agent_changes_nothing(make_store: StoreFactory) -> None:
    @tl.tool
    async def delegate(thread: tl.ThreadState[Any]) -> str:
        """Delegate."""
        await thread.spawn("nobody", "hello", wait=True)
        return "unreachable"

    lead = tl.Agent(name="lead", tools=[delegate], model=_scripted(tool_call("delegate", {}), "ok"))
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start()
        result = await thread.run("go")
        (output,) = _outputs(result)
        assert output.startswith("Error:")
        assert await thread.children() == []
    finally:
        await app.close()


def test_an_agent_name_declared_twice_is_refused() -> None:
    one = tl.Agent(name="helper", model="local")
    other = tl.Agent(name="helper", model="local")
    with pytest.raises(tl.ConfigurationError, match="two agents"):
        tl.Threadline(agents=[tl.Agent(name="lead", subagents=[one]), other], store=":memory:")
    with pytest.raises(tl.ConfigurationError):
        tl.SubagentLimits(max_depth=0)


async def _until(probe: Callable[[], Any]) -> Any:
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def _running(thread: tl.Thread) -> bool:
    turns = await thread.turns()
    return bool(turns) and turns[-1].status == "running"


async def _finished(thread: tl.Thread) -> bool:
    turns = await thread.turns()
    return bool(turns) and turns[-1].is_final


async def test_a_child_resumed_on_its_own_wakes_its_waiting_parent_even_across_processes(
    make_store: StoreFactory,
) -> None:
    mailing = Mailing()
    first = await _open(make_store, mailing.pausing())
    thread = await first.threads.start()
    assert (await thread.run("notify")).status == "paused"
    child = await thread.child("d1")
    assert child is not None
    await first.close()

    # A human answers on the child itself, and the process goes away right after (whether it
    # continued the parent first or not, the parent finishes).
    second = await _open(make_store, mailing.agents(["Done."], ["Mailed."]), shutdown_grace=0)
    child = await second.threads.resume(child.id)
    await child.approve("m1")
    assert (await child.resume_turn()).text == "Mailed."
    await second.close()

    # The child's end made the parent's paused turn due: recovery finishes it.
    third = await _open(make_store, mailing.agents(["Done."], []))
    try:
        deadline = asyncio.get_running_loop().time() + 10
        parent = await third.threads.resume(thread.id)
        while (await parent.turns())[-1].status != "completed":
            assert asyncio.get_running_loop().time() < deadline
            await (await third.recover()).wait()
            await asyncio.sleep(0.02)
        assert (await parent.items())[-1].text == "Done."
    finally:
        await third.close()


async def test_a_tool_waits_for_several_children_at_once(make_store: StoreFactory) -> None:
    mailing = Mailing()

    @tl.tool(idempotent=True)
    async def fan_out(thread: tl.ThreadState[Any]) -> str:
        """Ask the mailer and the counter at once."""
        mailed, counted = await asyncio.gather(
            thread.spawn("mailer", "Tell ops.", reference_id="mail", wait=True),
            thread.spawn("counter", "Count.", reference_id="count", wait=True),
        )
        return f"{mailed.text} / {counted.text}"

    mailer = mailing.mailer([tool_call("send_email", {"to": "ops"}, tool_call_id="m1"), "Mailed."])
    counter = tl.Agent(name="counter", model=_scripted("Three."))
    boss = tl.Agent(
        name="boss",
        tools=[fan_out],
        model=_scripted(tool_call("fan_out", {}), "All done."),
        subagents=[mailer, counter],
    )
    app = await _open(make_store, [boss])
    try:
        thread = await app.threads.start()
        paused = await thread.run("go")
        assert paused.status == "paused"
        (request,) = paused.pending_approvals
        assert request.tool_call_id == "m1"

        await thread.approve("m1")
        result = await thread.resume_turn()

        assert result.text == "All done."
        assert _outputs(result) == ["Mailed. / Three."]
        assert mailing.sent == ["ops"]
        assert sorted(c.reference_id or "" for c in await thread.children()) == ["count", "mail"]
    finally:
        await app.close()


async def test_a_tool_that_is_not_idempotent_is_not_run_again_after_its_wait(
    make_store: StoreFactory,
) -> None:
    mailing = Mailing()
    runs: list[str] = []

    @tl.tool
    async def delegate(thread: tl.ThreadState[Any]) -> str:
        """Ask the mailer (not safe to run twice)."""
        runs.append("run")
        result = await thread.spawn("mailer", "Tell ops.", reference_id="mail", wait=True)
        return result.text

    def agents(lead_steps: list[Any], mailer_steps: list[Any]) -> list[tl.Agent]:
        lead = tl.Agent(
            name="lead",
            tools=[delegate],
            model=_scripted(*lead_steps),
            subagents=[mailing.mailer(mailer_steps)],
        )
        return [lead]

    first = await _open(
        make_store,
        agents(
            [tool_call("delegate", {})],
            [tool_call("send_email", {"to": "ops"}, tool_call_id="m1")],
        ),
    )
    thread = await first.threads.start()
    assert (await thread.run("go")).status == "paused"
    await first.close()  # the waiting tool is gone with its process

    second = await _open(make_store, agents(["Reported."], ["Mailed."]))
    try:
        thread = await second.threads.resume(thread.id)
        await thread.approve("m1")
        await thread.resume_turn()  # the child goes on; its end wakes the parent
        await _until(lambda: _finished(thread))
        (turn,) = await thread.turns()
        assert turn.status == "completed"
        items = await thread.items()
        (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
        assert result.outcome == "unknown"
        assert "Subagent 'mail'" in result.output and "ended completed: Mailed." in result.output
        assert runs == ["run"] and mailing.sent == ["ops"]
    finally:
        await second.close()


async def test_a_second_pause_lists_only_what_the_tool_waits_for_now(
    make_store: StoreFactory,
) -> None:
    mailing = Mailing()

    @tl.tool(idempotent=True)
    async def two_steps(thread: tl.ThreadState[Any]) -> str:
        """Mail ops, then dev."""
        first = await thread.spawn("mailer", "Tell ops.", reference_id="a", wait=True)
        second = await thread.spawn("mailer", "Tell dev.", reference_id="b", wait=True)
        return f"{first.text} {second.text}"

    mailer = mailing.mailer(
        [
            tool_call("send_email", {"to": "ops"}, tool_call_id="m1"),
            "Mailed ops.",
            tool_call("send_email", {"to": "dev"}, tool_call_id="m2"),
            "Mailed dev.",
        ]
    )
    lead = tl.Agent(
        name="lead",
        tools=[two_steps],
        model=_scripted(tool_call("two_steps", {}), "Both told."),
        subagents=[mailer],
    )
    app = await _open(make_store, [lead])
    try:
        thread = await app.threads.start()
        first = await thread.run("go")
        assert [r.tool_call_id for r in first.pending_approvals] == ["m1"]
        await thread.approve("m1")

        second = await thread.resume_turn()

        assert second.status == "paused"
        assert [r.tool_call_id for r in second.pending_approvals] == ["m2"]
        assert [r.tool_call_id for r in await thread.pending()] == ["m2"]
        await thread.approve("m2")
        done = await thread.resume_turn()
        assert done.text == "Both told."
        assert _outputs(done) == ["Mailed ops. Mailed dev."]
        assert mailing.sent == ["ops", "dev"]
    finally:
        await app.close()
