"""A turn's trace as a waterfall: each span of its stored trace (the turn, each process's
execution, each step, model call and tool call), or, for a turn traced by none, each step
record (a model call, a tool batch, a wait for a human), becomes a bar placed on the turn's
time line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from threadline.types import SpanRecord, StepRecord, Usage


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
    depth: int = 0  # how deep in the trace's tree

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, kw_only=True)
class Span:
    """What a bar is drawn from: a stored trace span, or a step record."""

    label: str
    kind: str
    status: str
    started_at: float
    ended_at: float | None
    usage: Usage
    depth: int = 0


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


def trace_spans(records: Sequence[SpanRecord]) -> list[Span]:
    """The spans of a turn's stored trace, each after its parent (depth first); a model
    call carries its tokens and cost."""
    children: dict[str | None, list[SpanRecord]] = {}
    for record in sorted(records, key=lambda r: r.start):
        children.setdefault(record.parent_id, []).append(record)
    known = {record.span_id for record in records}
    roots = [r for r in records if r.parent_id is None or r.parent_id not in known]
    spans: list[Span] = []

    def visit(record: SpanRecord, depth: int) -> None:
        spans.append(_from_record(record, depth))
        for child in children.get(record.span_id, []):
            visit(child, depth + 1)

    for root in sorted(roots, key=lambda r: r.start):
        visit(root, 0)
    return spans


def _from_record(record: SpanRecord, depth: int) -> Span:
    attributes = record.attributes
    kind = record.name.removeprefix("thread.")
    detail = (
        attributes.get("gen_ai.request.model")
        or attributes.get("gen_ai.tool.name")
        or attributes.get("threadline.owner")
        or ""
    )
    usage = Usage()
    if kind == "llm":
        cost = attributes.get("threadline.cost_usd")
        usage = Usage(
            input_tokens=int(attributes.get("gen_ai.usage.input_tokens", 0)),
            output_tokens=int(attributes.get("gen_ai.usage.output_tokens", 0)),
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
        )
    if kind == "step":  # drawn as the step records are: a model call, tools, or a wait
        paused = attributes.get("threadline.step.status") == "paused"
        kind = "wait" if paused else str(attributes.get("threadline.step.kind", kind))
        detail = kind
    return Span(
        label=f"{record.name} {detail}".strip(),
        kind=kind,
        status=str(attributes.get("threadline.step.status", record.status)),
        started_at=record.start,
        ended_at=record.end,
        usage=usage,
        depth=min(depth, 5),
    )


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
                depth=span.depth,
            )
        )
    return bars


def total_usage(spans: Sequence[Span]) -> Usage:
    """What the spans spent together."""
    usage = Usage()
    for span in spans:
        usage = usage + span.usage
    return usage
