"""How the Slack adapter renders cards (mrkdwn, Block Kit within Slack's limits, untrusted text
escaped) and reads what Slack sends (events, clicks, reactions, Slack's markup)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import pytest

import threadline as tl
from threadline.bots import Button, Card, Fields, Image, Markdown, Text
from threadline.bots._slack_events import callback_events, interaction_events
from threadline.bots._slack_format import (
    emoji_from_name,
    emoji_name,
    render,
    split_conversation,
    to_mrkdwn,
    to_plain,
)

BOT = "UBOT"


def test_markdown_becomes_mrkdwn_and_untrusted_text_cannot_mention_or_link() -> None:
    markdown = (
        "# Status\n**Paris** is *nice*, _really_ ~~not~~ [docs](https://x.io/?a=1&b=2)\n"
        "- one\n* two\n> quoted <!channel> & <@U123>\n`a < b` snake_case_name\n"
        "```py\nif a < b: **x**\n```"
    )
    assert to_mrkdwn(markdown) == (
        "*Status*\n*Paris* is _nice_, _really_ ~not~ <https://x.io/?a=1&amp;b=2|docs>\n"
        "• one\n• two\n> quoted &lt;!channel&gt; &amp; &lt;@U123&gt;\n`a &lt; b` snake_case_name\n"
        "```if a &lt; b: **x**\n```"
    )
    assert to_mrkdwn("**bold _and italic_**") == "*bold _and italic_*"


def test_cards_become_blocks_within_slacks_limits() -> None:
    assert render(Card(Markdown("Just **text**"))) == tl.bots._slack_format.Rendered(
        text="Just *text*", blocks=None
    )
    card = Card(
        Text("Plain *as is* <here>"),
        Fields({"Env": "prod & more", "Version": "2.1"}),
        Image("https://example.com/a.png", "a chart"),
        Image("mxc://example.org/abc", "elsewhere"),
        Button("Ship", "yes", style="primary"),
        Button("Wait", "no"),
    )
    shown = render(card, ["act:yes", "act:no"])
    assert shown.text == "Plain *as is* &lt;here&gt;\nEnv: prod &amp; more\nVersion: 2.1\n" + (
        "a chart (https://example.com/a.png)\nelsewhere (mxc://example.org/abc)"
    )
    assert shown.blocks == [
        {
            "type": "section",
            "text": {"type": "plain_text", "text": "Plain *as is* <here>", "emoji": True},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Env*\nprod &amp; more"},
                {"type": "mrkdwn", "text": "*Version*\n2.1"},
            ],
        },
        {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "a chart"},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "elsewhere (mxc://example.org/abc)"},
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Ship", "emoji": True},
                    "action_id": "act:yes",
                    "style": "primary",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Wait", "emoji": True},
                    "action_id": "act:no",
                },
            ],
        },
    ]

    # Text that escaping makes longer than chat.update takes goes into sections of 3,000.
    long = render(Card(Markdown("a < b & c > d " * 300)))
    assert long.blocks is not None and len(long.text) <= 4000
    assert all(len(b["text"]["text"]) <= 3000 for b in long.blocks)
    assert "".join(b["text"]["text"] for b in long.blocks).replace(" ", "") == (
        "a&lt;b&amp;c&gt;d" * 300
    )

    # 30 buttons: two actions blocks (25 at most each); a repeated action id starts a new one.
    many = render(Card(*(Button(f"b{i}") for i in range(30))), [f"a{i}" for i in range(30)])
    assert [len(b["elements"]) for b in many.blocks or []] == [25, 5]
    twice = render(Card(Button("x"), Button("y")), ["same", "same"])
    assert [len(b["elements"]) for b in twice.blocks or []] == [1, 1]
    with pytest.raises(tl.InvalidInputError, match="255"):
        render(Card(Button("x")), ["a" * 256])


def test_slack_markup_reads_as_plain_text() -> None:
    text = (
        f"<@{BOT}> ask <@U2> and <@U3|carol> in <#C1|ops> about <https://a.io|A>, "
        "<https://b.io>, <mailto:x@y.io|x@y.io> &lt;tag&gt; &amp; <!here>"
    )
    assert to_plain(text, names={"U2": "Bob"}, bot_user_id=BOT) == (
        "ask @Bob and @carol in #ops about A (https://a.io), https://b.io, x@y.io <tag> & @here"
    )


def test_emoji_and_conversation_keys() -> None:
    assert [emoji_name(e) for e in ("1️⃣", "🔟", "👍", ":rocket:", "eyes")] == [
        "one",
        "keycap_ten",
        "+1",
        "rocket",
        "eyes",
    ]
    assert [emoji_from_name(n) for n in ("two", "+1::skin-tone-3", "party_parrot")] == [
        "2️⃣",
        "👍",
        ":party_parrot:",
    ]
    with pytest.raises(tl.InvalidInputError):
        emoji_name("not an emoji!")
    assert split_conversation("C0123/1712.000100") == ("C0123", "1712.000100")
    assert split_conversation("D0123") == ("D0123", None)
    for bad in ("", "#general", "C0123/abc", "C0123/1712.1/2"):
        with pytest.raises(tl.InvalidInputError):
            split_conversation(bad)


class Workspace:
    """The adapter's side of the endpoint, without Slack: names and threads from dicts."""

    platform = "slack"
    user_id = BOT
    bot_id = "BBOT"
    sink = None

    def __init__(self) -> None:
        self.names_of = {"U1": "Ann", "U2": "Bob"}
        self.threads = {"200.2": "C1/100.1"}

    async def user(
        self, user_id: str, *, deadline: float | None = None, fallback: str | None = None
    ) -> tl.bots.User:
        return tl.bots.User(id=user_id, name=self.names_of.get(user_id, fallback or user_id))

    async def names(
        self, user_ids: Iterable[str], *, deadline: float | None = None
    ) -> dict[str, str]:
        return {u: self.names_of.get(u, u) for u in user_ids}

    async def conversation_of(self, channel: str, ts: str, *, deadline: float | None = None) -> str:
        return self.threads.get(ts, channel)


async def _events(event: dict[str, Any]) -> list[tl.bots.ChatEvent]:
    return await callback_events({"event_id": "Ev1", "event": event}, Workspace(), 0.0)


async def test_events_become_messages_in_the_right_conversation() -> None:
    mention = await _events(
        {
            "type": "app_mention",
            "user": "U1",
            "text": f"<@{BOT}> hi <@U2>",
            "ts": "100.1",
            "channel": "C1",
        }
    )
    assert mention == [
        tl.bots.Message(
            event_id="Ev1",
            message_id="100.1",
            conversation="C1/100.1",
            user=tl.bots.User(id="U1", name="Ann"),
            text="hi @Bob",
            mentioned=True,
            timestamp=100.1,
        )
    ]
    reply = await _events(
        {
            "type": "message",
            "user": "U2",
            "text": "thanks",
            "ts": "101.1",
            "thread_ts": "100.1",
            "channel": "C1",
            "channel_type": "channel",
        }
    )
    assert [(m.conversation, m.mentioned) for m in reply] == [("C1/100.1", False)]  # type: ignore[union-attr]
    direct = await _events(
        {
            "type": "message",
            "user": "U2",
            "text": "psst",
            "ts": "102.1",
            "channel": "D9",
            "channel_type": "im",
        }
    )
    assert [(m.conversation, m.mentioned) for m in direct] == [("D9", True)]  # type: ignore[union-attr]

    ignored = [
        # the same mention as a message event: the app_mention is the one handled
        {
            "type": "message",
            "user": "U1",
            "text": f"<@{BOT}> hi",
            "ts": "1.1",
            "channel": "C1",
            "channel_type": "channel",
        },
        {"type": "message", "user": BOT, "text": "my own", "ts": "1.2", "channel": "C1"},
        {"type": "message", "bot_id": "BBOT", "text": "my own", "ts": "1.3", "channel": "C1"},
        {
            "type": "message",
            "subtype": "channel_join",
            "user": "U1",
            "text": "joined",
            "ts": "1.4",
            "channel": "C1",
        },
        {"type": "message", "subtype": "message_changed", "ts": "1.5", "channel": "C1"},
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "one",
            "item_user": "U2",
            "item": {"type": "message", "channel": "C1", "ts": "200.2"},
        },
        {"type": "team_join", "user": {"id": "U9"}},
    ]
    for event in ignored:
        assert await _events(event) == [], event

    reaction = await _events(
        {
            "type": "reaction_added",
            "user": "U2",
            "reaction": "one",
            "item_user": BOT,
            "item": {"type": "message", "channel": "C1", "ts": "200.2"},
        }
    )
    assert reaction == [
        tl.bots.ReactionEvent(
            event_id="Ev1",
            conversation="C1/100.1",
            message=tl.bots.MessageRef(
                platform="slack", conversation="C1/100.1", message_id="200.2"
            ),
            emoji="1️⃣",
            user=tl.bots.User(id="U2", name="Bob"),
        )
    ]


async def test_clicks_become_action_events_on_the_card_clicked() -> None:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U7", "username": "dave", "name": "dave"},
        "trigger_id": "123.abc",
        "channel": {"id": "C1", "name": "general"},
        "message": {"ts": "200.2", "thread_ts": "100.1", "text": "Deploy?"},
        "actions": [{"action_id": "tl:call_1:0", "type": "button", "action_ts": "201.0"}],
    }
    assert await interaction_events(payload, Workspace(), 0.0) == [
        tl.bots.ActionEvent(
            event_id="123.abc",
            conversation="C1/100.1",
            message=tl.bots.MessageRef(
                platform="slack", conversation="C1/100.1", message_id="200.2"
            ),
            action_id="tl:call_1:0",
            user=tl.bots.User(id="U7", name="dave"),
        )
    ]
    top = {**payload, "message": {"ts": "300.3", "thread_ts": "300.3"}}
    assert [e.conversation for e in await interaction_events(top, Workspace(), 0.0)] == ["C1"]
    in_a_modal = {k: v for k, v in payload.items() if k not in ("message", "channel")}
    assert await interaction_events({**in_a_modal, "view": {}}, Workspace(), 0.0) == []
    assert await interaction_events({"type": "view_submission"}, Workspace(), 0.0) == []


def test_settings_are_checked_and_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for token, secret in (("", "s"), ("xoxb-1 2", "s"), ("xoxb-1", ""), ("xoxb-1", "  ")):
        with pytest.raises(tl.ConfigurationError):
            tl.bots.Slack(token, secret)
    with pytest.raises(tl.ConfigurationError):
        tl.bots.Slack("xoxb-1", "s", max_retries=-1)
    slack = tl.bots.Slack("xoxb-secret-token", "s")
    assert "xoxb" not in repr(slack)
    assert slack.capabilities == tl.bots.CAPABILITIES and slack.max_message_length == 4000

    monkeypatch.setitem(sys.modules, "slack_sdk.signature", None)
    with pytest.raises(tl.ConfigurationError, match=r"threadline\[slack\]"):
        tl.bots.Slack("xoxb-1", "s")
