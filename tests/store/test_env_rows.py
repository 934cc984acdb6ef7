"""The environment's stored values: one per scope, owner and name; a thread's reach its active
descendants; they go with their thread. Written against the `Store` protocol only."""

from __future__ import annotations

import time
from typing import Any

import pytest

from threadline.store import Store, ThreadUpdate
from threadline.types import EnvEntry, EnvScope, NotFoundError, ThreadRecord, new_id


def thread_record(**fields: Any) -> ThreadRecord:
    now = time.time()
    return ThreadRecord(
        thread_id=new_id("thr"), agent="a", created_at=now, updated_at=now, **fields
    )


def entry(scope: EnvScope, owner: str, name: str, value: str, **fields: Any) -> EnvEntry:
    return EnvEntry(
        scope=scope,
        owner=owner,
        name=name,
        type=fields.pop("type", "text"),
        value=value,
        updated_at=time.time(),
        **fields,
    )


async def values(store: Store, name: str, *owners: tuple[EnvScope, str]) -> dict[str, str]:
    return {e.owner: e.value for e in await store.get_env(name, list(owners))}


async def test_one_value_per_scope_owner_and_name(store: Store) -> None:
    thread = await store.create_thread(thread_record(user_id="ada"))
    assert await store.set_env(entry("thread", thread.thread_id, "REGION", "eu")) == [
        thread.thread_id
    ]
    assert await store.set_env(entry("user", "ada", "REGION", "us")) == []
    await store.set_env(entry("instance", "", "REGION", "ap"))
    await store.set_env(entry("user", "ada", "REGION", "us-2", type="secret"))  # replaces
    found = await store.get_env(
        "REGION", [("thread", thread.thread_id), ("user", "ada"), ("instance", "")]
    )
    assert sorted((e.scope, e.owner, e.type, e.value) for e in found) == [
        ("instance", "", "text", "ap"),
        ("thread", thread.thread_id, "text", "eu"),
        ("user", "ada", "secret", "us-2"),
    ]
    # Only the owners asked for, and only that name.
    assert await store.get_env("REGION", [("user", "bob")]) == []
    assert await store.get_env("OTHER", [("user", "ada")]) == []
    assert await store.get_env("REGION", []) == []
    # A user and a resource with the same id are different owners.
    assert await store.get_env("REGION", [("resource", "ada")]) == []


async def test_a_thread_value_reaches_its_active_descendants(store: Store) -> None:
    root = await store.create_thread(thread_record())
    child = await store.create_thread(thread_record(parent_id=root.thread_id))
    grandchild = await store.create_thread(thread_record(parent_id=child.thread_id))
    archived = await store.create_thread(thread_record(parent_id=root.thread_id))
    await store.update_thread(archived.thread_id, ThreadUpdate(status="archived"))
    sibling = await store.create_thread(thread_record())  # not a descendant
    written = await store.set_env(entry("thread", root.thread_id, "TOKEN", "v1"), propagate=True)
    assert sorted(written) == sorted([root.thread_id, child.thread_id, grandchild.thread_id])
    assert written[0] == root.thread_id
    everyone: list[tuple[EnvScope, str]] = [
        ("thread", t.thread_id) for t in (root, child, grandchild, archived, sibling)
    ]
    assert await values(store, "TOKEN", *everyone) == {
        root.thread_id: "v1",
        child.thread_id: "v1",
        grandchild.thread_id: "v1",
    }
    # A child's own value reaches its subtree only.
    await store.set_env(entry("thread", child.thread_id, "TOKEN", "v2"), propagate=True)
    assert await values(store, "TOKEN", *everyone) == {
        root.thread_id: "v1",
        child.thread_id: "v2",
        grandchild.thread_id: "v2",
    }
    # Without `propagate`, the thread alone.
    await store.set_env(entry("thread", root.thread_id, "TOKEN", "v3"))
    assert (await values(store, "TOKEN", *everyone))[child.thread_id] == "v2"


async def test_a_cycle_of_parents_ends(store: Store) -> None:
    # Only a hand-edited store could hold a cycle; the walks still end.
    first_id = new_id("thr")
    second = await store.create_thread(thread_record(parent_id=first_id))
    first = await store.create_thread(
        ThreadRecord(
            thread_id=first_id,
            agent="a",
            parent_id=second.thread_id,
            created_at=time.time(),
            updated_at=time.time(),
        )
    )
    written = await store.set_env(entry("thread", first.thread_id, "K", "v"), propagate=True)
    assert sorted(written) == sorted([first.thread_id, second.thread_id])
    assert await store.delete_thread(first.thread_id)
    assert await store.get_thread(second.thread_id) is None


async def test_deleting_values(store: Store) -> None:
    root = await store.create_thread(thread_record())
    child = await store.create_thread(thread_record(parent_id=root.thread_id))
    await store.set_env(entry("thread", root.thread_id, "K", "v"), propagate=True)
    await store.set_env(entry("user", "ada", "K", "v"))
    assert await store.delete_env("user", "ada", "K") == ["ada"]
    assert await store.delete_env("user", "ada", "K") == []
    assert sorted(await store.delete_env("thread", root.thread_id, "K", propagate=True)) == sorted(
        [root.thread_id, child.thread_id]
    )
    assert await values(store, "K", ("thread", root.thread_id), ("thread", child.thread_id)) == {}


async def test_values_go_with_their_thread(store: Store) -> None:
    thread = await store.create_thread(thread_record(user_id="ada"))
    other = await store.create_thread(thread_record(user_id="ada"))
    for target in (thread, other):
        await store.set_env(entry("thread", target.thread_id, "K", "v"))
    await store.set_env(entry("user", "ada", "K", "account"))
    assert await store.delete_thread(thread.thread_id)
    assert await values(store, "K", ("thread", thread.thread_id)) == {}
    # Another thread's values, and the account's, stay.
    assert await values(store, "K", ("thread", other.thread_id), ("user", "ada")) == {
        other.thread_id: "v",
        "ada": "account",
    }


async def test_a_thread_that_does_not_exist(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.set_env(entry("thread", "thr_missing", "K", "v"), propagate=True)
    with pytest.raises(NotFoundError):
        await store.delete_env("thread", "thr_missing", "K")
    assert await store.get_env("K", [("thread", "thr_missing")]) == []
