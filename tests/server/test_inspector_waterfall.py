"""A turn's steps as bars on one time line."""

from __future__ import annotations

from threadline.server.inspector._waterfall import step_spans, total_usage, waterfall
from threadline.types import StepRecord, Usage


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
