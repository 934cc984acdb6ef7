"""The Matrix adapter against a real Synapse on 127.0.0.1: a mention answered in a thread and
streamed by edits, a choice answered by a reaction, state, history, user lookup and files, a
direct room, and a bot that resumes where it stopped, also after SIGKILL mid-answer."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from matrix_server import (
    Account,
    Homeserver,
    MatrixPerson,
    register,
    shown,
    start_synapse,
    stop_synapse,
    synapse_python,
)
from pydantic import BaseModel

import threadline as tl
from threadline.bots import _matrix
from threadline.testing import ScriptedModel, check_invariants, tool_call
from threadline.types import UserMessage

HERE = Path(__file__).parent


@dataclass
class World:
    server: Homeserver
    bot: Account
    ann: Account
    bob: Account


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One Synapse for the module (installed into its own virtualenv on first use), with the
    bot's account and two people."""
    python = synapse_python()
    if isinstance(python, str):
        pytest.skip(python)
    server = start_synapse(python, tmp_path_factory.mktemp("synapse"))
    try:
        yield World(
            server=server,
            bot=register(server, "helper", "Helper"),
            ann=register(server, "ann", "Ann"),
            bob=register(server, "bob", "Bob"),
        )
    finally:
        stop_synapse(server)


@pytest.fixture
async def ann(world: World) -> AsyncIterator[MatrixPerson]:
    person = MatrixPerson(world.server, world.ann)
    yield person
    await person.aclose()


@pytest.fixture
async def bob(world: World) -> AsyncIterator[MatrixPerson]:
    person = MatrixPerson(world.server, world.bob)
    yield person
    await person.aclose()


@dataclass
class Running:
    app: tl.Threadline
    bot: tl.Bot
    model: ScriptedModel
    matrix: tl.bots.Matrix
    captured: list[Any] = field(default_factory=list[Any])


BotFactory = Callable[..., Any]


@pytest.fixture
async def start_bot(world: World, tmp_path: Path) -> AsyncIterator[BotFactory]:
    """`await start_bot(steps, on_mention=..., **matrix_kwargs)`: the bot on the test's
    SQLite store and a sync file of the test's own, started. Call again for a restarted bot."""
    running: list[Running] = []

    async def factory(
        steps: Sequence[Any] = (),
        *,
        on_mention: Callable[[Running, tl.bots.Context], Any] | None = None,
        tools: Sequence[Any] = (),
        state_type: type[BaseModel] | None = None,
        **matrix_kwargs: Any,
    ) -> Running:
        for previous in running:
            await previous.bot.stop()
            await previous.app.close()
        model = ScriptedModel(list(steps))
        agent = tl.Agent(name="helper", instructions="Be brief.")
        app = tl.Threadline(agents=[agent], store=tmp_path / "bot.db", model=model)
        matrix_kwargs.setdefault("sync_token_path", tmp_path / "sync.json")
        matrix = tl.bots.Matrix(
            world.server.url, world.bot.user_id, world.bot.access_token, **matrix_kwargs
        )
        bot = tl.Bot(app, [matrix], tools=tools, state_type=state_type, stream_interval=0)
        current = Running(app=app, bot=bot, model=model, matrix=matrix)

        @bot.on_mention
        async def mention(ctx: tl.bots.Context) -> None:
            if on_mention is not None:
                await on_mention(current, ctx)
            else:
                await ctx.thread.run_agent()

        await bot.start()
        running.append(current)
        return current

    yield factory
    for current in running:
        await current.bot.stop()
        await current.app.close()
    if running:
        async with tl.SQLiteStore(tmp_path / "bot.db") as store:
            assert await check_invariants(store) == []


async def bot_messages(
    person: MatrixPerson, room: str, root: str, bot: str
) -> list[dict[str, Any]]:
    """The bot's messages in the thread rooted at `root`, oldest first."""
    return [e for e in await person.related(room, root, "m.thread") if e["sender"] == bot]


class Prefs(BaseModel):
    colour: str


ANSWER = "Paris is the capital of **France**."
HOSTILE = "<script>alert(1)</script> & <b>bold</b> [x](javascript:alert(1))"
DATA = bytes(range(256)) * 64


@pytest.mark.slow
async def test_a_conversation_in_a_matrix_thread(
    start_bot: BotFactory, world: World, ann: MatrixPerson, bob: MatrixPerson
) -> None:
    log: list[str] = []
    bot_box: list[tl.Bot] = []

    @tl.tool(idempotent=True)
    async def deploy(env: str, thread: tl.ThreadState[Any]) -> str:
        """Deploy once a person agrees."""
        log.append(f"asked {env}")
        card = tl.bots.Card(
            tl.bots.Markdown(f"Deploy to **{env}**?"),
            tl.bots.Button("Deploy", "yes"),
            tl.bots.Button("Cancel", "no"),
        )
        choice = await bot_box[-1].thread(thread).await_choice(card)
        log.append(f"chose {choice}")
        return "deployed" if choice == "yes" else "cancelled"

    async def on_mention(running: Running, ctx: tl.bots.Context) -> None:
        text = ctx.message.text
        if text == "remember blue":
            with pytest.raises(tl.InvalidInputError):
                await ctx.thread.set_state({"colour": 3})  # invalid: nothing is stored
            await ctx.thread.set_state(Prefs(colour="blue"))
            await ctx.thread.post(f"colour={(await ctx.thread.state()).colour}")
        elif text == "report":
            running.captured.append(await ctx.thread.get_messages())
            running.captured.append(await ctx.thread.lookup_user("bob"))
            running.captured.append(await ctx.thread.lookup_user(world.ann.user_id))
            running.captured.append(await ctx.thread.lookup_user("nobody-at-all"))
            running.captured.append(await ctx.thread.post_file(DATA, "data.bin", title="Raw data"))
            await ctx.thread.post("reported")
        else:
            await ctx.thread.run_agent(
                context=[tl.bots.ContextEntry("Requesting user", ctx.message.user.name)]
            )

    room = await ann.create_room([world.bot.user_id, world.bob.user_id])
    await bob.join(room)
    running = await start_bot(
        [ANSWER, tool_call("deploy", {"env": "prod"})],
        on_mention=on_mention,
        tools=[deploy],
        state_type=Prefs,
        rooms=[room],
    )
    bot_box.append(running.bot)
    helper = world.bot.user_id

    # A mention at the top of the room: answered in a thread rooted at it, streamed by edits.
    root = await ann.say(room, "Helper: capital of France?", mention=helper)

    async def answered() -> dict[str, Any] | None:
        mine = await bot_messages(ann, room, root, helper)
        latest = shown(await ann.event(room, mine[0]["event_id"])) if mine else {}
        return latest if latest.get("body") == "Paris is the capital of France." else None

    final = await ann.until(answered)
    assert final["formatted_body"] == "Paris is the capital of <strong>France</strong>."
    (reply,) = await bot_messages(ann, room, root, helper)
    assert reply["content"]["body"] == "…"  # the placeholder, edited in place:
    edits = await ann.related(room, reply["event_id"], "m.replace")
    assert [e["content"]["m.new_content"]["body"] for e in edits] == [
        "Paris ",
        "Paris is ",
        "Paris is the ",
        "Paris is the capital ",
        "Paris is the capital of ",
        "Paris is the capital of France.",
    ]
    request = running.model.requests[0]
    assert "Requesting user: Ann" in (request.instructions or "")
    said = [i.payload for i in request.items if isinstance(i.payload, UserMessage)]
    assert [p.content[0].text for p in said] == ["capital of France?"]  # type: ignore[union-attr]

    # A tool's choice, answered by a reaction on the card.
    await ann.say(room, "Helper, deploy prod please", thread=root)

    async def card_with_reactions() -> dict[str, Any] | None:
        mine = await bot_messages(ann, room, root, helper)
        if len(mine) < 2:
            return None
        reactions = await ann.related(room, mine[1]["event_id"], "m.annotation")
        return mine[1] if len(reactions) == 2 else None

    card = await ann.until(card_with_reactions)
    assert card["content"]["body"] == (
        "Deploy to prod?\n1️⃣ Deploy  2️⃣ Cancel (react or reply with a number)"
    )
    assert "Deploy to <strong>prod</strong>?" in card["content"]["formatted_body"]
    reactions = await ann.related(room, card["event_id"], "m.annotation")
    assert [r["content"]["m.relates_to"]["key"] for r in reactions] == ["1️⃣", "2️⃣"]
    # The bot restarts while the choice waits: the reaction still answers it.
    first = running
    running = await start_bot(
        ["Deployed to prod.", HOSTILE],
        on_mention=on_mention,
        tools=[deploy],
        state_type=Prefs,
        rooms=[room],
    )
    bot_box.append(running.bot)
    first.model.assert_done()
    await ann.react(room, card["event_id"], "1️⃣")

    async def deployed() -> list[str] | None:
        texts = [shown(m)["body"] for m in await bot_messages(ann, room, root, helper)]
        return texts if texts[-1] == "Deployed to prod." else None

    assert await ann.until(deployed) == [
        "Paris is the capital of France.",
        "Deploy to prod?\nAnn chose Deploy.",  # the card, edited: no buttons left to press
        "Deployed to prod.",
    ]
    assert log == ["asked prod", "asked prod", "chose yes"]  # run again, found its answer
    await bob.react(room, card["event_id"], "2️⃣")  # a late answer changes nothing

    # State, validated before it is stored.
    await ann.say(room, "Helper: remember blue", thread=root)

    async def remembered() -> bool:
        mine = await bot_messages(ann, room, root, helper)
        return mine[-1]["content"]["body"] == "colour=blue"

    await ann.until(remembered)
    conversation = running.bot.conversation("matrix", f"{room}/{root}")
    assert await conversation.state() == Prefs(colour="blue")

    # History, user lookup and a file.
    await ann.say(room, "Helper: report", thread=root)

    async def reported() -> bool:
        mine = await bot_messages(ann, room, root, helper)
        return mine[-1]["content"]["body"] == "reported"

    await ann.until(reported)
    history, found_bob, found_ann, nobody, upload = running.captured
    assert [(m.user.name, m.text) for m in history] == [
        ("Ann", "capital of France?"),
        ("Helper", "Paris is the capital of France."),
        ("Ann", "deploy prod please"),
        ("Helper", "Deploy to prod?\nAnn chose Deploy."),
        ("Helper", "Deployed to prod."),
        ("Ann", "remember blue"),
        ("Helper", "colour=blue"),
        ("Ann", "report"),
    ]
    assert all(m.conversation == f"{room}/{root}" for m in history)
    assert history[0].message_id == root and history[1].user.is_bot
    assert found_bob == tl.bots.User(id=world.bob.user_id, name="Bob")
    assert found_ann == tl.bots.User(id=world.ann.user_id, name="Ann")
    assert nobody is None
    assert upload["ok"] and upload["error"] is None
    assert await ann.download(upload["file_id"]) == DATA  # byte for byte
    (file_message,) = [
        m
        for m in await bot_messages(ann, room, root, helper)
        if m["content"]["msgtype"] == "m.file"
    ]
    assert file_message["content"]["url"] == upload["file_id"]
    assert file_message["content"]["body"] == "Raw data"
    assert file_message["content"]["filename"] == "data.bin"

    # Markup in the model's answer is shown as text, never as HTML.
    await ann.say(room, "Helper: say something odd", thread=root)

    async def odd() -> dict[str, Any] | None:
        latest = shown((await bot_messages(ann, room, root, helper))[-1])
        return latest if latest["body"] == tl.bots.markdown_to_plain(HOSTILE) else None

    hostile = await ann.until(odd)
    html = hostile["formatted_body"]
    assert "<script" not in html and "<b>" not in html and "href" not in html
    assert html.startswith("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;")
    running.model.assert_done()


@pytest.mark.slow
async def test_a_direct_room_and_a_bot_that_resumes_where_it_stopped(
    start_bot: BotFactory,
    world: World,
    ann: MatrixPerson,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = await ann.create_room([world.bot.user_id], direct=True)
    await ann.say(room, "said before the bot ever started")
    running = await start_bot(["Hello Ann."])  # joins on the invitation
    helper = world.bot.user_id

    async def bot_said(*texts: str) -> list[dict[str, Any]] | None:
        mine = [m for m in await ann.room_messages(room) if m["sender"] == helper]
        return mine if [shown(m).get("body") for m in mine] == list(texts) else None

    await ann.until(lambda: _joined(ann, room, helper))
    await ann.say(room, "hello")  # no mention needed in a direct room
    (answer,) = await ann.until(lambda: bot_said("Hello Ann."))
    assert "m.relates_to" not in answer["content"]  # the room is the conversation
    running.model.assert_done()

    # Stopped, then restarted from its saved sync position: what was said meanwhile is
    # answered, also past the sync's timeline (the rest is paged in).
    await running.bot.stop()
    await ann.say(room, "one")
    await ann.say(room, "two")
    await ann.say(room, "three")
    monkeypatch.setattr(_matrix, "_TIMELINE_LIMIT", 2)
    restarted = await start_bot(["1", "2", "3"])

    await ann.until(lambda: bot_said("Hello Ann.", "1", "2", "3"))
    thread = await restarted.bot.conversation("matrix", room).thread()
    turns = await thread.turns()
    assert [t.input[0]["text"] for t in turns] == ["hello", "one", "two", "three"]
    restarted.model.assert_done()


async def _joined(person: MatrixPerson, room: str, user_id: str) -> bool:
    data = await person.call("GET", f"/_matrix/client/v3/rooms/{room}/joined_members")
    return user_id in data["joined"]


async def test_a_card_posted_again_under_its_key_is_one_message(
    world: World, ann: MatrixPerson, start_bot: BotFactory
) -> None:
    """What a restarted bot posts again (a tool run again after a crash posts its choice card
    again) reaches the room once: the same key is the same transaction of the bot's device,
    and the same reaction to the same message is the same transaction too."""
    helper = world.bot.user_id
    room = await ann.create_room([helper])
    first = await start_bot()
    await ann.until(lambda: _joined(ann, room, helper))
    card = tl.bots.Card(tl.bots.Text("Which seat?"))

    ref = await first.matrix.post_once(room, card, "choice:turn_1:call_1")
    await first.matrix.add_reaction(ref, "1️⃣")
    second = await start_bot()  # restarted: a new client of the same device
    again = await second.matrix.post_once(room, card, "choice:turn_1:call_1")
    await second.matrix.add_reaction(again, "1️⃣")
    other = await second.matrix.post_once(room, card, "choice:turn_1:call_2")

    assert again == ref
    assert other != ref
    posted = [m for m in await ann.room_messages(room) if m["sender"] == helper]
    assert [m["event_id"] for m in posted] == [ref.message_id, other.message_id]
    reactions = await ann.related(room, ref.message_id, "m.annotation")
    assert [(r["sender"], r["content"]["m.relates_to"]["key"]) for r in reactions] == [
        (helper, "1️⃣")
    ]


@pytest.mark.slow
async def test_a_bot_killed_mid_answer_finishes_it_once_restarted(
    world: World, ann: MatrixPerson, tmp_path: Path
) -> None:
    room = await ann.create_room([world.bot.user_id, world.bob.user_id])
    helper = world.bot.user_id
    database, sync_file = tmp_path / "bot.db", tmp_path / "sync.json"
    env = {**os.environ, "MATRIX_TOKEN": world.bot.access_token}
    src = str(Path(tl.__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])

    async def launch(*arguments: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "matrix_bot_process.py"),
            world.server.url,
            helper,
            str(database),
            str(sync_file),
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line == b"ready\n", line
        except BaseException:
            process.kill()
            await process.wait()
            raise
        return process

    first = await launch("0.3")  # a word every 0.3 s: time to be killed mid-answer
    try:
        await ann.until(lambda: _joined(ann, room, helper))  # on the invitation
        root = await ann.say(room, "Helper: when is the deploy window?", mention=helper)

        async def streaming() -> bool:
            mine = await bot_messages(ann, room, root, helper)
            if not mine:
                return False
            return bool(await ann.related(room, mine[0]["event_id"], "m.replace"))

        await ann.until(streaming)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    partial = shown((await bot_messages(ann, room, root, helper))[0])["body"]
    assert partial != ANSWER_OF_PROCESS

    # It continues the turn, and then receives the mention again while that turn runs.
    second = await launch("0.15", "continue")
    try:

        async def finished() -> list[dict[str, Any]] | None:
            mine = await bot_messages(ann, room, root, helper)
            done = mine and shown(await ann.event(room, mine[0]["event_id"]))
            return mine if done and done["body"] == ANSWER_OF_PROCESS else None

        mine = await ann.until(finished, within=20)
        assert len(mine) == 1  # one reply: the message begun before the kill, completed
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0

    async with tl.SQLiteStore(database) as store:
        assert await check_invariants(store) == []
        (thread,) = (await store.list_threads(user_id="bot:bot")).threads
        (turn,) = await store.list_turns(thread.thread_id)  # the mention ran one turn
        assert (turn.status, turn.client_key) == ("completed", root)
    assert len(await bot_messages(ann, room, root, helper)) == 1


ANSWER_OF_PROCESS = "The deploy window opens at noon on Thursday, after the freeze."


async def test_matrix_settings_are_checked(world: World) -> None:
    url, user, token = world.server.url, world.bot.user_id, world.bot.access_token
    for bad in (
        lambda: tl.bots.Matrix("matrix.example.org", user, token),
        lambda: tl.bots.Matrix(url, "helper", token),
        lambda: tl.bots.Matrix(url, user, ""),
        lambda: tl.bots.Matrix(url, user, "two words"),
        lambda: tl.bots.Matrix(url, user, token, rooms=["general"]),
        lambda: tl.bots.Matrix(url, user, token, inviters=["ann"]),
    ):
        with pytest.raises(tl.ConfigurationError):
            bad()
    app = tl.Threadline(agents=[tl.Agent(name="a")], store=":memory:", model=ScriptedModel([]))
    async with app:
        for index, matrix in enumerate(
            (
                tl.bots.Matrix(url, user, "not-a-token"),
                tl.bots.Matrix(url, world.ann.user_id, token),  # the token is the bot's
            )
        ):
            with pytest.raises(tl.ConfigurationError, match="access token"):
                await tl.Bot(app, [matrix], name=f"bot{index}").start()
