"""A thread's files from the `Thread` handle (each change at once) and from a tool's
`ThreadState` (changes staged, stored with the call's result), on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import threadline as tl
from threadline.testing import FaultPoints, ScriptedModel, tool_call, tool_calls
from threadline.types import ToolResult


def results(items: list[tl.Item]) -> list[ToolResult]:
    return [i.payload for i in items if isinstance(i.payload, ToolResult)]


async def test_every_operation_from_the_thread_handle(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()

    made = await thread.write_file("notes/todo.md", "- eggs\n")
    grown = await thread.append_file("notes/todo.md", b"- milk\n")
    await thread.write_file("notes/old/done.md", "x")
    await thread.write_file("readme.txt", "hi")

    assert made.file_id == grown.file_id and grown.size == 14
    assert await thread.read_file("notes/todo.md") == b"- eggs\n- milk\n"
    assert (await thread.stat_file("notes/todo.md")) == grown
    assert (await thread.stat_file("notes")).kind == "directory"
    assert [(e.path, e.kind) for e in await thread.readdir_file()] == [
        ("notes", "directory"),
        ("readme.txt", "file"),
    ]
    assert [(e.path, e.kind) for e in await thread.readdir_file("notes")] == [
        ("notes/old", "directory"),
        ("notes/todo.md", "file"),
    ]
    assert [f.path for f in await thread.find_files("**/*.md")] == [
        "notes/old/done.md",
        "notes/todo.md",
    ]
    assert [f.path for f in await thread.find_files("*.txt")] == ["readme.txt"]
    assert [f.path for f in await thread.find_files("notes/*/d?ne.md")] == ["notes/old/done.md"]

    moved = await thread.move_file("notes/todo.md", "lists/shopping.md")
    assert (moved.path, moved.file_id) == ("lists/shopping.md", made.file_id)
    assert await thread.delete_file("notes") is True
    assert await thread.delete_file("notes") is False
    assert [f.path for f in await thread.find_files("**")] == ["lists/shopping.md", "readme.txt"]

    with pytest.raises(tl.NotFoundError):
        await thread.read_file("notes/todo.md")
    with pytest.raises(tl.NotFoundError):
        await thread.stat_file("nothing")
    with pytest.raises(tl.NotFoundError):
        await thread.readdir_file("nothing")
    with pytest.raises(tl.InvalidInputError, match="not a directory"):
        await thread.readdir_file("readme.txt")
    with pytest.raises(tl.InvalidInputError, match="is a directory"):
        await thread.read_file("lists")
    with pytest.raises(tl.NotFoundError):
        await thread.move_file("nothing", "b")


async def test_every_worker_sees_the_same_files(make_store: Any) -> None:
    agent = tl.Agent(name="a")
    async with tl.Threadline(agents=[agent], store=make_store(), model=ScriptedModel()) as one:
        thread = await one.threads.start()
        await thread.write_file("shared.txt", "from one")
        async with tl.Threadline(agents=[agent], store=make_store(), model=ScriptedModel()) as two:
            other = await two.threads.resume(thread.id)
            assert await other.read_file("shared.txt") == b"from one"
            await other.append_file("shared.txt", ", and two")
        assert await thread.read_file("shared.txt") == b"from one, and two"


async def test_a_tool_reads_its_own_staged_writes_and_nobody_else_does(make_app: Any) -> None:
    seen: dict[str, Any] = {}
    outside: list[tl.Thread] = []
    written = asyncio.Event()
    checked = asyncio.Event()

    @tl.tool
    async def organize(thread: tl.ThreadState[Any]) -> str:
        """Rearrange the notes."""
        await thread.write_file("notes/a.md", "A")
        await thread.append_file("notes/a.md", "+")
        await thread.append_file("kept.txt", " and more")
        await thread.move_file("old", "archive/old")
        await thread.delete_file("gone.txt")
        seen["a"] = await thread.read_file("notes/a.md")
        seen["kept"] = await thread.read_file("kept.txt")
        seen["moved"] = await thread.read_file("archive/old/x.txt")
        seen["root"] = [(e.path, e.kind) for e in await thread.readdir_file()]
        seen["found"] = [f.path for f in await thread.find_files("**/*.txt")]
        seen["stat"] = (await thread.stat_file("archive")).size
        with pytest.raises(tl.NotFoundError):
            await thread.read_file("gone.txt")
        with pytest.raises(tl.NotFoundError):
            await thread.stat_file("old")
        written.set()
        await checked.wait()
        return "done"

    app, _ = await make_app([tool_call("organize"), "Organized."], tools=[organize])
    thread = await app.threads.start()
    outside.append(thread)
    await thread.write_file("kept.txt", "kept")
    await thread.write_file("old/x.txt", "x")
    await thread.write_file("gone.txt", "g")

    running = asyncio.ensure_future(thread.run("organize"))
    await asyncio.wait_for(written.wait(), 10)
    # While the tool runs, its changes are its own.
    assert [f.path for f in await thread.find_files("**")] == ["gone.txt", "kept.txt", "old/x.txt"]
    assert await thread.read_file("kept.txt") == b"kept"
    checked.set()
    result = await running

    assert result.text == "Organized."
    assert seen == {
        "a": b"A+",
        "kept": b"kept and more",
        "moved": b"x",
        "root": [("archive", "directory"), ("kept.txt", "file"), ("notes", "directory")],
        "found": ["archive/old/x.txt", "kept.txt"],
        "stat": 1,
    }
    assert [f.path for f in await thread.find_files("**")] == [
        "archive/old/x.txt",
        "kept.txt",
        "notes/a.md",
    ]
    assert await thread.read_file("kept.txt") == b"kept and more"
    assert await thread.read_file("notes/a.md") == b"A+"


async def test_a_tool_that_raises_stores_none_of_its_writes(make_app: Any) -> None:
    @tl.tool
    async def careless(thread: tl.ThreadState[Any]) -> str:
        """Write, then fail."""
        await thread.write_file("half.txt", "half")
        await thread.delete_file("keep.txt")
        raise tl.ToolError("it broke")

    @tl.tool
    async def careful(thread: tl.ThreadState[Any]) -> str:
        """Write and succeed."""
        await thread.write_file("whole.txt", "whole")
        return "ok"

    app, _ = await make_app(
        [tool_calls(("careless", {}), ("careful", {})), "Done."], tools=[careless, careful]
    )
    thread = await app.threads.start()
    await thread.write_file("keep.txt", "k")

    result = await thread.run("go")

    assert [r.outcome for r in results(result.items)] == ["error", "success"]
    assert [f.path for f in await thread.find_files("**")] == ["keep.txt", "whole.txt"]


async def test_a_tools_file_ids_are_the_stored_ones(make_app: Any) -> None:
    ids: list[str | None] = []

    @tl.tool
    async def make(thread: tl.ThreadState[Any]) -> str:
        """Make a file."""
        ids.append((await thread.write_file("made.txt", "m")).file_id)
        return "made"

    app, _ = await make_app([tool_call("make"), "Made."], tools=[make])
    thread = await app.threads.start()
    await thread.run("make")
    assert (await thread.stat_file("made.txt")).file_id == ids[0]


async def test_changes_made_outside_meanwhile_are_kept(make_app: Any) -> None:
    """A tool's changes apply to the files as they are when its result is stored: another
    writer's append stays, and a move whose source is gone by then is skipped."""
    started = asyncio.Event()
    go_on = asyncio.Event()

    @tl.tool
    async def log_and_move(thread: tl.ThreadState[Any]) -> str:
        """Append to the log and move the draft."""
        await thread.append_file("log.txt", "tool\n")
        await thread.move_file("draft.txt", "final.txt")
        started.set()
        await go_on.wait()
        return "ok"

    app, _ = await make_app([tool_call("log_and_move"), "Done."], tools=[log_and_move])
    thread = await app.threads.start()
    await thread.write_file("log.txt", "start\n")
    await thread.write_file("draft.txt", "d")

    running = asyncio.ensure_future(thread.run("go"))
    await asyncio.wait_for(started.wait(), 10)
    await thread.append_file("log.txt", "outside\n")
    await thread.delete_file("draft.txt")
    go_on.set()
    result = await running

    assert result.status == "completed"
    assert await thread.read_file("log.txt") == b"start\noutside\ntool\n"
    assert [f.path for f in await thread.find_files("**")] == ["log.txt"]


@pytest.fixture
async def quota_app(make_store: Any) -> AsyncIterator[Callable[..., Any]]:
    opened: list[tl.Threadline] = []

    async def factory(steps: list[Any], tools: list[tl.Tool], quota: int) -> tl.Threadline:
        agent = tl.Agent(name="a", tools=tools)
        app = tl.Threadline(
            agents=[agent], store=make_store(), model=ScriptedModel(steps), file_quota_bytes=quota
        )
        await app.open()
        opened.append(app)
        return app

    yield factory
    for app in opened:
        await app.close()


async def test_the_quota_holds_for_the_thread_and_for_its_tools(quota_app: Any) -> None:
    refused: list[str] = []

    @tl.tool
    async def fill(thread: tl.ThreadState[Any]) -> str:
        """Write until full."""
        await thread.write_file("tool.bin", b"t" * 30)
        try:
            await thread.append_file("tool.bin", b"t" * 31)
        except tl.FileQuotaExceededError as exc:
            refused.append(exc.code)
        return "filled"

    app = await quota_app([tool_call("fill"), "Full."], [fill], 100)
    thread = await app.threads.start()
    await thread.write_file("outside.bin", b"o" * 40)
    with pytest.raises(tl.FileQuotaExceededError):
        await thread.write_file("more.bin", b"m" * 61)
    assert [f.path for f in await thread.find_files("**")] == ["outside.bin"]

    await thread.run("fill")

    assert refused == ["file_quota_exceeded"]
    assert (await thread.stat_file("")).size == 70
    assert await thread.read_file("tool.bin") == b"t" * 30


async def test_a_negative_quota_is_a_configuration_error() -> None:
    with pytest.raises(tl.ConfigurationError):
        tl.Threadline(agents=[tl.Agent(name="a")], store=":memory:", file_quota_bytes=-1)


async def test_a_thread_deleted_takes_its_files_with_it(make_app: Any) -> None:
    app, _ = await make_app()
    gone, kept = await app.threads.start(), await app.threads.start()
    await gone.write_file("a/b.txt", "b" * 300_000)
    await kept.write_file("c.txt", "c")

    await gone.delete()

    store = app.store
    from threadline.store._sql import rows

    files = await store._select(rows("SELECT COUNT(*) FROM {files}"))
    chunks = await store._select(rows("SELECT COUNT(*) FROM {file_chunks}"))
    assert (files[0][0], chunks[0][0]) == (1, 1)
    assert await kept.read_file("c.txt") == b"c"


async def test_files_need_a_running_turn_in_a_bare_thread_state() -> None:
    state = tl.ThreadState[Any](
        thread_id="thr_x",
        turn_id="turn_x",
        tool_call_id="call_x",
        user_id=None,
        items=[],
        state={},
        state_type=None,
    )
    with pytest.raises(tl.ConfigurationError):
        await state.read_file("a.txt")


async def test_file_data_must_be_bytes_or_text(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    with pytest.raises(tl.InvalidInputError):
        await thread.write_file("a.txt", 12)  # type: ignore[arg-type]
    with pytest.raises(tl.InvalidInputError, match="surrogate"):
        await thread.write_file("a.txt", "\ud800")
    assert await thread.readdir_file() == []


async def test_a_tool_sees_what_an_earlier_step_wrote(make_app: Any) -> None:
    read: list[bytes] = []

    @tl.tool
    async def save(text: str, thread: tl.ThreadState[Any]) -> str:
        """Save text."""
        await thread.write_file("saved.txt", text)
        return "saved"

    @tl.tool
    async def load(thread: tl.ThreadState[Any]) -> str:
        """Load the text."""
        read.append(await thread.read_file("saved.txt"))
        return "loaded"

    app, _ = await make_app(
        [tool_call("save", {"text": "kept"}), tool_call("load"), "Done."], tools=[save, load]
    )
    thread = await app.threads.start()
    await thread.run("save, then load")
    assert read == [b"kept"]


async def test_a_turn_that_fails_before_storing_results_stores_each_with_its_files(
    make_store: Any,
) -> None:
    """The turn ends at a fault right before the step's commit: a finished call's result is
    stored with its file changes, in the turn's last write; a call that raised has neither."""

    @tl.tool
    async def good(thread: tl.ThreadState[Any]) -> str:
        """Write and succeed."""
        await thread.write_file("good.txt", "g")
        return "ok"

    @tl.tool
    async def bad(thread: tl.ThreadState[Any]) -> str:
        """Write and fail."""
        await thread.write_file("bad.txt", "b")
        raise RuntimeError("no")

    faults = FaultPoints().arm("before_tool_commit", "raise")
    agent = tl.Agent(name="a", tools=[good, bad])
    model = ScriptedModel([tool_calls(("good", {}), ("bad", {}))])
    async with tl.Threadline(agents=[agent], store=make_store(), model=model, faults=faults) as app:
        thread = await app.threads.start()
        with pytest.raises(tl.TurnFailedError):
            await thread.run("go")

        outcomes = {r.name: r.outcome for r in results(await thread.items())}
        assert outcomes == {"good": "success", "bad": "error"}
        assert [f.path for f in await thread.find_files("**")] == ["good.txt"]
