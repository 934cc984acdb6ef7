"""`item_reference`s to items of the caller's other conversations. A client that keeps the
history itself sends the items it got back from a stored response by id (the Vercel AI SDK
does, by default); each stands for the item it names, as if the client had sent it whole."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from starlette.requests import HTTPConnection

from threadline.store import ItemQuery

from .._errors import APIError
from ._access import Access
from ._input import InputEntry, Reference, parse_item
from ._item_pages import ItemPages
from ._wire_items import WireItem


async def resolve_references(
    access: Access, request: HTTPConnection, entries: Sequence[InputEntry], held: Collection[str]
) -> list[InputEntry]:
    """`entries` with each `item_reference` to a visible item of the caller's other threads
    replaced by that item; references to `held` items (the thread's own) and to items the
    caller cannot see are left for `plan_input`, which refuses the latter."""
    wanted = [
        e.item_id
        for e in entries
        if isinstance(e, Reference) and e.required and e.item_id and e.item_id not in held
    ]
    if not wanted:
        return list(entries)
    found: dict[str, WireItem] = {}
    items = await access.app.store.query_items(ItemQuery(thread_id=None, item_ids=wanted))
    for thread_id in {i.thread_id for i in items}:
        try:
            await access.thread(request, thread_id)
        except APIError:
            continue  # another key's item is as unknown as a missing one
        pages = ItemPages(access.app.store, thread_id, access.profile)
        for item in items:
            if item.thread_id == thread_id:
                wire = await pages.find(item.item_id)
                if wire is not None:
                    found[item.item_id] = wire
    resolved: list[InputEntry] = []
    for entry in entries:
        if isinstance(entry, Reference) and entry.item_id in found:
            named = parse_item(found[entry.item_id], entry.where)
            if named is not None:
                resolved.append(named)
        else:
            resolved.append(entry)
    return resolved
