"""Threadline's own records as JSON for the `threadline/*` methods, and back: the server
writes them, `threadline.client` reads them into the same classes as in-process."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from threadline import TurnResult
from threadline.runtime import StartOutcome
from threadline.types import (
    ApprovalResponse,
    Event,
    FileInfo,
    InboxEntry,
    Item,
    Payload,
    SpanEvent,
    SpanRecord,
    StepRecord,
    ThreadRecord,
    TimerRecord,
    TurnRecord,
    Usage,
    payload_from_dict,
    payload_to_dict,
)

JSON = dict[str, Any]


def thread_to_wire(record: ThreadRecord) -> JSON:
    return {
        **record.to_dict(),
        "last_item_seq": record.last_item_seq,
        "last_event_seq": record.last_event_seq,
    }


def thread_from_wire(data: JSON) -> ThreadRecord:
    return ThreadRecord(
        thread_id=data["id"],
        key=data.get("key"),
        user_id=data.get("user_id"),
        resource_id=data.get("resource_id"),
        agent=data["agent"],
        mode=data.get("mode"),
        status=data.get("status", "idle"),
        parent_id=data.get("parent_id"),
        state=data.get("state"),
        metadata=dict(data.get("metadata") or {}),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        active_turn_id=data.get("active_turn_id"),
        turn_count=data.get("turn_count", 0),
        last_item_seq=data.get("last_item_seq", 0),
        last_event_seq=data.get("last_event_seq", 0),
    )


def turn_from_wire(data: JSON) -> TurnRecord:
    return TurnRecord(
        turn_id=data["id"],
        thread_id=data["thread_id"],
        number=data["number"],
        status=data["status"],
        input=list(data.get("input") or []),
        sender=data.get("sender"),
        client_key=data.get("client_key"),
        usage=Usage.from_dict(data.get("usage")),
        steps=data.get("steps", 0),
        running_seconds=data.get("running_seconds", 0.0),
        error=data.get("error"),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        completed_at=data.get("completed_at"),
    )


def step_from_wire(data: JSON) -> StepRecord:
    return StepRecord(
        step_id=data["id"],
        thread_id=data["thread_id"],
        turn_id=data["turn_id"],
        number=data["number"],
        kind=data["kind"],
        status=data["status"],
        started_at=data["started_at"],
        ended_at=data.get("ended_at"),
        usage=Usage.from_dict(data.get("usage")),
        item_ids=tuple(data.get("item_ids") or ()),
        data=dict(data.get("data") or {}),
    )


def span_from_wire(data: JSON) -> SpanRecord:
    return SpanRecord(
        span_id=data["span_id"],
        parent_id=data.get("parent_id"),
        trace_id=data["trace_id"],
        thread_id=data["thread_id"],
        turn_id=data["turn_id"],
        name=data["name"],
        start=data["start"],
        end=data.get("end"),
        status=data.get("status", "unset"),
        attributes=dict(data.get("attributes") or {}),
        events=tuple(
            SpanEvent(name=e["name"], at=e["at"], attributes=dict(e.get("attributes") or {}))
            for e in data.get("events") or ()
        ),
    )


def item_from_wire(data: JSON) -> Item:
    return Item(
        item_id=data["id"],
        thread_id=data["thread_id"],
        turn_id=data.get("turn_id"),
        seq=data["seq"],
        status=data["status"],
        payload=payload_from_dict(data["type"], dict(data["content"])),
        created_at=data["created_at"],
    )


def payload_to_wire(payload: Payload) -> JSON:
    return {"type": payload.type, **payload_to_dict(payload)}


def payload_from_wire(data: JSON) -> Payload:
    content = {key: value for key, value in data.items() if key != "type"}
    return payload_from_dict(str(data["type"]), content)


def event_to_wire(event: Event) -> JSON:
    return event.to_dict()


def event_from_wire(data: JSON) -> Event:
    return Event(
        type=data["type"],
        thread_id=data["thread_id"],
        turn_id=data.get("turn_id"),
        item_id=data.get("item_id"),
        seq=data["seq"],
        params=dict(data.get("params") or {}),
    )


def outcome_to_wire(outcome: StartOutcome | None) -> JSON | None:
    if outcome is None:
        return None
    return {"kind": outcome.kind, "turn_id": outcome.turn_id, "entry_id": outcome.entry_id}


def outcome_from_wire(data: JSON | None) -> StartOutcome | None:
    if data is None:
        return None
    return StartOutcome(
        kind=data["kind"], turn_id=data.get("turn_id"), entry_id=data.get("entry_id")
    )


def result_to_wire(result: TurnResult) -> JSON:
    output = result.output
    if output is not None and hasattr(output, "model_dump"):
        output = output.model_dump(mode="json")
    return {
        "thread_id": result.thread_id,
        "turn_id": result.turn_id,
        "status": result.status,
        "text": result.text,
        "items": [i.to_dict() for i in result.items],
        "usage": result.usage.to_dict(),
        "output": output,
        "turn": result.turn.to_dict(),
    }


def result_from_wire(data: JSON) -> TurnResult:
    return TurnResult(
        thread_id=data["thread_id"],
        turn_id=data["turn_id"],
        status=data["status"],
        text=data["text"],
        items=[item_from_wire(i) for i in data["items"]],
        usage=Usage.from_dict(data.get("usage")),
        output=data.get("output"),
        turn=turn_from_wire(data["turn"]),
    )


def inbox_to_wire(entry: InboxEntry) -> JSON:
    return asdict(entry)


def inbox_from_wire(data: JSON) -> InboxEntry:
    return InboxEntry(**data)


def timer_to_wire(timer: TimerRecord) -> JSON:
    return asdict(timer)


def timer_from_wire(data: JSON) -> TimerRecord:
    return TimerRecord(**data)


def response_from_wire(data: JSON) -> ApprovalResponse:
    payload = payload_from_wire(data)
    if not isinstance(payload, ApprovalResponse):
        raise ValueError(f"expected an approval response, got {data.get('type')!r}")
    return payload


def file_info_to_wire(info: FileInfo) -> JSON:
    return {
        "path": info.path,
        "kind": info.kind,
        "size": info.size,
        "fileId": info.file_id,
        "mediaType": info.media_type,
        "createdAt": info.created_at,
        "updatedAt": info.updated_at,
    }


def file_info_from_wire(data: JSON) -> FileInfo:
    return FileInfo(
        path=data["path"],
        kind=data["kind"],
        size=data["size"],
        file_id=data.get("fileId"),
        media_type=data.get("mediaType"),
        created_at=data["createdAt"],
        updated_at=data["updatedAt"],
    )
