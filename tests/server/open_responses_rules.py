"""The rules of the Open Responses specification that a stream or a snapshot can break,
written from the specification (its text and its OpenAPI schemas), for the tests to check
every response against. Each check returns the list of rules broken, empty if none."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PREFIX = "threadline:"
JSON = Mapping[str, Any]

# -- value kinds --------------------------------------------------------------------------


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _list(v: Any) -> bool:
    return isinstance(v, list)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


def _any(_: Any) -> bool:
    return True


def _or_null(kind: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or kind(v)


def _one_of(*values: str) -> Callable[[Any], bool]:
    return lambda v: v in values


Shape = Mapping[str, Callable[[Any], bool]]


def _fields(value: Any, required: Shape, where: str, optional: Shape | None = None) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    broken = [
        f"{where}.{name}: missing or wrong type ({value.get(name)!r})"
        for name, kind in required.items()
        if name not in value or not kind(value[name])
    ]
    for name, kind in (optional or {}).items():
        if name in value and not kind(value[name]):
            broken.append(f"{where}.{name}: wrong type ({value[name]!r})")
    return broken


# -- content, items, the response ---------------------------------------------------------

_PARTS: dict[str, Shape] = {
    "input_text": {"text": _str},
    "output_text": {"text": _str, "annotations": _list},
    "text": {"text": _str},
    "summary_text": {"text": _str},
    "reasoning_text": {"text": _str},
    "refusal": {"refusal": _str},
    "input_image": {"image_url": _or_null(_str), "detail": _one_of("low", "high", "auto")},
    "input_file": {},
    "input_video": {"video_url": _str},
}
ITEM_STATUSES = ("in_progress", "completed", "incomplete")


def check_part(part: Any, where: str) -> list[str]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in _PARTS:
        return [f"{where}: unknown content part {kind!r}"]
    return _fields(part, _PARTS[str(kind)], where, {"logprobs": _list})


def _parts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}: not a list"]
    return [e for n, part in enumerate(value) for e in check_part(part, f"{where}[{n}]")]


_ITEMS: dict[str, tuple[Shape, Shape]] = {
    "message": (
        {
            "id": _str,
            "status": _one_of(*ITEM_STATUSES),
            "role": _one_of("user", "assistant", "system", "developer"),
            "content": _list,
        },
        {"phase": _one_of("commentary", "final_answer")},
    ),
    "function_call": (
        {
            "id": _str,
            "call_id": _str,
            "name": _str,
            "arguments": _str,
            "status": _one_of(*ITEM_STATUSES),
        },
        {},
    ),
    "function_call_output": (
        {
            "id": _str,
            "call_id": _str,
            "output": lambda v: _str(v) or _list(v),
            "status": _one_of(*ITEM_STATUSES),
        },
        {},
    ),
    "reasoning": ({"id": _str, "summary": _list}, {"content": _list, "encrypted_content": _str}),
    "compaction": ({"id": _str, "encrypted_content": _str}, {"created_by": _str}),
}


def check_item(item: Any, where: str) -> list[str]:
    """A standard item with its required fields, or an extension item carrying the
    implementor's prefix, an `id`, a `type` and a `status`."""
    kind = item.get("type") if isinstance(item, dict) else None
    if not isinstance(kind, str):
        return [f"{where}: an item without a type"]
    if kind not in _ITEMS:
        if not kind.startswith(PREFIX):
            return [f"{where}: non-standard item type {kind!r} without the {PREFIX!r} prefix"]
        return _fields(item, {"id": _str, "status": _str}, where)
    required, optional = _ITEMS[kind]
    broken = _fields(item, required, where, optional)
    for key in ("content", "summary"):
        if isinstance(item.get(key), list):
            broken += _parts(item[key], f"{where}.{key}")
    return broken


_USAGE: Shape = {
    "input_tokens": _int,
    "output_tokens": _int,
    "total_tokens": _int,
    "input_tokens_details": lambda v: _obj(v) and _int(v.get("cached_tokens")),
    "output_tokens_details": lambda v: _obj(v) and _int(v.get("reasoning_tokens")),
}
_TOOL: Shape = {
    "type": _one_of("function"),
    "name": _str,
    "description": _or_null(_str),
    "parameters": _or_null(_obj),
    "strict": _or_null(_bool),
}
_RESPONSE: Shape = {
    "id": _str,
    "object": _one_of("response"),
    "created_at": _int,
    "completed_at": _or_null(_int),
    "status": _str,
    "incomplete_details": lambda v: v is None or (_obj(v) and _str(v.get("reason"))),
    "model": _str,
    "previous_response_id": _or_null(_str),
    "instructions": _or_null(_str),
    "output": _list,
    "error": lambda v: v is None or (_obj(v) and _str(v.get("code")) and _str(v.get("message"))),
    "tools": _list,
    "tool_choice": lambda v: v in ("none", "auto", "required") or _obj(v),
    "truncation": _one_of("auto", "disabled"),
    "parallel_tool_calls": _bool,
    "text": lambda v: _obj(v) and _obj(v.get("format")) and _str(v["format"].get("type")),
    "top_p": _num,
    "presence_penalty": _num,
    "frequency_penalty": _num,
    "top_logprobs": _int,
    "temperature": _num,
    "reasoning": lambda v: v is None or (_obj(v) and "effort" in v and "summary" in v),
    "usage": lambda v: v is None or not _fields(v, _USAGE, "usage"),
    "max_output_tokens": _or_null(_int),
    "max_tool_calls": _or_null(_int),
    "store": _bool,
    "background": _bool,
    "service_tier": _str,
    "metadata": _any,
    "safety_identifier": _or_null(_str),
    "prompt_cache_key": _or_null(_str),
}


def check_response(response: Any, where: str = "response") -> list[str]:
    """A `Response` object: every required field, every output item."""
    broken = _fields(response, _RESPONSE, where)
    if broken:
        return broken
    for n, tool in enumerate(response["tools"]):
        broken += _fields(tool, _TOOL, f"{where}.tools[{n}]")
    for n, item in enumerate(response["output"]):
        broken += check_item(item, f"{where}.output[{n}]")
    if response["status"] == "completed":
        broken += [
            f"{where}.output[{n}]: incomplete in a completed response"
            for n, item in enumerate(response["output"])
            if item.get("status") == "incomplete"
        ]
    return broken


def check_compaction(body: Any) -> list[str]:
    """A `response.compaction` object (the answer of /v1/responses/compact)."""
    broken = _fields(
        body,
        {
            "id": _str,
            "object": _one_of("response.compaction"),
            "output": _list,
            "created_at": _int,
            "usage": _obj,
        },
        "compaction",
    )
    if broken:
        return broken
    broken += _fields(body["usage"], _USAGE, "compaction.usage")
    for n, item in enumerate(body["output"]):
        broken += check_item(item, f"compaction.output[{n}]")
    return broken


# -- events --------------------------------------------------------------------------------

_WHERE: Shape = {"item_id": _str, "output_index": _int}
_PART_AT: Shape = {**_WHERE, "content_index": _int}
_SUMMARY_AT: Shape = {**_WHERE, "summary_index": _int}
LIFECYCLE = (
    "response.created",
    "response.queued",
    "response.in_progress",
    "response.completed",
    "response.failed",
    "response.incomplete",
)
TERMINAL = ("response.completed", "response.failed", "response.incomplete")
_EVENTS: dict[str, Shape] = {
    **{kind: {"response": _obj} for kind in LIFECYCLE},
    "response.output_item.added": {"output_index": _int, "item": _or_null(_obj)},
    "response.output_item.done": {"output_index": _int, "item": _or_null(_obj)},
    "response.content_part.added": {**_PART_AT, "part": _obj},
    "response.content_part.done": {**_PART_AT, "part": _obj},
    "response.output_text.delta": {**_PART_AT, "delta": _str},
    "response.output_text.done": {**_PART_AT, "text": _str},
    "response.refusal.delta": {**_PART_AT, "delta": _str},
    "response.refusal.done": {**_PART_AT, "refusal": _str},
    "response.reasoning.delta": {**_PART_AT, "delta": _str},
    "response.reasoning.done": {**_PART_AT, "text": _str},
    "response.reasoning_summary_text.delta": {**_SUMMARY_AT, "delta": _str},
    "response.reasoning_summary_text.done": {**_SUMMARY_AT, "text": _str},
    "response.reasoning_summary_part.added": {**_SUMMARY_AT, "part": _obj},
    "response.reasoning_summary_part.done": {**_SUMMARY_AT, "part": _obj},
    "response.output_text.annotation.added": {
        **_PART_AT,
        "annotation_index": _int,
        "annotation": _or_null(_obj),
    },
    "response.function_call_arguments.delta": {**_WHERE, "delta": _str},
    "response.function_call_arguments.done": {**_WHERE, "arguments": _str},
    "error": {
        "error": lambda v: (
            not _fields(
                v,
                {"type": _str, "code": _or_null(_str), "message": _str, "param": _or_null(_str)},
                "",
            )
        )
    },
}


def check_events(events: Sequence[JSON]) -> list[str]:
    """One response's events: each with the fields of its type (or the prefix and a number if
    it is not a standard type), numbered 0, 1, 2 ... without gaps, `response.created` first
    and one terminal event last, and every output item added, filled and done in order."""
    broken: list[str] = []
    for n, event in enumerate(events):
        kind, where = event.get("type"), f"event {n} ({event.get('type')})"
        if not _int(event.get("sequence_number")):
            broken.append(f"{where}: no sequence_number")
        if kind in _EVENTS:
            broken += _fields(event, _EVENTS[str(kind)], where)
        elif not (isinstance(kind, str) and kind.startswith(PREFIX)):
            broken.append(f"{where}: non-standard event type without the {PREFIX!r} prefix")
        if isinstance(event.get("response"), dict):
            broken += check_response(event["response"], f"{where}.response")
        if isinstance(event.get("item"), dict):
            broken += check_item(event["item"], f"{where}.item")
        if isinstance(event.get("part"), dict):
            broken += check_part(event["part"], f"{where}.part")
    numbers = [e.get("sequence_number") for e in events]
    if numbers != list(range(len(events))):
        broken.append(f"sequence numbers are not 0, 1, 2 ... without gaps: {numbers}")
    if not events or events[0].get("type") != "response.created":
        broken.append("the first event is not response.created")
    terminals = [n for n, e in enumerate(events) if e.get("type") in TERMINAL]
    if terminals != [len(events) - 1]:
        broken.append(f"not exactly one terminal event, last: {terminals}")
    return broken + _item_order(events)


def _item_order(events: Sequence[JSON]) -> list[str]:
    broken: list[str] = []
    state: dict[int, str] = {}  # output index -> "open", "part", "done"
    done: dict[int, Any] = {}
    for event in events:
        kind, index = str(event.get("type")), event.get("output_index")
        if not _int(index):
            continue
        assert isinstance(index, int)
        now = state.get(index)
        if kind == "response.output_item.added":
            if now is not None:
                broken.append(f"output {index}: added twice")
            item = event.get("item") or {}
            if item.get("status") != "in_progress":
                broken.append(f"output {index}: added with status {item.get('status')!r}")
            if item.get("type") == "message" and item.get("content") != []:
                broken.append(f"output {index}: a message added with content")
            state[index] = "open"
        elif now is None or now == "done":
            broken.append(f"output {index}: {kind} outside its item's added ... done")
        elif kind == "response.content_part.added":
            state[index] = "part"
        elif kind == "response.content_part.done":
            if now != "part":
                broken.append(f"output {index}: content_part.done without content_part.added")
            state[index] = "open"
        elif kind.endswith((".delta", ".done")) and "content_index" in event and now != "part":
            broken.append(f"output {index}: {kind} outside its content part")
        elif kind == "response.output_item.done":
            if now == "part":
                broken.append(f"output {index}: done while a content part is open")
            state[index] = "done"
            done[index] = event.get("item")
    broken += [f"output {i}: never done" for i, s in state.items() if s != "done"]
    last = events[-1].get("response") if events else None
    if isinstance(last, dict) and last.get("output") != [done[i] for i in sorted(done)]:
        broken.append("the final response's output is not the items the stream completed")
    return broken


def parse_sse(raw: str) -> tuple[list[JSON], list[str]]:
    """The events of a `text/event-stream` body, and the framing rules it breaks: every
    `event:` equal to its data's `type`, no `id:`, and `data: [DONE]` as the last frame."""
    events: list[JSON] = []
    broken: list[str] = []
    frames = [f for f in raw.split("\n\n") if f.strip()]
    for n, frame in enumerate(frames):
        lines = frame.split("\n")
        if all(line.startswith(":") for line in lines):
            continue  # a comment: keep-alive
        if any(line.startswith("id:") for line in lines):
            broken.append(f"frame {n}: has an id: field")
        data = "".join(line[5:].strip() for line in lines if line.startswith("data:"))
        name = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        if data == "[DONE]":
            if n != len(frames) - 1:
                broken.append(f"frame {n}: [DONE] before the end")
            continue
        event = json.loads(data)
        if name != event.get("type"):
            broken.append(f"frame {n}: event {name!r} but type {event.get('type')!r}")
        events.append(event)
    if not frames or frames[-1].strip() != "data: [DONE]":
        broken.append("the stream does not end with data: [DONE]")
    return events, broken
