"""Prompts, models and agents an app declares by name, loaded by tools and by the app."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import ToolResult


class Greeting(BaseModel):
    name: str
    plan: str = "free"


PROMPTS = [
    tl.Prompt(
        name="greet",
        template="Hello {name}, you are on the {plan} plan.",
        variables=Greeting,
        env={"TONE": "warm"},
    ),
    tl.Prompt(name="summary", template="Summarize in {words} words.", variables={"words": int}),
    tl.Prompt(name="plain", template="No variables {{here}}."),
]


def make(store: Any, model: ScriptedModel, tools: list[tl.Tool], **kwargs: Any) -> tl.Threadline:
    agents = [
        tl.Agent(name="support", tools=tools),
        tl.Agent(name="triage", instructions="Sort tickets."),
    ]
    return tl.Threadline(agents=agents, store=store, model=model, prompts=PROMPTS, **kwargs)


async def test_a_tool_loads_prompts_models_and_agents_by_name(make_store: Any) -> None:
    fast = ScriptedModel([], model_name="fast-model")
    loaded: dict[str, Any] = {}

    @tl.tool
    async def prepare(thread: tl.ThreadState[Any]) -> str:
        """Prepare an answer."""
        loaded["greet"] = thread.load_prompt("greet", name="Ann", plan="Pro")
        loaded["default"] = thread.load_prompt("greet", name="Bob")
        loaded["summary"] = thread.load_prompt("summary", words=50)
        loaded["plain"] = thread.load_prompt("plain")
        loaded["model"] = thread.load_model("fast")
        loaded["agent"] = thread.load_agent("triage")
        return "ready"

    model = ScriptedModel([tool_call("prepare"), "done"])
    async with make(make_store(), model, [prepare], models={"fast": fast}) as app:
        thread = await app.threads.start(agent="support")
        await thread.run("go")

    assert loaded["greet"] == "Hello Ann, you are on the Pro plan."
    assert loaded["default"] == "Hello Bob, you are on the free plan."
    assert loaded["summary"] == "Summarize in 50 words."
    assert loaded["plain"] == "No variables {here}."
    assert loaded["model"] is fast
    assert loaded["agent"].name == "triage" and isinstance(loaded["agent"], tl.Agent)
    model.assert_done()


async def test_missing_names_and_bad_variables_are_clear_errors(make_store: Any) -> None:
    errors: list[str] = []

    @tl.tool
    async def misuse(thread: tl.ThreadState[Any]) -> str:
        """Load wrong things."""
        attempts: list[Any] = [
            lambda: thread.load_prompt("nope"),
            lambda: thread.load_model("slow"),
            lambda: thread.load_agent("billing"),
            lambda: thread.load_prompt("summary"),
            lambda: thread.load_prompt("summary", words="fifty"),
            lambda: thread.load_prompt("summary", words="50"),
            lambda: thread.load_prompt("summary", words=5, tone="dry"),
            lambda: thread.load_prompt("greet", plan="Pro"),
        ]
        for attempt in attempts:
            try:
                attempt()
            except tl.ThreadlineError as exc:
                errors.append(f"{exc.code}: {exc.message}")
        return "tried"

    model = ScriptedModel([tool_call("misuse"), "ok"])
    async with make(make_store(), model, [misuse], models={"fast": "openai:gpt-4.1-mini"}) as app:
        thread = await app.threads.start(agent="support")
        result = await thread.run("go")

    assert errors == [
        "not_found: no prompt named 'nope' in this app; prompts: greet, plain, summary",
        "not_found: no model named 'slow' in this app; models: fast",
        "not_found: no agent named 'billing' in this app; agents: support, triage",
        "invalid_input: prompt 'summary': variable 'words' is missing",
        "invalid_input: prompt 'summary': variable 'words' is invalid: Input should be a "
        "valid integer",
        "invalid_input: prompt 'summary': variable 'words' is invalid: Input should be a "
        "valid integer",
        "invalid_input: prompt 'summary' has no variable 'tone'; its variables: words",
        "invalid_input: prompt 'greet': variable 'name' is missing",
    ]
    assert any(isinstance(i.payload, ToolResult) for i in result.items)


async def test_the_app_loads_what_it_declares(make_store: Any) -> None:
    fast = ScriptedModel([])
    app = make(make_store(), ScriptedModel([]), [], models={"fast": fast, "spec": "local"})

    assert set(app.prompts) == {"greet", "summary", "plain"}
    assert app.prompts["greet"].env == {"TONE": "warm"}
    assert app.models == {"fast": fast, "spec": "local"}
    assert app.load_prompt("summary", words=3) == "Summarize in 3 words."
    assert app.load_model("fast") is fast
    assert app.load_agent("triage").name == "triage"
    with pytest.raises(tl.NotFoundError, match="models: fast, spec"):
        app.load_model("other")
    with pytest.raises(tl.InvalidInputError, match="'words'"):
        app.load_prompt("summary", words=1.5)


def test_bad_declarations_are_configuration_errors() -> None:
    bad_prompts: list[Any] = [
        lambda: tl.Prompt(name="", template="x"),
        lambda: tl.Prompt(name="p", template="{undeclared}"),
        lambda: tl.Prompt(name="p", template="{a.b}", variables={"a": str}),
        lambda: tl.Prompt(name="p", template="{0}"),
        lambda: tl.Prompt(name="p", template="{unclosed", variables={"unclosed": str}),
        lambda: tl.Prompt(name="p", template="x", variables=["a"]),
        lambda: tl.Prompt(name="p", template="x", variables={"not a name": str}),
        lambda: tl.Prompt(name="p", template="x", env={"K": 1}),
    ]
    for make_prompt in bad_prompts:
        with pytest.raises(tl.ConfigurationError):
            make_prompt()
    agent = tl.Agent(name="a")
    with pytest.raises(tl.ConfigurationError, match="two prompts"):
        tl.Threadline(agents=[agent], store=":memory:", prompts=[PROMPTS[0], PROMPTS[0]])
    with pytest.raises(tl.ConfigurationError, match="model 'x'"):
        tl.Threadline(agents=[agent], store=":memory:", models={"x": 42})  # type: ignore[dict-item]
    with pytest.raises(tl.ConfigurationError, match="not a Prompt"):
        tl.Threadline(agents=[agent], store=":memory:", prompts=["p"])  # type: ignore[list-item]
