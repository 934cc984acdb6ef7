"""A database changed outside threadline, or damaged, is read as `CorruptDataError` (a
`StoreError`) naming the table and the row, never quoting what the row holds: on both stores,
through the public API, for rows that hold invalid JSON or a shape threadline never wrote, and on
SQLite for text that is not UTF-8 and for a damaged page."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline.store._compact import pack_id
from threadline.testing import ScriptedModel, tool_call

SECRET = "hunter2-secret"
StoreFactory = Callable[[], tl.Store]


class Stored:
    """A thread with one tool-using turn, stored and closed; then raw SQL on its database."""

    def __init__(self, make_store: StoreFactory, weather_tool: tl.Tool) -> None:
        self.make_store = make_store
        self.agent = tl.Agent(name="assistant", tools=[weather_tool])
        self.thread_id = ""
        self.items: list[tl.Item] = []
        self.turn_id = ""

    async def create(self) -> None:
        model = ScriptedModel([tool_call("get_weather", {"city": "Oslo"}), "Mild."])
        async with tl.Threadline(agents=[self.agent], store=self.make_store(), model=model) as app:
            thread = await app.threads.start(user_id="ann", metadata={"topic": SECRET})
            await thread.run("Weather in Oslo?")
            self.thread_id = thread.id
            self.items = await thread.items()
            self.turn_id = (await thread.turns())[0].turn_id

    def item_id(self, item_type: str) -> str:
        return next(i.item_id for i in self.items if i.type == item_type)

    async def execute(self, sql: str, *params: Any) -> None:
        """Run `sql` (tables written `{t}items`) on the store's database, outside threadline."""
        store = self.make_store()
        if isinstance(store, tl.SQLiteStore):
            with sqlite3.connect(store.path) as conn:
                conn.execute(sql.format(t=""), params)
            conn.close()
            return
        import psycopg

        schema: str = store.schema  # type: ignore[attr-defined]
        url: str = store.url  # type: ignore[attr-defined]
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(sql.format(t=f'"{schema}".').replace("?", "%s"), params)  # type: ignore[arg-type]

    async def read(self, reading: Callable[[tl.Threadline, tl.Thread], Awaitable[object]]) -> None:
        async with tl.Threadline(
            agents=[self.agent], store=self.make_store(), model=ScriptedModel([])
        ) as app:
            await reading(app, await app.threads.resume(self.thread_id))


@pytest.fixture
async def stored(make_store: StoreFactory, weather_tool: tl.Tool) -> Stored:
    made = Stored(make_store, weather_tool)
    await made.create()
    return made


async def every_item(app: tl.Threadline, thread: tl.Thread) -> list[dict[str, Any]]:
    """The thread's items, each one used: an item read from a store decodes on first use."""
    return [i.to_dict() for i in await thread.items()]


def assert_names_the_row(
    raised: pytest.ExceptionInfo[tl.CorruptDataError], table: str, row: str
) -> None:
    error = raised.value
    assert isinstance(error, tl.StoreError)
    assert error.code == "corrupt_data"
    assert (error.context["table"], error.context["row_id"]) == (table, row)
    assert f"the {table} row {row} cannot be read" in error.message
    assert SECRET not in str(error) and "Oslo" not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


async def test_an_item_with_invalid_json_is_a_corrupt_data_error(stored: Stored) -> None:
    item_id = stored.item_id("tool_result")
    await stored.execute(
        "UPDATE {t}items SET content = ? WHERE item_id = ?",
        f'{{"output": "{SECRET}',
        pack_id("item", item_id),
    )

    with pytest.raises(tl.CorruptDataError) as raised:
        await stored.read(every_item)
    assert_names_the_row(raised, "items", item_id)
    assert "invalid JSON" in raised.value.message
    with pytest.raises(tl.CorruptDataError) as replayed:  # the log refers to the item
        await stored.read(lambda app, thread: thread.events())
    assert_names_the_row(replayed, "items", item_id)


async def test_an_item_of_an_unknown_type_is_a_corrupt_data_error(stored: Stored) -> None:
    item_id = stored.item_id("agent_message")
    await stored.execute(
        "UPDATE {t}items SET type = 99 WHERE item_id = ?", pack_id("item", item_id)
    )

    with pytest.raises(tl.CorruptDataError) as raised:
        await stored.read(every_item)
    assert_names_the_row(raised, "items", item_id)
    assert "is not what threadline stores" in raised.value.message


async def test_threads_turns_and_events_with_invalid_json_name_their_rows(stored: Stored) -> None:
    await stored.execute(
        "UPDATE {t}turns SET usage = ? WHERE turn_id = ?", "[", pack_id("turn", stored.turn_id)
    )
    with pytest.raises(tl.CorruptDataError) as turns:
        await stored.read(lambda app, thread: thread.turns())
    assert_names_the_row(turns, "turns", stored.turn_id)

    # The log's first block (seqs 1 to 3) is kept on the turn's first item.
    await stored.execute(
        "UPDATE {t}items SET events = ? WHERE event_seq = 1 AND tkey = "
        "(SELECT tkey FROM {t}threads WHERE thread_id = ?)",
        f"{{{SECRET}",
        stored.thread_id,
    )
    with pytest.raises(tl.CorruptDataError) as events:
        await stored.read(lambda app, thread: thread.events())
    assert_names_the_row(events, "events", f"{stored.thread_id} seq 1")

    await stored.execute(
        "UPDATE {t}threads SET metadata = ? WHERE thread_id = ?",
        f'{{"topic": {SECRET}}}',
        stored.thread_id,
    )
    with pytest.raises(tl.CorruptDataError) as resumed:
        await stored.read(lambda app, thread: thread.reload())
    assert_names_the_row(resumed, "threads", stored.thread_id)
    with pytest.raises(tl.CorruptDataError) as listed:
        await stored.read(lambda app, thread: app.threads.list(user_id="ann"))
    assert_names_the_row(listed, "threads", stored.thread_id)


async def test_a_write_that_reads_a_corrupt_row_back_fails_the_same_way(stored: Stored) -> None:
    async def corrupt_then_write(app: tl.Threadline, thread: tl.Thread) -> object:
        await stored.execute(
            "UPDATE {t}threads SET state = ? WHERE thread_id = ?", f"[{SECRET}", thread.id
        )
        return await thread.set_metadata({"topic": "new"})  # reads the row back

    with pytest.raises(tl.CorruptDataError) as raised:
        await stored.read(corrupt_then_write)
    assert_names_the_row(raised, "threads", stored.thread_id)


# -- SQLite: text that is not UTF-8, and a damaged page ----------------------------------------

NOT_UTF8 = f'{{"text": "{SECRET} \xff\xfe"}}'.encode("latin-1")


@pytest.fixture
async def on_sqlite(db_path: Path, weather_tool: tl.Tool) -> Stored:
    made = Stored(lambda: tl.SQLiteStore(db_path), weather_tool)
    await made.create()
    return made


async def test_an_item_that_is_not_utf8_names_its_row_and_column(on_sqlite: Stored) -> None:
    item_id = on_sqlite.item_id("agent_message")
    await on_sqlite.execute(
        "UPDATE {t}items SET content = CAST(? AS TEXT) WHERE item_id = ?",
        NOT_UTF8,
        pack_id("item", item_id),
    )

    with pytest.raises(tl.CorruptDataError) as raised:
        await on_sqlite.read(lambda app, thread: thread.items())
    assert_names_the_row(raised, "items", item_id)
    assert "not UTF-8 in its content column" in raised.value.message
    with pytest.raises(tl.CorruptDataError) as replayed:
        await on_sqlite.read(lambda app, thread: thread.events())
    assert "not UTF-8 in its content column" in replayed.value.message
    assert SECRET not in str(replayed.value)


async def test_a_plain_text_column_that_is_not_utf8_names_its_row(on_sqlite: Stored) -> None:
    await on_sqlite.execute(
        "UPDATE {t}threads SET user_id = CAST(? AS TEXT) WHERE thread_id = ?",
        SECRET.encode() + b"\xc3\x28",
        on_sqlite.thread_id,
    )

    with pytest.raises(tl.CorruptDataError) as listed:
        await on_sqlite.read(lambda app, thread: app.threads.list())
    assert_names_the_row(listed, "threads", on_sqlite.thread_id)
    assert "user_id column" in listed.value.message


async def test_a_write_reading_text_that_is_not_utf8_does_not_quote_it(on_sqlite: Stored) -> None:
    async def corrupt_then_write(app: tl.Threadline, thread: tl.Thread) -> object:
        await on_sqlite.execute(
            "UPDATE {t}threads SET state = CAST(? AS TEXT) WHERE thread_id = ?", NOT_UTF8, thread.id
        )
        return await thread.set_metadata({"topic": "new"})  # reads the row back

    with pytest.raises(tl.CorruptDataError) as raised:
        await on_sqlite.read(corrupt_then_write)
    assert_names_the_row(raised, "threads", on_sqlite.thread_id)
    assert "not UTF-8 in its state column" in raised.value.message


async def test_a_damaged_page_is_a_corrupt_data_error(on_sqlite: Stored, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'items'").fetchone()[0]
    conn.close()
    with db_path.open("r+b") as file:  # the items table's first page, overwritten
        file.seek((root - 1) * page_size)
        file.write(b"\x0d" + b"\xee" * (page_size - 1))

    with pytest.raises(tl.CorruptDataError) as raised:
        await on_sqlite.read(lambda app, thread: thread.items())
    assert "the database file is damaged" in raised.value.message
    assert raised.value.__cause__ is None
