from __future__ import annotations

from typing import Any

import pytest

import threadline as tl


async def test_start_resume_and_get_or_create(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start(user_id="ann", metadata={"topic": "trip"})

    resumed = await app.threads.resume(thread.id)
    reused = await app.threads.get_or_create(user_id="ann")
    other = await app.threads.get_or_create(user_id="bob")

    assert resumed.record == thread.record
    assert reused.id == thread.id
    assert other.id != thread.id
    assert other.user_id == "bob"
    assert thread.record.metadata == {"topic": "trip"}
    with pytest.raises(tl.NotFoundError):
        await app.threads.resume("thr_missing")


async def test_a_key_names_one_thread_of_its_owner(make_app: Any) -> None:
    app, _ = await make_app()
    one = await app.threads.start(key="slack:C1:T1")
    two = await app.threads.start(key="slack:C1:T1")
    anns = await app.threads.start(key="slack:C1:T1", user_id="ann", metadata={"secret": 1})
    bobs = await app.threads.start(key="slack:C1:T1", user_id="bob")

    assert one.id == two.id
    assert len({one.id, anns.id, bobs.id}) == 3
    assert (bobs.user_id, bobs.record.metadata) == ("bob", {})
    assert (await app.threads.start(key="slack:C1:T1", user_id="ann")).id == anns.id


async def test_list_is_paged_newest_first_and_filtered(make_app: Any) -> None:
    app, _ = await make_app()
    made = [await app.threads.start(user_id="ann" if n % 2 else "bob") for n in range(7)]
    await made[-1].archive()

    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await app.threads.list(limit=2, cursor=cursor)
        pages.append([t.id for t in page.threads])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [i for p in pages for i in p] == [t.id for t in reversed(made[:-1])]
    assert [len(p) for p in pages] == [2, 2, 2]
    anns = await app.threads.list(user_id="ann")
    assert {t.id for t in anns.threads} == {t.id for t in made[1::2] if t is not made[-1]}
    archived = await app.threads.list(status="archived")
    assert [t.id for t in archived.threads] == [made[-1].id]
    with pytest.raises(tl.InvalidInputError):
        await app.threads.list(cursor="garbage")
    with pytest.raises(tl.InvalidInputError):
        await app.threads.list(limit=0)


async def test_a_page_of_threads_is_a_sequence_of_threads(make_app: Any) -> None:
    app, _ = await make_app()
    made = [await app.threads.start(user_id="me") for _ in range(3)]

    page = await app.threads.list(user_id="me", limit=2)

    assert [t.id for t in page] == [made[2].id, made[1].id]
    assert len(page) == 2
    assert page[0].id == made[2].id
    assert [t.id for t in page[-1:]] == [made[1].id]
    assert made[2].id in {t.id for t in page}
    rest = await app.threads.list(user_id="me", limit=2, cursor=page.next_cursor)
    assert [t.id for t in rest] == [made[0].id]
    assert rest.next_cursor is None
    assert not await app.threads.list(user_id="nobody")


async def test_modes_switch_instructions_and_tools(make_app: Any, weather_tool: tl.Tool) -> None:
    agent = tl.Agent(
        name="a",
        instructions="default",
        tools=[weather_tool],
        modes={"plan": tl.Mode(instructions="plan only", tools=[])},
    )
    app, model = await make_app(["x", "y"], agents=[agent])
    thread = await app.threads.start()

    await thread.run("1")
    await thread.set_mode("plan")
    await thread.run("2")

    assert (model.requests[0].instructions, len(model.requests[0].tools)) == ("default", 1)
    assert (model.requests[1].instructions, len(model.requests[1].tools)) == ("plan only", 0)
    with pytest.raises(tl.ConfigurationError, match="no mode 'nope'"):
        await thread.set_mode("nope")
    assert (await thread.reload()).mode == "plan"


async def test_archive_closes_to_input_and_delete_removes_everything(make_app: Any) -> None:
    app, _ = await make_app(["hi"])
    thread = await app.threads.start()
    await thread.run("hello")

    await thread.archive()
    with pytest.raises(tl.InvalidInputError, match="archived"):
        await thread.run("more")
    await thread.unarchive()

    assert await thread.delete() is True
    with pytest.raises(tl.NotFoundError):
        await app.threads.resume(thread.id)
    assert await thread.items() == []


async def test_unknown_agent_is_a_configuration_error(make_app: Any) -> None:
    app, _ = await make_app()
    with pytest.raises(tl.ConfigurationError, match="no agent named 'ghost'"):
        await app.threads.start(agent="ghost")
