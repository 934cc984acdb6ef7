"""Two API keys on one WebSocket server: each key's thread keys, runs, subscriptions, timers
and approvals are its own. Another key's ids get exactly the answer unknown ids get, and the
owner notices nothing. Runs on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from codex_apps import agents, model
from codex_harness import JSON, WebSocketPeer, WebSocketServer

import threadline as tl
from threadline.server import key_identity

KEYS = ("sk-ann-0123456789", "sk-bob-9876543210")


@pytest.fixture
async def keyed_ws(make_store: Callable[[], tl.Store]) -> AsyncIterator[WebSocketServer]:
    server = WebSocketServer(
        make_store,
        agents(),
        model(),
        authorize=lambda token: token in KEYS,
        identify=lambda token: key_identity(token) if token else None,
    )
    await server.start()
    yield server
    await server.stop()


async def connected(server: WebSocketServer, key: str) -> WebSocketPeer:
    peer = await WebSocketPeer.connect(
        server.url, additional_headers={"Authorization": f"Bearer {key}"}
    )
    await peer.initialize()
    return peer


async def new_thread(peer: WebSocketPeer, **params: Any) -> str:
    return (await peer.request("threadline/threads/start", params))["result"]["thread"]["id"]


def answer(response: JSON, named: str) -> str:
    """A response as the client reads it, without its request id and with the id it asked
    about replaced, so that answers about different ids can be compared."""
    return (
        orjson.dumps({k: v for k, v in response.items() if k != "id"})
        .decode()
        .replace(named, "<id>")
    )


def about_thread(messages: list[JSON], thread_id: str) -> list[JSON]:
    return [m for m in messages if thread_id in orjson.dumps(m).decode()]


async def test_a_thread_key_names_the_callers_own_thread(keyed_ws: WebSocketServer) -> None:
    ann, bob = await connected(keyed_ws, KEYS[0]), await connected(keyed_ws, KEYS[1])
    assert keyed_ws.app is not None
    for method in ("thread/start", "threadline/threads/start"):
        key = f"support {method}"
        anns = await ann.request(method, {"key": key, "metadata": {"plan": "gold"}})
        bobs = await bob.request(method, {"key": key})
        again = await ann.request(method, {"key": key})
        ann_id = anns["result"]["thread"]["id"]
        bob_id = bobs["result"]["thread"]["id"]

        assert bob_id != ann_id
        assert again["result"]["thread"]["id"] == ann_id
        record = (await keyed_ws.app.threads.resume(bob_id)).record
        assert (record.user_id, record.key, record.metadata) == (key_identity(KEYS[1]), key, {})

    await ann.request("turn/start", {"threadId": ann_id, "input": [{"type": "text", "text": "hi"}]})
    await ann.until("turn/completed", threadId=ann_id)
    await bob.request("thread/list")
    assert about_thread(bob.seen, ann_id) == []
    await ann.close()
    await bob.close()


async def test_another_keys_runs_read_as_unknown_and_are_left_alone(
    keyed_ws: WebSocketServer,
) -> None:
    ann, bob = await connected(keyed_ws, KEYS[0]), await connected(keyed_ws, KEYS[1])
    ann_thread, bob_thread = await new_thread(ann), await new_thread(bob)
    run = {"threadId": ann_thread, "runId": "run-1", "input": "slowly 30"}
    await ann.send({"id": "ann-run", "method": "threadline/turn/run", "params": run})
    first = await ann.until("threadline/run/event", runId="run-1")

    foreign = [
        await bob.request("threadline/run/cancel", {"runId": "run-1"}),
        await bob.request("threadline/run/attach", {"runId": "run-1"}),
        await bob.request("threadline/run/attach", {"runId": "run-1", "afterIndex": 1}),
    ]
    unknown = [
        await bob.request("threadline/run/cancel", {"runId": "run-2"}),
        await bob.request("threadline/run/attach", {"runId": "run-2"}),
        await bob.request("threadline/run/attach", {"runId": "run-2", "afterIndex": 1}),
    ]
    assert [answer(r, "run-1") for r in foreign] == [answer(r, "run-2") for r in unknown]
    assert foreign[0]["result"] == {"cancelled": False}
    assert foreign[1]["error"]["code"] == -32004

    own = await bob.request(
        "threadline/turn/run", {"threadId": bob_thread, "runId": "run-1", "input": "hello"}
    )
    assert own["result"]["result"]["status"] == "completed"

    finished = await ann.response("ann-run")
    assert finished["result"]["result"]["status"] == "completed"
    indexes = [first["params"]["index"]] + [
        m["params"]["index"] for m in ann.seen if m.get("method") == "threadline/run/event"
    ]
    assert indexes == list(range(1, len(indexes) + 1))
    assert ann.seen[-1]["params"]["event"]["type"] == "completed"
    assert about_thread(bob.seen, ann_thread) == []
    await ann.close()
    await bob.close()


async def test_another_keys_subscriptions_read_as_unknown_and_are_left_alone(
    keyed_ws: WebSocketServer,
) -> None:
    ann, bob = await connected(keyed_ws, KEYS[0]), await connected(keyed_ws, KEYS[1])
    ann_thread, ann_other = await new_thread(ann), await new_thread(ann)
    bob_thread = await new_thread(bob)
    subscribed = await ann.request(
        "threadline/subscribe", {"threadId": ann_thread, "subscriptionId": "sub-1"}
    )
    assert subscribed["result"] == {"subscriptionId": "sub-1"}

    probes: list[tuple[WebSocketPeer, str, JSON]] = [
        (bob, "threadline/subscribe", {"threadId": bob_thread, "afterIndex": 0}),
        (bob, "threadline/unsubscribe", {}),
        # A key's own subscription is found only under the thread it follows.
        (ann, "threadline/subscribe", {"threadId": ann_other, "afterIndex": 0}),
    ]

    answers: dict[str, list[str]] = {}
    for subscription_id in ("sub-1", "sub-2"):
        answers[subscription_id] = [
            answer(
                await peer.request(method, {**params, "subscriptionId": subscription_id}),
                subscription_id,
            )
            for peer, method, params in probes
        ]
    assert answers["sub-1"] == answers["sub-2"]
    assert '"unsubscribed":false' in answers["sub-1"][1]

    own = await bob.request(
        "threadline/subscribe", {"threadId": bob_thread, "subscriptionId": "sub-1"}
    )
    assert own["result"] == {"subscriptionId": "sub-1"}

    ran = await ann.request(
        "threadline/turn/run", {"threadId": ann_thread, "runId": "run-1", "input": "hello"}
    )
    assert ran["result"]["result"]["status"] == "completed"
    completed = await ann.until("threadline/event", subscriptionId="sub-1")
    while completed["params"]["event"]["type"] != "completed":
        completed = await ann.until("threadline/event", subscriptionId="sub-1")
    await bob.request("thread/list")
    assert about_thread(bob.seen, ann_thread) == []
    await ann.close()
    await bob.close()


async def test_another_keys_timers_and_approvals_are_out_of_reach(
    keyed_ws: WebSocketServer,
) -> None:
    ann, bob = await connected(keyed_ws, KEYS[0]), await connected(keyed_ws, KEYS[1])
    ann_thread = (await ann.request("thread/start"))["result"]["thread"]["id"]
    bob_thread = await new_thread(bob)
    scheduled = await ann.request(
        "threadline/thread/schedule", {"threadId": ann_thread, "input": "later", "delay": 3600}
    )
    timer_id = scheduled["result"]["timer"]["timer_id"]

    cancels = [
        await bob.request(
            "threadline/thread/cancelScheduled", {"threadId": bob_thread, "timerId": timer}
        )
        for timer in (timer_id, "timer_unknown")
    ]
    assert answer(cancels[0], timer_id) == answer(cancels[1], "timer_unknown")
    assert cancels[0]["result"] == {"cancelled": False}
    timers = await ann.request("threadline/thread/scheduled", {"threadId": ann_thread})
    assert [t["timer_id"] for t in timers["result"]["timers"]] == [timer_id]

    pay = [{"type": "text", "text": "pay 7 to Bo"}]
    await ann.request("turn/start", {"threadId": ann_thread, "input": pay})
    asked = await ann.until("mcpServer/elicitation/request")
    call_id = asked["params"]["_meta"]["tool_call_id"]
    await bob.send({"id": asked["id"], "result": {"decision": "accept"}})
    approvals = [
        await bob.request(
            "threadline/thread/approve", {"threadId": thread_id, "toolCallId": call_id}
        )
        for thread_id in (ann_thread, "thr_unknown")
    ]
    assert answer(approvals[0], ann_thread) == answer(approvals[1], "thr_unknown")
    assert approvals[0]["error"]["code"] == -32004

    assert keyed_ws.app is not None
    thread = await keyed_ws.app.threads.resume(ann_thread)
    assert [p.tool_call_id for p in await thread.pending()] == [call_id]  # type: ignore[union-attr]
    assert [i for i in await thread.items() if i.type == "approval_response"] == []
    await ann.close()
    await bob.close()


async def test_metadata_with_nul_is_refused_and_stores_nothing(
    keyed_ws: WebSocketServer,
) -> None:
    ann = await connected(keyed_ws, KEYS[0])
    thread_id = await new_thread(ann, metadata={"plan": "gold"})
    bad = "a\x00b"
    attempts: list[tuple[str, JSON]] = [
        ("thread/start", {"metadata": {"note": bad}}),
        ("threadline/threads/start", {"metadata": {bad: "key"}}),
        ("threadline/threads/getOrCreate", {"userId": "u", "metadata": {"n": [{"x": bad}]}}),
        ("threadline/threads/fork", {"threadId": thread_id, "metadata": {"note": bad}}),
        ("threadline/thread/setMetadata", {"threadId": thread_id, "metadata": {"note": bad}}),
        ("thread/name/set", {"threadId": thread_id, "name": bad}),
    ]
    for method, params in attempts:
        error = (await ann.request(method, params))["error"]
        assert error["code"] == -32602, (method, error)
        assert "NUL" in error["message"], method

    listed = await ann.request("threadline/threads/list")
    assert [(t["id"], t["metadata"]) for t in listed["result"]["threads"]] == [
        (thread_id, {"plan": "gold"})
    ]
    await ann.close()


async def test_another_keys_thread_has_no_relatives_to_read(keyed_ws: WebSocketServer) -> None:
    ann, bob = await connected(keyed_ws, KEYS[0]), await connected(keyed_ws, KEYS[1])
    ann_thread = await new_thread(ann)
    for method, params in (
        ("threadline/thread/children", {}),
        ("threadline/thread/child", {"referenceId": "r1"}),
        ("threadline/thread/parent", {}),
    ):
        own = await ann.request(method, {"threadId": ann_thread, **params})
        assert "result" in own, method
        answers = [
            await bob.request(method, {"threadId": thread_id, **params})
            for thread_id in (ann_thread, "thr_unknown")
        ]
        assert answer(answers[0], ann_thread) == answer(answers[1], "thr_unknown"), method
        assert answers[0]["error"]["code"] == -32004, method
    await ann.close()
    await bob.close()
