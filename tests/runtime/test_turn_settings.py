"""Model settings given for one turn (the wire servers' `instructions`, `text.format`,
sampling): they reach every model request of that turn, in whichever process runs it, and
no other turn's."""

from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.runtime import (
    StartOptions,
    TurnSettings,
    annotate_paused_turn,
    run_with_options,
)
from threadline.testing import tool_call
from threadline.types import SystemEvent

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


async def _run(thread: tl.Thread, text: str, **settings: Any) -> tl.TurnResult:
    stream = run_with_options(thread, text, StartOptions(settings=TurnSettings(**settings)))
    async for _ in stream:
        pass
    return stream.result


async def test_extra_instructions_follow_the_agents_in_every_request_of_the_turn(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, model = await make_app(
        [tool_call("get_weather", {"city": "Paris"}), "Il fait 18.", "Hi."], tools=[weather_tool]
    )
    thread = await app.threads.start()

    await _run(thread, "Weather in Paris?", instructions="Answer in French.")
    await thread.run("Hello")

    assert [r.instructions for r in model.requests] == [
        "Be brief.\n\nAnswer in French.",
        "Be brief.\n\nAnswer in French.",
        "Be brief.",
    ]


async def test_extra_instructions_follow_instructions_built_from_the_thread(
    make_app: Any,
) -> None:
    agent = tl.Agent(name="assistant", instructions=lambda view: f"Thread {view.thread_id}.")
    app, model = await make_app(["ok"], agents=[agent])
    thread = await app.threads.start()

    await _run(thread, "Hi", instructions="Be formal.")

    assert model.requests[0].instructions == f"Thread {thread.id}.\n\nBe formal."


async def test_sampling_settings_replace_the_agents(make_app: Any) -> None:
    app, model = await make_app(["one", "two"], temperature=0.2)
    thread = await app.threads.start()

    await _run(thread, "Hi", temperature=0.7, top_p=0.5, max_output_tokens=64)
    await thread.run("Again")

    first, second = model.requests
    assert (first.temperature, first.top_p, first.max_output_tokens) == (0.7, 0.5, 64)
    assert (second.temperature, second.top_p, second.max_output_tokens) == (0.2, None, None)


async def test_an_output_schema_for_one_turn_is_asked_for_and_repaired(make_app: Any) -> None:
    app, model = await make_app(['{"ok": "yes"}', '{"ok": true}', "plain text"])
    thread = await app.threads.start()

    result = await _run(thread, "ok?", output_schema=SCHEMA)
    later = await thread.run("And now?")

    assert result.output == {"ok": True}
    assert [r.output_schema for r in model.requests] == [SCHEMA, SCHEMA, None]
    repair = model.requests[1].items[-1].payload
    assert isinstance(repair, SystemEvent)
    assert repair.phase == "repair"
    assert later.output is None


async def test_an_output_schema_for_one_turn_replaces_the_agents_output_type(
    make_app: Any,
) -> None:
    app, model = await make_app(['{"ok": false}'], output_type={"type": "array"})
    thread = await app.threads.start()

    result = await _run(thread, "ok?", output_schema=SCHEMA)

    assert result.output == {"ok": False}
    assert model.requests[0].output_schema == SCHEMA


async def test_a_paused_turn_keeps_its_settings_when_another_process_continues_it(
    make_app: Any,
) -> None:
    @tl.tool(needs_approval=True)
    async def transfer(amount: int) -> str:
        """Send money."""
        return f"sent {amount}"

    def bank() -> tl.Agent:
        return tl.Agent(name="bank", instructions="Be careful.", tools=[transfer])

    first_app, first_model = await make_app([tool_call("transfer", {"amount": 5})], agents=[bank()])
    thread = await first_app.threads.start()
    paused = await _run(
        thread,
        "Pay 5",
        instructions="Report in JSON.",
        output_schema=SCHEMA,
        temperature=0.3,
        top_p=0.8,
        max_output_tokens=99,
    )
    assert paused.status == "paused"

    second_app, second_model = await make_app(['{"ok": true}'], agents=[bank()])
    same = await second_app.threads.resume(thread.id)
    await same.approve(paused.pending_approvals[0].tool_call_id)
    result = await same.resume_turn()

    assert result.output == {"ok": True}
    for request in (first_model.requests[0], second_model.requests[0]):
        assert request.instructions == "Be careful.\n\nReport in JSON."
        assert request.output_schema == SCHEMA
        assert (request.temperature, request.top_p, request.max_output_tokens) == (0.3, 0.8, 99)


async def test_annotations_are_stored_with_the_turn_and_replaced_while_it_is_paused(
    make_app: Any,
) -> None:
    @tl.tool(needs_approval=True)
    async def transfer(amount: int) -> str:
        """Send money."""
        return f"sent {amount}"

    app, _ = await make_app(
        [tool_call("transfer", {"amount": 5}), "Sent."],
        agents=[tl.Agent(name="bank", tools=[transfer])],
    )
    thread = await app.threads.start()
    stream = run_with_options(thread, "Pay 5", StartOptions(annotations={"label": "first"}))
    async for _ in stream:
        pass
    turn_id = stream.result.turn.turn_id

    stored = await app.store.get_turn(turn_id)
    assert stored is not None
    assert stored.options["annotations"] == {"label": "first"}
    await annotate_paused_turn(thread, turn_id, {"label": "second"})
    stored = await app.store.get_turn(turn_id)
    assert stored is not None
    assert stored.options["annotations"] == {"label": "second"}

    await thread.approve(stream.result.pending_approvals[0].tool_call_id)
    assert (await thread.resume_turn()).text == "Sent."
    with pytest.raises(tl.InvalidInputError, match="not a paused turn"):
        await annotate_paused_turn(thread, turn_id, {"label": "third"})


@pytest.mark.parametrize(
    "settings",
    [
        {"temperature": 2.5},
        {"top_p": 1.5},
        {"max_output_tokens": 0},
        {"output_schema": {"type": "no-such-type"}},
    ],
)
def test_settings_out_of_range_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(tl.InvalidInputError):
        TurnSettings(**settings)
