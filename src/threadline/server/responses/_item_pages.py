"""A conversation's items read a page at a time: a page costs what it holds (its items, the
tool calls, results and approvals they refer to, the turns that ran them and the deletions
after them), never a read of the whole thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.store import ItemQuery, Store
from threadline.types import Item, ItemType, ToolCall, payload_call_id

from .._errors import invalid
from ._access import external_names
from ._lists import PageQuery, listing
from ._profile import Profile
from ._wire_items import ItemMapper, WireItem, external_call_ids

_RELATED: tuple[ItemType, ...] = ("tool_call", "tool_result", "approval_request")
_MAX_BATCH = 1000


class ItemPages:
    """The items of one thread in their wire forms, as `ItemMapper` maps the whole thread,
    read from `store` only as far as a request needs."""

    def __init__(self, store: Store, thread_id: str, profile: Profile) -> None:
        self.store = store
        self.thread_id = thread_id
        self.profile = profile
        self._turn_names: dict[str, frozenset[str]] = {}
        self._edits: list[Item] = []  # system events, tombstones among them
        self._edits_after: int | None = None  # every system event after this seq is known

    async def find(self, item_id: str) -> WireItem | None:
        """The wire form of item `item_id`, if the thread holds it visibly."""
        found = await self._read(ItemQuery(thread_id=self.thread_id, item_ids=[item_id]))
        return found[0][1] if found else None

    async def page(self, query: PageQuery) -> dict[str, Any]:
        """One page of the list, as `page()` cuts it from the thread's full listing."""
        cursor: int | None = None
        if query.after is not None:
            found = await self._read(ItemQuery(thread_id=self.thread_id, item_ids=[query.after]))
            if not found:
                raise invalid(f"no item with id {query.after[:80]!r} to list after", param="after")
            cursor = found[0][0].seq
        newest_first = query.order == "desc"
        wanted = query.limit + 1  # one more tells whether there is a next page
        data: list[WireItem] = []
        batch = wanted
        while len(data) < wanted:
            read = ItemQuery(
                thread_id=self.thread_id,
                after_seq=cursor if cursor is not None and not newest_first else 0,
                before_seq=cursor if newest_first else None,
                newest_first=newest_first,
                limit=batch,
            )
            items = await self.store.query_items(read)
            data.extend(wire for _, wire in await self._mapped(items))
            if len(items) < batch:
                break
            cursor = items[-1].seq
            batch = min(batch * 2, _MAX_BATCH)  # items without a wire form of their own
        return listing(data[: query.limit], has_more=len(data) > query.limit)

    async def _read(self, query: ItemQuery) -> list[tuple[Item, WireItem]]:
        return await self._mapped(await self.store.query_items(query))

    async def _mapped(self, items: Sequence[Item]) -> list[tuple[Item, WireItem]]:
        """`items` with their wire forms, leaving out deleted items and those without one."""
        if not items:
            return []
        await self._learn_edits(after_seq=min(i.seq for i in items) - 1)
        call_ids = sorted({c for i in items if (c := payload_call_id(i.payload)) is not None})
        related = await self.store.query_items(
            ItemQuery(thread_id=self.thread_id, call_ids=call_ids, types=_RELATED)
        )
        context = [*items, *related, *self._edits]
        mapper = ItemMapper(
            context, external_call_ids(context, await self._names(context)), self.profile
        )
        mapped: list[tuple[Item, WireItem]] = []
        for item in items:
            wire = None if item.item_id in mapper.deleted else mapper.wire(item)
            if wire is not None:
                mapped.append((item, wire))
        return mapped

    async def _learn_edits(self, *, after_seq: int) -> None:
        # A tombstone always follows the item it deletes: the system events after the
        # earliest item read are all the deletions that can concern it.
        if self._edits_after is not None and after_seq >= self._edits_after:
            return
        self._edits.extend(
            await self.store.query_items(
                ItemQuery(
                    thread_id=self.thread_id,
                    after_seq=after_seq,
                    before_seq=None if self._edits_after is None else self._edits_after + 1,
                    types=["system_event"],
                )
            )
        )
        self._edits_after = after_seq

    async def _names(self, items: Sequence[Item]) -> dict[str, frozenset[str]]:
        """The client's function tool names of the turns that made tool calls in `items`."""
        for item in items:
            turn_id = item.turn_id
            if turn_id is None or turn_id in self._turn_names:
                continue
            if isinstance(item.payload, ToolCall):
                turn = await self.store.get_turn(turn_id)
                self._turn_names[turn_id] = frozenset() if turn is None else external_names(turn)
        return self._turn_names
