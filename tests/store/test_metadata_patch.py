"""`ThreadUpdate(metadata_patch=...)`: a JSON merge patch applied to the metadata as stored
when the write runs, so writers that change different keys at once, in different processes'
stores, all keep their change; bad patches change nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_contract import thread_record

from store_backends import PostgresFactory
from threadline.store import SQLiteStore, Store, ThreadUpdate
from threadline.types import InvalidInputError, NotFoundError


async def test_a_patch_merges_into_the_stored_metadata(store: Store) -> None:
    made = await store.create_thread(
        thread_record(metadata={"team": "ops", "bot": {"a": 1, "cards": {"c1": {"id": "m1"}}}})
    )
    patch = {"bot": {"a": None, "b": [1, 2], "cards": {"c2": {"id": "m2"}}}, "team": "sre"}

    patched = await store.update_thread(made.thread_id, ThreadUpdate(metadata_patch=patch))

    assert patched.metadata == {
        "team": "sre",
        "bot": {"cards": {"c1": {"id": "m1"}, "c2": {"id": "m2"}}, "b": [1, 2]},
    }
    assert (await store.get_thread(made.thread_id)) == patched


async def test_a_bad_patch_changes_nothing(store: Store) -> None:
    made = await store.create_thread(thread_record(metadata={"n": 1}))

    with pytest.raises(InvalidInputError, match="not both"):
        await store.update_thread(
            made.thread_id, ThreadUpdate(metadata={"n": 2}, metadata_patch={"m": 1})
        )
    with pytest.raises(InvalidInputError, match="JSON object"):
        await store.update_thread(made.thread_id, ThreadUpdate(metadata_patch=[1]))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await store.update_thread(made.thread_id, ThreadUpdate(metadata_patch={"x": "\ud800"}))
    with pytest.raises(NotFoundError):
        await store.update_thread("thr_missing", ThreadUpdate(metadata_patch={"m": 1}))

    assert (await store.get_thread(made.thread_id)) == made


async def patch_through_both(first: Store, second: Store) -> None:
    made = await first.create_thread(thread_record(metadata={"bot": {}}))
    writes = [
        store.update_thread(made.thread_id, ThreadUpdate(metadata_patch={"bot": {f"k{n}": n}}))
        for n, store in enumerate([first, second] * 20)
    ]
    await asyncio.gather(*writes)
    stored = await second.get_thread(made.thread_id)

    assert stored is not None
    assert stored.metadata == {"bot": {f"k{n}": n for n in range(40)}}


async def test_concurrent_patches_through_two_sqlite_stores_all_land(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "t.db") as first, SQLiteStore(tmp_path / "t.db") as second:
        await patch_through_both(first, second)


async def test_concurrent_patches_through_two_postgres_stores_all_land(
    make_postgres: PostgresFactory,
) -> None:
    first = await make_postgres()
    await patch_through_both(first, await make_postgres(schema=first.schema))
