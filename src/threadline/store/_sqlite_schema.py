from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ._migrate_v6 import copy_to_v6
from ._schema_version import pending
from ._sql import Op, Sql, Statement, drive

# The columns of `threads` at schema version 3, copied by the rebuild of version 4.
_THREAD_COLUMNS = (
    "thread_id, key, user_id, resource_id, agent, mode, status, parent_id, state, metadata, "
    "created_at, updated_at, active_turn_id, last_item_seq, last_event_seq, turn_count, "
    "lease_owner, lease_epoch, lease_expires_at, wake_at"
)
# What makes a keyed thread unique. NULL `user_id` is an owner of its own, distinct from
# every user including "" (a NULL would make every row distinct; COALESCE alone would
# merge NULL with "").
OWNER_KEY = "(key, COALESCE('user:' || user_id, ''))"

_THREAD_DECLARATIONS = """key TEXT,
            user_id TEXT,
            resource_id TEXT,
            agent TEXT NOT NULL,
            mode TEXT,
            status TEXT NOT NULL,
            parent_id TEXT,
            state TEXT,
            metadata TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            active_turn_id TEXT,
            last_item_seq INTEGER NOT NULL DEFAULT 0,
            last_event_seq INTEGER NOT NULL DEFAULT 0,
            turn_count INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_epoch INTEGER NOT NULL DEFAULT 0,
            lease_expires_at REAL,
            wake_at REAL"""
_THREAD_INDEXES = (
    "CREATE INDEX threads_by_time ON threads (created_at DESC, thread_id DESC)",
    "CREATE INDEX threads_by_user ON threads (user_id, created_at DESC, thread_id DESC)",
    "CREATE INDEX threads_leased ON threads (lease_expires_at) WHERE lease_owner IS NOT NULL",
    "CREATE INDEX threads_waking ON threads (wake_at) WHERE wake_at IS NOT NULL",
    f"CREATE UNIQUE INDEX threads_one_per_owner_key ON threads {OWNER_KEY}",
)
# A step of a migration: a statement, or a data conversion run as an operation (see `_sql`).
Step = str | Callable[[], Op[None]]

# Each migration is applied in the same transaction as the row that records it.
MIGRATIONS: tuple[tuple[int, tuple[Step, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE threads (
            thread_id TEXT PRIMARY KEY,
            key TEXT UNIQUE,
            user_id TEXT,
            resource_id TEXT,
            agent TEXT NOT NULL,
            mode TEXT,
            status TEXT NOT NULL,
            parent_id TEXT,
            state TEXT,
            metadata TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            active_turn_id TEXT,
            last_item_seq INTEGER NOT NULL DEFAULT 0,
            last_event_seq INTEGER NOT NULL DEFAULT 0,
            turn_count INTEGER NOT NULL DEFAULT 0
        )""",
            "CREATE INDEX threads_by_time ON threads (created_at DESC, thread_id DESC)",
            "CREATE INDEX threads_by_user ON threads (user_id, created_at DESC, thread_id DESC)",
            """CREATE TABLE turns (
            turn_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            status TEXT NOT NULL,
            input TEXT NOT NULL,
            sender TEXT,
            client_key TEXT,
            usage TEXT NOT NULL,
            steps INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            completed_at REAL,
            UNIQUE (thread_id, number),
            UNIQUE (thread_id, client_key)
        )""",
            """CREATE TABLE items (
            thread_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            item_id TEXT NOT NULL UNIQUE,
            turn_id TEXT,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            call_id TEXT,
            content TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (thread_id, seq)
        ) WITHOUT ROWID""",
            """CREATE UNIQUE INDEX items_one_per_call
            ON items (thread_id, type, call_id) WHERE call_id IS NOT NULL""",
            """CREATE TABLE events (
            thread_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            turn_id TEXT,
            item_id TEXT,
            type TEXT NOT NULL,
            params TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (thread_id, seq)
        ) WITHOUT ROWID""",
            """CREATE TABLE inbox (
            entry_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            input TEXT NOT NULL,
            sender TEXT,
            client_key TEXT,
            created_at REAL NOT NULL,
            UNIQUE (thread_id, position),
            UNIQUE (thread_id, client_key)
        )""",
        ),
    ),
    (
        2,
        (
            "ALTER TABLE threads ADD COLUMN lease_owner TEXT",
            "ALTER TABLE threads ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE threads ADD COLUMN lease_expires_at REAL",
            "ALTER TABLE threads ADD COLUMN wake_at REAL",
            """CREATE INDEX threads_leased ON threads (lease_expires_at)
            WHERE lease_owner IS NOT NULL""",
            "CREATE INDEX threads_waking ON threads (wake_at) WHERE wake_at IS NOT NULL",
            "ALTER TABLE turns ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE inbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'input'",
            """CREATE TABLE tool_calls (
            thread_id TEXT NOT NULL,
            tool_call_id TEXT NOT NULL,
            turn_id TEXT NOT NULL,
            state TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (thread_id, tool_call_id)
        ) WITHOUT ROWID""",
            """CREATE TABLE timers (
            timer_id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            due_at REAL NOT NULL,
            kind TEXT NOT NULL,
            input TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            fired_at REAL
        )""",
            "CREATE INDEX timers_due ON timers (due_at) WHERE status = 'pending'",
            "CREATE INDEX timers_by_thread ON timers (thread_id, due_at)",
        ),
    ),
    (3, ("ALTER TABLE turns ADD COLUMN options TEXT NOT NULL DEFAULT '{}'",)),
    (
        4,
        # A key names a thread of its owner: unique per (user_id, key), not across users.
        # SQLite drops a column's UNIQUE only by rebuilding the table.
        (
            """CREATE TABLE threads_v4 (
            thread_id TEXT PRIMARY KEY,
            key TEXT,
            user_id TEXT,
            resource_id TEXT,
            agent TEXT NOT NULL,
            mode TEXT,
            status TEXT NOT NULL,
            parent_id TEXT,
            state TEXT,
            metadata TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            active_turn_id TEXT,
            last_item_seq INTEGER NOT NULL DEFAULT 0,
            last_event_seq INTEGER NOT NULL DEFAULT 0,
            turn_count INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_epoch INTEGER NOT NULL DEFAULT 0,
            lease_expires_at REAL,
            wake_at REAL
        )""",
            f"INSERT INTO threads_v4 ({_THREAD_COLUMNS}) SELECT {_THREAD_COLUMNS} FROM threads",
            "DROP TABLE threads",
            "ALTER TABLE threads_v4 RENAME TO threads",
            "CREATE INDEX threads_by_time ON threads (created_at DESC, thread_id DESC)",
            "CREATE INDEX threads_by_user ON threads (user_id, created_at DESC, thread_id DESC)",
            """CREATE INDEX threads_leased ON threads (lease_expires_at)
            WHERE lease_owner IS NOT NULL""",
            "CREATE INDEX threads_waking ON threads (wake_at) WHERE wake_at IS NOT NULL",
            f"CREATE UNIQUE INDEX threads_one_per_owner_key ON threads {OWNER_KEY}",
        ),
    ),
    (5, ("ALTER TABLE turns ADD COLUMN running_seconds REAL NOT NULL DEFAULT 0",)),
    (
        6,
        # Rows keyed by the thread's number, ids packed, tool call states on the call items,
        # the event log kept as blocks beside the rows it is rebuilt from (`_event_log`).
        (
            f"""CREATE TABLE threads_v6 (
            tkey INTEGER PRIMARY KEY,
            thread_id TEXT NOT NULL UNIQUE,
            {_THREAD_DECLARATIONS}
        )""",
            f"INSERT INTO threads_v6 ({_THREAD_COLUMNS}) SELECT {_THREAD_COLUMNS} FROM threads "
            "ORDER BY created_at, thread_id",
            "DROP TABLE threads",
            "ALTER TABLE threads_v6 RENAME TO threads",
            *_THREAD_INDEXES,
            """CREATE TABLE turns_v6 (
            tkey INTEGER NOT NULL,
            number INTEGER NOT NULL,
            turn_id BLOB NOT NULL,
            status TEXT NOT NULL,
            input TEXT,
            input_seq INTEGER,
            sender TEXT,
            client_key TEXT,
            usage TEXT NOT NULL,
            steps INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            completed_at REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            options TEXT NOT NULL DEFAULT '{}',
            running_seconds REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (tkey, number)
        ) WITHOUT ROWID""",
            # Small columns first: a scan for blocks reads no content.
            """CREATE TABLE items_v6 (
            tkey INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            event_seq INTEGER,
            turn INTEGER,
            type INTEGER NOT NULL,
            status INTEGER NOT NULL,
            tool_state INTEGER,
            created_at REAL NOT NULL,
            item_id BLOB NOT NULL,
            call_id TEXT,
            events TEXT,
            content TEXT NOT NULL,
            PRIMARY KEY (tkey, seq)
        ) WITHOUT ROWID""",
            """CREATE TABLE events_v6 (
            tkey INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            turn INTEGER,
            events TEXT NOT NULL,
            PRIMARY KEY (tkey, seq)
        ) WITHOUT ROWID""",
            copy_to_v6,
            "DROP TABLE turns",
            "DROP TABLE items",
            "DROP TABLE events",
            "DROP TABLE tool_calls",
            "ALTER TABLE turns_v6 RENAME TO turns",
            "ALTER TABLE items_v6 RENAME TO items",
            "ALTER TABLE events_v6 RENAME TO events",
            "CREATE UNIQUE INDEX turns_by_id ON turns (turn_id)",
            """CREATE UNIQUE INDEX turns_one_per_client_key ON turns (tkey, client_key)
            WHERE client_key IS NOT NULL""",
            "CREATE UNIQUE INDEX items_by_id ON items (item_id)",
            """CREATE UNIQUE INDEX items_one_per_call
            ON items (tkey, type, call_id) WHERE call_id IS NOT NULL""",
        ),
    ),
    (
        7,
        (
            # A thread's files (`_ops_files`): a row per file, its content in chunks. The
            # chunks are a rowid table: SQLite keeps large rows poorly without one.
            """CREATE TABLE files (
            tkey INTEGER NOT NULL,
            path TEXT NOT NULL,
            file_id TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (tkey, path)
        ) WITHOUT ROWID""",
            "CREATE UNIQUE INDEX files_by_id ON files (file_id)",
            """CREATE TABLE file_chunks (
            tkey INTEGER NOT NULL,
            file_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (tkey, file_id, number)
        )""",
            # The environment (`_ops_env`): a value per scope, owner and name, a secret's as
            # its ciphertext; and the children of a thread, which its values reach.
            """CREATE TABLE env (
            scope TEXT NOT NULL,
            owner TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (scope, owner, name)
        ) WITHOUT ROWID""",
            "CREATE INDEX threads_by_parent ON threads (parent_id) WHERE parent_id IS NOT NULL",
            # (end of the environment)
        ),
    ),
    (
        8,
        # Child threads (`_ops_family`): a child's name within its parent, unique there, and
        # the parent's turn that started it.
        (
            "ALTER TABLE threads ADD COLUMN reference_id TEXT",
            "ALTER TABLE threads ADD COLUMN parent_turn_id TEXT",
            """CREATE UNIQUE INDEX threads_one_per_reference ON threads (parent_id, reference_id)
            WHERE reference_id IS NOT NULL""",
        ),
    ),
    (
        9,
        # Step records (`_ops_steps`): one per model call or tool batch of a turn, written
        # with the step's items, keyed like the turn's items by the thread's number; codes
        # and packed ids, as items hold them.
        (
            """CREATE TABLE steps (
            tkey INTEGER NOT NULL,
            turn INTEGER NOT NULL,
            number INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            status INTEGER NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL,
            step_id BLOB NOT NULL,
            usage TEXT NOT NULL,
            item_ids BLOB NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (tkey, turn, number)
        ) WITHOUT ROWID""",
        ),
    ),
    (
        10,
        # Observational memory (`_ops_memory`): dated observations per resource or thread and
        # memory namespace, and how far each thread's history is observed.
        (
            """CREATE TABLE observations (
            observation_id TEXT PRIMARY KEY,
            scope TEXT NOT NULL,
            owner TEXT NOT NULL,
            namespace TEXT NOT NULL,
            text TEXT NOT NULL,
            observed_at REAL NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            source_thread_id TEXT
        ) WITHOUT ROWID""",
            """CREATE INDEX observations_by_owner
            ON observations (scope, owner, namespace, observed_at)""",
            """CREATE TABLE thread_memory (
            thread_id TEXT PRIMARY KEY,
            namespace TEXT NOT NULL,
            observed_through INTEGER NOT NULL
        ) WITHOUT ROWID""",
        ),
    ),
    (
        11,
        # Trace spans (`_ops_spans`): one per traced step of a turn, written with the step,
        # keyed like the turn's steps by the thread's number; pruned by when they ended.
        (
            """CREATE TABLE spans (
            tkey INTEGER NOT NULL,
            turn INTEGER NOT NULL,
            span_id TEXT NOT NULL,
            parent_id TEXT,
            trace_id TEXT NOT NULL,
            name TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL,
            status TEXT NOT NULL,
            attributes TEXT NOT NULL,
            events TEXT NOT NULL,
            PRIMARY KEY (tkey, turn, span_id)
        ) WITHOUT ROWID""",
            "CREATE INDEX spans_by_end ON spans (ended_at)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to `SCHEMA_VERSION`; refuse one written by a newer threadline."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)""")
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        current = int(row[0])
        for version, statements in pending(current, MIGRATIONS):
            for statement in statements:
                if isinstance(statement, str):
                    conn.execute(statement)
                else:
                    drive(statement(), functools.partial(_execute, conn))
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def _execute(conn: sqlite3.Connection, statement: Statement) -> Any:
    """Run a statement of a migration's operation (tables named `{s}.x`)."""
    assert isinstance(statement, Sql)
    sql = statement.text.replace("{s}.", "")
    if statement.shape == "many":
        conn.executemany(sql, statement.params)
        return None
    found = conn.execute(sql, statement.params).fetchall()
    return found if statement.shape == "all" else None
