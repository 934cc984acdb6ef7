"""Spans exported over OTLP/HTTP to a real receiver on 127.0.0.1: an app configured only by
`OTEL_EXPORTER_OTLP_ENDPOINT` sends its turn's trace, which the receiver decodes with the
OpenTelemetry protocol's own message types; it is the trace the store keeps, id for id."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import threadline as tl
from threadline.runtime import _tracing
from threadline.testing import ScriptedModel, tool_call


class Receiver:
    """An OTLP/HTTP trace receiver: it decodes each export request and keeps its spans."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                received.requests.append(request)
                received.content_types.append(self.headers["Content-Type"])
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Each received span with its resource's attributes."""
        found: list[tuple[dict[str, Any], Any]] = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope_spans.spans]
        return found


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.url)
    monkeypatch.setattr(_tracing, "_otlp_provider", None)  # built from this environment
    try:
        yield running
    finally:
        provider = _tracing._otlp_provider  # pyright: ignore[reportPrivateUsage]
        if provider is not None:
            provider.shutdown()  # type: ignore[attr-defined]
        running.server.shutdown()
        running.server.server_close()


@tl.tool
async def get_weather(city: str) -> str:
    """Current weather."""
    return f"18 C in {city}"


async def test_a_turn_is_exported_over_otlp_as_the_trace_the_store_keeps(
    receiver: Receiver, tmp_path: Any
) -> None:
    model = ScriptedModel([tool_call("get_weather", {"city": "Paris"}), "It is 18 C."])
    agent = tl.Agent(name="weather", model=model, tools=[get_weather])
    async with tl.Threadline(agents=[agent], store=tmp_path / "t.db") as app:
        thread = await app.threads.start(user_id="ann")
        result = await thread.run("Weather in Paris?")
        stored = await thread.trace(result.turn_id)
    # Closing the app flushed what the exporter buffered.

    exported = receiver.spans()
    assert receiver.content_types and set(receiver.content_types) == {"application/x-protobuf"}
    assert {resource.get("service.name") for resource, _ in exported} == {"threadline"}
    by_id = {span.span_id.hex(): span for _, span in exported}
    stored_by_id = {s.span_id: s for s in stored}

    def exported_parent(span: Any) -> str | None:
        parent = by_id.get(span.parent_span_id.hex())
        return None if parent is None else parent.name

    def stored_parent(record: tl.SpanRecord) -> str | None:
        parent = stored_by_id.get(record.parent_id or "")
        return None if parent is None else parent.name

    assert sorted((s.name, exported_parent(s)) for s in by_id.values()) == sorted(
        (r.name, stored_parent(r)) for r in stored
    )
    assert {s.trace_id.hex() for s in by_id.values()} == {stored[0].trace_id}
    for record in stored:
        [span] = [
            s
            for s in by_id.values()
            if s.name == record.name
            and exported_parent(s) == stored_parent(record)
            and s.start_time_unix_nano == pytest.approx(record.start * 1e9, abs=2_000)
        ][:1]
        if record.name in ("thread.run", "thread.execution"):  # continued under these ids
            assert span.span_id.hex() == record.span_id
    names = {span.name: span for span in by_id.values()}
    assert {"thread.run", "thread.execution", "thread.step", "thread.llm", "thread.tool"} <= set(
        names
    )
    tool = {a.key: a.value for a in names["thread.tool"].attributes}
    assert tool["gen_ai.tool.name"].string_value == "get_weather"
    assert tool["gen_ai.operation.name"].string_value == "execute_tool"
    llm = [s for s in by_id.values() if s.name == "thread.llm"]
    assert sum(
        a.value.int_value for s in llm for a in s.attributes if a.key == "gen_ai.usage.input_tokens"
    ) == sum(
        int(r.attributes["gen_ai.usage.input_tokens"]) for r in stored if r.name == "thread.llm"
    )
