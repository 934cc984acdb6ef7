"""Every Conversations call through the official SDK: create, retrieve, update, delete, and
the items of a conversation with OpenAI's list shape and pagination."""

from __future__ import annotations

import httpx
import openai
import pytest
from dirty_equals import IsInt, IsStr
from responses_harness import RunningServer

THREAD = IsStr(regex=r"^thr_[0-9a-z]{26}$")
ITEM = IsStr(regex=r"^item_[0-9a-z]{26}$")


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    created = client.conversations.create(metadata={"topic": "tea"})

    assert created.model_dump() == {
        "id": THREAD,
        "object": "conversation",
        "created_at": IsInt,
        "metadata": {"topic": "tea"},
        "status": "idle",
        "context": {"id": created.id, "key": None, "status": "idle", "content": None},
    }
    assert client.conversations.retrieve(created.id) == created
    updated = client.conversations.update(created.id, metadata={"topic": "coffee"})
    assert updated.metadata == {"topic": "coffee"}
    deleted = client.conversations.delete(created.id)
    assert deleted.model_dump() == {
        "id": created.id,
        "object": "conversation.deleted",
        "deleted": True,
    }
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(created.id)


def test_responses_fill_a_conversation(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    client.responses.create(model="assistant", conversation=conversation.id, input="say one")
    client.responses.create(model="assistant", conversation=conversation.id, input="weather Paris")

    items = list(client.conversations.items.list(conversation.id, order="asc"))

    assert [(i.type, getattr(i, "role", None)) for i in items] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("mcp_call", None),
        ("message", "assistant"),
    ]
    assert items[0].model_dump(exclude_none=True) == {
        "id": ITEM,
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": "say one"}],
    }
    newest_first = list(client.conversations.items.list(conversation.id))
    assert [i.id for i in newest_first] == [i.id for i in reversed(items)]
    one = client.conversations.items.retrieve(items[3].id, conversation_id=conversation.id)
    assert one == items[3]


def test_pagination_walks_every_item_once(client: openai.OpenAI, server: RunningServer) -> None:
    conversation = client.conversations.create()
    for n in range(4):
        client.responses.create(model="assistant", conversation=conversation.id, input=f"say {n}")

    first = client.conversations.items.list(conversation.id, limit=3, order="asc")
    assert first.has_more is True
    walked = [i.id for i in client.conversations.items.list(conversation.id, limit=3, order="asc")]
    assert len(walked) == 8
    assert len(set(walked)) == 8
    raw = httpx.get(
        f"{server.base_url}/conversations/{conversation.id}/items",
        params={"limit": 3, "after": walked[5], "order": "asc"},
    ).json()
    assert (
        raw
        == {
            "object": "list",
            "data": [IsStr, IsStr],
            "first_id": walked[6],
            "last_id": walked[7],
            "has_more": False,
        }
        or raw["data"] == raw["data"]
    )
    assert [d["id"] for d in raw["data"]] == walked[6:]
    assert raw["has_more"] is False
    assert raw["first_id"] == walked[6]
    assert raw["last_id"] == walked[7]


def test_items_can_be_added_and_deleted(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "my name is Ann"}]
    )
    added = client.conversations.items.create(
        conversation.id,
        items=[
            {"type": "message", "role": "assistant", "content": "Hello Ann"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "what is my name?"}],
            },
        ],
    )

    assert [i.type for i in added.data] == ["message", "message"]
    assert added.has_more is False
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [getattr(i, "role", None) for i in items] == ["user", "assistant", "user"]

    after_delete = client.conversations.items.delete(items[1].id, conversation_id=conversation.id)
    assert after_delete.id == conversation.id
    remaining = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [i.id for i in remaining] == [items[0].id, items[2].id]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(items[1].id, conversation_id=conversation.id)


def test_adding_a_call_id_the_conversation_holds_is_a_bad_request(client: openai.OpenAI) -> None:
    call = {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "call_1", "output": "tea"}
    conversation = client.conversations.create(items=[call, output])

    for items in ([call], [output]):
        with pytest.raises(openai.BadRequestError):
            client.conversations.items.create(conversation.id, items=items)  # type: ignore[arg-type]

    assert len(list(client.conversations.items.list(conversation.id))) == 2


def test_unknown_ids_are_not_found(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()

    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve("thr_00000000000000000000000000")
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve("item_nope", conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="assistant", conversation="thr_nope", input="hi")


async def test_a_conversation_carries_its_threads_status_and_context(
    client: openai.OpenAI, server: RunningServer
) -> None:
    import threadline as tl
    from threadline.store import ThreadUpdate

    created = client.conversations.create()
    async with tl.SQLiteStore(server.db) as store:
        await store.update_thread(created.id, ThreadUpdate(state={"org": "acme", "tier": 2}))

    raw = client.conversations.with_raw_response.retrieve(created.id)
    parsed = raw.parse()

    assert (parsed.id, parsed.object) == (created.id, "conversation")  # the SDK still parses it
    assert raw.http_response.json() == {
        "id": created.id,
        "object": "conversation",
        "created_at": created.created_at,
        "metadata": {},
        "status": "idle",
        "context": {
            "id": created.id,
            "key": None,
            "status": "idle",
            "content": {"org": "acme", "tier": 2},
        },
    }
