"""The one translation from threadline events to Responses streaming events and `Response`
objects. Live streams and replays of the stored event log both go through `Translator`, so
they produce the same events with the same sequence numbers.

A response is one *segment* of a turn: from the turn's start, or from the point where a
request resolved the turn's pause (an approval, a function call's output), to the turn's end
or its next pause. Sequence numbers start at 0 with `response.created` and count every event
the client receives, without gaps. The stored log coalesces a run of deltas into one event
that lists the lengths of the deltas it joins (`sizes`), and the translator cuts it back into
them, so a replay numbers them as the live stream did and `starting_after=N` resumes exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline.types import ApprovalRequest, Event, ToolCall, Usage

from ._output_items import OutputItems, WireEvent
from ._profile import OPENAI, Profile
from ._wire_items import SERVER_LABEL

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
        profile: Profile = OPENAI,
    ) -> None:
        self.info = info
        self.turn_id = turn_id
        self.status = "in_progress"
        self.error: dict[str, Any] | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.completed_at: float | None = None
        self.usage = Usage()
        self.done = False
        self._next = 0
        self._head = True
        self._items = OutputItems(
            self._event,
            profile=profile,
            external_tools=external_tools,
            calls=prior.calls if prior else {},
            approval_ids=prior.approval_ids if prior else {},
        )
        self._awaiting_input = False
        self.input_item_ids: set[str] = set()  # items the request's input became

    @property
    def output(self) -> list[dict[str, Any]]:
        return self._items.output

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
        handler = _HANDLERS.get(event.type)
        events = None if handler is None else handler(self, event)
        return [self._custom(event)] if events is None else events

    def finish_paused(self) -> list[WireEvent]:
        """End the segment where the turn paused for its caller."""
        events = self._items.close_open()
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
            "output": [
                dict(item) for item in self.output if item.get("id") not in self._items.rejected
            ],
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

    def _event(self, event_type: str, /, **fields: Any) -> WireEvent:
        event = {"type": event_type, "sequence_number": self._next, **fields}
        self._next += 1
        return event

    def _custom(self, event: Event) -> WireEvent:
        return self._event(
            "threadline:" + event.type, item_id=event.item_id, params=dict(event.params)
        )

    # -- items -------------------------------------------------------------------------------

    def _on_item_started(self, event: Event) -> list[WireEvent] | None:
        return self._items.started(event)

    def _on_item_completed(self, event: Event) -> list[WireEvent] | None:
        return self._items.completed(event)

    def _on_agent_message_delta(self, event: Event) -> list[WireEvent]:
        return self._items.delta(event, "response.output_text.delta", logprobs=[])

    def _on_reasoning_delta(self, event: Event) -> list[WireEvent]:
        return self._items.delta(event, self._items.profile.reasoning_events[0])

    def _on_tool_arguments_delta(self, event: Event) -> list[WireEvent]:
        return self._items.delta(event, "response.function_call_arguments.delta")

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
            and self._items.is_external(content.get("tool_call_id", ""))
            and content.get("outcome") in ("success", "error")
        )

    # -- everything else ---------------------------------------------------------------------

    def _on_turn_started(self, event: Event) -> list[WireEvent]:
        return []

    def _on_system_event(self, event: Event) -> list[WireEvent]:
        if event.params.get("phase") == "repair":
            # The answer just given failed the output schema: the model is asked again, and
            # the response's output is its next answer.
            self._items.reject_open_messages()
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
        request = ApprovalRequest(
            tool_call_id=str(params.get("tool_call_id", "")),
            name=str(params.get("name", "")),
            arguments=str(params.get("arguments", "")),
            arguments_hash="",
        )
        return self._items.approval(event.item_id, request)

    def _on_completed(self, event: Event) -> list[WireEvent]:
        events = self._items.close_open()
        self.status = "completed"
        return [*events, self._terminal("response.completed")]

    def _on_failed(self, event: Event) -> list[WireEvent]:
        events = self._items.close_open()
        error = event.params.get("error") or {}
        code = str(error.get("code", "error"))
        if code == "output_invalid":
            # The last answer failed the output schema as well: the response has none.
            self._items.reject_last_message()
        self.status = "failed"
        self.error = {
            "code": "server_error",
            "message": f"{code}: {error.get('message', 'the turn failed')}",
        }
        return [*events, self._terminal("response.failed")]

    def _on_cancelled(self, event: Event) -> list[WireEvent]:
        # The Responses stream has no cancellation event: a cancelled response ends with
        # `response.incomplete`, its status `cancelled`.
        events = self._items.close_open()
        self.status = "cancelled"
        self.incomplete_details = {"reason": "cancelled"}
        return [*events, self._terminal("response.incomplete")]

    def _terminal(self, event_type: str) -> WireEvent:
        self.done = True
        if self.status == "completed":
            self.completed_at = int(self.info.completed_at or time.time())
        return self._event(event_type, response=self.snapshot())


# The translation of each threadline event type that has one: `Translator._on_<type>`.
_HANDLERS: dict[str, Callable[[Translator, Event], list[WireEvent] | None]] = {
    name.removeprefix("_on_"): handler
    for name, handler in vars(Translator).items()
    if name.startswith("_on_")
}


def events_after(events: Iterable[WireEvent], starting_after: int | None) -> Iterable[WireEvent]:
    """The events a client that has seen everything up to `starting_after` still needs."""
    for event in events:
        if starting_after is None or event["sequence_number"] > starting_after:
            yield event


__all__ = [
    "SERVER_LABEL",
    "PriorCalls",
    "ResponseInfo",
    "Translator",
    "events_after",
    "usage_object",
]
