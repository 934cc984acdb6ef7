"""Spans of a turn: derived from its records and the executions it stored, one trace across
its pauses and processes, exported through OpenTelemetry as the same tree, with no content
unless asked and no secret ever."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

import threadline as tl
from threadline.testing import ScriptedModel, tool_call

SECRET = "~sk-traced-4417"


@tl.tool(needs_approval=True)
async def transfer(to: str, amount: int) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


@tl.tool
async def peek(thread: tl.ThreadState) -> str:
    """Read the key."""
    return f"key is {await thread.env('API_KEY')}"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


AppOpener = Callable[..., Any]


@pytest.fixture
async def open_app(make_store: Callable[[], tl.Store]) -> AsyncIterator[AppOpener]:
    opened: list[tl.Threadline] = []

    async def factory(steps: list[Any], tools: list[tl.Tool], **app_kwargs: Any) -> tl.Threadline:
        agent = tl.Agent(name="assistant", tools=tools)
        app = tl.Threadline(
            agents=[agent], store=make_store(), model=ScriptedModel(steps), **app_kwargs
        )
        await app.open()
        opened.append(app)
        return app

    yield factory
    for app in opened:
        await app.close()


def tree(spans: list[tl.SpanRecord]) -> list[tuple[str, str | None]]:
    by_id = {s.span_id: s for s in spans}
    return sorted(
        (s.name, by_id[s.parent_id].name if s.parent_id in by_id else None) for s in spans
    )


async def paused_and_resumed(open_app: AppOpener, **app_kwargs: Any) -> tuple[tl.Thread, str]:
    steps = [tool_call("transfer", {"to": "ann", "amount": 5}, tool_call_id="c1"), "Sent."]
    app = await open_app(steps, [transfer], **app_kwargs)
    thread = await app.threads.start()
    paused = await thread.run("pay ann 5")
    assert paused.status == "paused"
    await thread.approve("c1", sender="bob")
    result = await thread.resume_turn()
    assert result.status == "completed"
    return thread, result.turn_id


async def test_a_paused_and_resumed_turn_is_one_trace_with_an_execution_per_run(
    open_app: AppOpener,
) -> None:
    thread, turn_id = await paused_and_resumed(open_app)

    spans = await thread.trace(turn_id)

    assert tree(spans) == [
        ("thread.context", "thread.step"),
        ("thread.context", "thread.step"),
        ("thread.execution", "thread.run"),
        ("thread.execution", "thread.run"),
        ("thread.item", "thread.llm"),  # the tool call
        ("thread.item", "thread.llm"),  # the answer
        ("thread.item", "thread.run"),  # the input
        ("thread.item", "thread.tool"),  # the tool's result
        ("thread.llm", "thread.step"),
        ("thread.llm", "thread.step"),
        ("thread.part", "thread.item"),  # the input's text
        ("thread.review", "thread.tool"),
        ("thread.run", None),
        ("thread.step", "thread.execution"),
        ("thread.step", "thread.execution"),
        ("thread.step", "thread.execution"),
        ("thread.tool", "thread.step"),
    ]
    items = sorted((s for s in spans if s.name == "thread.item"), key=lambda s: s.start)
    assert [s.attributes["threadline.item.type"] for s in items] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_message",
    ]
    assert [s.attributes["threadline.item.seq"] for s in items] == sorted(
        s.attributes["threadline.item.seq"] for s in items
    )
    [part] = [s for s in spans if s.name == "thread.part"]
    assert part.attributes == {"threadline.part.index": 0, "threadline.part.type": "text"}
    contexts = sorted((s for s in spans if s.name == "thread.context"), key=lambda s: s.start)
    assert [s.attributes["threadline.context.items"] for s in contexts] == [1, 5]
    for context in contexts:  # a model step builds its request, then calls the model
        [call] = [s for s in spans if s.name == "thread.llm" and s.parent_id == context.parent_id]
        assert context.end is not None and context.end <= call.start + 1e-6
    assert len({s.trace_id for s in spans}) == 1
    assert all(s.end is not None and s.end >= s.start for s in spans)
    assert all(s.status == "ok" for s in spans)
    run = next(s for s in spans if s.name == "thread.run")
    assert run.attributes["threadline.turn.status"] == "completed"
    first, second = sorted(
        (s for s in spans if s.name == "thread.execution"), key=lambda s: s.start
    )
    assert first.attributes["threadline.continued"] is False
    assert first.attributes["threadline.turn.status"] == "awaiting_approval"
    assert second.attributes["threadline.continued"] is True
    assert second.attributes["threadline.gap_seconds"] >= 0
    assert second.attributes["threadline.owner"].startswith("proc_")
    [tool] = [s for s in spans if s.name == "thread.tool"]
    [review] = [s for s in spans if s.name == "thread.review"]
    waited = review.attributes["threadline.review.wait_seconds"]
    assert tool.attributes == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "transfer",
        "gen_ai.tool.call.id": "c1",
        "threadline.tool.outcome": "success",
        "threadline.tool.review_wait_seconds": waited,
    }
    # Who decided what, and how long the call waited for them.
    assert review.parent_id == tool.span_id
    assert review.attributes == {
        "threadline.review.kind": "approval",
        "threadline.review.decision": "approved",
        "threadline.review.wait_seconds": waited,
        "threadline.review.sender": "bob",
        "gen_ai.tool.call.id": "c1",
    }
    assert waited > 0 and review.duration == pytest.approx(waited, abs=1e-5)
    assert first.end is not None and review.start < first.end <= review.end  # type: ignore[operator]
    steps = {s.span_id: s for s in spans if s.name == "thread.step"}
    assert steps[tool.parent_id or ""].parent_id == second.span_id  # ran once approved
    llm = [s for s in spans if s.name == "thread.llm"]
    assert {s.attributes["gen_ai.request.model"] for s in llm} == {"scripted"}
    assert all(s.attributes["gen_ai.usage.output_tokens"] > 0 for s in llm)
    # The answer was streamed: its call says how long its first token took.
    answered = max(llm, key=lambda s: s.start)
    first_token = answered.attributes["threadline.time_to_first_token_seconds"]
    assert 0 <= first_token <= answered.duration  # type: ignore[operator]


async def test_exported_spans_are_the_stored_tree_in_the_same_trace(
    open_app: AppOpener, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    thread, turn_id = await paused_and_resumed(open_app, tracer_provider=provider)

    stored = await thread.trace(turn_id)
    exported: tuple[ReadableSpan, ...] = exporter.get_finished_spans()

    def hex_id(value: int, digits: int = 16) -> str:
        return format(value, f"0{digits}x")

    by_id = {hex_id(s.context.span_id): s for s in exported if s.context is not None}

    def parent_name(span: ReadableSpan) -> str | None:
        found = None if span.parent is None else by_id.get(hex_id(span.parent.span_id))
        return None if found is None else found.name

    assert sorted((s.name, parent_name(s)) for s in exported) == tree(stored)
    assert {hex_id(s.context.trace_id, 32) for s in exported if s.context} == {stored[0].trace_id}
    # The spans other processes continue under keep their exported ids.
    kept = {(s.name, s.span_id) for s in stored if s.name in ("thread.run", "thread.execution")}
    assert kept <= {(s.name, i) for i, s in by_id.items()}
    [tool] = [s for s in exported if s.name == "thread.tool"]
    assert tool.attributes is not None and tool.attributes["gen_ai.tool.name"] == "transfer"


async def test_content_is_kept_only_when_asked_and_secrets_never(
    open_app: AppOpener, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    for content in (False, True):
        exporter.clear()
        app = await open_app(
            [tool_call("peek", {}), f"The key is {SECRET}."],
            [peek],
            env={"API_KEY": tl.Secret(SECRET)},
            tracer_provider=provider,
            trace_content=content,
        )
        thread = await app.threads.start()
        result = await thread.run("peek")
        spans = await thread.trace(result.turn_id)
        stored = repr([s.to_dict() for s in spans])
        exported = repr([(s.name, dict(s.attributes or {})) for s in exporter.get_finished_spans()])

        assert SECRET not in stored and SECRET not in exported
        assert ("[redacted:API_KEY]" in stored) is content
        assert ("key is" in exported) is content


async def test_a_turn_of_another_thread_has_no_spans_and_tracing_off_stores_none(
    open_app: AppOpener,
) -> None:
    app = await open_app(["One.", "Two."], [])
    thread, other = await app.threads.start(), await app.threads.start()
    result = await thread.run("hi")

    assert next(s.name for s in await thread.trace(result.turn_id)) == "thread.run"
    assert await other.trace(result.turn_id) == []
    assert await thread.trace("turn_unknown") == []

    quiet = await open_app(["Three."], [], tracing=False)
    thread = await quiet.threads.start()
    result = await thread.run("hi")
    assert await thread.trace(result.turn_id) == []


async def test_bad_trace_settings_are_refused() -> None:
    with pytest.raises(tl.ConfigurationError):
        tl.Threadline(agents=[tl.Agent(name="a")], store=":memory:", trace_retention_seconds=0)


class Seat(BaseModel):
    seat: str


@tl.tool
async def book(flight: str, thread: tl.ThreadState[Any]) -> str:
    """Book a flight, asking for a seat."""
    choice = await thread.await_choice("Which seat?", Seat)
    return f"booked {flight} seat {choice.seat}"


async def test_a_choice_is_a_review_span_naming_who_answered(open_app: AppOpener) -> None:
    steps = [tool_call("book", {"flight": "BA1"}, tool_call_id="b1"), "Booked."]
    app = await open_app(steps, [book])
    thread = await app.threads.start()
    assert (await thread.run("book BA1")).status == "paused"
    result = await thread.resume({"seat": "4A"}, sender="ann")
    assert result.status == "completed"

    spans = await thread.trace(result.turn_id)

    [review] = [s for s in spans if s.name == "thread.review"]
    [tool] = [s for s in spans if s.name == "thread.tool"]
    assert review.parent_id == tool.span_id
    assert review.attributes["threadline.review.kind"] == "choice"
    assert review.attributes["threadline.review.decision"] == "answered"
    assert review.attributes["threadline.review.sender"] == "ann"
    assert "4A" not in str(review.attributes)  # the answer is content: not in spans


async def test_a_turn_whose_executions_are_past_retention_has_no_trace(
    open_app: AppOpener,
) -> None:
    app = await open_app(["One.", "Two."], [])
    thread = await app.threads.start()
    old = await thread.run("hi")
    cutoff = (await app.store.list_turns(thread.id))[-1].updated_at + 1e-3
    new = await thread.run("again")

    assert await app.store.prune_spans(cutoff) == 1  # the first turn's execution

    assert await thread.trace(old.turn_id) == []
    assert {"thread.run", "thread.execution", "thread.llm"} <= {
        s.name for s in await thread.trace(new.turn_id)
    }
    assert [i.type for i in await thread.items()] == [  # the turn itself stays
        "user_message",
        "agent_message",
        "user_message",
        "agent_message",
    ]
