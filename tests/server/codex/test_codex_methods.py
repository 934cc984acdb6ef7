"""Every Codex method the server answers returns what the protocol's schema requires, and
its notifications too (checked against the JSON Schema of the official Codex CLI)."""

from __future__ import annotations

from pathlib import Path

from codex_apps import agents, model
from codex_harness import RESPONSES, Schema, WebSocketPeer, WebSocketServer

from threadline.types import UserMessage


def text(value: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": value}]


async def checked(
    peer: WebSocketPeer, schema: Schema, method: str, **params: object
) -> dict[str, object]:
    response = await peer.request(method, params)
    assert "result" in response, response
    schema.check(RESPONSES[method], response["result"])
    return response["result"]


async def test_each_method_answers_in_the_shape_of_the_schema(
    ws_server: WebSocketServer, schema: Schema
) -> None:
    peer = await WebSocketPeer.connect(ws_server.url)
    schema.check("InitializeResponse", (await peer.initialize())["result"])
    assert [m["id"] for m in (await checked(peer, schema, "model/list"))["data"]] == ["assistant"]
    started = await checked(peer, schema, "thread/start", model="assistant")
    thread_id = started["thread"]["id"]  # type: ignore[index]
    await checked(peer, schema, "turn/start", threadId=thread_id, input=text("hello"))
    await peer.until("turn/completed")
    await checked(peer, schema, "thread/name/set", threadId=thread_id, name="greetings")
    read = await checked(peer, schema, "thread/read", threadId=thread_id, includeTurns=True)
    assert read["thread"]["name"] == "greetings"  # type: ignore[index]
    assert [i["type"] for i in read["thread"]["turns"][0]["items"]] == [  # type: ignore[index]
        "userMessage",
        "agentMessage",
    ]
    listed = await checked(peer, schema, "thread/list")
    assert [t["id"] for t in listed["data"]] == [thread_id]  # type: ignore[union-attr]
    await checked(peer, schema, "thread/archive", threadId=thread_id)
    assert (await checked(peer, schema, "thread/list"))["data"] == []
    await checked(peer, schema, "thread/unarchive", threadId=thread_id)
    await checked(peer, schema, "thread/resume", threadId=thread_id)

    turn = (await checked(peer, schema, "turn/start", threadId=thread_id, input=text("slowly 40")))[
        "turn"
    ]
    await peer.until("item/agentMessage/delta")
    steered = await checked(
        peer,
        schema,
        "turn/steer",
        threadId=thread_id,
        expectedTurnId=turn["id"],
        input=text("and more"),
    )  # type: ignore[index]
    assert steered == {"turnId": turn["id"]}  # type: ignore[index]
    await checked(peer, schema, "turn/interrupt", threadId=thread_id, turnId=turn["id"])  # type: ignore[index]
    interrupted = await peer.until("turn/completed")
    assert interrupted["params"]["turn"]["status"] == "interrupted"

    other = (await checked(peer, schema, "thread/start"))["thread"]["id"]  # type: ignore[index]
    await checked(peer, schema, "turn/start", threadId=other, input=text("break"))
    error = await peer.until("error")
    failed = await peer.until("turn/completed")
    assert error["params"]["error"]["message"] == "the backend is down"
    assert failed["params"]["turn"]["status"] == "failed"

    for message in [*peer.seen, error, failed]:
        if "method" in message:
            schema.check_message(message)
    await peer.close()


async def test_fork_copies_a_thread_and_rollback_drops_turns(ws_server: WebSocketServer) -> None:
    peer = await WebSocketPeer.connect(ws_server.url)
    await peer.initialize()
    thread_id = (await peer.request("thread/start"))["result"]["thread"]["id"]
    await peer.request("turn/start", {"threadId": thread_id, "input": text("hello")})
    await peer.until("turn/completed")

    forked = await peer.request("thread/fork", {"threadId": thread_id})
    rolled = await peer.request("thread/rollback", {"threadId": thread_id, "numTurns": 1})
    again = await peer.request("thread/rollback", {"threadId": thread_id, "numTurns": 1})

    assert forked["result"]["thread"]["id"] != thread_id
    assert "result" in rolled
    assert "error" in again  # no turn is left to roll back
    await peer.close()


async def test_revert_drops_a_turn_and_every_later_one_from_the_history(
    db_path: Path, schema: Schema
) -> None:
    scripted = model()
    server = WebSocketServer(db_path, agents(), scripted)
    await server.start()
    peer = await WebSocketPeer.connect(server.url)
    try:
        await peer.initialize()
        thread_id = (await peer.request("thread/start"))["result"]["thread"]["id"]
        turn_ids: list[str] = []
        for word in ("one", "two", "three"):
            started = await peer.request("turn/start", {"threadId": thread_id, "input": text(word)})
            turn_ids.append(started["result"]["turn"]["id"])
            await peer.until("turn/completed")

        reverted = await checked(
            peer, schema, "thread/revert", threadId=thread_id, beforeTurnId=turn_ids[1]
        )
        notification = await peer.until("thread/reverted")
        await peer.request("turn/start", {"threadId": thread_id, "input": text("four")})
        await peer.until("turn/completed")
        gone = await peer.request(
            "thread/revert", {"threadId": thread_id, "beforeTurnId": turn_ids[2]}
        )
    finally:
        await peer.close()
        await server.stop()

    assert reverted["thread"]["id"] == thread_id  # type: ignore[index]
    assert reverted["thread"]["turns"] == []  # type: ignore[index]
    schema.check_message(notification)
    assert notification["params"] == {"threadId": thread_id}
    seen = [i.text for i in scripted.requests[-1].items if isinstance(i.payload, UserMessage)]
    assert seen == ["one", "four"]
    assert gone["error"]["code"] == -32602
    assert gone["error"]["message"] == (
        f"no turn {turn_ids[2]!r} in the history of thread {thread_id!r}"
    )
