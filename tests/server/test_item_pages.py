"""Listing a conversation's items costs what the page holds: the server reads the page's items
and what they refer to from the store, never the whole thread, and the pages say exactly what
the full listing of the thread says."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from threadline.server.responses._access import external_names
from threadline.server.responses._lists import PageQuery, page
from threadline.server.responses._profile import OPENAI
from threadline.server.responses._wire_items import ItemMapper, external_call_ids
from threadline.store import ItemQuery
from threadline.types import Item, TurnRecord

LOOKUP = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


class CountingStore(tl.SQLiteStore):
    """Counts the items and turns that reads hand to the server."""

    items_read = 0
    turns_read = 0

    async def load_items(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Item]:
        items = await super().load_items(thread_id, after_seq=after_seq, limit=limit)
        self.items_read += len(items)
        return items

    async def query_items(self, query: ItemQuery) -> list[Item]:
        items = await super().query_items(query)
        self.items_read += len(items)
        return items

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        turns = await super().list_turns(thread_id)
        self.turns_read += len(turns)
        return turns

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        self.turns_read += 1
        return await super().get_turn(turn_id)


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Any]]:
    db = tmp_path_factory.mktemp("pages") / "threadline.db"
    store = CountingStore(db)
    running, handle = start_server(db, store=store)
    yield running, store
    stop_server(handle)


def _rich_conversation(client: openai.OpenAI) -> str:
    """A conversation with every kind of item, a failed turn and deleted items."""
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "my name is Ann"}]
    ).id

    def respond(**options: Any) -> Any:
        return client.responses.create(model="assistant", conversation=conversation, **options)

    respond(input="say hello")
    respond(input="weather Paris")
    approval = respond(input="transfer 5").output[0]
    respond(
        input=[
            {"type": "mcp_approval_response", "approval_request_id": approval.id, "approve": True}
        ]
    )
    call = respond(input='client lookup {"word": "tea"}', tools=[LOOKUP]).output[0]
    respond(
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "a drink"}],
        tools=[LOOKUP],
    )
    respond(input="reason because")
    respond(input="fail")
    respond(input="weather Oslo")
    client.conversations.items.create(
        conversation,
        items=[
            {"type": "function_call", "call_id": "mine", "name": "clock", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "mine", "output": "noon"},
            {"type": "message", "role": "assistant", "content": "it is noon"},
        ],
    )
    listed = list(client.conversations.items.list(conversation, order="asc"))
    for gone in (listed[1], listed[4], listed[-1]):
        client.conversations.items.delete(gone.id, conversation_id=conversation)
    return conversation


def _full_listing(db: Path, conversation: str) -> list[dict[str, Any]]:
    """The listing of the whole thread, mapped as the server maps it."""

    async def read() -> list[dict[str, Any]]:
        async with tl.SQLiteStore(db) as store:
            items = await store.load_items(conversation)
            turns = await store.list_turns(conversation)
        names = {turn.turn_id: external_names(turn) for turn in turns}
        return ItemMapper(items, external_call_ids(items, names), OPENAI).listing()

    return asyncio.run(read())


def _get(server: RunningServer, conversation: str, **params: Any) -> Any:
    reply = httpx.get(f"{server.base_url}/conversations/{conversation}/items", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_every_page_is_the_page_of_the_full_listing(counted: tuple[RunningServer, Any]) -> None:
    server, _ = counted
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
        conversation = _rich_conversation(client)
    full = _full_listing(server.db, conversation)
    kinds = {(w["type"], w.get("role")) for w in full}
    assert {"mcp_call", "mcp_approval_request", "mcp_approval_response"} <= {k for k, _ in kinds}
    assert {"function_call", "function_call_output", "reasoning"} <= {k for k, _ in kinds}

    for order in ("asc", "desc"):
        for limit in (1, 2, 3, 7, 100):
            after: str | None = None
            while True:
                params = {"order": order, "limit": limit, **({"after": after} if after else {})}
                got = _get(server, conversation, **params)
                assert got == page(full, PageQuery(after=after, limit=limit, order=order))
                if not got["has_more"]:
                    break
                after = got["last_id"]
    for wire in full:
        one = httpx.get(f"{server.base_url}/conversations/{conversation}/items/{wire['id']}")
        assert one.json() == wire


def _long_conversation(server: RunningServer, messages: int) -> tuple[str, list[str]]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        conversation = http.post("/conversations", json={}).json()["id"]
        http.post(
            "/responses",
            json={"model": "assistant", "conversation": conversation, "input": "weather Rome"},
        )
        for start in range(0, messages, 20):
            batch = [
                {"type": "message", "role": "user", "content": f"message {n}"}
                for n in range(start, min(start + 20, messages))
            ]
            added = http.post(f"/conversations/{conversation}/items", json={"items": batch})
            assert added.status_code == 200, added.text
        http.post(
            "/responses",
            json={"model": "assistant", "conversation": conversation, "input": "weather Lima"},
        )
        ids = [w["id"] for w in _get(server, conversation, order="asc", limit=100)["data"]]
    return conversation, ids


def _reads(store: Any, server: RunningServer, conversation: str, **params: Any) -> tuple[int, int]:
    store.items_read = store.turns_read = 0
    data: Sequence[dict[str, Any]] = _get(server, conversation, **params)["data"]
    assert len(data) == params["limit"]
    return store.items_read, store.turns_read


def test_a_page_reads_what_it_holds_not_the_thread(counted: tuple[RunningServer, Any]) -> None:
    server, store = counted
    conversation, first_ids = _long_conversation(server, messages=400)
    total = len(_full_listing(server.db, conversation))
    assert total > 400

    newest = _reads(store, server, conversation, limit=1)
    oldest = _reads(store, server, conversation, limit=1, order="asc")
    middle = _reads(store, server, conversation, limit=5, order="asc", after=first_ids[50])
    backwards = _reads(store, server, conversation, limit=5, after=first_ids[60])

    # The page, the calls and results it names, the item it lists after: a handful each.
    for items_read, turns_read in (newest, oldest, middle, backwards):
        assert items_read <= 20, (newest, oldest, middle, backwards)
        assert turns_read <= 2
