"""The Slack adapter, with the official SDK unchanged: its Web API calls go to a local server
that answers as Slack documents (errors and rate limits included), and events and clicks reach
the adapter's endpoint over HTTP, signed as Slack signs them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_api import (
    BOT_USER,
    CHANNEL,
    SIGNING_SECRET,
    TOKEN,
    LocalServer,
    Slack,
    SlackAPI,
    SlackServer,
    signed_headers,
)
from slack_sdk.errors import SlackApiError

import threadline as tl
from threadline.testing import ScriptedModel, check_invariants, eventually, text, tool_call
from threadline.types import TextPart, UserMessage

ANN = {"id": "U0ANN", "username": "ann", "name": "ann", "team_id": "T0TEAM"}
BOB = {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0TEAM"}


@dataclass
class SlackBot:
    """A bot on the Slack adapter: its app, the fake workspace, and Slack's webhook side."""

    api: SlackAPI
    app: tl.Threadline
    bot: tl.Bot
    adapter: tl.bots.Slack
    model: ScriptedModel
    slack: Slack
    endpoint: LocalServer
    mentions: list[tl.bots.Message] = field(default_factory=list[tl.bots.Message])

    async def close(self) -> None:
        await self.bot.stop()
        await self.endpoint.stop()
        await self.app.close()

    def thread(self, thread_ts: str) -> tl.bots.ChatThread:
        return self.bot.conversation("slack", f"{CHANNEL}/{thread_ts}")

    async def mention(self, text: str, **options: Any) -> tuple[httpx.Response, str, JSONish]:
        """Ann mentions the bot (at the top of the channel, or in `thread_ts`)."""
        thread_ts = options.pop("thread_ts", None)
        said = self.api.say(CHANNEL, "U0ANN", f"<@{BOT_USER}> {text}", thread_ts=thread_ts)
        event: JSONish = {
            "type": "app_mention",
            "user": "U0ANN",
            "text": said["text"],
            "ts": said["ts"],
            "channel": CHANNEL,
            "event_ts": said["ts"],
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        response, event_id = await self.slack.post_event(event, **options)
        return response, event_id, event


JSONish = dict[str, Any]
Factory = Callable[..., Awaitable[SlackBot]]


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackServer]:
    server = SlackServer()
    server.api.add_user("U0ANN", "ann", "Ann", email="ann@example.com")
    server.api.add_user("U0BOB", "bob", "Bob")
    server.api.add_user(BOT_USER, "helper", "Helper")
    server.api.users[BOT_USER]["is_bot"] = True
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_slack_bot(slack_api: SlackServer, tmp_path: Path) -> AsyncIterator[Factory]:
    """`await make_slack_bot(steps)`: an app on a SQLite file, its bot on a Slack adapter that
    talks to the fake Web API, and the adapter's endpoint served on 127.0.0.1. Called again,
    a restarted bot on the same database and workspace."""
    running: list[SlackBot] = []
    client = httpx.AsyncClient(timeout=10)

    async def factory(steps: Sequence[Any], *, tools: Sequence[Any] = ()) -> SlackBot:
        for previous in running:
            await previous.close()
        model = ScriptedModel(list(steps))
        agent = tl.Agent(name="helper", instructions="Be brief.")
        app = tl.Threadline(agents=[agent], store=tmp_path / "bot.db", model=model)
        await app.open()
        adapter = tl.bots.Slack(TOKEN, SIGNING_SECRET, base_url=slack_api.base_url)
        bot = tl.Bot(app, [adapter], tools=tools, stream_interval=0)
        mentions: list[tl.bots.Message] = []

        @bot.on_mention
        async def mention(ctx: tl.bots.Context) -> None:
            mentions.append(ctx.message)
            await ctx.thread.run_agent(
                context=[tl.bots.ContextEntry("Requesting user", ctx.message.user.name)]
            )

        endpoint = LocalServer(adapter.asgi())
        await endpoint.start()
        await bot.start()
        current = SlackBot(
            api=slack_api.api,
            app=app,
            bot=bot,
            adapter=adapter,
            model=model,
            slack=Slack(f"{endpoint.url}/slack/events", client),
            endpoint=endpoint,
            mentions=mentions,
        )
        running.append(current)
        return current

    yield factory
    for current in running[-1:]:
        await current.close()
    await client.aclose()
    if running:
        async with tl.SQLiteStore(tmp_path / "bot.db") as store:
            assert await check_invariants(store) == []


async def test_only_requests_slack_signed_recently_are_taken(make_slack_bot: Factory) -> None:
    running = await make_slack_bot([])
    slack, api = running.slack, running.api
    client = httpx.AsyncClient(timeout=10)
    try:
        challenge = json.dumps(
            {
                "token": "x",
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                "type": "url_verification",
            }
        ).encode()
        answered = await client.post(
            slack.url,
            content=challenge,
            headers={"Content-Type": "application/json", **signed_headers(challenge)},
        )
        assert answered.status_code == 200
        assert answered.json() == {
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        }

        said = api.say(CHANNEL, "U0ANN", f"<@{BOT_USER}> hello")
        event = {
            "type": "app_mention",
            "user": "U0ANN",
            "text": said["text"],
            "ts": said["ts"],
            "channel": CHANNEL,
            "event_ts": said["ts"],
        }
        body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": event}).encode()
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        tampered = body.replace(b"hello", b"HELLO")
        old = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
        refused = [
            await client.post(slack.url, content=tampered, headers=headers),
            await client.post(slack.url, content=body, headers={**headers, **old}),
            await client.post(
                slack.url, content=body, headers={"Content-Type": "application/json"}
            ),
            await client.post(
                slack.url, content=body, headers={**headers, **signed_headers(body, secret="other")}
            ),
            await client.post(
                slack.url, content=challenge, headers={"Content-Type": "application/json"}
            ),
        ]
        assert [r.status_code for r in refused] == [401] * 5
        assert all(r.text == "invalid signature" for r in refused)
        assert (await client.get(slack.url)).status_code == 405
    finally:
        await client.aclose()

    # Refused before anything was read: no turn, no call to Slack beyond the bot's own start.
    assert [c.method for c in api.calls] == ["auth.test"]
    assert running.model.requests == []


async def test_a_mention_streams_its_answer_in_a_thread_and_retries_run_once(
    make_slack_bot: Factory,
) -> None:
    answer = "**Paris** is the capital of France & of <b>its</b> wine."
    shown = "*Paris* is the capital of France &amp; of &lt;b&gt;its&lt;/b&gt; wine."
    sentence = "Every queue is drained and all systems are nominal. "
    long_answer = (sentence * 100).strip()  # 5,199 characters, streamed in 10 pieces
    pieces = [sentence * 10 for _ in range(9)] + [(sentence * 10).strip()]
    running = await make_slack_bot([text(answer), text(long_answer, deltas=pieces)])
    api = running.api

    response, event_id, event = await running.mention("what is the capital of France?")
    assert response.status_code == 200
    root = event["ts"]

    reply = (await eventually(lambda: _exactly(api.bot_messages(), shown), within=10))[0]
    # A thread rooted at the mention; a placeholder first, then edited as words arrived.
    assert reply["thread_ts"] == root
    assert "blocks" not in reply  # the placeholder's plain-text block was replaced
    assert reply["edits"][0] == "…" and len(reply["edits"]) >= 3
    request = running.model.requests[0]
    assert "Requesting user: Ann" in (request.instructions or "")
    said = request.items[-1].payload
    assert isinstance(said, UserMessage) and said.sender == "Ann"
    assert said.content[0] == TextPart(text="what is the capital of France?")  # no mention

    # Slack did not get the acknowledgement in time and sends the event again.
    again, _ = await running.slack.post_event(event, event_id=event_id, retry=1)
    assert again.status_code == 200

    # A second question in the thread: its long answer continues in a new message.
    await running.mention("and the status?", thread_ts=root)

    def answered() -> list[str]:
        texts = [m["text"] for m in api.bot_messages(thread_ts=root)[1:]]
        return texts if " ".join(texts) == long_answer else []

    first, second = await eventually(answered, within=10)  # cut between words, nothing lost
    assert len(first) <= 4000 and len(second) <= 4000
    updates = api.called("chat.update")
    assert all(len(u["text"]) <= 4000 for u in updates)  # Slack refuses more: msg_too_long
    with pytest.raises(SlackApiError, match="msg_too_long"):
        await running.adapter.client.chat_update(channel=CHANNEL, ts=reply["ts"], text="x" * 4001)

    turns = await (await running.thread(root).thread()).turns()
    assert [t.status for t in turns] == ["completed", "completed"]  # the retry ran no turn
    assert turns[0].client_key == event_id
    running.model.assert_done()

    # After a restart the retry is still recognised: by the turn's client key.
    restarted = await make_slack_bot([])
    posts = len(api.called("chat.postMessage"))
    again, _ = await restarted.slack.post_event(event, event_id=event_id, retry=2)
    assert again.status_code == 200
    await restarted.bot.stop()  # lets the retried event be handled to the end
    assert [m.event_id for m in restarted.mentions] == [event_id]  # handled, and...
    assert len(await (await restarted.thread(root).thread()).turns()) == 2  # ...no turn run
    assert len(api.called("chat.postMessage")) == posts  # nor the answer shown again
    assert restarted.model.requests == []


async def test_a_button_click_answers_a_choice_and_the_card_says_who_chose(
    make_slack_bot: Factory,
) -> None:
    log: list[str] = []
    bots: list[tl.Bot] = []

    @tl.tool(idempotent=True)
    async def deploy(env: str, thread: tl.ThreadState[Any]) -> str:
        """Deploy once a person agrees."""
        card = tl.bots.Card(
            tl.bots.Markdown(f"Deploy to **{env}**?"),
            tl.bots.Button("Deploy", "yes", style="primary"),
            tl.bots.Button("Cancel", "no", style="danger"),
        )
        choice = await bots[-1].thread(thread).await_choice(card)
        log.append(choice)
        return "deployed" if choice == "yes" else "cancelled"

    running = await make_slack_bot(
        [tool_call("deploy", {"env": "prod"}), "Deployed to prod.", "All good."], tools=[deploy]
    )
    bots.append(running.bot)
    api = running.api

    _, _, event = await running.mention("deploy prod")
    root = event["ts"]
    card = (await eventually(lambda: _with_text(api.bot_messages(), "Deploy to"), within=10))[0]
    assert card["text"] == "Deploy to prod?"
    section, actions = card["blocks"]
    assert section["text"] == {"type": "mrkdwn", "text": "Deploy to *prod*?"}
    buttons = actions["elements"]
    assert [(b["text"]["text"], b.get("style")) for b in buttons] == [
        ("Deploy", "primary"),
        ("Cancel", "danger"),
    ]
    thread = await running.thread(root).thread()
    await eventually(lambda: _status(thread, "awaiting_input"), within=10)
    # The placeholder shown while the turn started goes: the card is all there is.
    await eventually(lambda: api.bot_messages(thread_ts=root) == [card], within=10)

    clicked = await running.slack.click(card, buttons[0]["action_id"], BOB, CHANNEL)
    assert clicked.status_code == 200

    await eventually(lambda: _exactly(api.bot_messages(), "Deployed to prod."), within=10)
    assert "actions" not in [b["type"] for b in card["blocks"]]  # edited in place, no buttons
    assert card["text"] == "Deploy to prod?\nBob chose Deploy."
    assert log == ["yes"]

    # A stale second click (Ann, on Cancel) changes nothing; the next mention shows it was handled.
    await running.slack.click(card, buttons[1]["action_id"], ANN, CHANNEL)
    await running.mention("all good?", thread_ts=root)
    await eventually(lambda: _exactly(api.bot_messages(), "All good."), within=10)
    assert card["text"] == "Deploy to prod?\nBob chose Deploy." and log == ["yes"]
    running.model.assert_done()


async def test_history_users_files_and_rate_limits_go_through_the_web_api(
    make_slack_bot: Factory,
) -> None:
    running = await make_slack_bot([])
    api, adapter = running.api, running.adapter
    root = api.say(CHANNEL, "U0ANN", f"<@{BOT_USER}> can you check <#C0OPS|ops>?")
    api.say(CHANNEL, "U0BOB", "I think <@U0ANN> means &lt;prod&gt;", thread_ts=root["ts"])
    chat = running.thread(root["ts"])

    # Rate-limited once: the SDK waits for Retry-After, then the post goes through.
    api.failures["chat.postMessage"] = [1]
    ref = await chat.post("Checking.")
    posts = [c for c in api.calls if c.method == "chat.postMessage"]
    assert len(posts) == 2 and posts[1].at - posts[0].at >= 1.0
    assert api.find(CHANNEL, ref.message_id)["thread_ts"] == root["ts"]

    history = await chat.get_messages(limit=10)
    assert [(m.user.name, m.text) for m in history] == [
        ("Ann", "can you check #ops?"),
        ("Bob", "I think @Ann means <prod>"),
        ("Helper", "Checking."),
    ]
    assert history[2].user.id == BOT_USER and history[2].user.is_bot
    assert [m.text for m in await chat.get_messages(limit=1)] == ["Checking."]

    assert await chat.lookup_user("U0BOB") == tl.bots.User(id="U0BOB", name="Bob")
    assert await chat.lookup_user("ann@example.com") == tl.bots.User(id="U0ANN", name="Ann")
    assert await chat.lookup_user("@bob") == tl.bots.User(id="U0BOB", name="Bob")
    assert await chat.lookup_user("nobody@example.com") is None
    assert await chat.lookup_user("U0NOBODY") is None

    data = bytes(range(256)) * 40
    uploaded = await chat.post_file(data, "report.bin", title="Report", alt_text="bytes")
    assert uploaded["ok"] and uploaded["error"] is None
    stored = api.files[str(uploaded["file_id"])]
    assert stored["data"] == data and stored["title"] == "Report" and stored["alt_txt"] == "bytes"
    assert (stored["channel"], stored["thread_ts"]) == (CHANNEL, root["ts"])

    api.failures["files.completeUploadExternal"] = ["not_in_channel"]
    refused = await chat.post_file(b"x", "x.txt")
    assert refused == {"ok": False, "file_id": None, "error": "upload failed: SlackApiError"}

    await adapter.add_reaction(ref, "👀")
    await adapter.add_reaction(ref, "👀")  # already_reacted: nothing to do
    assert api.find(CHANNEL, ref.message_id)["reactions_by_name"] == {"eyes": [BOT_USER]}
    assert await adapter.conversation_of(CHANNEL, ref.message_id) == chat.conversation_key

    assert await chat.delete(ref) is True
    assert api.find(CHANNEL, ref.message_id) is None
    with pytest.raises(Exception, match="message_not_found"):
        await chat.update(ref, "gone")
    assert all(TOKEN not in json.dumps(c.args) for c in api.calls)


def _with_text(messages: list[JSONish], start: str) -> list[JSONish]:
    return [m for m in messages if m["text"].startswith(start)]


def _exactly(messages: list[JSONish], wanted: str) -> list[JSONish]:
    return [m for m in messages if m["text"] == wanted]


async def _status(thread: tl.Thread, status: str) -> bool:
    return (await thread.reload()).status == status
