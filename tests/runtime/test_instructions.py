"""Agent instructions as text or as a function of the thread, built before each request."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.testing import tool_call


class Profile(BaseModel):
    language: str = "English"


@tl.tool
async def switch_to_french(thread: tl.ThreadState[Profile]) -> str:
    """Answer in French from now on."""
    thread.set_state(Profile(language="French"))
    return "ok"


@pytest.mark.parametrize("value", [["Be brief."], 42, {"text": "Be brief."}, b"bytes"])
def test_instructions_that_are_neither_text_nor_callable_are_refused(value: Any) -> None:
    with pytest.raises(tl.ConfigurationError, match="text or a callable"):
        tl.Agent(name="a", instructions=value)
    with pytest.raises(tl.ConfigurationError, match="text or a callable"):
        tl.Mode(instructions=value)


async def test_a_callable_builds_the_instructions_from_the_thread_before_each_request(
    make_app: Any,
) -> None:
    seen: list[tl.ThreadView[Profile]] = []

    def instructions(thread: tl.ThreadView[Profile]) -> str:
        seen.append(thread)
        return (
            f"Answer {thread.metadata['name']} ({thread.user_id}) in {thread.state.language}; "
            f"{len(thread.get_messages())} items so far."
        )

    app, model = await make_app(
        [tool_call("switch_to_french", {}), "D'accord."],
        agents=[
            tl.Agent(
                name="a", instructions=instructions, tools=[switch_to_french], state_type=Profile
            )
        ],
    )
    thread = await app.threads.start(user_id="u1", metadata={"name": "Ann"})

    result = await thread.run("Parle français")

    assert result.text == "D'accord."
    assert [r.instructions for r in model.requests] == [
        "Answer Ann (u1) in English; 1 items so far.",
        "Answer Ann (u1) in French; 3 items so far.",
    ]
    assert len(seen) == 2  # once per model request
    assert seen[0].thread_id == thread.id
    assert seen[0].turn_id == result.turn_id
    assert seen[0].mode is None
    with pytest.raises(TypeError):
        seen[0].metadata["name"] = "Bob"  # type: ignore[index]


async def test_async_instructions_and_a_modes_own_callable(make_app: Any) -> None:
    async def planning(thread: tl.ThreadView[Any]) -> str:
        return f"Only plan ({thread.mode})."

    agent = tl.Agent(
        name="a",
        instructions=lambda thread: "Act.",
        modes={"plan": tl.Mode(instructions=planning)},
    )
    app, model = await make_app(["acted", "planned"], agents=[agent])
    thread = await app.threads.start()

    await thread.run("one")
    await thread.set_mode("plan")
    await thread.run("two")

    assert [r.instructions for r in model.requests] == ["Act.", "Only plan (plan)."]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda thread: 1 / 0, "raised ZeroDivisionError"),
        (lambda thread: ["not", "text"], "returned list, not text"),
    ],
)
async def test_instructions_that_fail_fail_the_turn_before_any_model_call(
    make_app: Any, build: Any, message: str
) -> None:
    app, model = await make_app([], agents=[tl.Agent(name="a", instructions=build)])
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError) as caught:
        await thread.run("hi")

    assert caught.value.error_code == "instructions_error"
    assert caught.value.turn is not None
    assert caught.value.turn.error is not None
    assert message in caught.value.turn.error["message"]
    assert model.requests == []
    assert (await thread.turns())[0].status == "failed"


async def test_secrets_in_an_instructions_error_stay_out_of_the_stored_error(
    make_app: Any,
) -> None:
    def build(thread: tl.ThreadView[Any]) -> str:
        raise RuntimeError("password=hunter2")

    app, _ = await make_app([], agents=[tl.Agent(name="a", instructions=build)])
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError):
        await thread.run("hi")

    stored = (await thread.turns())[0].error
    assert stored is not None
    assert "hunter2" not in str(stored)
    assert all("hunter2" not in str(e.params) for e in await thread.events())
