"""The PostgreSQL schema: the SQLite schema's tables, columns, constraints and indexes, with the
same migration version numbers so that `schema_version` means the same on both stores."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection

from threadline.types import StoreError

from ._migrate_v6 import copy_to_v6
from ._postgres_sql import Tables, execute, fetchall, fetchone, sql_text
from ._schema_version import pending
from ._sql import Op, Sql, Statement

# Text compares bytewise, like SQLite's BINARY collation, so ordering and cursors agree on both
# stores whatever the database's locale. REAL is 8 bytes in SQLite: double precision here.
_TEXT = 'text COLLATE "C"'

# What makes a keyed thread unique, as on SQLite. NULL `user_id` is an owner of its own,
# distinct from every user including "" (COALESCE alone would merge NULL with "").
OWNER_KEY = "(key, (COALESCE('user:' || user_id, '')))"

# A step of a migration: a statement, or a data conversion run as an operation (see `_sql`).
Step = str | Callable[[], Op[None]]

# `{s}` is the quoted schema. Each migration is applied in the same transaction as its row.
MIGRATIONS: tuple[tuple[int, tuple[Step, ...]], ...] = (
    (
        1,
        (
            f"""CREATE TABLE {{s}}.threads (
            thread_id {_TEXT} PRIMARY KEY,
            key {_TEXT} UNIQUE,
            user_id {_TEXT},
            resource_id {_TEXT},
            agent {_TEXT} NOT NULL,
            mode {_TEXT},
            status {_TEXT} NOT NULL,
            parent_id {_TEXT},
            state text,
            metadata text NOT NULL,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            active_turn_id {_TEXT},
            last_item_seq bigint NOT NULL DEFAULT 0,
            last_event_seq bigint NOT NULL DEFAULT 0,
            turn_count bigint NOT NULL DEFAULT 0
        )""",
            "CREATE INDEX threads_by_time ON {s}.threads (created_at DESC, thread_id DESC)",
            "CREATE INDEX threads_by_user ON {s}.threads (user_id, created_at DESC, thread_id DESC)",
            f"""CREATE TABLE {{s}}.turns (
            turn_id {_TEXT} PRIMARY KEY,
            thread_id {_TEXT} NOT NULL,
            number bigint NOT NULL,
            status {_TEXT} NOT NULL,
            input text NOT NULL,
            sender {_TEXT},
            client_key {_TEXT},
            usage text NOT NULL,
            steps bigint NOT NULL DEFAULT 0,
            error text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            completed_at double precision,
            UNIQUE (thread_id, number),
            UNIQUE (thread_id, client_key)
        )""",
            f"""CREATE TABLE {{s}}.items (
            thread_id {_TEXT} NOT NULL,
            seq bigint NOT NULL,
            item_id {_TEXT} NOT NULL UNIQUE,
            turn_id {_TEXT},
            type {_TEXT} NOT NULL,
            status {_TEXT} NOT NULL,
            call_id {_TEXT},
            content text NOT NULL,
            created_at double precision NOT NULL,
            PRIMARY KEY (thread_id, seq)
        )""",
            """CREATE UNIQUE INDEX items_one_per_call
            ON {s}.items (thread_id, type, call_id) WHERE call_id IS NOT NULL""",
            f"""CREATE TABLE {{s}}.events (
            thread_id {_TEXT} NOT NULL,
            seq bigint NOT NULL,
            turn_id {_TEXT},
            item_id {_TEXT},
            type {_TEXT} NOT NULL,
            params text NOT NULL,
            created_at double precision NOT NULL,
            PRIMARY KEY (thread_id, seq)
        )""",
            f"""CREATE TABLE {{s}}.inbox (
            entry_id {_TEXT} PRIMARY KEY,
            thread_id {_TEXT} NOT NULL,
            position bigint NOT NULL,
            input text NOT NULL,
            sender {_TEXT},
            client_key {_TEXT},
            created_at double precision NOT NULL,
            UNIQUE (thread_id, position),
            UNIQUE (thread_id, client_key)
        )""",
        ),
    ),
    (
        2,
        (
            f"ALTER TABLE {{s}}.threads ADD COLUMN lease_owner {_TEXT}",
            "ALTER TABLE {s}.threads ADD COLUMN lease_epoch bigint NOT NULL DEFAULT 0",
            "ALTER TABLE {s}.threads ADD COLUMN lease_expires_at double precision",
            "ALTER TABLE {s}.threads ADD COLUMN wake_at double precision",
            """CREATE INDEX threads_leased ON {s}.threads (lease_expires_at)
            WHERE lease_owner IS NOT NULL""",
            "CREATE INDEX threads_waking ON {s}.threads (wake_at) WHERE wake_at IS NOT NULL",
            "ALTER TABLE {s}.turns ADD COLUMN cancel_requested integer NOT NULL DEFAULT 0",
            f"ALTER TABLE {{s}}.inbox ADD COLUMN kind {_TEXT} NOT NULL DEFAULT 'input'",
            f"""CREATE TABLE {{s}}.tool_calls (
            thread_id {_TEXT} NOT NULL,
            tool_call_id {_TEXT} NOT NULL,
            turn_id {_TEXT} NOT NULL,
            state {_TEXT} NOT NULL,
            epoch bigint NOT NULL,
            updated_at double precision NOT NULL,
            PRIMARY KEY (thread_id, tool_call_id)
        )""",
            f"""CREATE TABLE {{s}}.timers (
            timer_id {_TEXT} PRIMARY KEY,
            thread_id {_TEXT} NOT NULL,
            due_at double precision NOT NULL,
            kind {_TEXT} NOT NULL,
            input text NOT NULL,
            status {_TEXT} NOT NULL,
            created_at double precision NOT NULL,
            fired_at double precision
        )""",
            "CREATE INDEX timers_due ON {s}.timers (due_at) WHERE status = 'pending'",
            "CREATE INDEX timers_by_thread ON {s}.timers (thread_id, due_at)",
        ),
    ),
    (3, ("ALTER TABLE {s}.turns ADD COLUMN options text NOT NULL DEFAULT '{}'",)),
    (
        4,
        # A key names a thread of its owner: unique per (user_id, key), not across users.
        (
            "ALTER TABLE {s}.threads DROP CONSTRAINT threads_key_key",
            f"CREATE UNIQUE INDEX threads_one_per_owner_key ON {{s}}.threads {OWNER_KEY}",
        ),
    ),
    (
        5,
        ("ALTER TABLE {s}.turns ADD COLUMN running_seconds double precision NOT NULL DEFAULT 0",),
    ),
    (
        6,
        # Rows keyed by the thread's number, ids packed, tool call states on the call items,
        # the event log kept as blocks beside the rows it is rebuilt from (`_event_log`).
        (
            "ALTER TABLE {s}.threads ADD COLUMN tkey bigint GENERATED BY DEFAULT AS IDENTITY",
            "CREATE UNIQUE INDEX threads_by_tkey ON {s}.threads (tkey)",
            f"""CREATE TABLE {{s}}.turns_v6 (
            tkey bigint NOT NULL,
            number bigint NOT NULL,
            turn_id bytea NOT NULL,
            status {_TEXT} NOT NULL,
            input text,
            input_seq bigint,
            sender {_TEXT},
            client_key {_TEXT},
            usage text NOT NULL,
            steps bigint NOT NULL DEFAULT 0,
            error text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            completed_at double precision,
            cancel_requested integer NOT NULL DEFAULT 0,
            options text NOT NULL DEFAULT '{{}}',
            running_seconds double precision NOT NULL DEFAULT 0,
            CONSTRAINT turns_v6_key PRIMARY KEY (tkey, number)
        )""",
            f"""CREATE TABLE {{s}}.items_v6 (
            tkey bigint NOT NULL,
            seq bigint NOT NULL,
            event_seq bigint,
            turn bigint,
            type smallint NOT NULL,
            status smallint NOT NULL,
            tool_state smallint,
            created_at double precision NOT NULL,
            item_id bytea NOT NULL,
            call_id {_TEXT},
            events text,
            content text NOT NULL,
            CONSTRAINT items_v6_key PRIMARY KEY (tkey, seq)
        )""",
            """CREATE TABLE {s}.events_v6 (
            tkey bigint NOT NULL,
            seq bigint NOT NULL,
            turn bigint,
            events text NOT NULL,
            CONSTRAINT events_v6_key PRIMARY KEY (tkey, seq)
        )""",
            copy_to_v6,
            "DROP TABLE {s}.turns, {s}.items, {s}.events, {s}.tool_calls",
            "ALTER TABLE {s}.turns_v6 RENAME TO turns",
            "ALTER TABLE {s}.items_v6 RENAME TO items",
            "ALTER TABLE {s}.events_v6 RENAME TO events",
            "ALTER INDEX {s}.turns_v6_key RENAME TO turns_pkey",
            "ALTER INDEX {s}.items_v6_key RENAME TO items_pkey",
            "ALTER INDEX {s}.events_v6_key RENAME TO events_pkey",
            "CREATE UNIQUE INDEX turns_by_id ON {s}.turns (turn_id)",
            """CREATE UNIQUE INDEX turns_one_per_client_key ON {s}.turns (tkey, client_key)
            WHERE client_key IS NOT NULL""",
            "CREATE UNIQUE INDEX items_by_id ON {s}.items (item_id)",
            """CREATE UNIQUE INDEX items_one_per_call
            ON {s}.items (tkey, type, call_id) WHERE call_id IS NOT NULL""",
        ),
    ),
    (
        7,
        (
            # A thread's files (`_ops_files`): a row per file, its content in chunks.
            f"""CREATE TABLE {{s}}.files (
            tkey bigint NOT NULL,
            path {_TEXT} NOT NULL,
            file_id {_TEXT} NOT NULL,
            size bigint NOT NULL,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            PRIMARY KEY (tkey, path)
        )""",
            "CREATE UNIQUE INDEX files_by_id ON {s}.files (file_id)",
            f"""CREATE TABLE {{s}}.file_chunks (
            tkey bigint NOT NULL,
            file_id {_TEXT} NOT NULL,
            number bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (tkey, file_id, number)
        )""",
            # The environment (`_ops_env`): a value per scope, owner and name, a secret's as
            # its ciphertext; and the children of a thread, which its values reach.
            f"""CREATE TABLE {{s}}.env (
            scope {_TEXT} NOT NULL,
            owner {_TEXT} NOT NULL,
            name {_TEXT} NOT NULL,
            type {_TEXT} NOT NULL,
            value text NOT NULL,
            updated_at double precision NOT NULL,
            PRIMARY KEY (scope, owner, name)
        )""",
            """CREATE INDEX threads_by_parent ON {s}.threads (parent_id)
            WHERE parent_id IS NOT NULL""",
            # (end of the environment)
        ),
    ),
    (
        8,
        # Child threads (`_ops_family`): a child's name within its parent, unique there, and
        # the parent's turn that started it.
        (
            f"ALTER TABLE {{s}}.threads ADD COLUMN reference_id {_TEXT}",
            f"ALTER TABLE {{s}}.threads ADD COLUMN parent_turn_id {_TEXT}",
            """CREATE UNIQUE INDEX threads_one_per_reference
            ON {s}.threads (parent_id, reference_id) WHERE reference_id IS NOT NULL""",
        ),
    ),
    (
        9,
        # Step records (`_ops_steps`): one per model call or tool batch of a turn, written
        # with the step's items, keyed like the turn's items by the thread's number; codes
        # and packed ids, as items hold them.
        (
            """CREATE TABLE {s}.steps (
            tkey bigint NOT NULL,
            turn bigint NOT NULL,
            number bigint NOT NULL,
            kind smallint NOT NULL,
            status smallint NOT NULL,
            started_at double precision NOT NULL,
            ended_at double precision,
            step_id bytea NOT NULL,
            usage text NOT NULL,
            item_ids bytea NOT NULL,
            data text NOT NULL,
            PRIMARY KEY (tkey, turn, number)
        )""",
        ),
    ),
    (
        10,
        # Observational memory (`_ops_memory`): dated observations per resource or thread and
        # memory namespace, and how far each thread's history is observed.
        (
            f"""CREATE TABLE {{s}}.observations (
            observation_id {_TEXT} PRIMARY KEY,
            scope {_TEXT} NOT NULL,
            owner {_TEXT} NOT NULL,
            namespace {_TEXT} NOT NULL,
            text text NOT NULL,
            observed_at double precision NOT NULL,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            source_thread_id {_TEXT}
        )""",
            """CREATE INDEX observations_by_owner
            ON {s}.observations (scope, owner, namespace, observed_at)""",
            f"""CREATE TABLE {{s}}.thread_memory (
            thread_id {_TEXT} PRIMARY KEY,
            namespace {_TEXT} NOT NULL,
            observed_through bigint NOT NULL
        )""",
        ),
    ),
    (
        11,
        # Trace spans (`_ops_spans`): one per traced step of a turn, written with the step,
        # keyed like the turn's steps by the thread's number; pruned by when they ended.
        (
            f"""CREATE TABLE {{s}}.spans (
            tkey bigint NOT NULL,
            turn bigint NOT NULL,
            span_id {_TEXT} NOT NULL,
            parent_id {_TEXT},
            trace_id {_TEXT} NOT NULL,
            name {_TEXT} NOT NULL,
            started_at double precision NOT NULL,
            ended_at double precision,
            status {_TEXT} NOT NULL,
            attributes text NOT NULL,
            events text NOT NULL,
            PRIMARY KEY (tkey, turn, span_id)
        )""",
            "CREATE INDEX spans_by_end ON {s}.spans (ended_at)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

# Every unique key the store relies on (the natural keys of G1-G3), by table.
UNIQUE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "threads": (("thread_id",), ("tkey",), ("parent_id", "reference_id")),
    "turns": (("tkey", "number"), ("turn_id",), ("tkey", "client_key")),
    "items": (("tkey", "seq"), ("item_id",), ("tkey", "type", "call_id")),
    "events": (("tkey", "seq"),),
    "inbox": (("entry_id",), ("thread_id", "position"), ("thread_id", "client_key")),
    "timers": (("timer_id",),),
    "files": (("tkey", "path"), ("file_id",)),
    "file_chunks": (("tkey", "file_id", "number"),),
    "env": (("scope", "owner", "name"),),
    "observations": (("observation_id",),),
    "thread_memory": (("thread_id",),),
    "steps": (("tkey", "turn", "number"),),
    "spans": (("tkey", "turn", "span_id"),),
}
# Unique indexes over an expression, which `UNIQUE_KEYS` cannot name by columns.
UNIQUE_INDEXES = ("threads_one_per_owner_key",)
INDEXES = (
    "threads_by_time",
    "threads_by_user",
    "items_one_per_call",
    "threads_leased",
    "threads_waking",
    "timers_due",
    "timers_by_thread",
    "threads_by_parent",
    "observations_by_owner",
    "spans_by_end",
)


async def migrate(conn: AsyncConnection[Any], tables: Tables) -> int:
    # One transaction under an advisory lock keyed by the schema: processes opening the same
    # database at once apply each migration exactly once.
    async with conn.transaction():
        encoding = await fetchone(conn, "SHOW server_encoding")
        if encoding is None or encoding[0] != "UTF8":
            raise StoreError(
                "the database must use the UTF8 encoding to store any Unicode text",
                encoding=None if encoding is None else encoding[0],
            )
        await execute(
            conn,
            "SELECT pg_advisory_xact_lock(hashtext('threadline'), hashtext(%s))",
            (tables.schema_name,),
        )
        # Checked first because CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database.
        if (
            await fetchone(
                conn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (tables.schema_name,)
            )
            is None
        ):
            await execute(conn, f"CREATE SCHEMA {tables.schema}")
        await execute(
            conn,
            f"""CREATE TABLE IF NOT EXISTS {tables.schema_version} (
            version bigint PRIMARY KEY, applied_at double precision NOT NULL)""",
        )
        row = await fetchone(conn, f"SELECT COALESCE(MAX(version), 0) FROM {tables.schema_version}")
        current = 0 if row is None else int(row[0])
        for version, statements in pending(current, MIGRATIONS):
            for statement in statements:
                if isinstance(statement, str):
                    await execute(conn, statement.replace("{s}", tables.schema))
                else:
                    await _run(conn, statement(), tables.schema)
            await execute(
                conn,
                f"INSERT INTO {tables.schema_version} (version, applied_at) VALUES (%s, %s)",
                (version, time.time()),
            )
    return SCHEMA_VERSION


async def check_integrity(conn: AsyncConnection[Any], tables: Tables) -> list[str]:
    problems: list[str] = []
    present = {
        r[0]
        for r in await fetchall(
            conn, "SELECT tablename FROM pg_tables WHERE schemaname = %s", (tables.schema_name,)
        )
    }
    problems += [
        f"missing table {name}" for name in (*UNIQUE_KEYS, "schema_version") if name not in present
    ]
    rows = await fetchall(
        conn,
        """
        SELECT t.relname, i.relname, x.indisunique, x.indisvalid AND x.indisready,
               ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY AS k(n, o)
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n
                     ORDER BY k.o)
        FROM pg_index x
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = %s""",
        (tables.schema_name,),
    )
    unique = {(table, tuple(columns)) for table, _, is_unique, _, columns in rows if is_unique}
    names = {index for _, index, _, _, _ in rows}
    problems += [
        f"index {index} on {table} is not valid" for table, index, _, valid, _ in rows if not valid
    ]
    for table, keys in UNIQUE_KEYS.items():
        if table in present:
            problems += [
                f"missing unique key {table} ({', '.join(key)})"
                for key in keys
                if (table, key) not in unique
            ]
    problems += [f"missing index {name}" for name in INDEXES if name not in names]
    unique_names = {index for _, index, is_unique, _, _ in rows if is_unique}
    problems += [
        f"missing unique index {name}" for name in UNIQUE_INDEXES if name not in unique_names
    ]
    return problems


async def _run(conn: AsyncConnection[Any], op: Op[None], schema: str) -> None:
    """Run a migration's operation (tables named `{s}.x`) on its connection."""
    try:
        statement = next(op)
        while True:
            statement = op.send(await _step(conn, statement, schema))
    except StopIteration:
        return


async def _step(conn: AsyncConnection[Any], statement: Statement, schema: str) -> Any:
    assert isinstance(statement, Sql)
    text = sql_text(statement.text.replace("{s}", schema).replace("?", "%s"))
    if statement.shape == "many":
        if statement.params:
            async with conn.cursor() as cursor:
                await cursor.executemany(text, statement.params)
        return None
    cursor = await conn.execute(text, statement.params)
    return await cursor.fetchall() if statement.shape == "all" else None
