"""A turn's trace as a waterfall: each step (a model call, a tool batch, a wait for a
human) becomes a bar placed on the turn's time line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from threadline.types import StepRecord, Usage


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One span of the turn: where it starts and how wide it is, in percent of the turn."""

    label: str
    kind: str  # "model", "tools", "wait", or a span's kind
    status: str
    started_at: float
    ended_at: float | None  # None: still running or waiting
    offset_percent: float
    width_percent: float
    usage: Usage

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, kw_only=True)
class Span:
    """What a bar is drawn from: a step record today, any timed span of a trace later."""

    label: str
    kind: str
    status: str
    started_at: float
    ended_at: float | None
    usage: Usage


def step_spans(steps: Sequence[StepRecord]) -> list[Span]:
    """The spans of a turn's step records; a paused tool batch also shows its wait."""
    spans: list[Span] = []
    for step in steps:
        if step.kind == "model":
            label = f"model {step.data.get('model', '')}".strip()
        else:
            tools = step.data.get("tools") or []
            label = "tools " + ", ".join(str(name) for name in tools)
        kind = "wait" if step.status == "paused" else step.kind
        spans.append(
            Span(
                label=label.strip(),
                kind=kind,
                status=step.status,
                started_at=step.started_at,
                ended_at=step.ended_at,
                usage=step.usage,
            )
        )
    return spans


def waterfall(spans: Sequence[Span], *, now: float) -> list[Bar]:
    """Bars for `spans` on one time line from the first start to the last end (`now` for
    a span still open)."""
    if not spans:
        return []
    start = min(span.started_at for span in spans)
    end = max(span.ended_at if span.ended_at is not None else now for span in spans)
    total = max(end - start, 1e-6)
    bars: list[Bar] = []
    for span in spans:
        stop = span.ended_at if span.ended_at is not None else now
        offset = (span.started_at - start) / total * 100
        width = max((stop - span.started_at) / total * 100, 0.5)
        bars.append(
            Bar(
                label=span.label,
                kind=span.kind,
                status=span.status,
                started_at=span.started_at,
                ended_at=span.ended_at,
                offset_percent=round(min(offset, 99.5), 2),
                width_percent=round(min(width, 100 - min(offset, 99.5)), 2),
                usage=span.usage,
            )
        )
    return bars


def total_usage(spans: Sequence[Span]) -> Usage:
    """What the spans spent together."""
    usage = Usage()
    for span in spans:
        usage = usage + span.usage
    return usage
