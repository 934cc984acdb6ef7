from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import version5
from test_contract import thread_record
from test_contract_family import spawn

import threadline as tl
from threadline.store import ItemQuery
from threadline.store._codec import item_query
from threadline.store._sqlite import SQLITE
from threadline.store._sqlite_schema import MIGRATIONS, SCHEMA_VERSION


async def test_a_new_database_is_wal_and_versioned(db_path: Path) -> None:
    async with tl.SQLiteStore(db_path):
        pass
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_database_from_a_newer_threadline_is_refused(db_path: Path) -> None:
    async with tl.SQLiteStore(db_path):
        pass
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()

    with pytest.raises(tl.SchemaVersionError, match="upgrade threadline"):
        await tl.SQLiteStore(db_path).open()


async def test_reopening_migrates_nothing_twice(db_path: Path) -> None:
    for _ in range(3):
        async with tl.SQLiteStore(db_path):
            pass
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


async def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(tl.StoreError, match="cannot open"):
        await tl.SQLiteStore(bad).open()


def test_store_specs(tmp_path: Path) -> None:
    assert isinstance(tl.open_store(str(tmp_path / "a.db")), tl.SQLiteStore)
    assert tl.open_store(f"sqlite:///{tmp_path}/b.db").path == tmp_path / "b.db"  # type: ignore[attr-defined]
    with pytest.raises(tl.ConfigurationError, match="unsupported store URL"):
        tl.open_store("mysql://x")
    with pytest.raises(tl.InvalidInputError):
        tl.SQLiteStore(tmp_path / "c.db", synchronous="OFF")  # type: ignore[arg-type]


async def test_using_a_closed_store_says_so(db_path: Path) -> None:
    store = tl.SQLiteStore(db_path)
    with pytest.raises(tl.StoreError, match="not open"):
        await store.get_thread("x")


@pytest.mark.slow
async def test_a_long_thread_loads_by_index(tmp_path: Path) -> None:
    from threadline.testing import ScriptedModel

    model = ScriptedModel(["ok"] * 200)
    agent = tl.Agent(name="a", model=model)
    async with tl.Threadline(agents=[agent], store=tmp_path / "long.db") as app:
        thread = await app.threads.start()
        for n in range(200):
            await thread.run(f"message {n}")
        items = await thread.items()
        tail = await thread.items(after_seq=390)
    assert [i.seq for i in items] == list(range(1, 401))
    assert [i.seq for i in tail] == list(range(391, 401))
    conn = sqlite3.connect(tmp_path / "long.db")
    for query in (ItemQuery(thread_id="t"), ItemQuery(thread_id="t", after_seq=390)):
        statement = item_query(query, "?")
        assert statement is not None
        plan = [
            str(r[3])
            for r in conn.execute(f"EXPLAIN QUERY PLAN {SQLITE.render(statement[0])}", statement[1])
        ]
        assert any(p.startswith("SEARCH i USING PRIMARY KEY (tkey=?") for p in plan), plan
        assert not any("SCAN" in p or "TEMP B-TREE" in p for p in plan), plan
    plan = " ".join(
        str(r)
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM threads WHERE user_id = ? AND status != 'archived' "
            "ORDER BY created_at DESC, thread_id DESC LIMIT 20",
            ("u",),
        )
    )
    assert "threads_by_user" in plan
    assert "TEMP B-TREE" not in plan


async def test_a_version_1_database_migrates_forward_with_its_data(db_path: Path) -> None:
    from threadline.store._sqlite_schema import MIGRATIONS

    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for statement in MIGRATIONS[0][1]:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 0)")
    conn.execute(
        "INSERT INTO threads (thread_id, agent, status, metadata, created_at, "
        "updated_at) VALUES ('thr_old', 'a', 'idle', '{}', 1, 1)"
    )
    conn.commit()
    conn.close()

    async with tl.SQLiteStore(db_path) as store:
        thread = await store.get_thread("thr_old")
        assert thread is not None
        assert (thread.lease_epoch, thread.lease_owner) == (0, None)
        assert await store.check_integrity() == []
    versions = [
        r[0]
        for r in sqlite3.connect(db_path).execute(
            "SELECT version FROM schema_version ORDER BY version"
        )
    ]
    assert versions == [m[0] for m in MIGRATIONS]


async def test_a_version_3_database_keeps_its_keyed_threads_per_owner(db_path: Path) -> None:
    from threadline.store._sqlite_schema import MIGRATIONS

    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, statements in MIGRATIONS:
        if version <= 3:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    conn.execute(
        "INSERT INTO threads (thread_id, key, user_id, agent, status, metadata, created_at, "
        "updated_at, lease_epoch) VALUES ('thr_old', 'support', 'ann', 'a', 'idle', "
        """'{"n": 1}', 1, 1, 4)"""
    )
    conn.commit()
    conn.close()

    async with tl.SQLiteStore(db_path) as store:
        anns = await store.create_thread(thread_record(key="support", user_id="ann"))
        bobs = await store.create_thread(thread_record(key="support", user_id="bob"))
        assert (anns.thread_id, anns.metadata, anns.lease_epoch) == ("thr_old", {"n": 1}, 4)
        assert bobs.thread_id != "thr_old"
        assert await store.create_thread(thread_record(key="support", user_id="bob")) == bobs
        assert await store.check_integrity() == []
    versions = [
        r[0] for r in sqlite3.connect(db_path).execute("SELECT version FROM schema_version")
    ]
    assert versions == [m[0] for m in MIGRATIONS]


async def test_a_version_5_database_migrates_forward_and_reads_back_the_same(
    tmp_path: Path,
) -> None:
    from threadline.store._sqlite_schema import MIGRATIONS

    recorded = await version5.record(tmp_path / "recorded.db")
    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, statements in MIGRATIONS[:5]:
        for statement in statements:
            assert isinstance(statement, str)
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    for thread in recorded:
        for table, values in version5.rows(thread).items():
            columns = version5.COLUMNS[table]
            marks = ", ".join("?" * (columns.count(",") + 1))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    conn.commit()
    conn.close()

    async with tl.SQLiteStore(path) as store:
        for thread in recorded:
            await version5.assert_reads_back(store, thread)
    # A migrated thread goes on: its log holds the migrated events, then the new turn's.
    from threadline.testing import ScriptedModel

    agent = tl.Agent(name="a")
    async with tl.Threadline(agents=[agent], store=path, model=ScriptedModel(["Yes."])) as app:
        thread = await app.threads.resume(recorded[0].thread.thread_id)
        await thread.run("Still there?")
        log = await thread.events()
        assert log[: len(recorded[0].events)] == recorded[0].events
        assert log[-1].type == "completed"
        for after in range(len(log) + 1):
            assert await thread.events(after_seq=after) == log[after:]
            assert await thread.events(after_seq=after, limit=2) == log[after : after + 2]
    tables = {
        r[0]
        for r in sqlite3.connect(path).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert "tool_calls" not in tables


async def test_a_version_7_database_gains_child_threads(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from threadline.store import _sqlite_schema

    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", _sqlite_schema.MIGRATIONS[:7])
    async with tl.SQLiteStore(db_path):
        pass
    monkeypatch.undo()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO threads (thread_id, agent, status, parent_id, metadata, created_at, "
        "updated_at) VALUES ('thr_parent', 'a', 'idle', NULL, '{}', 1, 1), "
        "('thr_child', 'a', 'idle', 'thr_parent', '{}', 2, 2)"
    )
    conn.commit()
    conn.close()

    async with tl.SQLiteStore(db_path) as store:
        old = await store.get_thread("thr_child")
        assert old is not None
        assert (old.parent_id, old.reference_id, old.parent_turn_id) == ("thr_parent", None, None)
        spawned = await store.spawn_thread(spawn("thr_parent"))
        assert spawned.created
        assert await store.spawn_thread(spawn("thr_parent")) == replace(spawned, created=False)
        assert [c.thread_id for c in await store.list_children("thr_parent")] == [
            "thr_child",
            spawned.thread.thread_id,
        ]
        assert await store.check_integrity() == []
    versions = [
        r[0] for r in sqlite3.connect(db_path).execute("SELECT version FROM schema_version")
    ]
    assert versions == [m[0] for m in _sqlite_schema.MIGRATIONS]
