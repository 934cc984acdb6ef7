"""`POST /v1/responses/compact`: the agent's model summarises a conversation (given as input, as
a stored response, or both); the answer is its user messages and one `compaction` item, a
`response.compaction` object that follows the Open Responses rules; a compaction item given
back becomes a stored summary that the model reads; nothing else is stored or changed."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from open_responses_rules import check_compaction
from responses_harness import RunningServer

import threadline as tl

HISTORY = [
    {"type": "message", "role": "user", "content": "We launch on Tuesday."},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "OK."}]},
    {"type": "message", "role": "user", "content": "say launch Tuesday, notify support"},
]


def _compact(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/responses/compact", json=body, timeout=30)


def test_input_is_compacted_to_its_user_messages_and_a_summary(server: RunningServer) -> None:
    reply = _compact(server, {"model": "assistant", "input": HISTORY})

    assert reply.status_code == 200
    body = reply.json()
    assert check_compaction(body) == []
    assert [(i["type"], i.get("role")) for i in body["output"]] == [
        ("message", "user"),
        ("message", "user"),
        ("compaction", None),
    ]
    assert body["output"][0]["content"] == [{"type": "input_text", "text": "We launch on Tuesday."}]
    assert body["usage"]["total_tokens"] > 0


def test_a_stored_response_is_compacted_and_left_as_it_was(
    client: openai.OpenAI, server: RunningServer
) -> None:
    first = client.responses.create(model="assistant", input="say slate is the word")
    before = client.conversations.items.list(first.conversation.id).data  # type: ignore[union-attr]

    compacted = client.responses.compact(
        model="assistant", previous_response_id=first.id, input="say keep slate"
    )

    assert [i.type for i in compacted.output] == ["message", "message", "compaction"]
    after = client.conversations.items.list(first.conversation.id).data  # type: ignore[union-attr]
    assert after == before


def test_a_compaction_given_back_is_the_summary_the_model_reads(
    client: openai.OpenAI, server: RunningServer
) -> None:
    compacted = _compact(server, {"model": "assistant", "input": HISTORY}).json()
    summary = compacted["output"][-1]

    conversation = client.conversations.create(items=[summary])
    answer = client.responses.create(
        model="assistant", conversation=conversation.id, input="recall"
    )

    assert (
        answer.output_text == "Summary of the earlier conversation: launch Tuesday, notify support"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "say x"}, "model"),
        ({"model": 4, "input": "say x"}, "model"),
        ({"model": "assistant"}, "input"),
        ({"model": "assistant", "input": [{"type": "bogus"}]}, "input[0].type"),
        ({"model": "assistant", "previous_response_id": "resp_nope_1"}, "previous_response_id"),
    ],
)
def test_a_bad_request_is_refused(server: RunningServer, body: dict[str, Any], param: str) -> None:
    reply = _compact(server, body)

    assert reply.status_code in (400, 404)
    assert reply.json()["error"]["param"] == param


def test_a_forged_compaction_is_refused(client: openai.OpenAI) -> None:
    forged = {"type": "compaction", "id": "cmp_1", "encrypted_content": "not ours"}

    with pytest.raises(openai.BadRequestError) as refused:
        client.conversations.create(items=[forged])  # type: ignore[list-item]

    assert refused.value.body["param"] == "items[0].encrypted_content"  # type: ignore[index]


async def test_compacting_stores_nothing(server: RunningServer) -> None:
    async def thread_ids() -> set[str]:
        async with tl.SQLiteStore(server.db) as store:
            page = await store.list_threads(limit=1000)
        return {t.thread_id for t in page.threads}

    before = await thread_ids()
    assert _compact(server, {"model": "assistant", "input": HISTORY}).status_code == 200
    assert await thread_ids() <= before
