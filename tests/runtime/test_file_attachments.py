"""Files attached to input: only a file of the thread itself, loaded into the model's request
(not stored in the item), and copied when it goes from one thread to another."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.models import ModelRequest
from threadline.models._chat_format import chat_messages
from threadline.runtime import copy_attachment
from threadline.testing import eventually, tool_call
from threadline.types import FilePart, TextPart, UserMessage


def attach(info: tl.FileInfo, text: str = "Read this") -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}, {"type": "file", "file_id": info.file_id}]


async def test_an_attached_file_reaches_the_models_request(make_app: Any) -> None:
    app, model = await make_app(["Two items."])
    thread = await app.threads.start()
    info = await thread.write_file("lists/shopping.md", "- eggs\n- milk\n")
    assert info.file_id is not None

    result = await thread.run(attach(info, "What is on the list?"))

    assert result.text == "Two items."
    (request,) = model.requests
    sent = request.files[info.file_id]
    assert (sent.path, sent.media_type, sent.data) == (
        "lists/shopping.md",
        "text/markdown",
        b"- eggs\n- milk\n",
    )
    assert chat_messages(request)[-1]["content"][1] == {
        "type": "text",
        "text": "[attached file: lists/shopping.md]\n- eggs\n- milk\n",
    }
    # The item keeps a reference, with the file's path, never the content.
    (user,) = [i.payload for i in await thread.items() if isinstance(i.payload, UserMessage)]
    assert user.content[1] == FilePart(file_id=info.file_id, filename="lists/shopping.md")
    turn = (await thread.turns())[0]
    assert turn.input[1] == {
        "type": "file",
        "file_id": info.file_id,
        "filename": "lists/shopping.md",
    }


async def test_the_model_sees_an_attached_file_as_it_is_now(make_app: Any) -> None:
    @tl.tool
    async def fix(thread: tl.ThreadState[Any]) -> str:
        """Fix the draft."""
        await thread.write_file("draft.txt", "fixed")
        return "fixed"

    app, model = await make_app([tool_call("fix"), "Fixed.", "Gone."], tools=[fix])
    thread = await app.threads.start()
    info = await thread.write_file("draft.txt", "broken")
    assert info.file_id is not None

    await thread.run(attach(info, "Fix it"))
    await thread.delete_file("draft.txt")
    await thread.run("And now?")

    first, second, third = model.requests
    assert first.files[info.file_id].data == b"broken"
    assert second.files[info.file_id].data == b"fixed"  # the tool changed it in the turn
    assert third.files == {}  # deleted: named to the model, not shown
    assert chat_messages(third)[1]["content"][1] == {
        "type": "text",
        "text": "[attached file: draft.txt]",
    }


@pytest.mark.parametrize("whose", ["unknown", "another thread's"])
async def test_only_a_file_of_the_thread_can_be_attached(make_app: Any, whose: str) -> None:
    app, _ = await make_app()
    thread, other = await app.threads.start(), await app.threads.start()
    foreign = await other.write_file("secret.txt", "not yours")
    file_id = "file_0000000000nothing00000000" if whose == "unknown" else foreign.file_id
    part = {"type": "file", "file_id": file_id}

    with pytest.raises(tl.NotFoundError) as refused:
        await thread.run(["Read this", part])
    with pytest.raises(tl.NotFoundError):
        await thread.enqueue(["Read this", part])
    with pytest.raises(tl.NotFoundError):
        await thread.queue_message(["Read this", part])
    with pytest.raises(tl.NotFoundError):
        await thread.inject_message(["Read this", part])
    kept = await thread.inject_message("Read this")
    with pytest.raises(tl.NotFoundError):
        await thread.update_message(kept.item_id, ["Read this", part])

    assert refused.value.message == f"no file {file_id!r} in the thread"
    assert await thread.turns() == []
    assert [i.text for i in await thread.items() if i.type == "user_message"] == ["Read this"]
    assert (await thread.get_message_versions(kept.item_id))[-1].text == "Read this"
    assert await thread.inbox() == []


async def test_threads_without_attachments_read_no_files(make_app: Any) -> None:
    app, model = await make_app(["One.", "Two."])
    thread = await app.threads.start()
    await thread.write_file("unrelated.txt", "u")
    reads: list[str] = []
    store = app.store
    for name in ("stat_files", "read_files"):
        original = getattr(store, name)

        async def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            reads.append(_name)
            return await _original(*args)

        setattr(store, name, counted)

    await thread.run("Hello")
    await thread.run("Again")

    assert reads == []
    assert [r.files for r in model.requests] == [{}, {}]


async def test_a_file_attached_across_threads_is_copied(make_app: Any) -> None:
    app, model = await make_app(["Seen."])
    parent, child = await app.threads.start(), await app.threads.start()
    source = await parent.write_file("reports/q3.md", "revenue up")
    await child.write_file("reports/q3.md", "the child's own")
    assert source.file_id is not None

    copied = await copy_attachment(
        app._engine,
        FilePart(file_id=source.file_id, filename="q3.md"),
        parent.id,
        child.id,
    )

    assert copied.filename == "reports/q3-2.md"
    assert copied.file_id != source.file_id
    assert await child.read_file("reports/q3-2.md") == b"revenue up"
    assert await child.read_file("reports/q3.md") == b"the child's own"
    await child.run(["Look", {"type": "file", "file_id": copied.file_id}])
    assert model.requests[0].files[copied.file_id].data == b"revenue up"
    # The copy is the child's own: changing it leaves the parent's alone.
    await child.write_file("reports/q3-2.md", "edited")
    assert await parent.read_file("reports/q3.md") == b"revenue up"
    with pytest.raises(tl.NotFoundError):
        await copy_attachment(
            app._engine,
            FilePart(file_id=copied.file_id),
            parent.id,  # the copy is not the parent's
            child.id,
        )


def test_a_request_without_files_names_the_attachment() -> None:
    request = ModelRequest(instructions=None, items=[])
    assert request.files == {}


async def test_queued_input_runs_even_if_its_file_was_deleted_meanwhile(make_app: Any) -> None:
    release = asyncio.Event()

    @tl.tool
    async def wait() -> str:
        """Wait a while."""
        await release.wait()
        return "waited"

    app, model = await make_app([tool_call("wait"), "Waited.", "Read."], tools=[wait])
    thread = await app.threads.start()
    info = await thread.write_file("later.txt", "later")
    running = asyncio.ensure_future(thread.run("wait"))
    await eventually(lambda: thread.turns(), within=10)

    await thread.enqueue(attach(info, "Then read this"))
    await thread.delete_file("later.txt")
    release.set()
    await running

    turns = await eventually(lambda: _all_completed(thread, 2), within=10)
    assert len(turns) == 2
    assert model.requests[-1].files == {}
    assert model.requests[-1].items[-1].payload == UserMessage(
        content=(
            TextPart(text="Then read this"),
            FilePart(file_id=info.file_id or "", filename="later.txt"),
        )
    )


async def _all_completed(thread: tl.Thread, count: int) -> list[tl.TurnRecord] | None:
    turns = await thread.turns()
    return turns if len(turns) == count and all(t.status == "completed" for t in turns) else None


async def test_scheduled_input_may_attach_only_a_file_of_the_thread(make_app: Any) -> None:
    app, _ = await make_app()
    thread, other = await app.threads.start(), await app.threads.start()
    mine = await thread.write_file("mine.txt", "m")
    foreign = await other.write_file("theirs.txt", "t")

    with pytest.raises(tl.NotFoundError):
        await thread.schedule(attach(foreign), delay=60)
    timer = await thread.schedule(attach(mine), delay=60)

    assert timer.input[1] == {"type": "file", "file_id": mine.file_id, "filename": "mine.txt"}
    assert [t.timer_id for t in await thread.scheduled()] == [timer.timer_id]


async def test_a_tool_attaches_a_file_it_has_just_written(make_app: Any) -> None:
    @tl.tool
    async def report(thread: tl.ThreadState[Any]) -> str:
        """Write the report and hand it over."""
        info = await thread.write_file("report.md", "# Q3\nAll good.\n")
        await thread.inject_message(attach(info, "The report:"))
        await thread.queue_message(attach(info, "Summarize the report."))
        other = await thread.write_file("scratch.txt", "x")
        await thread.delete_file("scratch.txt")  # written, then gone: not attachable
        try:
            await thread.inject_message(attach(other))
        except tl.NotFoundError:
            return "reported"
        return "attached a deleted file"

    app, model = await make_app([tool_call("report"), "Reported."], tools=[report])
    thread = await app.threads.start()

    await thread.run("Write the report")

    results = [i.payload.output for i in await thread.items() if i.type == "tool_result"]
    assert results == ["reported"]
    (info,) = await thread.find_files("**")
    assert info.path == "report.md" and info.file_id is not None
    # The model reads the file with the injected message and the queued one (which joined
    # the turn before its next step).
    request = model.requests[1]
    assert request.files[info.file_id].data == b"# Q3\nAll good.\n"
    attaching = [i.text for i in request.items if i.type == "user_message"]
    assert attaching == ["Write the report", "The report:", "Summarize the report."]
