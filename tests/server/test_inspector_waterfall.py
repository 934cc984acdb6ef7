"""A turn's steps as bars on one time line."""

from __future__ import annotations

from threadline.server.inspector._waterfall import step_spans, total_usage, trace_spans, waterfall
from threadline.types import SpanRecord, StepRecord, Usage


def _step(
    number: int, kind: str, status: str, start: float, end: float | None, **data: object
) -> StepRecord:
    return StepRecord(
        step_id=f"stp_{number}",
        thread_id="thr_1",
        turn_id="trn_1",
        number=number,
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        started_at=start,
        ended_at=end,
        usage=Usage(input_tokens=10 * number, output_tokens=1, cost_usd=0.5),
        data=data,
    )


def test_bars_are_placed_on_the_turns_time_line() -> None:
    steps = [
        _step(0, "model", "completed", 100.0, 101.0, model="gpt"),
        _step(1, "tools", "completed", 101.0, 103.0, tools=["a", "b"]),
        _step(2, "model", "completed", 103.0, 104.0, model="gpt"),
    ]
    spans = step_spans(steps)
    bars = waterfall(spans, now=200.0)
    assert [(b.label, b.kind, b.offset_percent, b.width_percent) for b in bars] == [
        ("model gpt", "model", 0.0, 25.0),
        ("tools a, b", "tools", 25.0, 50.0),
        ("model gpt", "model", 75.0, 25.0),
    ]
    assert bars[1].duration_seconds == 2.0
    usage = total_usage(spans)
    assert (usage.input_tokens, usage.output_tokens, usage.cost_usd) == (30, 3, 1.5)


def test_a_paused_batch_is_a_wait_that_runs_until_now() -> None:
    steps = [
        _step(0, "model", "completed", 10.0, 11.0, model="m"),
        _step(1, "tools", "paused", 11.0, None, tools=["transfer"]),
    ]
    bars = waterfall(step_spans(steps), now=20.0)
    assert [(b.kind, b.status, b.ended_at) for b in bars] == [
        ("model", "completed", 11.0),
        ("wait", "paused", None),
    ]
    assert bars[1].offset_percent == 10.0 and bars[1].width_percent == 90.0
    assert waterfall([], now=1.0) == []


def _span(span_id: str, parent: str | None, name: str, start: float, end: float, **attrs: object):  # type: ignore[no-untyped-def]
    return SpanRecord(
        span_id=span_id,
        parent_id=parent,
        trace_id="t" * 32,
        thread_id="thr_1",
        turn_id="trn_1",
        name=name,
        start=start,
        end=end,
        attributes=dict(attrs),
    )


def test_a_stored_trace_is_drawn_as_its_tree_depth_first() -> None:
    records = [
        _span(
            "llm",
            "s0",
            "thread.llm",
            100.1,
            100.9,
            **{
                "gen_ai.request.model": "gpt",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3,
                "threadline.cost_usd": 0.25,
            },
        ),
        _span("run", None, "thread.run", 100.0, 103.0),
        _span(
            "s1",
            "exe",
            "thread.step",
            101.0,
            103.0,
            **{
                "threadline.step.kind": "tools",
                "threadline.step.status": "paused",
            },
        ),
        _span("exe", "run", "thread.execution", 100.0, 103.0, **{"threadline.owner": "host:1"}),
        _span(
            "s0",
            "exe",
            "thread.step",
            100.0,
            101.0,
            **{
                "threadline.step.kind": "model",
                "threadline.step.status": "completed",
            },
        ),
    ]
    spans = trace_spans(records)
    assert [(s.label, s.kind, s.depth) for s in spans] == [
        ("thread.run", "run", 0),
        ("thread.execution host:1", "execution", 1),
        ("thread.step model", "model", 2),
        ("thread.llm gpt", "llm", 3),
        ("thread.step wait", "wait", 2),
    ]
    assert total_usage(spans) == Usage(input_tokens=12, output_tokens=3, cost_usd=0.25)
    bars = waterfall(spans, now=200.0)
    assert [b.depth for b in bars] == [0, 1, 2, 3, 2]
    assert bars[0].offset_percent == 0 and bars[0].width_percent == 100
