"""Tracing of turns: what an app traces, and what one process stores and exports of a turn.

A turn's trace id and its `thread.run` span id are stored with the turn (its `trace`
option), so each process that runs it (after a pause, or recovering it after a crash) adds a
`thread.execution` span of its own under the same trace, naming its owner and the gap since
the turn last ran. Those are the only spans stored as such; the rest of the tree is derived
from the turn's records when it is read (`_trace_tree`), so tracing costs a turn two small
rows.

With an OpenTelemetry tracer provider, the run and execution spans are made through the real
tracer (stored under the ids it gave them), and each commit exports the spans derived from
the steps it stores, parented to them; the spans of a continued turn are parented to the
stored ids through a remote span context, so the exported trace is one trace too.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace as otel
from opentelemetry.context import Context

from threadline.store import ItemQuery, Store
from threadline.types import (
    ConfigurationError,
    Item,
    SpanRecord,
    SpanStatus,
    StepRecord,
    TurnRecord,
    TurnStatus,
)

from ._trace_tree import EXECUTION, TraceIds, input_spans, reviews_of, step_spans, turn_spans

DEFAULT_TRACE_RETENTION_SECONDS = 7 * 24 * 3600.0  # a week
TRACE_OPTION = "trace"  # the turn option that keeps its trace id and `thread.run` span id
_PRUNE_EVERY_SECONDS = 60.0


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


async def read_trace(
    store: Store, thread_id: str, turn_id: str, *, content: bool
) -> list[SpanRecord]:
    """The spans of the thread's turn `turn_id`; empty for a turn of another thread, one
    traced by nobody, or one whose executions are past retention."""
    turn = await store.get_turn(turn_id)
    if turn is None or turn.thread_id != thread_id:
        return []
    stored = turn.options.get(TRACE_OPTION)
    executions = [s for s in await store.list_spans(thread_id, turn_id) if s.name == EXECUTION]
    if not isinstance(stored, Mapping) or not executions:
        return []
    ids = TraceIds(thread_id, turn_id, str(stored["trace_id"]), str(stored["span_id"]))
    steps = await store.list_steps(thread_id, turn_id)
    items = await _turn_items(store, thread_id, turn_id)
    return turn_spans(ids, turn, executions, steps, items, content=content)


async def _turn_items(store: Store, thread_id: str, turn_id: str) -> list[Item]:
    # A turn's items are contiguous: read back from the newest until past them.
    found: list[Item] = []
    before: int | None = None
    while True:
        page = await store.query_items(
            ItemQuery(thread_id=thread_id, before_seq=before, newest_first=True, limit=256)
        )
        for item in page:
            if item.turn_id == turn_id:
                found.append(item)
            elif found and item.turn_id is not None:
                return found[::-1]
        if len(page) < 256:
            return found[::-1]
        before = page[-1].seq


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


class TurnTrace:
    """What one process traces of one turn: the `thread.execution` span it stores (open at
    its first commit, ended when the turn ends or pauses), and with a tracer provider, the
    spans of each commit's ended steps exported as they are stored."""

    def __init__(self, tracing: Tracing, thread_id: str, turn: TurnRecord, owner: str) -> None:
        self.tracing = tracing
        tracer = tracing.tracer
        now = time.time()
        stored: Mapping[str, Any] | None = turn.options.get(TRACE_OPTION)
        self.continued = stored is not None
        self._run: otel.Span | None = None
        if stored is None:
            if tracer is not None:
                self._run = tracer.start_span(
                    "thread.run",
                    context=Context(),  # a turn is a trace of its own
                    start_time=_ns(turn.created_at),
                    attributes={
                        "threadline.thread.id": thread_id,
                        "threadline.turn.id": turn.turn_id,
                    },
                )
            trace_id, run_id = _ids(self._run, 16), _ids(self._run, 8)
        else:
            trace_id, run_id = str(stored["trace_id"]), str(stored["span_id"])
        self.ids = TraceIds(thread_id, turn.turn_id, trace_id, run_id)
        parent = otel.set_span_in_context(
            self._run
            or otel.NonRecordingSpan(
                otel.SpanContext(
                    trace_id=int(trace_id, 16),
                    span_id=int(run_id, 16),
                    is_remote=True,
                    trace_flags=otel.TraceFlags(otel.TraceFlags.SAMPLED),
                )
            )
        )
        self._attributes: dict[str, Any] = {
            "threadline.owner": owner,
            "threadline.continued": self.continued,
        }
        if self.continued:  # how long nobody ran it: a pause, or a crash until recovery
            self._attributes["threadline.gap_seconds"] = round(max(0.0, now - turn.updated_at), 6)
        self._execution = (
            None
            if tracer is None
            else tracer.start_span(
                EXECUTION, context=parent, start_time=_ns(now), attributes=self._attributes
            )
        )
        self.execution_id = (
            os.urandom(8).hex() if self._execution is None else _ids(self._execution, 8)
        )
        self._started = now
        # Where exported spans hang, by the ids of the spans they derive from.
        self._contexts: dict[str, Context] = {run_id: parent}
        if self._execution is not None:
            self._contexts[self.execution_id] = otel.set_span_in_context(self._execution)
        self._announced = False  # the execution span is stored (open)

    @property
    def trace_id(self) -> str:
        return self.ids.trace_id

    def options(self, options: dict[str, Any]) -> dict[str, Any] | None:
        """The turn's options with its trace, if they do not hold it yet."""
        if TRACE_OPTION in options:
            return None
        return {
            **options,
            TRACE_OPTION: {"trace_id": self.ids.trace_id, "span_id": self.ids.run_id},
        }

    def spans(
        self,
        steps: Sequence[StepRecord],
        item: Callable[[str], Item | None],
        *,
        end: str | None,
        turn_status: TurnStatus | None,
        turn_items: Callable[[], Sequence[Item]] = tuple,
    ) -> list[SpanRecord]:
        """The spans a commit stores: this process's execution, when first stored and when
        the commit ends or pauses the turn. With a tracer, the commit's ended steps (and at
        the turn's first commit, its input) are exported."""
        if self.tracing.tracer is not None:
            self._export(steps, item, turn_items)
        if self._announced and end is None:
            return []
        self._announced = True
        now = time.time()
        status: SpanStatus = "error" if turn_status == "failed" else "ok"
        attributes = self._attributes
        if end is not None:
            attributes["threadline.turn.status"] = turn_status or "paused"
            if self._execution is not None:
                self._execution.set_attribute("threadline.turn.status", turn_status or "paused")
                _end(self._execution, now, status)
        if self._run is not None and end == "release":
            self._run.set_attribute("threadline.turn.status", turn_status or "completed")
            _end(self._run, now, status)
        elif self._run is not None and end == "pause":
            _end(self._run, now, "unset")  # exported as far as this process saw it
        return [
            self.ids.span(
                EXECUTION,
                self.execution_id,
                self.ids.run_id,
                self._started,
                None if end is None else now,
                status,
                dict(attributes),
            )
        ]

    def _export(
        self,
        steps: Sequence[StepRecord],
        item: Callable[[str], Item | None],
        turn_items: Callable[[], Sequence[Item]],
    ) -> None:
        records: list[SpanRecord] = []
        if not self._announced and not self.continued:
            records += input_spans(self.ids, turn_items())
        ended = [s for s in steps if s.ended_at is not None]
        if ended:
            reviews = reviews_of(turn_items())
            for step in ended:
                records += step_spans(
                    self.ids, self.execution_id, step, item, reviews, content=self.tracing.content
                )
        tracer = self.tracing.tracer
        assert tracer is not None
        for record in records:  # each after its parent
            parent = self._contexts.get(record.parent_id or "", self._contexts[self.ids.run_id])
            live = tracer.start_span(
                record.name,
                context=parent,
                start_time=_ns(record.start),
                attributes=_exportable(record.attributes),
            )
            self._contexts[record.span_id] = otel.set_span_in_context(live)
            _end(live, record.end or record.start, record.status)


def _ids(span: otel.Span | None, size: int) -> str:
    """The trace id (`size` 16) or span id (8) the tracer gave `span`; drawn here when
    nothing records it."""
    found = None if span is None else span.get_span_context()
    if found is None or not found.is_valid:
        return os.urandom(size).hex()
    return _hex(found.trace_id if size == 16 else found.span_id, size * 2)


def _end(live: otel.Span, at: float, status: SpanStatus) -> None:
    if status == "error":
        live.set_status(otel.Status(otel.StatusCode.ERROR))
    elif status == "ok":
        live.set_status(otel.Status(otel.StatusCode.OK))
    live.end(end_time=_ns(at))


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _hex(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


def _exportable(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}
