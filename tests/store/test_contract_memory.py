"""Observational memory in the store, the same on every backend: observations and a thread's
watermark written together and once, read and edited only by their owner, replaced all or
nothing, and deleted with their thread when they are the thread's own."""

from __future__ import annotations

import time

import pytest

from threadline.store import Store
from threadline.types import InvalidInputError, MemoryScope, Observation, ThreadRecord, new_id


async def new_thread(store: Store, resource_id: str | None = "user-1") -> str:
    now = time.time()
    record = await store.create_thread(
        ThreadRecord(
            thread_id=new_id("thr"),
            agent="a",
            resource_id=resource_id,
            created_at=now,
            updated_at=now,
        )
    )
    return record.thread_id


def observation(
    text: str,
    *,
    scope: MemoryScope = "resource",
    owner: str = "user-1",
    namespace: str = "support",
    observed_at: float = 1_000.0,
    source: str | None = None,
) -> Observation:
    return Observation(
        observation_id=new_id("obs"),
        scope=scope,
        owner=owner,
        namespace=namespace,
        text=text,
        observed_at=observed_at,
        created_at=time.time(),
        updated_at=time.time(),
        source_thread_id=source,
    )


async def test_observations_and_the_watermark_are_written_once(store: Store) -> None:
    thread_id = await new_thread(store)
    first = [observation("name is Ada", source=thread_id), observation("likes tea", observed_at=5)]

    assert await store.record_observations(
        thread_id, "support", after=0, through=7, observations=first
    )
    # The same observer run again (after a crash, or in another process) adds nothing.
    assert not await store.record_observations(
        thread_id, "support", after=0, through=7, observations=[observation("name is Ada")]
    )

    listed = await store.list_observations("resource", "user-1", "support")
    assert [o.text for o in listed] == ["likes tea", "name is Ada"]  # oldest observed first
    assert listed[1] == first[0]
    memory = await store.thread_memory(thread_id)
    assert memory is not None
    assert (memory.namespace, memory.observed_through) == ("support", 7)
    assert await store.record_observations(
        thread_id, "support", after=7, through=9, observations=[observation("more")]
    )
    assert len(await store.list_observations("resource", "user-1")) == 3


async def test_reads_and_edits_are_scoped_to_their_owner(store: Store) -> None:
    thread_id = await new_thread(store)
    mine = observation("mine")
    theirs = observation("theirs", owner="user-2")
    await store.record_observations(
        thread_id, "support", after=0, through=3, observations=[mine, theirs]
    )

    assert await store.get_observation(mine.observation_id, "resource", "user-1") == mine
    for scope, owner, namespace in [
        ("resource", "user-2", None),
        ("resource", "user-1", "sales"),
        ("thread", "user-1", None),
    ]:
        found = await store.get_observation(mine.observation_id, scope, owner, namespace)  # type: ignore[arg-type]
        assert found is None
        edited = await store.update_observation(
            mine.observation_id,
            scope,  # type: ignore[arg-type]
            owner,
            namespace,
            "changed",
            at=2.0,
        )
        assert edited is None
        assert await store.delete_observations(scope, owner, namespace, mine.observation_id) == 0  # type: ignore[arg-type]
    assert await store.get_observation("obs_unknown", "resource", "user-1") is None

    edited = await store.update_observation(
        mine.observation_id, "resource", "user-1", "support", "edited", at=5.0
    )
    assert edited is not None and (edited.text, edited.updated_at) == ("edited", 5.0)
    assert await store.delete_observations("resource", "user-1", None, mine.observation_id) == 1
    assert await store.list_observations("resource", "user-1") == []
    assert await store.list_observations("resource", "user-2") == [theirs]
    assert await store.delete_observations("resource", "user-2") == 1


async def test_a_replacement_is_all_or_nothing(store: Store) -> None:
    thread_id = await new_thread(store)
    old = [observation("a"), observation("b"), observation("c")]
    await store.record_observations(thread_id, "support", after=0, through=4, observations=old)
    merged = [observation("a and b"), observation("c")]

    gone = old[0].observation_id
    await store.delete_observations("resource", "user-1", None, gone)
    ids = [o.observation_id for o in old]
    assert not await store.replace_observations("resource", "user-1", "support", ids, merged)
    assert await store.list_observations("resource", "user-1") == old[1:]

    assert await store.replace_observations("resource", "user-1", "support", ids[1:], merged)
    assert sorted(o.text for o in await store.list_observations("resource", "user-1")) == [
        "a and b",
        "c",
    ]
    # Ids of another owner are not replaced.
    other = [o.observation_id for o in await store.list_observations("resource", "user-1")]
    assert not await store.replace_observations("resource", "user-2", "support", other, [])


async def test_a_thread_keeps_the_namespace_it_began_with(store: Store) -> None:
    thread_id = await new_thread(store)
    assert await store.thread_memory(thread_id) is None

    bound = await store.bind_memory(thread_id, "support")
    assert (bound.namespace, bound.observed_through) == ("support", 0)
    assert await store.bind_memory(thread_id, "support") == bound
    with pytest.raises(InvalidInputError, match="memory_agent_id"):
        await store.bind_memory(thread_id, "sales")
    # An observer of another namespace writes nothing for it.
    assert not await store.record_observations(
        thread_id, "sales", after=0, through=3, observations=[observation("x")]
    )
    assert await store.list_observations("resource", "user-1") == []


async def test_deleting_a_thread_deletes_its_own_observations_only(store: Store) -> None:
    thread_id = await new_thread(store)
    other_id = await new_thread(store)
    own = observation("the thread's", scope="thread", owner=thread_id)
    shared = observation("the resource's", source=thread_id)
    other = observation("another thread's", scope="thread", owner=other_id)
    await store.record_observations(thread_id, "a", after=0, through=2, observations=[own, shared])
    await store.record_observations(other_id, "a", after=0, through=2, observations=[other])

    assert await store.delete_thread(thread_id)

    assert await store.list_observations("thread", thread_id) == []
    assert await store.thread_memory(thread_id) is None
    assert await store.list_observations("resource", "user-1") == [shared]  # the resource's
    assert await store.list_observations("thread", other_id) == [other]


async def test_text_a_store_cannot_keep_is_refused_before_anything_is_written(
    store: Store,
) -> None:
    thread_id = await new_thread(store)
    with pytest.raises(InvalidInputError):
        await store.record_observations(
            thread_id, "a", after=0, through=2, observations=[observation("nul \x00 here")]
        )
    assert await store.thread_memory(thread_id) is None
    assert await store.list_observations("resource", "user-1") == []
