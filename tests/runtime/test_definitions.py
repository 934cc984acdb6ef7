"""Thread definitions: built by key, registered for the process, and reacting to a trigger on
the thread of a key with a context, instructions and tools chosen from it and the env."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import ToolResult


def unique_key(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}"  # the registry is the process's


@tl.tool
async def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id} ships today"


@tl.tool
async def escalate(thread: tl.ThreadState[Any]) -> str:
    """Hand the conversation to a human."""
    thread.set_state({**thread.state, "escalated": True})
    return "escalated"


@tl.tool
async def apologize() -> str:
    """Say sorry, from a human."""
    return "sorry"


def support(key: str, **extra: Any) -> tl.ThreadDefinition:
    builder = (
        tl.define(key)
        .context(lambda stored, env: stored or {"org": env["org"], "escalated": False})
        .narrative(lambda ctx, env: f"You help {ctx['org']} ({env['channel']}).")
        .actions(lambda ctx: [apologize] if ctx["escalated"] else [lookup_order, escalate])
        .description("customer support")
    )
    for name, value in extra.items():
        getattr(builder, name)(value)
    return builder.build()


def test_a_definition_is_registered_and_found_by_key() -> None:
    key = unique_key("support")
    definition = support(key)

    assert tl.register(definition) is definition
    assert tl.register(definition) is definition  # again: nothing changes
    assert tl.get_definition(key) is definition
    assert (definition.key, definition.agent.name, definition.description) == (
        key,
        key,
        "customer support",
    )
    with pytest.raises(tl.ConfigurationError, match="another thread definition"):
        tl.register(support(key))
    with pytest.raises(tl.NotFoundError, match=key) as missing:
        tl.get_definition("nothing.here")
    assert "registered:" in missing.value.message


def test_a_definition_is_checked_when_built() -> None:
    with pytest.raises(tl.ConfigurationError, match="needs a narrative"):
        tl.define("x").actions([lookup_order]).build()
    with pytest.raises(tl.ConfigurationError, match="non-empty"):
        tl.define(" ")
    with pytest.raises(tl.ConfigurationError, match="callable"):
        tl.define("x").context({"org": "acme"})  # type: ignore[arg-type]
    with pytest.raises(tl.ConfigurationError, match="two tools"):
        tl.define("x").narrative("n").actions([lookup_order, lookup_order]).build()


async def test_react_creates_the_thread_of_a_key_and_runs_a_turn_with_its_context(
    make_app: Any,
) -> None:
    app, model = await make_app(
        [
            tool_call("lookup_order", {"order_id": "7"}, tool_call_id="c1"),
            "It ships today.",
            "Anything else?",
        ]
    )
    definition = support(unique_key("support"))
    env = {"org": "acme", "channel": "email"}

    first = await definition.react("Where is 7?", app=app, env=env, key="acme.1", user_id="ann")
    again = await definition.react(
        "Thanks", app=app, env={"org": "other", "channel": "chat"}, key="acme.1", user_id="ann"
    )

    assert (first.text, again.text) == ("It ships today.", "Anything else?")
    assert first.thread_id == again.thread_id
    thread = await app.threads.resume(first.thread_id)
    assert (thread.record.key, thread.record.user_id, thread.record.agent) == (
        "acme.1",
        "ann",
        definition.key,
    )
    assert thread.record.state == {"org": "acme", "escalated": False}  # kept, not rebuilt
    instructions = [r.instructions for r in model.requests]
    assert instructions == [
        "You help acme (email).",
        "You help acme (email).",
        "You help acme (chat).",  # each turn's env
    ]
    assert [t.name for t in model.requests[0].tools] == ["lookup_order", "escalate"]
    assert (await thread.turns())[0].options["env"] == env


async def test_instructions_and_tools_follow_the_context_a_tool_changed(make_app: Any) -> None:
    app, model = await make_app(
        [tool_call("escalate", {}, tool_call_id="c1"), tool_call("apologize", {}), "Sorry!"]
    )
    definition = support(unique_key("support"))

    result = await definition.react(
        "I am angry", app=app, env={"org": "acme", "channel": "chat"}, key="k"
    )

    assert result.text == "Sorry!"
    assert [[t.name for t in r.tools] for r in model.requests] == [
        ["lookup_order", "escalate"],
        ["apologize"],
        ["apologize"],
    ]
    outputs = [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)]
    assert outputs == ["escalated", "sorry"]


async def test_a_call_to_a_tool_the_context_no_longer_offers_is_answered_with_an_error(
    make_app: Any,
) -> None:
    app, _ = await make_app(
        [tool_call("escalate", {}), tool_call("lookup_order", {"order_id": "1"}), "OK."]
    )
    definition = support(unique_key("support"))

    result = await definition.react("hi", app=app, env={"org": "a", "channel": "c"}, key="k")

    outputs = [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)]
    assert outputs[1] == "Error: there is no tool named 'lookup_order'; available: apologize."


async def test_an_env_that_is_not_json_is_refused_before_anything_is_written(
    make_app: Any,
) -> None:
    app, _ = await make_app()
    definition = support(unique_key("support"))

    with pytest.raises(tl.InvalidInputError, match="env must be JSON"):
        await definition.react("hi", app=app, env={"org": object()}, key="k")
    with pytest.raises(tl.InvalidInputError):
        await definition.react("nul \x00", app=app, env={"org": "a"}, key="k")
    with pytest.raises(tl.InvalidInputError, match="max_iterations"):
        await definition.react("hi", app=app, env={"org": "a"}, key="k", max_iterations=0)

    assert len(await app.threads.list()) == 0


async def test_max_iterations_bounds_the_turn(make_app: Any) -> None:
    app, _ = await make_app([tool_call("lookup_order", {"order_id": "1"})])
    definition = support(unique_key("support"))

    with pytest.raises(tl.TurnFailedError) as failed:
        await definition.react(
            "hi", app=app, env={"org": "a", "channel": "c"}, key="k", max_iterations=1
        )

    assert failed.value.turn is not None
    assert failed.value.turn.error is not None
    assert failed.value.turn.error["code"] == "budget_exceeded"


async def test_should_continue_false_ends_the_turn_as_completed(make_app: Any) -> None:
    app, model = await make_app(
        [tool_call("lookup_order", {"order_id": "1"}, tool_call_id="c1", text="Looking.")]
    )
    seen: list[tuple[int, str]] = []

    def stop_after_a_model_step(step: tl.StepRecord) -> bool:
        seen.append((step.number, step.kind))
        return step.kind != "model"

    definition = support(unique_key("support"), should_continue=stop_after_a_model_step)

    result = await definition.react("hi", app=app, env={"org": "a", "channel": "c"}, key="k")

    assert result.status == "completed"
    assert result.text == "Looking."
    assert seen == [(0, "model")]
    (answer,) = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
    assert answer.output == (
        "Error: the agent's should_continue rule ended the turn before this call ran; "
        "it was not run."
    )
    thread = await app.threads.resume(result.thread_id)
    steps = await thread.steps(result.turn_id)
    assert [(s.kind, s.status) for s in steps] == [("model", "completed"), ("tools", "cancelled")]
    assert len(model.requests) == 1


async def test_a_typed_context_is_validated_and_handed_over_as_its_model(make_app: Any) -> None:
    class Account(BaseModel):
        org: str
        visits: int = 0

    app, model = await make_app(["One.", "Two."])
    definition = (
        tl.define(unique_key("typed"))
        .context(
            lambda stored, env: Account(
                org=env["org"], visits=(stored.visits if stored else 0) + 1
            ),
            type=Account,
        )
        .narrative(lambda ctx: f"{ctx.org} visit {ctx.visits}")
        .build()
    )

    await definition.react("a", app=app, env={"org": "acme"}, key="k")
    result = await definition.react("b", app=app, env={"org": "acme"}, key="k")

    assert [r.instructions for r in model.requests] == ["acme visit 1", "acme visit 2"]
    thread = await app.threads.resume(result.thread_id)
    assert thread.record.state == {"org": "acme", "visits": 2}


async def test_a_key_of_another_agents_thread_is_refused(make_app: Any) -> None:
    app, _ = await make_app()
    await app.threads.start(key="shared")
    definition = support(unique_key("support"))

    with pytest.raises(tl.InvalidInputError, match="belongs to agent 'assistant'"):
        await definition.react("hi", app=app, env={"org": "a", "channel": "c"}, key="shared")


async def test_an_app_agent_with_the_definitions_name_is_refused(make_app: Any) -> None:
    key = unique_key("support")
    app, _ = await make_app(agents=[tl.Agent(name=key)])

    with pytest.raises(tl.ConfigurationError, match="another agent named"):
        await support(key).react("hi", app=app, env={"org": "a", "channel": "c"}, key="k")


async def test_a_turn_paused_for_approval_continues_in_another_app_with_the_same_env(
    make_store: Any,
) -> None:
    @tl.tool(needs_approval=True)
    async def refund(amount: int) -> str:
        """Refund the customer."""
        return f"refunded {amount}"

    key = unique_key("refunds")
    definition = tl.register(
        tl.define(key)
        .context(lambda stored, env: {"org": env["org"]})
        .narrative(lambda ctx, env: f"{ctx['org']} refunds up to {env['limit']}")
        .actions(lambda ctx, env: [refund] if env["limit"] > 0 else [])
        .build()
    )
    first = ScriptedModel([tool_call("refund", {"amount": 5}, tool_call_id="r1")])
    async with tl.Threadline(
        agents=[tl.Agent(name="other")], store=make_store(), model=first
    ) as app:
        paused = await definition.react(
            "refund me", app=app, env={"org": "acme", "limit": 10}, key="k"
        )
    assert paused.status == "paused"

    # Another app, built without the definition: the registry gives it the agent.
    second = ScriptedModel(["Refunded."])
    async with tl.Threadline(
        agents=[tl.Agent(name="other")], store=make_store(), model=second
    ) as app:
        thread = await app.threads.resume(paused.thread_id)
        await thread.approve("r1")
        result = await thread.resume_turn()

    assert result.text == "Refunded."
    (answer,) = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
    assert answer.output == "refunded 5"
    assert second.requests[0].instructions == "acme refunds up to 10"
    assert [t.name for t in second.requests[0].tools] == ["refund"]
    first.assert_done()
    second.assert_done()


async def test_a_caller_may_require_approval_of_a_tool_the_context_chooses(make_app: Any) -> None:
    app, _ = await make_app(
        [tool_call("lookup_order", {"order_id": "1"}, tool_call_id="c1"), "OK."]
    )
    definition = tl.register(
        tl.define(unique_key("orders"))
        .narrative("Help with orders.")
        .actions(lambda ctx: [lookup_order])
        .build()
    )
    thread = await app.threads.start(agent=definition.key)  # the registry gives the app its agent

    paused = await thread.run("where is 1?", require_approval=["lookup_order"])

    assert [r.name for r in paused.pending_approvals] == ["lookup_order"]
    await thread.approve("c1")
    assert (await thread.resume_turn()).text == "OK."
