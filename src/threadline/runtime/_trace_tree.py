"""The spans of a turn, derived from what the turn stores anyway: its record (`thread.run`),
its step records (`thread.step`, `thread.context`, `thread.llm`, `thread.tool`) and its items
(`thread.item`, `thread.part`, and the `thread.review` of a call a person answered). Only
the `thread.execution` spans, one per process that ran the turn, are stored as spans.

A derived span's id is a hash of the trace id and what the span is of (a step's number, an
item's id, a call's id), so the same turn always gives the same tree, whichever process
reads it. The same derivation makes the spans a commit exports through OpenTelemetry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    InputResponse,
    Item,
    SpanRecord,
    SpanStatus,
    StepRecord,
    ToolCall,
    ToolResult,
    TurnRecord,
    UserMessage,
)

EXECUTION = "thread.execution"
CONTENT_LIMIT = 4096  # characters of content kept in one attribute


@dataclass(frozen=True, slots=True)
class TraceIds:
    """Where a turn's spans hang: its trace, and its `thread.run` span."""

    thread_id: str
    turn_id: str
    trace_id: str
    run_id: str

    def derived(self, key: str) -> str:
        """The span id of the span of `key` (e.g. `step/3`) in this trace."""
        digest = hashlib.blake2b(f"{self.trace_id}/{key}".encode(), digest_size=8)
        return digest.hexdigest()

    def span(
        self,
        name: str,
        span_id: str,
        parent_id: str | None,
        start: float,
        end: float | None,
        status: SpanStatus,
        attributes: dict[str, Any],
    ) -> SpanRecord:
        return SpanRecord(
            span_id=span_id,
            parent_id=parent_id,
            trace_id=self.trace_id,
            thread_id=self.thread_id,
            turn_id=self.turn_id,
            name=name,
            start=start,
            end=end,
            status=status,
            attributes=attributes,
        )


def turn_spans(
    ids: TraceIds,
    turn: TurnRecord,
    executions: Sequence[SpanRecord],
    steps: Sequence[StepRecord],
    items: Sequence[Item],
    *,
    content: bool,
) -> list[SpanRecord]:
    """The whole trace of a turn, each span after its parent (siblings by start)."""
    ended = turn.completed_at if turn.completed_at is not None else turn.updated_at
    run_attributes: dict[str, Any] = {
        "threadline.thread.id": ids.thread_id,
        "threadline.turn.id": ids.turn_id,
    }
    if turn.is_final:
        run_attributes["threadline.turn.status"] = turn.status
    status: SpanStatus = (
        "unset" if not turn.is_final else "error" if turn.status == "failed" else "ok"
    )
    spans = [
        ids.span(
            "thread.run",
            ids.run_id,
            None,
            turn.created_at,
            ended if turn.is_final else None,
            status,
            run_attributes,
        ),
        *executions,
        *input_spans(ids, items),
    ]
    by_start = sorted(executions, key=lambda e: e.start)
    reviews = reviews_of(items)
    found = {i.item_id: i for i in items}
    for step in steps:
        if step.ended_at is None:
            continue
        # A step hangs under the execution it ended in: the last to start before its end.
        owner = next((e for e in reversed(by_start) if e.start <= step.ended_at), None)
        parent = ids.run_id if owner is None else owner.span_id
        spans += step_spans(ids, parent, step, found.get, reviews, content=content)
    return top_down(spans)


def input_spans(ids: TraceIds, items: Iterable[Item]) -> list[SpanRecord]:
    """The turn's input as it was stored: its first user message, under `thread.run`."""
    for item in items:
        if isinstance(item.payload, UserMessage):
            return item_spans(ids, ids.run_id, [item], item.created_at)
    return []


def step_spans(
    ids: TraceIds,
    parent_id: str,
    step: StepRecord,
    item: Callable[[str], Item | None],
    reviews: dict[str, Review],
    *,
    content: bool,
) -> list[SpanRecord]:
    """A `thread.step` span for an ended step, with its children."""
    assert step.ended_at is not None
    ended = step.ended_at
    status: SpanStatus = "error" if step.status == "failed" else "ok"
    step_id = ids.derived(f"step/{step.number}")
    attributes: dict[str, Any] = {
        "threadline.step.number": step.number,
        "threadline.step.kind": step.kind,
        "threadline.step.status": step.status,
    }
    spans = [
        ids.span("thread.step", step_id, parent_id, step.started_at, ended, status, attributes)
    ]
    items = [found for i in step.item_ids if (found := item(i)) is not None]
    if step.kind == "model":
        called = step.started_at
        built = step.data.get("context_seconds")
        if isinstance(built, int | float):  # instructions, memory, history: the request
            called = min(step.started_at + built, ended)
            context = {"threadline.context.items": int(step.data.get("request_items", 0))}
            context_id = ids.derived(f"context/{step.number}")
            spans.append(
                ids.span(
                    "thread.context", context_id, step_id, step.started_at, called, "ok", context
                )
            )
        llm_id = ids.derived(f"llm/{step.number}")
        llm = _llm(step, items, content)
        spans.append(ids.span("thread.llm", llm_id, step_id, called, ended, status, llm))
        spans += item_spans(ids, llm_id, items, ended)
        return spans
    for result in items:
        payload = result.payload
        if not isinstance(payload, ToolResult):
            continue
        attributes = _tool(payload, content)
        review = reviews.get(payload.tool_call_id)
        if review is not None:
            attributes["threadline.tool.review_wait_seconds"] = review.waited
        tool_id = ids.derived(f"tool/{payload.tool_call_id}")
        outcome: SpanStatus = "error" if payload.is_error else "ok"
        spans.append(
            ids.span("thread.tool", tool_id, step_id, step.started_at, ended, outcome, attributes)
        )
        spans += item_spans(ids, tool_id, [result], ended)
        if review is not None:  # the person's part of the call: from ask to answer
            spans.append(
                ids.span(
                    "thread.review",
                    ids.derived(f"review/{payload.tool_call_id}"),
                    tool_id,
                    review.start,
                    review.start + review.waited,
                    "ok",
                    review.attributes,
                )
            )
    return spans


def item_spans(ids: TraceIds, parent_id: str, items: Iterable[Item], at: float) -> list[SpanRecord]:
    """A `thread.item` for each item (as it was stored, at `at`) and a `thread.part` for each
    of its content parts."""
    spans: list[SpanRecord] = []
    for found in items:
        attributes: dict[str, Any] = {
            "threadline.item.id": found.item_id,
            "threadline.item.type": found.type,
            "threadline.item.seq": found.seq,
            "threadline.item.status": found.status,
        }
        item_id = ids.derived(f"item/{found.item_id}")
        status: SpanStatus = "error" if found.status == "failed" else "ok"
        spans.append(ids.span("thread.item", item_id, parent_id, at, at, status, attributes))
        for index, part in enumerate(getattr(found.payload, "content", ()) or ()):
            described = {"threadline.part.index": index, "threadline.part.type": part.type}
            part_id = ids.derived(f"part/{found.item_id}/{index}")
            spans.append(ids.span("thread.part", part_id, item_id, at, at, "ok", described))
    return spans


def _llm(step: StepRecord, items: Iterable[Item], content: bool) -> dict[str, Any]:
    usage = step.usage
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": str(step.data.get("model", "")),
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
    }
    if usage.cost_usd is not None:
        attributes["threadline.cost_usd"] = usage.cost_usd
    first_token = step.data.get("first_token_seconds")
    if isinstance(first_token, int | float):
        attributes["threadline.time_to_first_token_seconds"] = first_token
    if content:
        produced = list(items)
        text = "".join(i.payload.text for i in produced if isinstance(i.payload, AgentMessage))
        calls = [i.payload.name for i in produced if isinstance(i.payload, ToolCall)]
        if text:
            attributes["threadline.content.output"] = text[:CONTENT_LIMIT]
        if calls:
            attributes["threadline.content.tool_calls"] = ", ".join(calls)
    return attributes


def _tool(payload: ToolResult, content: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": payload.name,
        "gen_ai.tool.call.id": payload.tool_call_id,
        "threadline.tool.outcome": payload.outcome,
    }
    if content:
        attributes["threadline.content.result"] = payload.output[:CONTENT_LIMIT]
    return attributes


@dataclass(frozen=True)
class Review:
    start: float  # when the request was stored
    waited: float  # seconds until the answer was stored
    attributes: dict[str, Any]


def reviews_of(items: Sequence[Item]) -> dict[str, Review]:
    """The decisions of the turn's tool calls that waited for a person, by call id: who
    decided what, and how long the call waited."""
    asked: dict[str, Item] = {}
    reviews: dict[str, Review] = {}
    for item in items:
        payload = item.payload
        if isinstance(payload, ApprovalRequest | AwaitingInput):
            asked.setdefault(payload.tool_call_id, item)
        elif isinstance(payload, ApprovalResponse | InputResponse):
            request = asked.get(payload.tool_call_id)
            if request is None or payload.tool_call_id in reviews:
                continue
            waited = round(max(0.0, item.created_at - request.created_at), 6)
            attributes: dict[str, Any] = {
                "threadline.review.kind": (
                    "approval" if isinstance(payload, ApprovalResponse) else "choice"
                ),
                "threadline.review.decision": (
                    payload.decision if isinstance(payload, ApprovalResponse) else "answered"
                ),
                "threadline.review.wait_seconds": waited,
                "gen_ai.tool.call.id": payload.tool_call_id,
            }
            if payload.sender is not None:
                attributes["threadline.review.sender"] = payload.sender
            reviews[payload.tool_call_id] = Review(request.created_at, waited, attributes)
    return reviews


def top_down(spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    """`spans`, each after its parent and its earlier siblings (a tree read by start)."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in sorted(spans, key=lambda s: (s.start, s.span_id)):
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    ordered: list[SpanRecord] = []
    pending = list(reversed(children.get(None, [])))
    while pending:
        span = pending.pop()
        ordered.append(span)
        pending.extend(reversed(children.get(span.span_id, [])))
    return ordered
