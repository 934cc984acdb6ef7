from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.testing import tool_call, tool_calls
from threadline.types import ToolResult


def results(items: list[tl.Item]) -> list[ToolResult]:
    return [i.payload for i in items if isinstance(i.payload, ToolResult)]


def test_schema_comes_from_type_hints_and_docstring() -> None:
    @tl.tool
    def search(query: str, limit: int = 5, tags: list[str] | None = None) -> list[str]:
        """Search the notes.

        Args:
            query: words to look for.
            limit: how many results at most.
        """
        return []

    assert search.name == "search"
    assert search.description == "Search the notes."
    assert search.parameters == {
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "title": "Query", "description": "words to look for."},
            "limit": {
                "type": "integer",
                "title": "Limit",
                "default": 5,
                "description": "how many results at most.",
            },
            "tags": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "title": "Tags",
                "default": None,
            },
        },
    }


async def test_a_raising_tool_gives_the_model_an_error_without_the_secret(make_app: Any) -> None:
    @tl.tool
    async def leak() -> str:
        """Fails."""
        raise RuntimeError("password=hunter2")

    app, _model = await make_app([tool_call("leak", {}), "sorry"], tools=[leak])
    thread = await app.threads.start()

    result = await thread.run("go")

    (error,) = results(result.items)
    assert error.outcome == "error"
    assert error.output == "Error: tool leak failed (RuntimeError)."
    stored = json.dumps([e.to_dict() for e in await thread.events()])
    assert "hunter2" not in stored
    assert result.text == "sorry"


async def test_tool_error_message_is_for_the_model(make_app: Any) -> None:
    @tl.tool
    def divide(a: float, b: float) -> float:
        """Divide."""
        if b == 0:
            raise tl.ToolError("b must not be zero")
        return a / b

    app, _ = await make_app(
        [tool_calls(("divide", {"a": 1, "b": 0}), ("divide", {"a": 1, "b": 4})), "ok"],
        tools=[divide],
    )
    thread = await app.threads.start()

    result = await thread.run("go")

    assert [(r.output, r.outcome) for r in results(result.items)] == [
        ("Error: b must not be zero", "error"),
        ("0.25", "success"),
    ]


async def test_invalid_arguments_and_unknown_tools_never_run(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, _ = await make_app(
        [
            tool_call("get_weather", "{not json"),
            tool_call("get_weather", {"city": 3, "extra": True}),
            tool_call("rm_rf", {"path": "/"}),
            "done",
        ],
        tools=[weather_tool],
    )
    thread = await app.threads.start()

    result = await thread.run("go")

    outputs = [r.output for r in results(result.items)]
    assert outputs[0].startswith("Invalid arguments for tool get_weather: arguments: Invalid JSON")
    assert "city: Input should be a valid string" in outputs[1]
    assert "extra: Extra inputs are not permitted" in outputs[1]
    assert outputs[2] == "Error: there is no tool named 'rm_rf'; available: get_weather."
    assert all(r.outcome == "error" for r in results(result.items))


class Notes(BaseModel):
    notes: list[str] = []


async def test_thread_state_is_typed_persisted_and_sees_messages(make_app: Any) -> None:
    seen: dict[str, Any] = {}

    @tl.tool
    async def remember(note: str, thread: tl.ThreadState[Notes]) -> str:
        """Save a note."""
        seen["messages"] = [i.type for i in thread.get_messages()]
        seen["key"] = thread.idempotency_key
        thread.set_state(Notes(notes=[*thread.state.notes, note]))
        return "saved"

    app, model = await make_app(
        [
            tool_call("remember", {"note": "milk"}),
            "ok",
            tool_call("remember", {"note": "eggs"}),
            "ok",
        ],
        tools=[remember],
        state_type=Notes,
    )
    thread = await app.threads.start()

    await thread.run("remember milk")
    await thread.run("remember eggs")

    assert (await thread.reload()).state == {"notes": ["milk", "eggs"]}
    assert seen["messages"][-2:] == ["user_message", "tool_call"]
    assert seen["key"].startswith("turn_")
    assert "thread" not in model.requests[0].tools[0].parameters["properties"]


async def test_set_state_refuses_what_the_schema_refuses() -> None:
    state = tl.ThreadState[Notes](
        thread_id="t",
        turn_id="u",
        tool_call_id="c",
        user_id=None,
        items=[],
        state=Notes(),
        state_type=Notes,
    )
    with pytest.raises(tl.InvalidInputError, match="state does not match Notes"):
        state.set_state({"notes": "not a list"})
    assert state.state == Notes()


def test_bad_tool_definitions_are_refused() -> None:
    with pytest.raises(tl.ConfigurationError, match="invalid tool name"):
        tl.Tool(lambda: None, name="no spaces allowed")

    def star(*args: int) -> None: ...

    with pytest.raises(tl.ConfigurationError, match=r"\*args"):
        tl.tool(star)
    with pytest.raises(tl.ConfigurationError, match="two tools named"):
        tl.Agent(name="a", tools=[_dup(), _dup()])


def _dup() -> tl.Tool:
    def same() -> None:
        """Same name."""

    return tl.tool(same)


async def test_results_orjson_cannot_write_still_reach_the_model(make_app: Any) -> None:
    @tl.tool
    def big() -> dict[str, int]:
        """A very large number."""
        return {"n": 2**100}

    @tl.tool
    def opaque() -> object:
        """Something that is not JSON."""
        return object()

    app, _ = await make_app([tool_calls(("big", {}), ("opaque", {})), "ok"], tools=[big, opaque])
    thread = await app.threads.start()

    result = await thread.run("go")

    assert [(r.output, r.outcome) for r in results(result.items)] == [
        ('{"n":1267650600228229401496703205376}', "success"),
        ("Error: tool opaque returned a value that cannot be shown as JSON.", "error"),
    ]
