"""The remote client offers what the in-process API offers, with the same events, results
and errors, over the app-server WebSocket."""

from __future__ import annotations

import pytest
from codex_harness import WebSocketServer

import threadline as tl
from threadline.client import (
    RemoteThread,
    RemoteThreadline,
    RemoteThreadManager,
    RemoteTurnStream,
    connect,
)
from threadline.runtime import public_operations
from threadline.types import ApprovalRequest


def test_the_remote_classes_expose_the_in_process_operations() -> None:
    assert public_operations(RemoteThread) == public_operations(tl.Thread)
    assert public_operations(RemoteThreadManager) == public_operations(tl.ThreadManager)
    assert public_operations(RemoteTurnStream) == public_operations(tl.TurnStream)


async def test_a_turn_streams_the_same_events_as_in_process(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    watched = (await local.threads.resume(thread.id)).subscribe()

    stream = thread.run_streamed("weather in Rome")
    events = [event async for event in stream]

    expected = [e async for e in _until_terminal(watched)]
    assert events == expected
    assert stream.result.text == 'get_weather said: {"city":"Rome","temp_c":18}'
    assert stream.result.status == "completed"
    assert stream.outcome is not None and stream.outcome.kind == "started"
    stored = await (await local.threads.resume(thread.id)).items()
    assert await thread.items() == stored
    assert [e.seq for e in await thread.events()] == [
        e.seq for e in await (await local.threads.resume(thread.id)).events()
    ]


async def _until_terminal(subscription: tl.Subscription):  # type: ignore[no-untyped-def]
    async for event in subscription:
        yield event
        if event.is_terminal:
            subscription.close()


async def test_approvals_pause_and_resume_as_in_process(remote: RemoteThreadline) -> None:
    thread = await remote.threads.start()
    paused = await thread.run("pay 5 to Ann")
    assert paused.status == "paused"
    [request] = paused.pending_approvals
    assert isinstance(request, ApprovalRequest)
    assert (request.name, request.arguments) == ("transfer", '{"to":"Ann","amount":5}')
    assert await thread.pending() == [request]

    response = await thread.approve(request.tool_call_id, always=True)
    assert (response.decision, response.always) == ("approved", True)
    result = await thread.resume_turn()

    assert result.text == "transfer said: sent 5 to Ann"
    assert (await thread.reload()).status == "idle"


async def test_errors_come_back_as_the_same_classes(remote: RemoteThreadline) -> None:
    with pytest.raises(tl.NotFoundError) as missing:
        await remote.threads.resume("thr_missing")
    assert missing.value.context == {"thread_id": "thr_missing"}
    with pytest.raises(tl.ConfigurationError):
        await remote.threads.start(agent="nobody")
    thread = await remote.threads.start()
    with pytest.raises(tl.InvalidInputError):
        await thread.run("nul \x00 byte")

    with pytest.raises(tl.TurnFailedError) as failed:
        await thread.run("break")
    assert failed.value.error_code == "model_error"
    assert failed.value.turn is not None and failed.value.turn.status == "failed"
    assert failed.value.context["result"].text == ""

    slow = thread.run_streamed("slowly 40")
    first = await anext(slow)
    assert first.type == "turn_started"
    with pytest.raises(tl.TurnInProgressError):
        await thread.run("hello")
    assert await thread.interrupt()
    with pytest.raises(tl.TurnCancelledError):
        async for _ in slow:
            pass
    assert slow.result.status == "cancelled"


async def test_the_thread_operations_work_remotely(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.get_or_create(user_id="bo")
    assert (await remote.threads.get_or_create(user_id="bo")).id == thread.id
    entry = await thread.enqueue("hello queue")
    assert entry.thread_id == thread.id

    async def done() -> bool:
        return len(await thread.turns()) == 1 and (await thread.reload()).status == "idle"

    await tl.testing.eventually(done)
    assert [i.text for i in await thread.items()] == ["hello queue", "You said: hello queue"]
    assert (await thread.set_metadata({"topic": "tests"})).metadata == {"topic": "tests"}
    assert (await thread.archive()).status == "archived"
    listed = await remote.threads.list(status="archived")
    assert [t.id for t in listed.threads] == [thread.id]
    assert (await thread.unarchive()).status == "idle"
    timer = await thread.schedule("later", delay=3600)
    assert [t.timer_id for t in await thread.scheduled()] == [timer.timer_id]
    assert await thread.cancel_scheduled(timer.timer_id)
    assert await thread.delete()
    with pytest.raises(tl.NotFoundError):
        await local.threads.resume(thread.id)


async def test_a_subscription_sees_turns_other_clients_start(
    remote: RemoteThreadline, server: WebSocketServer
) -> None:
    thread = await remote.threads.start()
    subscription = thread.subscribe()
    async with connect(server.url) as other:
        await (await other.threads.resume(thread.id)).run("hello from elsewhere")
        types = []
        async for event in subscription:
            types.append(event.type)
            if event.is_terminal:
                break
    thread.unsubscribe()
    assert types[0] == "turn_started"
    assert types[-1] == "completed"


async def test_pages_iterate_and_subscriptions_await_as_in_process(
    remote: RemoteThreadline, server: WebSocketServer
) -> None:
    made = [await remote.threads.start(user_id="cy") for _ in range(3)]
    page = await remote.threads.list(user_id="cy", limit=2)
    assert [t.id for t in page] == [made[2].id, made[1].id]
    assert len(page) == 2 and page[-1].id == made[1].id
    assert page.next_cursor is not None

    thread = made[0]
    subscription = await thread.subscribe()
    async with connect(server.url) as other:
        await (await other.threads.resume(thread.id)).run("hello from elsewhere")
        async with thread.subscribe() as second:
            await (await other.threads.resume(thread.id)).run("and again")
            async for event in second:
                if event.is_terminal:
                    break
    await thread.unsubscribe()
    types = [e.type async for e in subscription]
    assert types.count("completed") == 2
    assert second.closed


async def test_steps_come_back_as_in_process(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    result = await thread.run("weather in Rome")
    other = await remote.threads.start(user_id="ann")

    steps = await thread.steps(result.turn_id)

    in_process = await (await local.threads.resume(thread.id)).steps(result.turn_id)
    assert steps == in_process
    assert [s.kind for s in steps] == ["model", "tools", "model"]
    assert await other.steps(result.turn_id) == []


async def test_a_trace_comes_back_as_in_process(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    result = await thread.run("weather in Rome")
    other = await remote.threads.start(user_id="ann")

    spans = await thread.trace(result.turn_id)

    in_process = await (await local.threads.resume(thread.id)).trace(result.turn_id)
    assert spans == in_process
    assert spans[0].name == "thread.run" and {s.trace_id for s in spans} == {spans[0].trace_id}
    assert await other.trace(result.turn_id) == []
