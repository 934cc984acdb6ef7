"""What only the PostgreSQL store has to prove: migrations, connection loss, schemas, races
between processes, and notifications."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
import version5
from test_contract import begin, started_turn, thread_record
from test_contract_family import spawn

import threadline as tl
from store_backends import PostgresFactory, SchemaFactory, postgres_url
from threadline.store import PostgresStore, TurnStarted, open_store
from threadline.store._postgres_conn import Commit
from threadline.store._postgres_schema import MIGRATIONS, SCHEMA_VERSION
from threadline.store._sqlite_schema import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION
from threadline.types import InboxEntry, TimerRecord, new_id


async def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as conn:
        cur = await conn.execute(sql, params)  # pyright: ignore[reportArgumentType]
        return await cur.fetchall() if cur.description else []


async def test_migrations_are_recorded_with_their_versions(make_postgres: PostgresFactory) -> None:
    store: PostgresStore = await make_postgres()
    versions = await query(f'SELECT version FROM "{store.schema}".schema_version ORDER BY 1')
    assert [v for (v,) in versions] == [m[0] for m in MIGRATIONS]
    assert SCHEMA_VERSION == SQLITE_SCHEMA_VERSION
    assert await store.check_integrity() == []


async def test_the_schema_matches_sqlites(make_postgres: PostgresFactory, tmp_path: Path) -> None:
    store: PostgresStore = await make_postgres()
    async with tl.SQLiteStore(tmp_path / "same.db"):
        pass
    lite = sqlite3.connect(tmp_path / "same.db")
    tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        lite_columns = {r[1] for r in lite.execute(f"PRAGMA table_info({table})")}
        pg_columns = {
            r[0]
            for r in await query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
                "table_name = %s",
                store.schema,
                table,
            )
        }
        assert pg_columns == lite_columns, table
    lite_indexes = {
        r[0]
        for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    pg_indexes = {
        r[0]
        for r in await query("SELECT indexname FROM pg_indexes WHERE schemaname = %s", store.schema)
    }
    assert lite_indexes <= pg_indexes


async def test_opening_at_once_from_many_processes_migrates_once(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    stores = await asyncio.gather(*(make_postgres(schema=schema) for _ in range(6)))
    for _ in range(2):
        await stores[0].close()
        await stores[0].open()
    rows = await query(f'SELECT COUNT(*) FROM "{schema}".schema_version')
    assert rows == [(len(MIGRATIONS),)]


async def test_a_schema_from_a_newer_threadline_is_refused(make_postgres: PostgresFactory) -> None:
    store: PostgresStore = await make_postgres()
    await store.close()
    await query(f'INSERT INTO "{store.schema}".schema_version VALUES (%s, 0)', SCHEMA_VERSION + 1)
    with pytest.raises(tl.SchemaVersionError, match="upgrade threadline"):
        await PostgresStore(postgres_url(), schema=store.schema).open()


async def test_a_version_1_schema_migrates_forward_with_its_data(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    await query(f'CREATE SCHEMA "{schema}"')
    await query(
        f'CREATE TABLE "{schema}".schema_version (version bigint PRIMARY KEY, '
        "applied_at double precision NOT NULL)"
    )
    for statement in MIGRATIONS[0][1]:
        await query(statement.replace("{s}", f'"{schema}"'))
    await query(f'INSERT INTO "{schema}".schema_version VALUES (1, 0)')
    await query(
        f'INSERT INTO "{schema}".threads (thread_id, agent, status, metadata, '
        "created_at, updated_at) VALUES ('thr_old', 'a', 'idle', '{}', 1, 1)"
    )

    store: PostgresStore = await make_postgres(schema=schema)

    thread = await store.get_thread("thr_old")
    assert thread is not None
    assert (thread.lease_epoch, thread.lease_owner) == (0, None)
    assert await store.check_integrity() == []


async def test_a_version_3_schema_keeps_its_keyed_threads_per_owner(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    await query(f'CREATE SCHEMA "{schema}"')
    await query(
        f'CREATE TABLE "{schema}".schema_version (version bigint PRIMARY KEY, '
        "applied_at double precision NOT NULL)"
    )
    for version, statements in MIGRATIONS:
        if version <= 3:
            for statement in statements:
                await query(statement.replace("{s}", f'"{schema}"'))
            await query(f'INSERT INTO "{schema}".schema_version VALUES (%s, 0)', version)
    await query(
        f'INSERT INTO "{schema}".threads (thread_id, key, user_id, agent, status, metadata, '
        "created_at, updated_at, lease_epoch) VALUES ('thr_old', 'support', 'ann', 'a', "
        """'idle', '{"n": 1}', 1, 1, 4)"""
    )

    store: PostgresStore = await make_postgres(schema=schema)

    anns = await store.create_thread(thread_record(key="support", user_id="ann"))
    bobs = await store.create_thread(thread_record(key="support", user_id="bob"))
    assert (anns.thread_id, anns.metadata, anns.lease_epoch) == ("thr_old", {"n": 1}, 4)
    assert bobs.thread_id != "thr_old"
    assert await store.create_thread(thread_record(key="support", user_id="bob")) == bobs
    assert await store.check_integrity() == []
    versions = await query(f'SELECT version FROM "{schema}".schema_version ORDER BY 1')
    assert [v for (v,) in versions] == [m[0] for m in MIGRATIONS]


async def test_a_version_5_schema_migrates_forward_and_reads_back_the_same(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory, tmp_path: Path
) -> None:
    recorded = await version5.record(tmp_path / "recorded.db")
    schema = pg_schemas()
    await query(f'CREATE SCHEMA "{schema}"')
    await query(
        f'CREATE TABLE "{schema}".schema_version (version bigint PRIMARY KEY, '
        "applied_at double precision NOT NULL)"
    )
    for version, statements in MIGRATIONS[:5]:
        for statement in statements:
            assert isinstance(statement, str)
            await query(statement.replace("{s}", f'"{schema}"'))
        await query(f'INSERT INTO "{schema}".schema_version VALUES (%s, 0)', version)
    for thread in recorded:
        for table, values in version5.rows(thread).items():
            columns = version5.COLUMNS[table]
            marks = ", ".join(["%s"] * (columns.count(",") + 1))
            for row in values:
                await query(f'INSERT INTO "{schema}".{table} ({columns}) VALUES ({marks})', *row)

    store: PostgresStore = await make_postgres(schema=schema)

    for thread in recorded:
        await version5.assert_reads_back(store, thread)
    tables = await query("SELECT tablename FROM pg_tables WHERE schemaname = %s", schema)
    assert "tool_calls" not in {t for (t,) in tables}


async def test_a_version_7_schema_gains_child_threads(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from threadline.store import _postgres_schema

    schema = pg_schemas()
    monkeypatch.setattr(_postgres_schema, "MIGRATIONS", MIGRATIONS[:7])
    await (await make_postgres(schema=schema)).close()
    monkeypatch.undo()
    await query(
        f'INSERT INTO "{schema}".threads (thread_id, agent, status, parent_id, metadata, '
        "created_at, updated_at) VALUES ('thr_parent', 'a', 'idle', NULL, '{}', 1, 1), "
        "('thr_child', 'a', 'idle', 'thr_parent', '{}', 2, 2)"
    )

    store: PostgresStore = await make_postgres(schema=schema)

    old = await store.get_thread("thr_child")
    assert old is not None
    assert (old.parent_id, old.reference_id, old.parent_turn_id) == ("thr_parent", None, None)
    spawned = await store.spawn_thread(spawn("thr_parent"))
    assert spawned.created
    assert [c.thread_id for c in await store.list_children("thr_parent")] == [
        "thr_child",
        spawned.thread.thread_id,
    ]
    assert await store.check_integrity() == []
    versions = await query(f'SELECT version FROM "{schema}".schema_version ORDER BY 1')
    assert [v for (v,) in versions] == [m[0] for m in MIGRATIONS]


async def test_spawning_one_child_from_many_processes_stores_it_once(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    stores = [await make_postgres(schema=schema) for _ in range(4)]
    parent = await stores[0].create_thread(thread_record())
    async with listening(stores[1]) as notes:
        spawned = await asyncio.gather(
            *(s.spawn_thread(spawn(parent.thread_id)) for s in stores for _ in range(3))
        )
        (child,) = {s.thread.thread_id for s in spawned}
        # Its first input is work for any worker, as enqueued input is.
        assert await next_for(notes, child, "threadline_work") == child
    assert sum(s.created for s in spawned) == 1
    assert len(await stores[0].list_inbox(child)) == 1


async def test_creating_one_keyed_thread_from_many_processes_stores_it_once(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    stores = [await make_postgres(schema=schema) for _ in range(4)]
    made = await asyncio.gather(
        *(s.create_thread(thread_record(key="k", user_id=u)) for s in stores for u in ("a", "b"))
    )
    assert len({t.thread_id for t in made if t.user_id == "a"}) == 1
    assert len({t.thread_id for t in made if t.user_id == "b"}) == 1
    assert len((await stores[0].list_threads()).threads) == 2


async def test_a_missing_index_is_reported(make_postgres: PostgresFactory) -> None:
    store: PostgresStore = await make_postgres()
    await query(f'DROP INDEX "{store.schema}".items_one_per_call')
    await query(f'DROP INDEX "{store.schema}".threads_one_per_owner_key')
    problems = await store.check_integrity()
    assert "missing index items_one_per_call" in problems
    assert "missing unique key items (tkey, type, call_id)" in problems
    assert "missing unique index threads_one_per_owner_key" in problems


async def test_connections_are_set_up_for_poolers_and_timeouts(
    make_postgres: PostgresFactory,
) -> None:
    store: PostgresStore = await make_postgres(statement_timeout=5, idle_in_transaction_timeout=7)
    async with store._open_runner().pool.connection() as conn:  # pyright: ignore[reportPrivateUsage]
        assert conn.prepare_threshold is None
        assert conn.autocommit
        settings = await (
            await conn.execute(
                "SELECT current_setting('statement_timeout'), "
                "current_setting('idle_in_transaction_session_timeout')"
            )
        ).fetchone()
    assert settings == ("5s", "7s")


async def backend_pids(store: PostgresStore) -> list[int]:
    pool = store._open_runner().pool  # pyright: ignore[reportPrivateUsage]
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    return [row[0]]


async def test_a_killed_pooled_connection_is_replaced(make_postgres: PostgresFactory) -> None:
    store: PostgresStore = await make_postgres(min_size=1, max_size=1)
    made = await store.create_thread(thread_record())
    (pid,) = await backend_pids(store)

    await query("SELECT pg_terminate_backend(%s)", pid)

    assert await store.get_thread(made.thread_id) == made
    started = await store.begin_turn(begin(made))
    assert isinstance(started, TurnStarted)
    assert await backend_pids(store) != [pid]


async def test_a_write_cut_off_before_commit_is_tried_again(make_postgres: PostgresFactory) -> None:
    store: PostgresStore = await make_postgres(min_size=1, max_size=2)
    thread = await store.create_thread(thread_record())
    attempts: list[int] = []

    async def write(conn: Any, commit: Commit) -> str:
        attempts.append(1)
        async with conn.transaction():
            await conn.execute(f'UPDATE "{store.schema}".threads SET mode = %s', ("m",))
            if len(attempts) == 1:
                await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            commit.sent = True
        return "done"

    runner = store._open_runner()  # pyright: ignore[reportPrivateUsage]
    assert await runner.write(write, replay_safe=False) == "done"
    assert len(attempts) == 2
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None
    assert stored.mode == "m"


async def test_a_commit_with_unknown_outcome_is_repeated_only_when_safe(
    make_postgres: PostgresFactory,
) -> None:
    store: PostgresStore = await make_postgres(min_size=1, max_size=2)
    s = f'"{store.schema}"'
    # A deferred trigger kills the session inside COMMIT: the client cannot know the outcome.
    await query(f"CREATE TABLE {s}.boom (x int)")
    await query(
        f"CREATE FUNCTION {s}.boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
    )
    await query(
        f"CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON {s}.boom DEFERRABLE "
        f"INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.boom()"
    )
    attempts: list[int] = []

    async def write(conn: Any, commit: Commit) -> int:
        attempts.append(1)
        async with conn.transaction():
            if len(attempts) == 1:
                await conn.execute(f"INSERT INTO {s}.boom VALUES (1)")
            commit.sent = True
        return len(attempts)

    runner = store._open_runner()  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(tl.StoreError, match="may or may not have been applied"):
        await runner.write(write, replay_safe=False)
    assert len(attempts) == 1
    attempts.clear()
    assert await runner.write(write, replay_safe=True) == 2


async def test_two_schemas_do_not_see_each_other(make_postgres: PostgresFactory) -> None:
    a: PostgresStore = await make_postgres()
    b: PostgresStore = await make_postgres()
    thread, started = await started_turn(a, lease_seconds=0.1)
    await a.enqueue(
        InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=thread.thread_id,
            position=0,
            input=[],
            created_at=time.time(),
        )
    )
    await asyncio.sleep(0.2)
    assert await b.get_thread(thread.thread_id) is None
    assert (await b.list_threads()).threads == []
    assert await b.find_work() == []
    assert (
        await b.acquire_lease(thread.thread_id, started.turn.turn_id, owner="b", lease_seconds=30)
        is None
    )
    assert len(await a.find_work()) == 1


async def test_one_of_many_processes_takes_an_expired_lease(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    stores: list[PostgresStore] = await asyncio.gather(
        *(make_postgres(schema=schema) for _ in range(8))
    )
    for _ in range(5):
        thread, started = await started_turn(stores[0], lease_seconds=0.1)
        await asyncio.sleep(0.2)

        leases = await asyncio.gather(
            *(
                s.acquire_lease(
                    thread.thread_id, started.turn.turn_id, owner=f"proc_{n}", lease_seconds=30
                )
                for n, s in enumerate(stores)
            )
        )

        won = [lease for lease in leases if lease is not None]
        assert len(won) == 1
        assert won[0].epoch == started.epoch + 1
        stored = await stores[0].get_thread(thread.thread_id)
        assert stored is not None
        assert (stored.lease_owner, stored.lease_epoch) == (won[0].owner, won[0].epoch)


async def test_the_same_client_key_from_two_processes_starts_one_turn(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    stores: list[PostgresStore] = await asyncio.gather(
        *(make_postgres(schema=schema) for _ in range(4))
    )
    thread = await stores[0].create_thread(thread_record())
    outcomes = await asyncio.gather(
        *(s.begin_turn(begin(thread, client_key="k", enqueue_if_busy=True)) for s in stores)
    )
    assert sum(isinstance(o, TurnStarted) for o in outcomes) == 1
    assert len(await stores[0].list_turns(thread.thread_id)) == 1
    assert await stores[0].list_inbox(thread.thread_id) == []


async def test_concurrent_enqueues_keep_order_and_client_keys(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    stores: list[PostgresStore] = await asyncio.gather(
        *(make_postgres(schema=schema) for _ in range(4))
    )
    thread = await stores[0].create_thread(thread_record())

    def entry(n: int) -> InboxEntry:
        return InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=thread.thread_id,
            position=0,
            input=[],
            client_key=f"k{n % 10}",
            created_at=time.time(),
        )

    stored = await asyncio.gather(*(stores[n % 4].enqueue(entry(n)) for n in range(40)))
    inbox = await stores[0].list_inbox(thread.thread_id)
    assert sorted(e.position for e in inbox) == list(range(1, 11))
    assert {e.entry_id for e in stored} == {e.entry_id for e in inbox}


async def test_two_processes_fire_each_due_timer_once(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory, caplog: pytest.LogCaptureFixture
) -> None:
    schema = pg_schemas()
    a, b = await asyncio.gather(make_postgres(schema=schema), make_postgres(schema=schema))
    threads = [await a.create_thread(thread_record()) for _ in range(5)]
    now = time.time()
    timers = [
        TimerRecord(
            timer_id=new_id("timer"),
            thread_id=threads[n % 5].thread_id,
            due_at=now - 1,
            kind="input",
            input=[{"type": "text", "text": str(n)}],
            created_at=now,
        )
        for n in range(60)
    ]
    for timer in timers:
        await a.schedule_timer(timer)

    async def drain(store: PostgresStore) -> list[str]:
        fired: list[str] = []
        while batch := await store.fire_due_timers(limit=7):
            fired += [t.timer_id for t in batch]
        return fired

    fired_a, fired_b = await asyncio.gather(drain(a), drain(b))

    assert sorted(fired_a + fired_b) == sorted(t.timer_id for t in timers)
    inbox = [e for t in threads for e in await a.list_inbox(t.thread_id)]
    assert len(inbox) == 60
    assert "deadlock" not in caplog.text


@contextlib.asynccontextmanager
async def listening(store: PostgresStore) -> AsyncGenerator[Any]:
    notes = store.listen()
    try:
        ready = {await anext(notes) for _ in range(2)}
        assert ready == {("threadline_events", ""), ("threadline_work", "")}
        yield notes
    finally:
        await notes.aclose()


async def next_for(notes: Any, thread_id: str, channel: str) -> str:
    async with asyncio.timeout(10):
        while True:
            got_channel, payload = await anext(notes)
            if got_channel == channel and payload.split(":")[0] == thread_id:
                return payload


async def test_listen_receives_what_another_instance_writes(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    writer, reader = await asyncio.gather(
        make_postgres(schema=schema), make_postgres(schema=schema)
    )
    async with listening(reader) as notes:
        thread, started = await started_turn(writer)
        assert await next_for(notes, thread.thread_id, "threadline_events") == (
            f"{thread.thread_id}:{started.cursor.last_event_seq}"
        )
        await writer.hand_back(thread.thread_id, started.epoch)
        assert await next_for(notes, thread.thread_id, "threadline_work") == thread.thread_id


async def test_listen_reconnects_after_losing_its_connection(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    name = f"tl_listen_{uuid.uuid4().hex[:12]}"
    writer = await make_postgres(schema=schema)
    reader = PostgresStore(
        postgres_url(), schema=schema, listen_url=f"{postgres_url()}?application_name={name}"
    )
    async with listening(reader) as notes:
        await query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            name,
        )
        markers = {("threadline_events", ""), ("threadline_work", "")}
        again: set[tuple[str, str]] = set()
        async with asyncio.timeout(10):
            while again != markers:  # channels are database-wide: other schemas notify too
                note = await anext(notes)
                if note in markers:
                    again.add(note)
        thread, _ = await started_turn(writer)
        assert await next_for(notes, thread.thread_id, "threadline_events") == (
            f"{thread.thread_id}:1"
        )


async def test_store_urls_open_a_postgres_store() -> None:
    assert isinstance(open_store("postgresql://u@127.0.0.1/db"), PostgresStore)
    assert isinstance(open_store("postgres://u@127.0.0.1/db"), PostgresStore)
    assert "u@" not in repr(open_store("postgresql://u:secret@127.0.0.1/db"))
    with pytest.raises(tl.InvalidInputError, match="schema"):
        PostgresStore("postgresql://u@127.0.0.1/db", schema='x"; DROP TABLE threads; --')
    with pytest.raises(tl.StoreError, match="not open"):
        await PostgresStore("postgresql://u@127.0.0.1/db").get_thread("x")


async def test_a_turn_stored_for_any_worker_is_announced_as_work(
    make_postgres: PostgresFactory, pg_schemas: SchemaFactory
) -> None:
    schema = pg_schemas()
    writer, reader = await asyncio.gather(
        make_postgres(schema=schema), make_postgres(schema=schema)
    )
    thread = await writer.create_thread(thread_record())
    async with listening(reader) as notes:
        started = await writer.begin_turn(replace(begin(thread), owner=None))
        assert await next_for(notes, thread.thread_id, "threadline_work") == thread.thread_id
    assert isinstance(started, TurnStarted)
    work = await reader.find_work()
    assert [(w.kind, w.thread_id) for w in work] == [("wake", thread.thread_id)]


def test_a_store_url_names_its_schema() -> None:
    import threadline as tl

    store = tl.open_store("postgresql://u@127.0.0.1:5432/test?schema=tenant_a&sslmode=disable")
    assert type(store).__name__ == "PostgresStore"
    assert store.schema == "tenant_a"  # type: ignore[attr-defined]
    assert "schema" not in store.url  # type: ignore[attr-defined]
    assert "sslmode=disable" in store.url  # type: ignore[attr-defined]
    with pytest.raises(tl.ConfigurationError, match="schema"):
        tl.open_store("postgresql://u@h/db?schema=")
