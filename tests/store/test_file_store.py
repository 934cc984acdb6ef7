"""What every `Store` must do with a thread's files: content in chunks, moves that keep a
file's id, directories implied by paths, a quota, ids scoped to their thread, copies across
threads, and the files' end with their thread."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from test_contract import begin, thread_record

from threadline.store import FileOp, Store, TurnStarted, TurnWrite
from threadline.store._ops_files import CHUNK_BYTES
from threadline.store._sql import rows
from threadline.types import (
    FileInfo,
    FileQuotaExceededError,
    InvalidInputError,
    LeaseLost,
    NotFoundError,
    ThreadRecord,
    new_id,
)


def op(kind: str, path: str, data: bytes = b"", **fields: Any) -> FileOp:
    return FileOp(kind=kind, path=path, data=data, at=time.time(), **fields)  # type: ignore[arg-type]


async def thread(store: Store) -> ThreadRecord:
    return await store.create_thread(thread_record())


async def write(
    store: Store, thread_id: str, path: str, data: bytes, quota: int | None = None
) -> FileInfo:
    (info,) = await store.change_files(thread_id, [op("write", path, data)], quota_bytes=quota)
    assert info is not None
    return info


async def content(store: Store, thread_id: str, path: str) -> bytes | None:
    found = await store.read_file(thread_id, path)
    return None if found is None else found[1]


async def paths(store: Store, thread_id: str) -> list[str]:
    return [f.path for f in await store.list_files(thread_id)]


async def count(store: Store, table: str) -> int:
    found = await store._select(rows(f"SELECT COUNT(*) FROM {{{table}}}"))  # type: ignore[attr-defined]
    return int(found[0][0])


async def test_a_file_round_trips_in_chunks(store: Store) -> None:
    t = await thread(store)
    data = os.urandom(2 * CHUNK_BYTES + 1000)

    info = await write(store, t.thread_id, "data/blob.bin", data)

    assert (info.path, info.kind, info.size, info.media_type) == (
        "data/blob.bin",
        "file",
        len(data),
        "application/octet-stream",
    )
    assert info.file_id is not None and info.file_id.startswith("file_")
    assert await content(store, t.thread_id, "data/blob.bin") == data
    assert await count(store, "file_chunks") == 3
    assert await store.stat_file(t.thread_id, "data/blob.bin") == info


async def test_an_empty_file_has_no_chunks(store: Store) -> None:
    t = await thread(store)
    info = await write(store, t.thread_id, "empty.txt", b"")
    assert info.size == 0
    assert await content(store, t.thread_id, "empty.txt") == b""
    assert await count(store, "file_chunks") == 0


async def test_appends_fill_the_last_chunk_then_add_chunks(store: Store) -> None:
    t = await thread(store)
    first = await write(store, t.thread_id, "log.txt", b"a" * (CHUNK_BYTES - 10))
    expected = b"a" * (CHUNK_BYTES - 10)
    for piece in (b"b" * 5, b"c" * 20, os.urandom(CHUNK_BYTES + 3)):
        (info,) = await store.change_files(
            t.thread_id, [op("append", "log.txt", piece)], quota_bytes=None
        )
        expected += piece
        assert info is not None and info.size == len(expected)
        assert info.file_id == first.file_id and info.created_at == first.created_at
    assert await content(store, t.thread_id, "log.txt") == expected
    assert await count(store, "file_chunks") == 3


async def test_append_creates_and_write_replaces_keeping_the_id(store: Store) -> None:
    t = await thread(store)
    (made,) = await store.change_files(
        t.thread_id, [op("append", "a.md", b"one")], quota_bytes=None
    )
    replaced = await write(store, t.thread_id, "a.md", b"two")
    assert made is not None and replaced.file_id == made.file_id
    assert await content(store, t.thread_id, "a.md") == b"two"
    assert replaced.media_type == "text/markdown"


async def test_directories_are_implied_by_paths(store: Store) -> None:
    t = await thread(store)
    await write(store, t.thread_id, "notes/a.md", b"12")
    await write(store, t.thread_id, "notes/deep/b.md", b"345")
    await write(store, t.thread_id, "notes.md", b"6")

    folder = await store.stat_file(t.thread_id, "notes")
    assert folder is not None
    assert (folder.kind, folder.size, folder.file_id, folder.media_type) == (
        "directory",
        5,
        None,
        None,
    )
    root = await store.stat_file(t.thread_id, "")
    assert root is not None and (root.kind, root.size) == ("directory", 6)
    assert await store.stat_file(t.thread_id, "note") is None
    assert [f.path for f in await store.list_files(t.thread_id, "notes")] == [
        "notes/a.md",
        "notes/deep/b.md",
    ]
    assert await paths(store, t.thread_id) == ["notes.md", "notes/a.md", "notes/deep/b.md"]


async def test_a_file_and_a_directory_cannot_share_a_path(store: Store) -> None:
    t = await thread(store)
    await write(store, t.thread_id, "a/b.txt", b"x")
    with pytest.raises(InvalidInputError, match="is a directory"):
        await write(store, t.thread_id, "a", b"y")
    with pytest.raises(InvalidInputError, match="is a file"):
        await write(store, t.thread_id, "a/b.txt/c", b"y")
    assert await paths(store, t.thread_id) == ["a/b.txt"]


async def test_changes_apply_together_or_not_at_all(store: Store) -> None:
    t = await thread(store)
    with pytest.raises(NotFoundError):
        await store.change_files(
            t.thread_id,
            [op("write", "kept.txt", b"x"), op("move", "missing", destination="b")],
            quota_bytes=None,
        )
    assert await paths(store, t.thread_id) == []


async def test_a_move_keeps_the_id_and_replaces_a_file_at_the_destination(store: Store) -> None:
    t = await thread(store)
    moving = await write(store, t.thread_id, "draft.txt", b"new")
    await write(store, t.thread_id, "final.md", b"old" * 1000)

    (moved,) = await store.change_files(
        t.thread_id, [op("move", "draft.txt", destination="final.md")], quota_bytes=None
    )

    assert moved is not None
    assert (moved.path, moved.file_id, moved.media_type) == (
        "final.md",
        moving.file_id,
        "text/markdown",
    )
    assert await paths(store, t.thread_id) == ["final.md"]
    assert await content(store, t.thread_id, "final.md") == b"new"
    assert await count(store, "file_chunks") == 1  # the replaced file's content is gone


async def test_a_directory_moves_with_everything_in_it(store: Store) -> None:
    t = await thread(store)
    a = await write(store, t.thread_id, "src/a.py", b"a")
    await write(store, t.thread_id, "src/pkg/b.py", b"bb")
    await write(store, t.thread_id, "srcs.txt", b"c")

    (moved,) = await store.change_files(
        t.thread_id, [op("move", "src", destination="lib/src")], quota_bytes=None
    )

    assert moved is not None and (moved.kind, moved.path, moved.size) == ("directory", "lib/src", 3)
    assert await paths(store, t.thread_id) == ["lib/src/a.py", "lib/src/pkg/b.py", "srcs.txt"]
    stat = await store.stat_file(t.thread_id, "lib/src/a.py")
    assert stat is not None and stat.file_id == a.file_id
    with pytest.raises(InvalidInputError, match="into itself"):
        await store.change_files(
            t.thread_id, [op("move", "lib", destination="lib/x")], quota_bytes=None
        )
    with pytest.raises(InvalidInputError, match="is a file"):
        await store.change_files(
            t.thread_id, [op("move", "lib", destination="srcs.txt")], quota_bytes=None
        )


async def test_delete_removes_a_file_or_a_directory(store: Store) -> None:
    t = await thread(store)
    await write(store, t.thread_id, "a/x.txt", b"1")
    await write(store, t.thread_id, "a/b/y.txt", b"2")
    await write(store, t.thread_id, "ab.txt", b"3")

    (gone,) = await store.change_files(t.thread_id, [op("delete", "a")], quota_bytes=None)
    (nothing,) = await store.change_files(t.thread_id, [op("delete", "a")], quota_bytes=None)

    assert gone is not None and (gone.kind, gone.size) == ("directory", 2)
    assert nothing is None
    assert await paths(store, t.thread_id) == ["ab.txt"]
    assert await count(store, "file_chunks") == 1


async def test_the_quota_refuses_a_write_and_changes_nothing(store: Store) -> None:
    t = await thread(store)
    await write(store, t.thread_id, "a.bin", b"x" * 60, quota=100)
    with pytest.raises(FileQuotaExceededError) as refused:
        await write(store, t.thread_id, "b.bin", b"y" * 41, quota=100)
    assert refused.value.code == "file_quota_exceeded"
    assert isinstance(refused.value, InvalidInputError)
    with pytest.raises(FileQuotaExceededError):
        await store.change_files(t.thread_id, [op("append", "a.bin", b"z" * 41)], quota_bytes=100)
    assert await paths(store, t.thread_id) == ["a.bin"]
    assert await content(store, t.thread_id, "a.bin") == b"x" * 60
    # Replacing a file counts its new size only: exactly at the quota is allowed.
    await write(store, t.thread_id, "a.bin", b"w" * 100, quota=100)
    assert await content(store, t.thread_id, "a.bin") == b"w" * 100


async def test_file_ids_are_scoped_to_their_thread(store: Store) -> None:
    mine, theirs = await thread(store), await thread(store)
    own = await write(store, mine.thread_id, "a.txt", b"mine")
    foreign = await write(store, theirs.thread_id, "a.txt", b"theirs")
    assert own.file_id is not None and foreign.file_id is not None

    found = await store.read_files(mine.thread_id, [own.file_id, foreign.file_id, "file_none"])
    stats = await store.stat_files(mine.thread_id, [own.file_id, foreign.file_id])

    assert {k: v[1] for k, v in found.items()} == {own.file_id: b"mine"}
    assert list(stats) == [own.file_id]


async def test_a_copy_goes_to_a_free_path_of_the_other_thread(store: Store) -> None:
    parent, child = await thread(store), await thread(store)
    source = await write(store, parent.thread_id, "docs/plan.md", b"x" * (CHUNK_BYTES + 5))
    await write(store, child.thread_id, "docs/plan.md", b"child's own")
    assert source.file_id is not None

    copies = [
        await store.copy_file(
            parent.thread_id,
            source.file_id,
            child.thread_id,
            None,
            quota_bytes=None,
            new_file_id=new_id("file"),
            at=time.time(),
        )
        for _ in range(2)
    ]

    assert [c.path for c in copies] == ["docs/plan-2.md", "docs/plan-3.md"]
    assert all(c.file_id != source.file_id for c in copies)
    assert await content(store, child.thread_id, "docs/plan-2.md") == b"x" * (CHUNK_BYTES + 5)
    assert await content(store, child.thread_id, "docs/plan.md") == b"child's own"
    to_named = await store.copy_file(
        parent.thread_id,
        source.file_id,
        child.thread_id,
        "inbox/from-parent.md",
        quota_bytes=None,
        new_file_id=new_id("file"),
        at=time.time(),
    )
    assert to_named.path == "inbox/from-parent.md"


async def test_a_copy_needs_a_file_of_the_source_thread_and_room(store: Store) -> None:
    parent, child, other = await thread(store), await thread(store), await thread(store)
    foreign = await write(store, other.thread_id, "secret.txt", b"s")
    big = await write(store, parent.thread_id, "big.bin", b"b" * 50)
    assert foreign.file_id is not None and big.file_id is not None

    def copy(file_id: str, quota: int | None = None) -> Any:
        return store.copy_file(
            parent.thread_id,
            file_id,
            child.thread_id,
            None,
            quota_bytes=quota,
            new_file_id=new_id("file"),
            at=time.time(),
        )

    with pytest.raises(NotFoundError) as unknown:
        await copy("file_nothing")
    with pytest.raises(NotFoundError) as not_theirs:
        await copy(foreign.file_id)
    assert str(unknown.value).replace("file_nothing", "?") == str(not_theirs.value).replace(
        foreign.file_id, "?"
    )
    with pytest.raises(FileQuotaExceededError):
        await copy(big.file_id, quota=49)
    assert await paths(store, child.thread_id) == []


async def test_files_are_deleted_with_their_thread(store: Store) -> None:
    gone, kept = await thread(store), await thread(store)
    await write(store, gone.thread_id, "a/b.bin", os.urandom(CHUNK_BYTES + 1))
    await write(store, kept.thread_id, "c.txt", b"c")

    assert await store.delete_thread(gone.thread_id)

    assert await count(store, "files") == 1
    assert await count(store, "file_chunks") == 1
    assert await paths(store, kept.thread_id) == ["c.txt"]
    assert await store.stat_file(gone.thread_id, "") is None


async def test_a_turns_write_stores_its_file_changes_only_under_the_lease(store: Store) -> None:
    t = await thread(store)
    await write(store, t.thread_id, "moved-away.txt", b"m")
    started = await store.begin_turn(begin(t))
    assert isinstance(started, TurnStarted)

    def turn_write(epoch: int, *changes: FileOp) -> TurnWrite:
        return TurnWrite(
            thread_id=t.thread_id,
            turn_id=started.turn.turn_id,
            epoch=epoch,
            cursor=started.cursor,
            files=changes,
        )

    with pytest.raises(LeaseLost):
        await store.write_turn(turn_write(started.epoch + 1, op("write", "stale.txt", b"s")))
    assert await paths(store, t.thread_id) == ["moved-away.txt"]

    # Applied as the files are now: a change that no longer applies is skipped, not refused.
    await store.write_turn(
        turn_write(
            started.epoch,
            op("write", "notes/a.md", b"a", file_id="file_fromtool"),
            op("append", "notes/a.md", b"b"),
            op("move", "missing.txt", destination="x.txt"),
            op("delete", "moved-away.txt"),
        )
    )
    stat = await store.stat_file(t.thread_id, "notes/a.md")
    assert stat is not None and stat.file_id == "file_fromtool"
    assert await paths(store, t.thread_id) == ["notes/a.md"]
    assert await content(store, t.thread_id, "notes/a.md") == b"ab"


@pytest.mark.parametrize("path", ["../x", "/abs", "a//b", "a\x00b", "%2e%2e/x"])
async def test_the_store_checks_paths_itself(store: Store, path: str) -> None:
    t = await thread(store)
    with pytest.raises(InvalidInputError):
        await write(store, t.thread_id, path, b"x")
    with pytest.raises(InvalidInputError):
        await store.read_file(t.thread_id, path)
    assert await paths(store, t.thread_id) == []
