"""The app-server protocol over WebSocket (`websocket_route` under uvicorn on 127.0.0.1):
bad input, approvals asked again after a reconnect and after a restart, slow clients, and
who may connect."""

from __future__ import annotations

from pathlib import Path

import pytest
from codex_apps import agents, model
from codex_harness import TIMEOUT, WebSocketPeer, WebSocketServer
from websockets.exceptions import ConnectionClosed, InvalidStatus

from threadline.server.codex import Limits
from threadline.testing import eventually


def text(value: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": value}]


async def connected(server: WebSocketServer, **options: object) -> WebSocketPeer:
    peer = await WebSocketPeer.connect(server.url, **options)  # type: ignore[arg-type]
    await peer.initialize()
    return peer


async def test_bad_messages_get_clear_errors_and_the_connection_stays(
    ws_server: WebSocketServer,
) -> None:
    peer = await connected(ws_server)
    await peer.send({"id": 1, "method": "thread/nope"})
    assert (await peer.response(1))["error"]["code"] == -32601
    await peer.send({"method": "turn/start", "params": {}})
    assert (await peer.response(None))["error"]["message"] == (
        "`turn/start` is a request and needs an `id`"
    )
    await peer.send([{"id": n, "method": "thread/start"} for n in range(5000)])  # type: ignore[arg-type]
    assert (await peer.response(None))["error"]["code"] == -32600
    await peer.send_raw(
        '{"id": 2, "method": "thread/start", "params": ' + "[" * 100 + "]" * 100 + "}"
    )
    assert (await peer.response(2))["error"]["message"] == "JSON nested deeper than 64 levels"
    await peer.send_raw("x" * (4 * 1024 * 1024 + 1))
    assert "over the limit" in (await peer.response(None))["error"]["message"]

    assert (await peer.request("thread/list"))["result"]["data"] == []
    await peer.close()


async def test_a_pending_approval_is_asked_again_after_a_reconnect_and_a_restart(
    ws_server: WebSocketServer,
) -> None:
    peer = await connected(ws_server)
    thread_id = (await peer.request("thread/start"))["result"]["thread"]["id"]
    await peer.request("turn/start", {"threadId": thread_id, "input": text("pay 7 to Bo")})
    first = await peer.until("mcpServer/elicitation/request")
    await peer.close()

    again = await connected(ws_server)
    await again.request("thread/resume", {"threadId": thread_id})
    assert (await again.until("mcpServer/elicitation/request"))["params"] == first["params"]
    await again.close()

    await ws_server.restart()
    after_restart = await connected(ws_server)
    await after_restart.request("thread/resume", {"threadId": thread_id})
    asked = await after_restart.until("mcpServer/elicitation/request")
    assert asked["params"] == first["params"]
    await after_restart.send({"id": asked["id"], "result": {"decision": "acceptForSession"}})
    assert (await after_restart.until("turn/completed"))["params"]["turn"]["status"] == (
        "completed"
    )
    await after_restart.close()

    assert ws_server.app is not None
    thread = await ws_server.app.threads.resume(thread_id)
    decisions = [i.payload for i in await thread.items() if i.type == "approval_response"]
    assert [(d.decision, d.always) for d in decisions] == [("approved", True)]  # type: ignore[union-attr]


async def test_an_approval_decided_elsewhere_is_withdrawn_with_server_request_resolved(
    ws_server: WebSocketServer,
) -> None:
    watcher = await connected(ws_server)
    thread_id = (await watcher.request("thread/start"))["result"]["thread"]["id"]
    await watcher.request("turn/start", {"threadId": thread_id, "input": text("pay 1 to Cy")})
    asked = await watcher.until("mcpServer/elicitation/request")
    call_id = asked["params"]["_meta"]["tool_call_id"]

    other = await connected(ws_server)
    denied = await other.request(
        "threadline/thread/deny", {"threadId": thread_id, "toolCallId": call_id}
    )
    assert denied["result"]["response"]["decision"] == "denied"

    assert (await watcher.until("serverRequest/resolved"))["params"] == {
        "threadId": thread_id,
        "requestId": asked["id"],
    }
    await watcher.close()
    await other.close()


@pytest.mark.parametrize(
    "answer",
    [
        {"result": {}},
        {"result": {"decision": "maybe"}},
        {"error": {"code": -32603, "message": "the approval dialog crashed"}},
    ],
)
async def test_an_answer_without_a_decision_declines_as_codex_does(
    ws_server: WebSocketServer, answer: dict[str, object]
) -> None:
    peer = await connected(ws_server)
    thread_id = (await peer.request("thread/start"))["result"]["thread"]["id"]
    await peer.request("turn/start", {"threadId": thread_id, "input": text("pay 2 to Di")})
    asked = await peer.until("mcpServer/elicitation/request")

    await peer.send({"id": asked["id"], **answer})

    assert (await peer.until("serverRequest/resolved"))["params"] == {
        "threadId": thread_id,
        "requestId": asked["id"],
    }
    completed = await peer.until("turn/completed")
    assert completed["params"]["turn"]["status"] == "completed"
    assert not [m for m in peer.seen if m.get("method") == "error"]
    await peer.close()
    assert ws_server.app is not None
    thread = await ws_server.app.threads.resume(thread_id)
    decisions = [i.payload for i in await thread.items() if i.type == "approval_response"]
    assert [(d.decision, d.reason) for d in decisions] == [("denied", "declined by the client")]  # type: ignore[union-attr]


@pytest.fixture
async def tight_server(db_path: Path) -> WebSocketServer:
    server = WebSocketServer(db_path, agents(), model(), limits=Limits(max_outbound=50))
    await server.start()
    yield server  # type: ignore[misc]
    await server.stop()


async def test_a_client_that_stops_reading_is_dropped_and_the_turn_runs_on(
    tight_server: WebSocketServer,
) -> None:
    peer = await connected(tight_server, max_queue=4)
    thread_id = (await peer.request("thread/start"))["result"]["thread"]["id"]
    await peer.request("turn/start", {"threadId": thread_id, "input": text("flood 20000")})
    assert tight_server.app is not None
    thread = await tight_server.app.threads.resume(thread_id)

    async def finished() -> bool:
        return (await thread.reload()).status == "idle"

    await eventually(finished, within=TIMEOUT)  # while the client reads nothing
    assert (await thread.turns())[-1].status == "completed"
    with pytest.raises(ConnectionClosed):
        while True:
            await peer.receive()
    await eventually(
        lambda: not tight_server.route.sessions,  # type: ignore[union-attr]
        within=TIMEOUT,
    )


async def test_connections_need_the_key_when_the_route_has_one(db_path: Path) -> None:
    server = WebSocketServer(
        db_path, agents(), model(), authorize=lambda token: token == "sk-right"
    )
    await server.start()
    try:
        with pytest.raises(InvalidStatus):
            await WebSocketPeer.connect(server.url)
        with pytest.raises(InvalidStatus):
            await WebSocketPeer.connect(
                server.url, additional_headers={"Authorization": "Bearer sk-no"}
            )
        peer = await connected(server, additional_headers={"Authorization": "Bearer sk-right"})
        assert "result" in await peer.request("model/list")
        await peer.close()
    finally:
        await server.stop()


async def test_without_a_key_pages_from_other_sites_cannot_connect(
    ws_server: WebSocketServer,
) -> None:
    with pytest.raises(InvalidStatus):
        await WebSocketPeer.connect(ws_server.url, origin="https://evil.example")  # type: ignore[arg-type]
    peer = await connected(ws_server, origin="http://127.0.0.1:3000")
    await peer.close()


async def test_closing_the_connection_does_not_stop_the_turn(ws_server: WebSocketServer) -> None:
    peer = await connected(ws_server)
    thread_id = (await peer.request("thread/start"))["result"]["thread"]["id"]
    await peer.request("turn/start", {"threadId": thread_id, "input": text("slowly 10")})
    await peer.until("item/agentMessage/delta")
    await peer.close()

    assert ws_server.app is not None
    thread = await ws_server.app.threads.resume(thread_id)

    async def finished() -> bool:
        return (await thread.reload()).status == "idle"

    await eventually(finished, within=TIMEOUT)
    assert (await thread.turns())[-1].status == "completed"
