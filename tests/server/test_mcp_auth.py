"""`/mcp` is behind the server's gate like every other route: no key or a wrong one gets 401,
each key reaches only its own threads (another key's thread is answered exactly as an
unknown one), and a session opened with one key answers no other."""

from __future__ import annotations

import httpx
import mcp_types as types
import orjson
from mcp_harness import (
    KEY,
    OTHER_KEY,
    mcp_client,
    mcp_server,
    mcp_session,
    mcp_url,
    structured,
    text,
)
from responses_harness import RunningServer

__all__ = ["mcp_server"]

_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
_ACCEPT = {"Accept": "application/json, text/event-stream"}


async def test_another_keys_thread_is_answered_as_an_unknown_one(
    mcp_server: RunningServer,
) -> None:
    async with mcp_session(mcp_server, key=KEY) as owner:
        paused = structured(await owner.call_tool("assistant", {"input": "transfer 5"}))
    thread_id = paused["thread_id"]
    call_id = paused["pending_approvals"][0]["tool_call_id"]

    async with mcp_session(mcp_server, key=OTHER_KEY) as stranger:
        answers = {
            name: [
                await stranger.call_tool("read_thread", {"thread_id": id_}),
                await stranger.call_tool("assistant", {"input": "say hi", "thread_id": id_}),
                await stranger.call_tool(
                    "answer_approval",
                    {"thread_id": id_, "tool_call_id": call_id, "decision": "approve"},
                ),
            ]
            for name, id_ in (("foreign", thread_id), ("unknown", "thr_0000000000000000"))
        }
        listed = structured(await stranger.call_tool("list_threads", {"limit": 100}))

    for foreign, unknown in zip(answers["foreign"], answers["unknown"], strict=True):
        assert foreign.is_error and unknown.is_error
        assert text(foreign) == f"no thread {thread_id!r}"
        assert text(unknown) == "no thread 'thr_0000000000000000'"
        assert foreign.structured_content is None
    assert thread_id not in [t["thread_id"] for t in listed["threads"]]

    async with mcp_session(mcp_server, key=KEY) as owner:
        still = structured(await owner.call_tool("read_thread", {"thread_id": thread_id}))
        mine = structured(await owner.call_tool("list_threads", {"limit": 100}))
    assert [p["tool_call_id"] for p in still["pending_approvals"]] == [call_id]
    assert thread_id in [t["thread_id"] for t in mine["threads"]]


async def test_answers_sent_back_for_another_keys_turn_decide_nothing(
    mcp_server: RunningServer,
) -> None:
    async with mcp_session(mcp_server, key=KEY) as owner:
        paused = structured(await owner.call_tool("assistant", {"input": "transfer 5"}))
    state = orjson.dumps({"thread_id": paused["thread_id"], "turn_id": paused["turn_id"]})
    approve = types.ElicitResult(action="accept")

    async with mcp_client(mcp_server, key=OTHER_KEY) as stranger:
        result = await stranger.session.call_tool(
            "assistant",
            {"input": "transfer 5"},
            request_state=state.decode(),
            input_responses={"approval:call_transfer_0": approve},
        )
    async with mcp_session(mcp_server, key=KEY) as owner:
        still = structured(await owner.call_tool("read_thread", {"thread_id": paused["thread_id"]}))

    assert result.is_error
    assert text(result) == f"no thread {paused['thread_id']!r}"
    assert [p["tool_call_id"] for p in still["pending_approvals"]] == ["call_transfer_0"]


async def test_a_request_without_a_valid_key_is_refused(mcp_server: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        missing = await http.post(mcp_url(mcp_server), json=_INITIALIZE, headers=_ACCEPT)
        wrong = await http.post(
            mcp_url(mcp_server),
            json=_INITIALIZE,
            headers={**_ACCEPT, "Authorization": "Bearer sk-not-a-key"},
        )
        stream = await http.get(mcp_url(mcp_server), headers={"Accept": "text/event-stream"})

    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert stream.status_code == 401


async def test_a_web_page_of_another_site_is_refused(mcp_server: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            mcp_url(mcp_server),
            json=_INITIALIZE,
            headers={**_ACCEPT, "Authorization": f"Bearer {KEY}", "Origin": "https://evil.test"},
        )

    assert response.status_code == 403


async def test_a_session_answers_only_the_key_that_opened_it(mcp_server: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        opened = await http.post(
            mcp_url(mcp_server),
            json=_INITIALIZE,
            headers={**_ACCEPT, "Authorization": f"Bearer {KEY}"},
        )
        session_id = opened.headers["mcp-session-id"]
        request = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        borrowed = await http.post(
            mcp_url(mcp_server),
            json=request,
            headers={
                **_ACCEPT,
                "Authorization": f"Bearer {OTHER_KEY}",
                "mcp-session-id": session_id,
                "mcp-protocol-version": "2025-11-25",
            },
        )
        closed = await http.delete(
            mcp_url(mcp_server),
            headers={"Authorization": f"Bearer {KEY}", "mcp-session-id": session_id},
        )

    assert opened.status_code == 200
    assert borrowed.status_code == 404
    assert closed.status_code == 200
