"""The output items of one response as its events arrive: each item is opened
(`response.output_item.added`), filled (content parts and their deltas) and closed
(`response.output_item.done`), in the shapes of the response's `Profile`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from threadline.types import ApprovalRequest, Event, ToolCall, ToolResult

from ._profile import Profile
from ._wire_items import (
    WireItem,
    assistant_message,
    function_call,
    output_text_part,
    reasoning_text_part,
    wire_status,
)

WireEvent = dict[str, Any]
_PASSIVE_ITEMS = ("user_message", "approval_request", "approval_response")
_ARGUMENTS_DELTA = "response.function_call_arguments.delta"


class Emit(Protocol):
    """Numbers one Responses event of the response."""

    def __call__(self, event_type: str, /, **fields: Any) -> WireEvent: ...


class OutputItems:
    """The response's `output` list, and the events that build it."""

    def __init__(
        self,
        emit: Emit,
        *,
        profile: Profile,
        external_tools: frozenset[str],
        calls: Mapping[str, tuple[str, ToolCall]],
        approval_ids: Mapping[str, str],
    ) -> None:
        self._emit = emit
        self.profile = profile
        self.external_tools = external_tools
        self._output: list[WireItem] = []
        self._index: dict[str, int] = {}  # threadline item id -> output index, while open
        self._texts: dict[str, list[str]] = {}
        # Open items whose text in `_output` lags their deltas (True: a call's arguments):
        # joining the text at every delta would cost quadratic time.
        self._behind: dict[str, bool] = {}
        self._calls: dict[str, tuple[str, ToolCall]] = dict(calls)  # tool_call_id -> call
        self._call_index: dict[str, int] = {}  # tool_call_id -> output index of its item
        self._approval_ids: dict[str, str] = dict(approval_ids)
        self.rejected: set[str] = set()  # answers the output repair loop sent back

    @property
    def output(self) -> list[WireItem]:
        for item_id, arguments in self._behind.items():
            index = self._index.get(item_id)
            if index is None:
                continue
            text = "".join(self._texts[item_id])
            item = self._output[index]
            if arguments:
                self._output[index] = {**item, "arguments": text}
            else:
                item["content"] = [{**item["content"][0], "text": text}]
        self._behind.clear()
        return self._output

    def is_external(self, call_id: str) -> bool:
        """Whether the call is of a function tool the client runs."""
        known = self._calls.get(call_id)
        return known is not None and known[1].name in self.external_tools

    # -- opening and closing -----------------------------------------------------------------

    def _open(self, item_id: str, item: WireItem) -> list[WireEvent]:
        index = self._index[item_id] = len(self._output)
        self._output.append(item)
        return [self._emit("response.output_item.added", output_index=index, item=dict(item))]

    def _close(self, item_id: str, item: WireItem) -> list[WireEvent]:
        index = self._index.pop(item_id)
        self._behind.pop(item_id, None)
        self._output[index] = item
        return [self._emit("response.output_item.done", output_index=index, item=dict(item))]

    def reject_open_messages(self) -> None:
        """The answers being written failed the output schema: they are not the output."""
        self.rejected.update(
            item_id
            for item_id, index in self._index.items()
            if self._output[index]["type"] == "message"
        )

    def reject_last_message(self) -> None:
        """The last answer failed the output schema too: the response has none."""
        answers = [str(item["id"]) for item in self._output if item["type"] == "message"]
        self.rejected.update(answers[-1:])

    def close_open(self) -> list[WireEvent]:
        """Close the items still open when the response ends early."""
        events: list[WireEvent] = []
        output = self.output
        for item_id, index in sorted(self._index.items(), key=lambda pair: pair[1]):
            item = output[index]
            events += self._close(
                item_id, {**item, "status": self.profile.cut_status(str(item["type"]))}
            )
        return events

    # -- threadline item events --------------------------------------------------------------

    def started(self, event: Event) -> list[WireEvent] | None:
        """The events for an `item_started`; None for an item kind with no wire form."""
        item = event.params["item"]
        item_id, content, kind = item["id"], item.get("content") or {}, item["type"]
        if kind == "agent_message":
            return self._start_text(item_id, message=True)
        if kind == "reasoning":
            return self._start_text(item_id, message=False)
        if kind == "tool_call":
            name, call_id = content.get("name", ""), content.get("tool_call_id", "")
            if name in self.external_tools and call_id:
                call = ToolCall(tool_call_id=call_id, name=name, arguments="")
                self._texts[item_id] = []
                return self._open(item_id, function_call(item_id, call, "in_progress"))
            return []
        if kind == "tool_result":
            call_id = content.get("tool_call_id", "")
            if call_id in self._call_index or self.is_external(call_id):
                return []
            return self._start_tool_call(call_id)
        if kind in _PASSIVE_ITEMS:
            return []
        return None

    def delta(self, event: Event, event_type: str, **extra: Any) -> list[WireEvent]:
        """One Responses delta event per delta the model streamed: a stored delta that
        joins several (`sizes`) is cut back into them."""
        item_id = event.item_id
        if item_id is None or item_id not in self._index:
            return []
        text = str(event.params.get("delta", ""))
        sizes = event.params.get("sizes")
        if not sizes:
            return [self._text_delta(item_id, event_type, text, extra)] if text else []
        events: list[WireEvent] = []
        start = 0
        for size in sizes:
            piece, start = text[start : start + int(size)], start + int(size)
            if piece:
                events.append(self._text_delta(item_id, event_type, piece, extra))
        return events

    def _text_delta(
        self, item_id: str, event_type: str, piece: str, extra: dict[str, Any]
    ) -> WireEvent:
        self._texts[item_id].append(piece)
        index = self._index[item_id]
        if event_type == _ARGUMENTS_DELTA:
            self._behind[item_id] = True
            return self._emit(event_type, item_id=item_id, output_index=index, delta=piece, **extra)
        self._behind[item_id] = False
        return self._emit(
            event_type, item_id=item_id, output_index=index, content_index=0, delta=piece, **extra
        )

    def completed(self, event: Event) -> list[WireEvent] | None:
        """The events for an `item_completed`; None for an item kind with no wire form."""
        item = event.params["item"]
        item_id, content, kind = item["id"], item.get("content") or {}, item["type"]
        status = wire_status(item.get("status", "completed"))
        if kind in ("agent_message", "reasoning"):
            return self._finish_text(
                item_id, content.get("text", ""), status, message=kind == "agent_message"
            )
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
            if self.is_external(result.tool_call_id):
                return []
            return self._finish_tool_call(result)
        if kind in _PASSIVE_ITEMS:
            return []
        return None

    def approval(self, item_id: str, request: ApprovalRequest) -> list[WireEvent]:
        """An approval pause: an item that is complete as soon as it is shown."""
        self._approval_ids[request.tool_call_id] = item_id
        item = self.profile.approval_request(item_id, request)
        opening = {**item, "status": "in_progress"} if "status" in item else item
        return [*self._open(item_id, opening), *self._close(item_id, item)]

    # -- messages and reasoning --------------------------------------------------------------

    def _start_text(self, item_id: str, *, message: bool) -> list[WireEvent]:
        self._texts[item_id] = []
        if message:
            events = self._open(item_id, assistant_message(item_id, None, "in_progress"))
            self._output[self._index[item_id]] = assistant_message(item_id, "", "in_progress")
            part = output_text_part("")
        else:
            events = self._open(item_id, self.profile.reasoning(item_id, None, "in_progress"))
            self._output[self._index[item_id]] = self.profile.reasoning(item_id, "", "in_progress")
            part = reasoning_text_part("")
        return [
            *events,
            self._emit(
                "response.content_part.added",
                item_id=item_id,
                output_index=self._index[item_id],
                content_index=0,
                part=part,
            ),
        ]

    def _finish_text(
        self, item_id: str, text: str, status: str, *, message: bool
    ) -> list[WireEvent]:
        events: list[WireEvent] = []
        if item_id not in self._index:
            events += self._start_text(item_id, message=message)
        index = self._index[item_id]
        self._texts.pop(item_id, None)
        if message and item_id in self.rejected:
            # Not the answer: closed like a cut-off message, so that no client parses it.
            return [*events, *self._close(item_id, assistant_message(item_id, text, "incomplete"))]
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        if message:
            part = output_text_part(text)
            events.append(self._emit("response.output_text.done", **where, text=text, logprobs=[]))
            final = assistant_message(item_id, text, status)
        else:
            part = reasoning_text_part(text)
            events.append(self._emit(self.profile.reasoning_events[1], **where, text=text))
            final = self.profile.reasoning(item_id, text, status)
        events.append(self._emit("response.content_part.done", **where, part=part))
        return [*events, *self._close(item_id, final)]

    # -- tool calls --------------------------------------------------------------------------

    def _finish_function_call(self, item_id: str, call: ToolCall, status: str) -> list[WireEvent]:
        events: list[WireEvent] = []
        if item_id not in self._index:
            events += self._open(item_id, function_call(item_id, call, "in_progress"))
        self._texts.pop(item_id, None)
        events.append(
            self._emit(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=self._index[item_id],
                name=call.name,
                arguments=call.arguments,
            )
        )
        return [*events, *self._close(item_id, function_call(item_id, call, status))]

    def _start_tool_call(self, call_id: str) -> list[WireEvent]:
        """An agent tool starts running: its call is shown, without a result yet."""
        known = self._calls.get(call_id)
        if known is None:
            return []
        item_id, call = known
        self._call_index[call_id] = len(self._output)
        item = self.profile.tool_call(item_id, call, None, self._approval_ids.get(call_id))
        events = self._open(item_id, item)
        if self.profile.tool_call_events:
            where = {"item_id": item_id, "output_index": self._index[item_id]}
            events.append(
                self._emit("response.mcp_call_arguments.done", **where, arguments=call.arguments)
            )
            events.append(self._emit("response.mcp_call.in_progress", **where))
        return events

    def _finish_tool_call(self, result: ToolResult) -> list[WireEvent]:
        known = self._calls.get(result.tool_call_id)
        if known is None:
            return []
        item_id, call = known
        events = (
            []
            if result.tool_call_id in self._call_index
            else self._start_tool_call(result.tool_call_id)
        )
        final = self.profile.tool_call(
            item_id, call, result, self._approval_ids.get(result.tool_call_id)
        )
        if self.profile.tool_call_events:
            kind = "response.mcp_call.failed" if result.is_error else "response.mcp_call.completed"
            events.append(self._emit(kind, item_id=item_id, output_index=self._index[item_id]))
        return [*events, *self._close(item_id, final)]
