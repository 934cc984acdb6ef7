"""`threadline/*`: what the Codex methods do not carry, in threadline's own records (the
remote client speaks these). Runs and subscriptions send numbered events, so a client that
reconnects asks for what came after the last number it saw and misses nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadline import ScheduledCall, Thread, TurnResult
from threadline.models import ToolSpec
from threadline.types import Budget, Event, InvalidInputError, TurnError

from ._hub import Relay
from ._jsonrpc import JSON, rpc_error
from ._params import Params
from ._wire import (
    event_to_wire,
    inbox_to_wire,
    outcome_to_wire,
    payload_from_wire,
    payload_to_wire,
    result_to_wire,
    thread_to_wire,
    timer_to_wire,
)

if TYPE_CHECKING:
    from ._session import Handler, Session

_ON_BUSY = ("error", "enqueue", "interrupt", "steer")
_STATUSES = ("idle", "active", "awaiting_input", "archived", "terminated")


async def _thread(session: Session, params: Params) -> Thread:
    return await session.thread(params.str("threadId"))


def _input(params: Params) -> Any:
    value = params.raw.get("input")
    if value is None:
        raise InvalidInputError("missing required field `input`")
    return value


# -- threads ---------------------------------------------------------------------------------


async def threads_start(session: Session, params: Params) -> JSON:
    thread = await session.hub.app.threads.start(
        user_id=session.user_id(params.opt_str("userId")),
        agent=params.opt_str("agent"),
        metadata=params.opt_dict("metadata"),
        key=params.opt_str("key"),
        resource_id=params.opt_str("resourceId"),
        mode=params.opt_str("mode"),
    )
    return {"thread": thread_to_wire(thread.record)}


async def threads_resume(session: Session, params: Params) -> JSON:
    return {"thread": thread_to_wire((await _thread(session, params)).record)}


async def threads_list(session: Session, params: Params) -> JSON:
    page = await session.hub.app.threads.list(
        user_id=session.user_id(params.opt_str("userId")),
        status=params.opt_choice("status", _STATUSES),  # type: ignore[arg-type]
        limit=params.opt_int("limit", minimum=1, maximum=1000) or 20,
        cursor=params.opt_str("cursor"),
    )
    return {
        "threads": [thread_to_wire(t.record) for t in page.threads],
        "nextCursor": page.next_cursor,
    }


async def threads_get_or_create(session: Session, params: Params) -> JSON:
    user_id = session.user_id(params.opt_str("userId"))
    if user_id is None:
        raise InvalidInputError("userId is required")
    thread = await session.hub.app.threads.get_or_create(
        user_id=user_id,
        agent=params.opt_str("agent"),
        metadata=params.opt_dict("metadata"),
    )
    return {"thread": thread_to_wire(thread.record)}


async def threads_fork(session: Session, params: Params) -> JSON:
    source = await session.thread(params.str("threadId"))
    thread = await session.hub.app.threads.fork(
        source.id,
        upto_seq=params.opt_int("uptoSeq", minimum=1),
        metadata=params.opt_dict("metadata"),
    )
    return {"thread": thread_to_wire(thread.record)}


async def thread_rollback(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {
        "thread": thread_to_wire(await thread.rollback(params.opt_int("turns", minimum=1) or 1))
    }


async def thread_read(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"thread": thread_to_wire(await thread.reload())}


async def thread_items(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    items = await thread.items(
        after_seq=params.opt_int("afterSeq") or 0, limit=params.opt_int("limit", minimum=1)
    )
    return {"items": [i.to_dict() for i in items]}


async def thread_events(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    events = await thread.events(
        after_seq=params.opt_int("afterSeq") or 0, limit=params.opt_int("limit", minimum=1)
    )
    return {"events": [event_to_wire(e) for e in events]}


async def thread_turns(session: Session, params: Params) -> JSON:
    return {"turns": [t.to_dict() for t in await (await _thread(session, params)).turns()]}


async def thread_steps(session: Session, params: Params) -> JSON:
    steps = await (await _thread(session, params)).steps(params.str("turnId"))
    return {"steps": [s.to_dict() for s in steps]}


async def thread_trace(session: Session, params: Params) -> JSON:
    spans = await (await _thread(session, params)).trace(params.str("turnId"))
    return {"spans": [s.to_dict() for s in spans]}


async def thread_inbox(session: Session, params: Params) -> JSON:
    entries = await (await _thread(session, params)).inbox()
    return {"entries": [inbox_to_wire(e) for e in entries]}


async def thread_pending(session: Session, params: Params) -> JSON:
    pending = await (await _thread(session, params)).pending()
    return {"pending": [payload_to_wire(p) for p in pending]}


async def thread_set_mode(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"thread": thread_to_wire(await thread.set_mode(params.opt_str("mode")))}


async def thread_set_metadata(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    metadata = params.opt_dict("metadata")
    if metadata is None:
        raise InvalidInputError("metadata must be a dict")
    return {"thread": thread_to_wire(await thread.set_metadata(metadata))}


async def thread_append(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    try:
        payloads = [payload_from_wire(p) for p in params.list("items")]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"items must be item payloads: {exc}") from None
    return {"items": [i.to_dict() for i in await thread.append(payloads)]}


async def thread_delete_item(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"deleted": await thread.delete_item(params.str("itemId"))}


async def thread_archive(session: Session, params: Params) -> JSON:
    return {"thread": thread_to_wire(await (await _thread(session, params)).archive())}


async def thread_unarchive(session: Session, params: Params) -> JSON:
    return {"thread": thread_to_wire(await (await _thread(session, params)).unarchive())}


async def thread_delete(session: Session, params: Params) -> JSON:
    return {"deleted": await (await _thread(session, params)).delete()}


async def thread_enqueue(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    entry = await thread.enqueue(
        _input(params), sender=params.opt_str("sender"), client_key=params.opt_str("clientKey")
    )
    return {"entry": inbox_to_wire(entry)}


async def thread_interrupt(session: Session, params: Params) -> JSON:
    return {"interrupted": await (await _thread(session, params)).interrupt()}


async def _decide(session: Session, params: Params, approve: bool) -> JSON:
    thread = await _thread(session, params)
    decide = thread.approve if approve else thread.deny
    response = await decide(
        params.str("toolCallId"),
        reason=params.opt_str("reason"),
        always=bool(params.opt_bool("always")),
        sender=params.opt_str("sender"),
    )
    return {"response": payload_to_wire(response)}


async def thread_approve(session: Session, params: Params) -> JSON:
    return await _decide(session, params, True)


async def thread_deny(session: Session, params: Params) -> JSON:
    return await _decide(session, params, False)


async def thread_answer(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    if not params.has("value"):
        raise InvalidInputError("missing required field `value`")
    item = await thread.answer(params.raw["value"], sender=params.opt_str("sender"))
    return {"item": item.to_dict()}


async def thread_schedule(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    call = params.opt_dict("call")
    effect: Any
    if call is not None:
        arguments = call.get("arguments") or {}
        if not isinstance(call.get("name"), str) or not isinstance(arguments, dict):
            raise InvalidInputError("`call` needs a `name` and an `arguments` object")
        effect = ScheduledCall(name=call["name"], arguments=arguments)
    else:
        effect = _input(params)
    timer = await thread.schedule(
        effect, at=params.opt_number("at"), delay=params.opt_number("delay")
    )
    return {"timer": timer_to_wire(timer)}


async def thread_scheduled(session: Session, params: Params) -> JSON:
    timers = await (await _thread(session, params)).scheduled()
    return {"timers": [timer_to_wire(t) for t in timers]}


async def thread_cancel_scheduled(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"cancelled": await thread.cancel_scheduled(params.str("timerId"))}


async def thread_submit_tool_results(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    outputs = params.opt_dict("outputs") or {}
    errors = params.raw.get("errors") or []
    if not all(isinstance(v, str) for v in outputs.values()) or not isinstance(errors, list):
        raise InvalidInputError("`outputs` maps call ids to strings; `errors` lists call ids")
    items = await thread.submit_tool_results(outputs, errors=[str(e) for e in errors])
    return {"items": [i.to_dict() for i in items]}


def _tool_specs(params: Params) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for raw in params.raw.get("externalTools") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InvalidInputError("each of `externalTools` needs a `name`")
        specs.append(
            ToolSpec(
                name=raw["name"],
                description=str(raw.get("description", "")),
                parameters=dict(raw.get("parameters") or {}),
            )
        )
    return specs


# -- runs and subscriptions ------------------------------------------------------------------


async def turn_run(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    budget = params.opt_dict("budget")
    stream = thread.run_streamed(
        _input(params),
        sender=params.opt_str("sender"),
        on_busy=params.opt_choice("onBusy", _ON_BUSY) or "error",  # type: ignore[arg-type]
        client_key=params.opt_str("clientKey"),
        budget=Budget.from_dict(budget) if budget is not None else None,
        external_tools=_tool_specs(params),
        require_approval=params.opt_list("requireApproval") or (),
    )
    relay = await session.hub.start_run(session.identity, params.str("runId"), thread.id, stream)
    return await _follow(session, relay, 0)


async def turn_resume(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    relay = await session.hub.start_run(
        session.identity, params.str("runId"), thread.id, thread.resume_turn_streamed()
    )
    return await _follow(session, relay, 0)


async def run_attach(session: Session, params: Params) -> JSON:
    relay = session.hub.relay(session.identity, params.str("runId"), "run")
    return await _follow(session, relay, params.opt_int("afterIndex") or 0)


async def run_cancel(session: Session, params: Params) -> JSON:
    return {"cancelled": session.hub.cancel_run(session.identity, params.str("runId"))}


async def _follow(session: Session, relay: Relay, after_index: int) -> JSON:
    """Send the run's events after `after_index`, and answer with how it ended."""

    def sink(index: int, event: Event) -> None:
        session.notify(
            "threadline/run/event",
            {"runId": relay.key, "index": index, "event": event_to_wire(event)},
        )

    relay.attach(sink, after_index)
    session.sinks.append((relay, sink))
    await relay.ended.wait()
    relay.detach(sink)
    session.sinks.remove((relay, sink))
    end = relay.end
    assert end is not None
    if end.error is not None:
        error = rpc_error(end.error)
        result = end.result
        if result is None and isinstance(end.error, TurnError):
            found = end.error.context.get("result")
            result = found if isinstance(found, TurnResult) else None
        if result is not None:
            error.data = {**(error.data or {}), "result": result_to_wire(result)}
        raise error
    assert end.result is not None
    return {"outcome": outcome_to_wire(end.outcome), "result": result_to_wire(end.result)}


async def subscribe(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    subscription_id = params.str("subscriptionId")
    after = params.opt_int("afterIndex")
    if after is not None:
        relay = session.hub.relay(
            session.identity, subscription_id, "subscription", thread_id=thread.id
        )
    else:
        relay = session.hub.subscribe(session.identity, subscription_id, thread)
        after = 0

    def sink(index: int, event: Event) -> None:
        session.notify(
            "threadline/event",
            {"subscriptionId": subscription_id, "index": index, "event": event_to_wire(event)},
        )

    relay.attach(sink, after)
    session.sinks.append((relay, sink))
    return {"subscriptionId": subscription_id}


async def unsubscribe(session: Session, params: Params) -> JSON:
    return {"unsubscribed": session.hub.unsubscribe(session.identity, params.str("subscriptionId"))}


METHODS: dict[str, Handler] = {
    "threadline/threads/start": threads_start,
    "threadline/threads/resume": threads_resume,
    "threadline/threads/list": threads_list,
    "threadline/threads/getOrCreate": threads_get_or_create,
    "threadline/threads/fork": threads_fork,
    "threadline/thread/rollback": thread_rollback,
    "threadline/thread/read": thread_read,
    "threadline/thread/items": thread_items,
    "threadline/thread/events": thread_events,
    "threadline/thread/turns": thread_turns,
    "threadline/thread/steps": thread_steps,
    "threadline/thread/trace": thread_trace,
    "threadline/thread/inbox": thread_inbox,
    "threadline/thread/pending": thread_pending,
    "threadline/thread/setMode": thread_set_mode,
    "threadline/thread/setMetadata": thread_set_metadata,
    "threadline/thread/append": thread_append,
    "threadline/thread/deleteItem": thread_delete_item,
    "threadline/thread/archive": thread_archive,
    "threadline/thread/unarchive": thread_unarchive,
    "threadline/thread/delete": thread_delete,
    "threadline/thread/enqueue": thread_enqueue,
    "threadline/thread/interrupt": thread_interrupt,
    "threadline/thread/approve": thread_approve,
    "threadline/thread/deny": thread_deny,
    "threadline/thread/answer": thread_answer,
    "threadline/thread/submitToolResults": thread_submit_tool_results,
    "threadline/thread/schedule": thread_schedule,
    "threadline/thread/scheduled": thread_scheduled,
    "threadline/thread/cancelScheduled": thread_cancel_scheduled,
    "threadline/turn/run": turn_run,
    "threadline/turn/resume": turn_resume,
    "threadline/run/attach": run_attach,
    "threadline/run/cancel": run_cancel,
    "threadline/subscribe": subscribe,
    "threadline/unsubscribe": unsubscribe,
}
# Long-running: handled beside the others, so that they do not hold the connection up.
DETACHED = frozenset({"threadline/turn/run", "threadline/turn/resume", "threadline/run/attach"})
