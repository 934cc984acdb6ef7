"""The one translation from threadline events to Responses streaming events and `Response`
objects. Live streams and replays of the stored event log both go through `Translator`, so
they produce the same events with the same sequence numbers.

A response is one *segment* of a turn: from the turn's start, or from the point where a
request resolved the turn's pause (an approval, a function call's output), to the turn's end
or its next pause. Sequence numbers start at 0 with `response.created`; every event takes one
number, except text deltas, which take one number per character (a delta's number is that
of its last character). The stored log coalesces deltas, and a coalesced delta takes the
same numbers as the deltas it replaces, so `starting_after=N` can resume exactly, even in the
middle of a streamed text (`events_after`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline.types import ApprovalRequest, Event, ToolCall, ToolResult, Usage

from ._wire_items import (
    SERVER_LABEL,
    WireItem,
    assistant_message,
    function_call,
    mcp_approval_request,
    mcp_call,
    output_text_part,
    reasoning,
    reasoning_text_part,
    wire_status,
)

WireEvent = dict[str, Any]
RESOLUTION_ITEM_TYPES = frozenset({"approval_response", "input_response"})


@dataclass(frozen=True, kw_only=True)
class ResponseInfo:
    """The parts of a `Response` that do not come from its events."""

    response_id: str
    created_at: float
    model: str
    instructions: str | None
    tools: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    text_format: dict[str, Any] = field(default_factory=lambda: {"type": "text"})
    conversation_id: str | None = None
    background: bool = False
    completed_at: float | None = None  # when replaying a stored segment that has ended
    temperature: float = 1.0
    top_p: float = 1.0
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    store: bool = True
    metadata: dict[str, str] = field(default_factory=dict[str, str])


@dataclass(frozen=True, kw_only=True)
class PriorCalls:
    """What a continued segment must know of the turn's earlier segments: the calls made and
    their approval requests."""

    calls: Mapping[str, tuple[str, ToolCall]] = field(
        default_factory=dict[str, tuple[str, ToolCall]]
    )
    approval_ids: Mapping[str, str] = field(default_factory=dict[str, str])


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": 0,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


class Translator:
    """Turns the events of one response's segment into Responses events, and keeps the
    `Response` snapshot they describe. `done` is set once the segment has ended."""

    def __init__(
        self,
        info: ResponseInfo,
        *,
        turn_id: str,
        external_tools: frozenset[str],
        prior: PriorCalls | None = None,
    ) -> None:
        self.info = info
        self.turn_id = turn_id
        self.external_tools = external_tools
        self.output: list[WireItem] = []
        self.status = "in_progress"
        self.error: dict[str, Any] | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.completed_at: float | None = None
        self.usage = Usage()
        self.done = False
        self._next = 0
        self._head = True
        self._index: dict[str, int] = {}  # threadline item id -> output index, while open
        self._texts: dict[str, list[str]] = {}
        self._calls: dict[str, tuple[str, ToolCall]] = dict(prior.calls if prior else {})
        self._call_index: dict[str, int] = {}  # tool_call_id -> output index of mcp_call
        self._approval_ids: dict[str, str] = dict(prior.approval_ids if prior else {})
        self._awaiting_input = False
        self._rejected: set[str] = set()  # answers the output repair loop sent back
        self.input_item_ids: set[str] = set()  # items the request's input became

    # -- the lifecycle -----------------------------------------------------------------------

    def start(self) -> list[WireEvent]:
        return [
            self._event("response.created", response=self.snapshot()),
            self._event("response.in_progress", response=self.snapshot()),
        ]

    def ends_before(self, event: Event) -> bool:
        """Whether `event` belongs after this segment: another turn's event, or a later
        resolution of this turn's next pause."""
        if event.turn_id != self.turn_id:
            return True
        return not self._head and self._is_resolution(event)

    def feed(self, event: Event) -> list[WireEvent]:
        """The Responses events for one threadline event of this segment."""
        if self.done:
            return []
        resolution = self._is_resolution(event)
        if not resolution:
            self._head = False
        if event.type == "item_completed" and (
            resolution or (event.params.get("item") or {}).get("type") == "user_message"
        ):
            self.input_item_ids.add(str(event.params["item"]["id"]))
        handler = getattr(self, "_on_" + event.type, None)
        if handler is None:
            return [self._custom(event)]
        return handler(event)

    def finish_paused(self) -> list[WireEvent]:
        """End the segment where the turn paused for its caller."""
        events = self._close_open()
        if self._awaiting_input:
            self.status = "incomplete"
            self.incomplete_details = {"reason": "awaiting_input"}
            return [*events, self._terminal("response.incomplete")]
        self.status = "completed"
        return [*events, self._terminal("response.completed")]

    def snapshot(self) -> dict[str, Any]:
        """The `Response` object as the events so far describe it."""
        info = self.info
        return {
            "id": info.response_id,
            "object": "response",
            "created_at": int(info.created_at),
            "status": self.status,
            "completed_at": self.completed_at,
            "background": info.background,
            "error": self.error,
            "incomplete_details": self.incomplete_details,
            "instructions": info.instructions,
            "max_output_tokens": info.max_output_tokens,
            "max_tool_calls": None,
            "model": info.model,
            "output": [dict(item) for item in self.output if item.get("id") not in self._rejected],
            "parallel_tool_calls": True,
            "previous_response_id": info.previous_response_id,
            "conversation": ({"id": info.conversation_id} if info.conversation_id else None),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": info.store,
            "temperature": info.temperature,
            "text": {"format": dict(info.text_format)},
            "tool_choice": "auto",
            "tools": list(info.tools),
            "top_logprobs": 0,
            "top_p": info.top_p,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "truncation": "disabled",
            "usage": usage_object(self.usage),
            "user": None,
            "metadata": dict(info.metadata),
            "safety_identifier": None,
            "prompt_cache_key": None,
        }

    # -- numbering ---------------------------------------------------------------------------

    def _event(self, event_type: str, **fields: Any) -> WireEvent:
        event = {"type": event_type, "sequence_number": self._next, **fields}
        self._next += 1
        return event

    def _delta(self, event_type: str, delta: str, **fields: Any) -> list[WireEvent]:
        if not delta:
            return []
        self._next += len(delta)
        return [{"type": event_type, "sequence_number": self._next - 1, **fields, "delta": delta}]

    def _custom(self, event: Event) -> WireEvent:
        return self._event(
            "threadline:" + event.type, item_id=event.item_id, params=dict(event.params)
        )

    # -- items -------------------------------------------------------------------------------

    def _open(self, item_id: str, item: WireItem) -> list[WireEvent]:
        index = self._index[item_id] = len(self.output)
        self.output.append(item)
        return [self._event("response.output_item.added", output_index=index, item=dict(item))]

    def _close(self, item_id: str, item: WireItem) -> list[WireEvent]:
        index = self._index.pop(item_id)
        self.output[index] = item
        return [self._event("response.output_item.done", output_index=index, item=dict(item))]

    def _at_once(self, item_id: str, item: WireItem) -> list[WireEvent]:
        return [*self._open(item_id, item), *self._close(item_id, item)]

    def _on_item_started(self, event: Event) -> list[WireEvent]:
        item = event.params["item"]
        item_id, content = item["id"], item.get("content") or {}
        kind = item["type"]
        if kind == "agent_message":
            return self._start_message(item_id)
        if kind == "reasoning":
            return self._start_reasoning(item_id)
        if kind == "tool_call":
            name, call_id = content.get("name", ""), content.get("tool_call_id", "")
            if name in self.external_tools and call_id:
                call = ToolCall(tool_call_id=call_id, name=name, arguments="")
                self._texts[item_id] = []
                return self._open(item_id, function_call(item_id, call, "in_progress"))
            return []
        if kind == "tool_result":
            call_id = content.get("tool_call_id", "")
            if call_id in self._call_index or self._is_external(call_id):
                return []
            return self._start_mcp_call(call_id)
        if kind in ("user_message", "approval_request", "approval_response"):
            return []
        return [self._custom(event)]

    def _start_message(self, item_id: str) -> list[WireEvent]:
        self._texts[item_id] = []
        events = self._open(item_id, assistant_message(item_id, None, "in_progress"))
        self.output[self._index[item_id]] = assistant_message(item_id, "", "in_progress")
        return [
            *events,
            self._event(
                "response.content_part.added",
                item_id=item_id,
                output_index=self._index[item_id],
                content_index=0,
                part=output_text_part(""),
            ),
        ]

    def _start_reasoning(self, item_id: str) -> list[WireEvent]:
        self._texts[item_id] = []
        events = self._open(item_id, reasoning(item_id, None, "in_progress"))
        self.output[self._index[item_id]] = reasoning(item_id, "", "in_progress")
        return [
            *events,
            self._event(
                "response.content_part.added",
                item_id=item_id,
                output_index=self._index[item_id],
                content_index=0,
                part=reasoning_text_part(""),
            ),
        ]

    def _start_mcp_call(self, call_id: str) -> list[WireEvent]:
        known = self._calls.get(call_id)
        if known is None:
            return []
        item_id, call = known
        self._call_index[call_id] = len(self.output)
        item = mcp_call(item_id, call, None, self._approval_ids.get(call_id))
        return [
            *self._open(item_id, item),
            self._event(
                "response.mcp_call_arguments.done",
                item_id=item_id,
                output_index=self._index[item_id],
                arguments=call.arguments,
            ),
            self._event(
                "response.mcp_call.in_progress", item_id=item_id, output_index=self._index[item_id]
            ),
        ]

    def _on_agent_message_delta(self, event: Event) -> list[WireEvent]:
        return self._text_delta(event, "response.output_text.delta", logprobs=[])

    def _on_reasoning_delta(self, event: Event) -> list[WireEvent]:
        return self._text_delta(event, "response.reasoning_text.delta")

    def _on_tool_arguments_delta(self, event: Event) -> list[WireEvent]:
        return self._text_delta(event, "response.function_call_arguments.delta")

    def _text_delta(self, event: Event, event_type: str, **extra: Any) -> list[WireEvent]:
        item_id = event.item_id
        if item_id is None or item_id not in self._index:
            return []
        delta = str(event.params.get("delta", ""))
        self._texts[item_id].append(delta)
        index = self._index[item_id]
        fields: dict[str, Any] = {"item_id": item_id, "output_index": index}
        if event_type != "response.function_call_arguments.delta":
            fields["content_index"] = 0
            item = self.output[index]
            item["content"] = [{**item["content"][0], "text": "".join(self._texts[item_id])}]
        else:
            self.output[index] = {**self.output[index], "arguments": "".join(self._texts[item_id])}
        return self._delta(event_type, delta, **fields, **extra)

    def _on_item_completed(self, event: Event) -> list[WireEvent]:
        item = event.params["item"]
        item_id, content, kind = item["id"], item.get("content") or {}, item["type"]
        status = wire_status(item.get("status", "completed"))
        if kind == "agent_message":
            return self._finish_text(item_id, content.get("text", ""), status, message=True)
        if kind == "reasoning":
            return self._finish_text(item_id, content.get("text", ""), status, message=False)
        if kind == "tool_call":
            call = ToolCall(
                tool_call_id=content.get("tool_call_id", ""),
                name=content.get("name", ""),
                arguments=content.get("arguments", ""),
            )
            self._calls[call.tool_call_id] = (item_id, call)
            if call.name in self.external_tools:
                return self._finish_function_call(item_id, call, status)
            return []
        if kind == "tool_result":
            result = ToolResult(
                tool_call_id=content.get("tool_call_id", ""),
                name=content.get("name", ""),
                output=content.get("output", ""),
                outcome=content.get("outcome", "success"),
            )
            if self._is_external(result.tool_call_id):
                return []
            return self._finish_mcp_call(result)
        if kind in ("user_message", "approval_request", "approval_response"):
            return []
        return [self._custom(event)]

    def _finish_text(
        self, item_id: str, text: str, status: str, *, message: bool
    ) -> list[WireEvent]:
        events: list[WireEvent] = []
        if item_id not in self._index:
            events += self._start_message(item_id) if message else self._start_reasoning(item_id)
        index = self._index[item_id]
        self._texts.pop(item_id, None)
        if message and item_id in self._rejected:
            # Not the answer: closed like a cut-off message, so that no client parses it.
            final = assistant_message(item_id, text, "incomplete")
            return [*events, *self._close(item_id, final)]
        if message:
            part = output_text_part(text)
            events.append(
                self._event(
                    "response.output_text.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            )
            final = assistant_message(item_id, text, status)
        else:
            part = reasoning_text_part(text)
            events.append(
                self._event(
                    "response.reasoning_text.done",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    text=text,
                )
            )
            final = reasoning(item_id, text, status)
        events.append(
            self._event(
                "response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
            )
        )
        return [*events, *self._close(item_id, final)]

    def _finish_function_call(self, item_id: str, call: ToolCall, status: str) -> list[WireEvent]:
        events: list[WireEvent] = []
        if item_id not in self._index:
            events += self._open(item_id, function_call(item_id, call, "in_progress"))
        self._texts.pop(item_id, None)
        events.append(
            self._event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=self._index[item_id],
                name=call.name,
                arguments=call.arguments,
            )
        )
        return [*events, *self._close(item_id, function_call(item_id, call, status))]

    def _finish_mcp_call(self, result: ToolResult) -> list[WireEvent]:
        known = self._calls.get(result.tool_call_id)
        if known is None:
            return []
        item_id, call = known
        events = (
            []
            if result.tool_call_id in self._call_index
            else self._start_mcp_call(result.tool_call_id)
        )
        index = self._index[item_id]
        final = mcp_call(item_id, call, result, self._approval_ids.get(result.tool_call_id))
        kind = "response.mcp_call.failed" if result.is_error else "response.mcp_call.completed"
        events.append(self._event(kind, item_id=item_id, output_index=index))
        return [*events, *self._close(item_id, final)]

    def _is_resolution(self, event: Event) -> bool:
        """Events that answer a paused turn (a decision, a client tool's result): they open
        the segment of the request that gave the answer."""
        if event.type == "approval_resolved":
            return True
        if event.type != "item_completed":
            return False
        item = event.params.get("item") or {}
        if item.get("type") in RESOLUTION_ITEM_TYPES:
            return True
        content = item.get("content") or {}
        return (
            item.get("type") == "tool_result"
            and self._is_external(content.get("tool_call_id", ""))
            and content.get("outcome") in ("success", "error")
        )

    def _is_external(self, call_id: str) -> bool:
        known = self._calls.get(call_id)
        return known is not None and known[1].name in self.external_tools

    # -- everything else ---------------------------------------------------------------------

    def _on_turn_started(self, event: Event) -> list[WireEvent]:
        return []

    def _on_system_event(self, event: Event) -> list[WireEvent]:
        if event.params.get("phase") == "repair":
            # The answer just given failed the output schema: the model is asked again, and
            # the response's output is its next answer.
            self._rejected.update(
                item_id
                for item_id, index in self._index.items()
                if self.output[index]["type"] == "message"
            )
        return [self._custom(event)]

    def _on_usage_delta(self, event: Event) -> list[WireEvent]:
        self.usage = self.usage + Usage.from_dict(dict(event.params.get("usage") or {}))
        return []

    def _on_approval_requested(self, event: Event) -> list[WireEvent]:
        params = event.params
        if params.get("kind", "approval") != "approval" or event.item_id is None:
            if params.get("kind") == "input":
                self._awaiting_input = True
            return [self._custom(event)]
        call_id = str(params.get("tool_call_id", ""))
        self._approval_ids[call_id] = event.item_id
        request = ApprovalRequest(
            tool_call_id=call_id,
            name=str(params.get("name", "")),
            arguments=str(params.get("arguments", "")),
            arguments_hash="",
        )
        return self._at_once(event.item_id, mcp_approval_request(event.item_id, request))

    def _on_completed(self, event: Event) -> list[WireEvent]:
        events = self._close_open()
        self.status = "completed"
        return [*events, self._terminal("response.completed")]

    def _on_failed(self, event: Event) -> list[WireEvent]:
        events = self._close_open()
        error = event.params.get("error") or {}
        code = str(error.get("code", "error"))
        if code == "output_invalid":
            # The last answer failed the output schema as well: the response has none.
            answers = [item["id"] for item in self.output if item["type"] == "message"]
            self._rejected.update(answers[-1:])
        self.status = "failed"
        self.error = {
            "code": "server_error",
            "message": f"{code}: {error.get('message', 'the turn failed')}",
        }
        return [*events, self._terminal("response.failed")]

    def _on_cancelled(self, event: Event) -> list[WireEvent]:
        # The Responses stream has no cancellation event: a cancelled response ends with
        # `response.incomplete`, its status `cancelled`.
        events = self._close_open()
        self.status = "cancelled"
        self.incomplete_details = {"reason": "cancelled"}
        return [*events, self._terminal("response.incomplete")]

    def _terminal(self, event_type: str) -> WireEvent:
        self.done = True
        if self.status == "completed":
            self.completed_at = int(self.info.completed_at or time.time())
        return self._event(event_type, response=self.snapshot())

    def _close_open(self) -> list[WireEvent]:
        events: list[WireEvent] = []
        for item_id, index in sorted(self._index.items(), key=lambda pair: pair[1]):
            item = {**self.output[index], "status": "incomplete"}
            if item["type"] == "mcp_call":
                item["status"] = "failed"
            events += self._close(item_id, item)
        return events


def events_after(events: Iterable[WireEvent], starting_after: int | None) -> Iterable[WireEvent]:
    """The events a client that has seen everything up to `starting_after` still needs; a
    delta it saw part of is cut to the part it has not seen."""
    for event in events:
        number = event["sequence_number"]
        if starting_after is None or number > starting_after:
            delta = event.get("delta")
            if starting_after is not None and isinstance(delta, str):
                first = number - len(delta) + 1
                if first <= starting_after:
                    event = {**event, "delta": delta[starting_after - first + 1 :]}
            yield event


__all__ = [
    "SERVER_LABEL",
    "PriorCalls",
    "ResponseInfo",
    "Translator",
    "events_after",
    "usage_object",
]
