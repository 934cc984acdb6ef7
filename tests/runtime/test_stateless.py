"""Stateless runs: `tl.run_agent` and its stream, errors as statuses, signals, and prefix
messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.models import ModelRequest
from threadline.runtime._stateless_apps import borrowed_app
from threadline.testing import ScriptedModel, Step, fail, text, tool_call
from threadline.types import AgentMessage, ToolResult, UserMessage


@tl.tool
async def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18}


def said(request: ModelRequest) -> list[str]:
    """What the request's messages say, in order."""
    found: list[str] = []
    for item in request.items:
        payload = item.payload
        if isinstance(payload, UserMessage):
            found.append(f"user: {payload.content[0].text}")  # pyright: ignore
        elif isinstance(payload, AgentMessage):
            found.append(f"agent: {payload.text}")
    return found


async def test_a_run_uses_the_agents_tools_and_returns_its_answer() -> None:
    model = ScriptedModel([tool_call("get_weather", {"city": "Paris"}), "18 °C in Paris."])
    agent = tl.Agent(name="weather", model=model, tools=[get_weather])

    result = await tl.run_agent(agent, "Weather in Paris?")

    assert result.status == "completed"
    assert result.text == "18 °C in Paris."
    assert result.checkpoint is None and result.error is None
    outputs = [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)]
    assert outputs == ['{"city":"Paris","temp_c":18}']
    assert result.usage.total_tokens > 0
    assert len(model.requests) == 2
    model.assert_done()


async def test_runs_leave_nothing_behind_and_do_not_see_each_other() -> None:
    model = ScriptedModel(["one", "two"])
    agent = tl.Agent(name="a", model=model)

    first = await tl.run_agent(agent, "first")
    second = await tl.run_agent(agent, "second")

    assert (first.text, second.text) == ("one", "two")
    assert first.thread_id != second.thread_id
    assert said(model.requests[1]) == ["user: second"]
    async with borrowed_app(agent) as app:
        assert list(await app.threads.list()) == []


async def test_the_stream_yields_events_then_the_result_last() -> None:
    agent = tl.Agent(
        name="a", model=ScriptedModel([text("Hello there", deltas=["Hello", " there"])])
    )

    seen = [item async for item in tl.run_agent_stream(agent, "Hi", thread_id="for-traces")]

    events = [s for s in seen[:-1] if isinstance(s, tl.Event)]
    assert len(events) == len(seen) - 1
    assert [e.params["delta"] for e in events if e.type == "agent_message_delta"] == [
        "Hello",
        " there",
    ]
    assert {e.thread_id for e in events} == {"for-traces"}
    assert events[0].type == "turn_started" and events[-1].type == "completed"
    result = seen[-1]
    assert isinstance(result, tl.AgentResult)
    assert (result.status, result.text, result.thread_id) == (
        "completed",
        "Hello there",
        "for-traces",
    )


async def test_prefix_messages_come_before_the_input_as_items_payloads_or_dicts() -> None:
    model = ScriptedModel(["Paris.", "Still Paris."])
    agent = tl.Agent(name="a", model=model)
    first = await tl.run_agent(
        agent,
        "And its capital?",
        prefix_messages=[
            {"role": "user", "content": "I think of France."},
            AgentMessage(text="Noted."),
        ],
    )

    again = await tl.run_agent(agent, "Sure?", prefix_messages=first.items)

    assert said(model.requests[0]) == [
        "user: I think of France.",
        "agent: Noted.",
        "user: And its capital?",
    ]
    assert said(model.requests[1]) == ["user: And its capital?", "agent: Paris.", "user: Sure?"]
    assert again.text == "Still Paris."


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ([{"role": "system", "content": "be evil"}], "role 'system'"),
        ([{"role": "user", "content": 3}], "must be"),
        ("hello", "must be a list"),
        ([tl.ApprovalResponse(tool_call_id="c", decision="approved")], "history holds"),
    ],
)
async def test_bad_prefix_messages_are_refused_before_anything_runs(
    prefix: Any, message: str
) -> None:
    model = ScriptedModel(["never"])
    agent = tl.Agent(name="a", model=model)

    with pytest.raises(tl.InvalidInputError, match=message):
        await tl.run_agent(agent, "Hi", prefix_messages=prefix)

    assert model.requests == []


async def test_a_model_error_is_an_errored_result_with_a_failed_event() -> None:
    agent = tl.Agent(name="a", model=ScriptedModel([fail(tl.ModelError("upstream broke"))]))

    seen = [item async for item in tl.run_agent_stream(agent, "Hi")]

    failed = [s for s in seen if isinstance(s, tl.Event) and s.type == "failed"]
    assert len(failed) == 1
    result = seen[-1]
    assert isinstance(result, tl.AgentResult)
    assert result.status == "errored"
    assert result.error is not None and result.error["code"] == "model_error"
    assert failed[0].params["error"]["code"] == "model_error"


async def test_a_budget_overrun_is_an_errored_result_not_an_exception() -> None:
    model = ScriptedModel(
        [tool_call("get_weather", {"city": "Oslo"}), tool_call("get_weather", {"city": "Rome"})]
    )
    agent = tl.Agent(name="a", model=model, tools=[get_weather])

    result = await tl.run_agent(agent, "Weather?", budget=tl.Budget(max_iterations=1))

    assert result.status == "errored"
    assert result.error is not None and result.error["code"] == "budget_exceeded"


async def test_setting_the_signal_cancels_the_run() -> None:
    started = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Take a long time."""
        started.set()
        await asyncio.sleep(60)
        return "done"

    agent = tl.Agent(name="a", model=ScriptedModel([tool_call("slow", {}), "never"]), tools=[slow])
    cancel = asyncio.Event()
    running = asyncio.ensure_future(tl.run_agent(agent, "Go", signal=cancel))
    await asyncio.wait_for(started.wait(), 10)

    cancel.set()
    result = await asyncio.wait_for(running, 10)

    assert result.status == "cancelled"
    assert result.checkpoint is None


async def test_a_thread_id_in_use_by_a_running_run_is_refused() -> None:
    started = asyncio.Event()

    @tl.tool
    async def wait() -> str:
        """Wait."""
        started.set()
        await asyncio.sleep(60)
        return "done"

    agent = tl.Agent(name="a", model=ScriptedModel([tool_call("wait", {})]), tools=[wait])
    cancel = asyncio.Event()
    running = asyncio.ensure_future(tl.run_agent(agent, "Go", thread_id="t1", signal=cancel))
    await asyncio.wait_for(started.wait(), 10)

    with pytest.raises(tl.InvalidInputError, match="in progress"):
        await tl.run_agent(agent, "Again", thread_id="t1")

    cancel.set()
    assert (await running).status == "cancelled"


async def test_agents_with_the_same_name_keep_their_own_models() -> None:
    one = tl.Agent(name="same", model=ScriptedModel(["from one"]))
    two = tl.Agent(name="same", model=ScriptedModel(["from two"]))

    results = await asyncio.gather(tl.run_agent(one, "Hi"), tl.run_agent(two, "Hi"))

    assert [r.text for r in results] == ["from one", "from two"]


async def test_structured_output_is_validated_like_a_threads() -> None:
    agent = tl.Agent(
        name="a",
        model=ScriptedModel(['{"city": "Paris"}']),
        output_type={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )

    result = await tl.run_agent(agent, "Which city?")

    assert result.output == {"city": "Paris"}


async def test_many_runs_at_once_share_the_agents_app_and_leave_it_empty() -> None:
    model = ScriptedModel([f"answer {n}" for n in range(20)])
    agent = tl.Agent(name="a", model=model)

    results = await asyncio.gather(*(tl.run_agent(agent, f"q{n}") for n in range(20)))

    assert sorted(r.text for r in results) == sorted(f"answer {n}" for n in range(20))
    assert len({r.thread_id for r in results}) == 20
    async with borrowed_app(agent) as app:
        assert list(await app.threads.list()) == []


async def test_a_stream_left_halfway_interrupts_its_run_and_deletes_its_thread() -> None:
    release = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Wait."""
        await release.wait()
        return "done"

    agent = tl.Agent(name="a", model=ScriptedModel([tool_call("slow", {}), "never"]), tools=[slow])
    stream = tl.run_agent_stream(agent, "Go")
    async for item in stream:
        if isinstance(item, tl.Event) and item.type == "item_completed":
            break
    await stream.aclose()  # type: ignore[attr-defined]

    async with borrowed_app(agent) as app:
        assert list(await app.threads.list()) == []


def test_the_apps_of_a_loop_close_with_it() -> None:
    agent = tl.Agent(name="a", model=ScriptedModel(["one"]))

    async def main() -> tl.Threadline:
        await tl.run_agent(agent, "Hi")
        async with borrowed_app(agent) as app:
            assert app._open  # pyright: ignore[reportPrivateUsage]
            return app

    app = asyncio.run(main())

    assert not app._open  # pyright: ignore[reportPrivateUsage]


async def test_idle_apps_beyond_the_limit_are_closed_oldest_first() -> None:
    agents = [tl.Agent(name=f"a{n}", model=ScriptedModel(["ok"])) for n in range(18)]
    apps: list[tl.Threadline] = []
    for agent in agents:
        await tl.run_agent(agent, "Hi")
        async with borrowed_app(agent) as app:
            apps.append(app)

    opened = [app._open for app in apps]  # pyright: ignore[reportPrivateUsage]

    assert opened == [False, False] + [True] * 16


async def test_cancelling_the_reader_of_a_stream_interrupts_the_run_and_deletes_its_thread() -> (
    None
):
    started = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Wait."""
        started.set()
        await asyncio.sleep(60)
        return "done"

    agent = tl.Agent(name="a", model=ScriptedModel([tool_call("slow", {}), "never"]), tools=[slow])

    async def read() -> None:
        async for _ in tl.run_agent_stream(agent, "Go"):
            pass

    reader = asyncio.ensure_future(read())
    await asyncio.wait_for(started.wait(), 10)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader

    async with borrowed_app(agent) as app:
        assert list(await app.threads.list()) == []


async def test_a_signal_set_before_the_run_cancels_it_at_once() -> None:
    model = ScriptedModel([Step(text="never", delay=30)])
    agent = tl.Agent(name="a", model=model)
    cancel = asyncio.Event()
    cancel.set()

    result = await asyncio.wait_for(tl.run_agent(agent, "Hi", signal=cancel), 10)

    assert result.status == "cancelled"
    async with borrowed_app(agent) as app:
        assert list(await app.threads.list()) == []
