"""Trace spans of a turn, stored with the turn's writes and exported through OpenTelemetry.

Spans hang on the turn's durable steps: each commit turns the step records it writes into a
`thread.step` span and its `thread.llm` or `thread.tool` children, all rows of the same
transaction. A turn's trace id and its `thread.run` span id are stored with the turn (its
`trace` option), so each process that runs it (after a pause, or recovering it after a
crash) opens a `thread.execution` span of its own under the same trace, naming its owner.

With an OpenTelemetry tracer provider, every span is made through the real tracer (the
provider's samplers and processors apply) and stored under the ids the tracer gave it; the
spans of a continued turn are parented to the stored ids through a remote span context, so
the exported trace is one trace too. Without one, ids are drawn here.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as otel
from opentelemetry.context import Context

from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    ConfigurationError,
    InputResponse,
    Item,
    SpanRecord,
    SpanStatus,
    StepRecord,
    ToolCall,
    ToolResult,
    TurnRecord,
    TurnStatus,
    UserMessage,
)

DEFAULT_TRACE_RETENTION_SECONDS = 7 * 24 * 3600.0  # a week
TRACE_OPTION = "trace"  # the turn option that keeps its trace id and `thread.run` span id
_PRUNE_EVERY_SECONDS = 60.0
_CONTENT_LIMIT = 4096  # characters of content kept in one attribute


class Tracing:
    """An app's tracing: whether spans are stored, who exports them, whether content is kept."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        tracer_provider: otel.TracerProvider | None = None,
        content: bool = False,
        retention_seconds: float | None = None,
    ) -> None:
        if retention_seconds is not None and not retention_seconds > 0:
            raise ConfigurationError("trace_retention_seconds must be a positive number, or None")
        self.enabled = enabled
        self.content = content
        self.retention_seconds = retention_seconds
        provider = tracer_provider if enabled else None
        if provider is None and enabled:
            provider = _configured_provider()
        self.provider = provider
        self.tracer = None if provider is None else provider.get_tracer("threadline")
        self._pruned_at = 0.0

    async def flush(self) -> None:
        """Hand the spans the provider still buffers to its exporters (an app closing)."""
        force_flush = getattr(self.provider, "force_flush", None)
        if force_flush is not None:
            await asyncio.to_thread(force_flush)

    def prune_cutoff(self) -> float | None:
        """Spans that ended before this are past retention; None: nothing to prune now (at
        most one pruning a minute per process)."""
        if not self.enabled or self.retention_seconds is None:
            return None
        now = time.time()
        if now - self._pruned_at < _PRUNE_EVERY_SECONDS:
            return None
        self._pruned_at = now
        return now - self.retention_seconds

    def begin(self, thread_id: str, turn: TurnRecord, owner: str) -> TurnTrace | None:
        """The trace of one process's run of a turn; None with tracing off."""
        if not self.enabled:
            return None
        return TurnTrace(self, thread_id, turn, owner)


def _configured_provider() -> otel.TracerProvider | None:
    """The provider the process set globally, else one exporting over OTLP/HTTP when
    `OTEL_EXPORTER_OTLP_ENDPOINT` names a receiver, else none."""
    global_provider = otel.get_tracer_provider()
    if not isinstance(global_provider, otel.ProxyTracerProvider | otel.NoOpTracerProvider):
        return global_provider
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    global _otlp_provider
    if _otlp_provider is None:  # one per process, however many apps it opens
        _otlp_provider = _otlp_from_environment()
    return _otlp_provider


_otlp_provider: otel.TracerProvider | None = None


def _otlp_from_environment() -> otel.TracerProvider:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
            "install threadline[otlp]"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": "threadline"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class _Span:
    """A span this process opened: its record's fields, and its live OpenTelemetry span."""

    def __init__(
        self,
        trace: TurnTrace,
        name: str,
        parent: _Span | None,
        start: float,
        attributes: dict[str, Any],
        *,
        live: otel.Span | None = None,
        export: bool = True,
    ) -> None:
        self.name, self.start, self.attributes = name, start, attributes
        self.parent_id = None if parent is None else parent.span_id
        tracer = trace.tracing.tracer
        if live is None and tracer is not None and export:
            live_parent = parent is not None and parent.live is not None
            context = parent.context if parent and live_parent else trace.parent_context
            live = tracer.start_span(
                name, context=context, start_time=_ns(start), attributes=_exportable(attributes)
            )
        self.live = live
        found = None if live is None else live.get_span_context()
        valid = found is not None and found.is_valid
        self.span_id = _hex(found.span_id, 16) if found and valid else os.urandom(8).hex()

    @property
    def context(self) -> Context:
        assert self.live is not None
        return otel.set_span_in_context(self.live)

    def record(self, trace: TurnTrace, end: float | None, status: SpanStatus) -> SpanRecord:
        return SpanRecord(
            span_id=self.span_id,
            parent_id=self.parent_id,
            trace_id=trace.trace_id,
            thread_id=trace.thread_id,
            turn_id=trace.turn_id,
            name=self.name,
            start=self.start,
            end=end,
            status=status,
            attributes=self.attributes,
        )

    def end(self, at: float, status: SpanStatus) -> None:
        if self.live is not None:
            if status == "error":
                self.live.set_status(otel.Status(otel.StatusCode.ERROR))
            elif status == "ok":
                self.live.set_status(otel.Status(otel.StatusCode.OK))
            self.live.end(end_time=_ns(at))


class TurnTrace:
    """The spans one process makes for one turn, handed to each commit that stores them."""

    def __init__(self, tracing: Tracing, thread_id: str, turn: TurnRecord, owner: str) -> None:
        self.tracing = tracing
        self.thread_id, self.turn_id = thread_id, turn.turn_id
        now = time.time()
        stored: Mapping[str, Any] | None = turn.options.get(TRACE_OPTION)
        run_live: otel.Span | None = None
        run_attributes = {"threadline.thread.id": thread_id, "threadline.turn.id": turn.turn_id}
        if stored is None:
            self.continued = False
            if tracing.tracer is not None:
                run_live = tracing.tracer.start_span(
                    "thread.run",
                    context=Context(),  # a turn is a trace of its own
                    start_time=_ns(turn.created_at),
                    attributes=run_attributes,
                )
            found = None if run_live is None else run_live.get_span_context()
            valid = found is not None and found.is_valid
            self.trace_id = _hex(found.trace_id, 32) if found and valid else os.urandom(16).hex()
            run_id = _hex(found.span_id, 16) if found and valid else os.urandom(8).hex()
        else:
            self.continued = True
            self.trace_id, run_id = str(stored["trace_id"]), str(stored["span_id"])
        self.run_span_id = run_id
        self.parent_context = otel.set_span_in_context(
            run_live
            or otel.NonRecordingSpan(
                otel.SpanContext(
                    trace_id=int(self.trace_id, 16),
                    span_id=int(run_id, 16),
                    is_remote=True,
                    trace_flags=otel.TraceFlags(otel.TraceFlags.SAMPLED),
                )
            )
        )
        # Exported once, by the process that began the turn; stored by each that ends it.
        self.run = _Span(
            self, "thread.run", None, turn.created_at, run_attributes, live=run_live, export=False
        )
        self.run.span_id = run_id
        execution: dict[str, Any] = {
            "threadline.owner": owner,
            "threadline.continued": self.continued,
        }
        if self.continued:  # how long nobody ran it: a pause, or a crash until recovery
            execution["threadline.gap_seconds"] = round(max(0.0, now - turn.updated_at), 6)
        self.execution = _Span(self, "thread.execution", self.run, now, execution)
        self._announced = False  # the run and execution spans are stored (open)

    def options(self, options: dict[str, Any]) -> dict[str, Any] | None:
        """The turn's options with its trace, if they do not hold it yet."""
        if TRACE_OPTION in options:
            return None
        return {**options, TRACE_OPTION: {"trace_id": self.trace_id, "span_id": self.run_span_id}}

    def spans(
        self,
        steps: Sequence[StepRecord],
        item: Callable[[str], Item | None],
        *,
        end: str | None,
        turn_status: TurnStatus | None,
        turn_items: Callable[[], Sequence[Item]] = tuple,
    ) -> list[SpanRecord]:
        """The spans a commit stores: its ended steps and their children; the run and this
        process's execution when first stored and when the commit ends or pauses the turn."""
        records: list[SpanRecord] = []
        if not self._announced or end is not None:
            first, self._announced = not self._announced, True
            now = time.time()
            ending = end is not None
            status: SpanStatus = "error" if turn_status == "failed" else "ok"
            if ending:
                self.execution.attributes["threadline.turn.status"] = turn_status or "paused"
                self.execution.end(now, status)
            records.append(self.execution.record(self, now if ending else None, status))
            if end == "release":
                self.run.attributes["threadline.turn.status"] = turn_status or "completed"
                self.run.end(now, status)
            elif end == "pause" and self.run.live is not None:
                self.run.end(now, "unset")  # exported as far as this process saw it
            if not self.continued or end == "release":
                records.append(self.run.record(self, now if end == "release" else None, status))
            if first and not self.continued:  # the turn's input, as it was stored
                given = [i for i in turn_items() if isinstance(i.payload, UserMessage)]
                for child, child_status, at in self._item_spans(
                    self.run, given[:1], self.run.start
                ):
                    child.end(at, child_status)
                    records.append(child.record(self, at, child_status))
        for step in steps:
            if step.ended_at is not None:
                records += self._step_spans(step, item, turn_items)
        return records

    def _step_spans(
        self,
        step: StepRecord,
        item: Callable[[str], Item | None],
        turn_items: Callable[[], Sequence[Item]],
    ) -> list[SpanRecord]:
        assert step.ended_at is not None
        status: SpanStatus = "error" if step.status == "failed" else "ok"
        attributes: dict[str, Any] = {
            "threadline.step.number": step.number,
            "threadline.step.kind": step.kind,
            "threadline.step.status": step.status,
        }
        span = _Span(self, "thread.step", self.execution, step.started_at, attributes)
        ended = step.ended_at
        children: list[tuple[_Span, SpanStatus, float]] = []
        items = [found for i in step.item_ids if (found := item(i)) is not None]
        if step.kind == "model":
            called = step.started_at
            built = step.data.get("context_seconds")
            if isinstance(built, int | float):  # instructions, memory, history: the request
                called = min(step.started_at + built, ended)
                context = {"threadline.context.items": int(step.data.get("request_items", 0))}
                children.append(
                    (_Span(self, "thread.context", span, step.started_at, context), "ok", called)
                )
            llm = _Span(self, "thread.llm", span, called, self._llm(step, items))
            children.append((llm, status, ended))
            children += self._item_spans(llm, items, ended)
        else:
            reviews = _reviews(turn_items())
            for result in items:
                if not isinstance(result.payload, ToolResult):
                    continue
                attributes = self._tool(result)
                review = reviews.get(result.payload.tool_call_id)
                if review is not None:
                    attributes["threadline.tool.review_wait_seconds"] = review.waited
                tool = _Span(self, "thread.tool", span, step.started_at, attributes)
                children.append((tool, "error" if result.payload.is_error else "ok", ended))
                children += self._item_spans(tool, [result], ended)
                if review is not None:  # the person's part of the call: from ask to answer
                    asked = _Span(self, "thread.review", tool, review.start, review.attributes)
                    children.append((asked, "ok", review.start + review.waited))
        records: list[SpanRecord] = []
        for child, child_status, at in children:
            child.end(at, child_status)
            records.append(child.record(self, at, child_status))
        span.end(step.ended_at, status)
        return [span.record(self, step.ended_at, status), *records]

    def _item_spans(
        self, parent: _Span, items: Iterable[Item], at: float
    ) -> list[tuple[_Span, SpanStatus, float]]:
        """A `thread.item` for each item stored (as it is stored, at `at`), and a
        `thread.part` for each of its content parts."""
        spans: list[tuple[_Span, SpanStatus, float]] = []
        for found in items:
            attributes: dict[str, Any] = {
                "threadline.item.id": found.item_id,
                "threadline.item.type": found.type,
                "threadline.item.seq": found.seq,
                "threadline.item.status": found.status,
            }
            stored = _Span(self, "thread.item", parent, at, attributes)
            status: SpanStatus = "error" if found.status == "failed" else "ok"
            spans.append((stored, status, at))
            for index, part in enumerate(getattr(found.payload, "content", ()) or ()):
                described = {"threadline.part.index": index, "threadline.part.type": part.type}
                spans.append((_Span(self, "thread.part", stored, at, described), "ok", at))
        return spans

    def _llm(self, step: StepRecord, items: Iterable[Item]) -> dict[str, Any]:
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
        if self.tracing.content:
            text = "".join(i.payload.text for i in items if isinstance(i.payload, AgentMessage))
            calls = [i.payload.name for i in items if isinstance(i.payload, ToolCall)]
            if text:
                attributes["threadline.content.output"] = text[:_CONTENT_LIMIT]
            if calls:
                attributes["threadline.content.tool_calls"] = ", ".join(calls)
        return attributes

    def _tool(self, result: Item) -> dict[str, Any]:
        payload = result.payload
        assert isinstance(payload, ToolResult)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": payload.name,
            "gen_ai.tool.call.id": payload.tool_call_id,
            "threadline.tool.outcome": payload.outcome,
        }
        if self.tracing.content:
            attributes["threadline.content.result"] = payload.output[:_CONTENT_LIMIT]
        return attributes


@dataclass(frozen=True)
class _Review:
    start: float  # when the request was stored
    waited: float  # seconds until the answer was stored
    attributes: dict[str, Any]


def _reviews(items: Sequence[Item]) -> dict[str, _Review]:
    """The decisions of the turn's tool calls that waited for a person, by call id: who
    decided what, and how long the call waited."""
    asked: dict[str, Item] = {}
    reviews: dict[str, _Review] = {}
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
            reviews[payload.tool_call_id] = _Review(request.created_at, waited, attributes)
    return reviews


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _hex(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


def _exportable(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}
