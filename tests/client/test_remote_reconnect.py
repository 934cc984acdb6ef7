"""A dropped connection is restored by itself, and a stream resumes from the last event it
received: nothing repeated, nothing lost."""

from __future__ import annotations

from codex_harness import WebSocketServer

import threadline as tl
from threadline.client import RemoteThreadline


async def test_a_stream_cut_mid_turn_resumes_where_it_was(
    remote: RemoteThreadline, local: tl.Threadline, server: WebSocketServer
) -> None:
    thread = await remote.threads.start()
    watched = (await local.threads.resume(thread.id)).subscribe()
    assert server.route is not None

    events: list[tl.Event] = []
    stream = thread.run_streamed("slowly 20")
    async for event in stream:
        events.append(event)
        if sum(e.type == "agent_message_delta" for e in events) == 5:
            await server.route.disconnect_all()

    expected: list[tl.Event] = []
    async for event in watched:
        expected.append(event)
        if event.is_terminal:
            break
    assert events == expected
    text = "".join(e.params["delta"] for e in events if e.type == "agent_message_delta")
    assert text == stream.result.text == "".join(f"w{n} " for n in range(20))


async def test_requests_work_again_after_the_server_dropped_the_connection(
    remote: RemoteThreadline, server: WebSocketServer
) -> None:
    thread = await remote.threads.start()
    assert server.route is not None
    await server.route.disconnect_all()

    result = await thread.run("hello again")

    assert result.text == "You said: hello again"
