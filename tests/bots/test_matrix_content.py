"""The Matrix adapter's translations, without a server: cards as escaped HTML, events read as
messages and reactions, conversation keys, and the sync position that is saved only once
the events before it are handled."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline.bots import Button, Card, Fields, Image, Markdown, Text
from threadline.bots._matrix_content import card_content, edit_content, in_thread
from threadline.bots._matrix_events import (
    BotAccount,
    after_joining,
    message_from,
    normal_emoji,
    parse_conversation,
    reaction_from,
)
from threadline.bots._matrix_sync import SyncPosition

ROOM = "!room:localhost"
BOT = BotAccount(user_id="@helper:localhost", display_name="Ops Helper")


def test_untrusted_text_is_escaped_in_the_html() -> None:
    card = Card(
        Text("<img src=x onerror=alert(1)> & co\nline two"),
        Markdown("**sure** <script>alert(1)</script> [x](javascript:alert(1)) [y](https://e.org)"),
        Markdown("![tracker](https://e.org/t.png) ![ok](mxc://localhost/abc)"),
        Fields({"<b>": "<i>"}),
        Image("https://e.org/a.png", "a <chart>"),
        Button("Never shown", "no"),
    )
    content = card_content(card)
    assert content["body"] == card.plain_text()
    assert content["format"] == "org.matrix.custom.html"
    assert content["m.mentions"] == {}
    assert content["formatted_body"] == "<br>".join(
        [
            "&lt;img src=x onerror=alert(1)&gt; &amp; co<br>line two",
            "<strong>sure</strong> &lt;script&gt;alert(1)&lt;/script&gt; "
            '[x](javascript:alert(1)) <a href="https://e.org">y</a>',
            '<a href="https://e.org/t.png">tracker</a> <img src="mxc://localhost/abc" alt="ok">',
            "<b>&lt;b&gt;</b>: &lt;i&gt;",
            '<a href="https://e.org/a.png">a &lt;chart&gt;</a>',
        ]
    )


def test_replies_go_into_the_thread_and_edits_name_the_original() -> None:
    content = in_thread(card_content(Card("hi")), "$root")
    assert content["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$root"},
    }
    assert "m.relates_to" not in in_thread(card_content(Card("hi")), None)
    edit = edit_content("$original", card_content(Card("new")))
    assert edit["body"] == "* new"
    assert edit["m.new_content"]["body"] == "new"
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$original"}


def event(body: str, *, sender: str = "@ann:localhost", **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$e1",
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def read(data: dict[str, Any], *, direct: bool = False, incoming: bool = True) -> tl.bots.Message:
    message = message_from(
        data, ROOM, bot=BOT, direct=direct, name_of=lambda u: u[1:4].title(), incoming=incoming
    )
    assert message is not None
    return message


def test_a_mention_at_the_top_of_a_room_starts_a_thread_rooted_at_it() -> None:
    by_pill = read(event("hi there", **{"m.mentions": {"user_ids": [BOT.user_id]}}))
    assert by_pill.mentioned and by_pill.conversation == f"{ROOM}/$e1"
    assert by_pill.user == tl.bots.User(id="@ann:localhost", name="Ann")
    assert by_pill.timestamp == 1_700_000_000.0
    by_name = read(event("Ops Helper: deploy it"))
    assert (by_name.mentioned, by_name.text) == (True, "deploy it")
    assert read(event("@helper, status?")).text == "status?"
    assert read(event("ask helper later")).mentioned  # the user name, as a word
    not_me = read(event("the helpers are busy"))
    assert not not_me.mentioned and not_me.conversation == ROOM

    in_thread = read(
        event("and then?", **{"m.relates_to": {"rel_type": "m.thread", "event_id": "$r"}})
    )
    assert in_thread.conversation == f"{ROOM}/$r" and not in_thread.mentioned

    direct = read(event("hello"), direct=True)
    assert direct.mentioned and direct.conversation == ROOM


def test_what_is_not_a_message_for_the_bot_is_skipped() -> None:
    def skipped(data: dict[str, Any]) -> bool:
        return message_from(data, ROOM, bot=BOT, direct=True, name_of=str, incoming=True) is None

    assert skipped(event("mine", sender=BOT.user_id))
    assert skipped(event("from another bot", msgtype="m.notice"))
    assert skipped(
        event("* fixed", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})
    )
    assert skipped({**event("x"), "content": {}})  # redacted
    assert skipped({**event("x"), "type": "m.room.topic"})
    # History keeps the bot's own messages, as edited.
    edited = event("…", sender=BOT.user_id)
    edited["unsigned"] = {
        "m.relations": {
            "m.replace": {
                "sender": BOT.user_id,
                "content": {"m.new_content": {"msgtype": "m.text", "body": "Done."}},
            }
        }
    }
    own = read(edited, incoming=False)
    assert (own.text, own.user.is_bot) == ("Done.", True)


def test_a_reply_loses_the_quote_older_clients_put_before_it() -> None:
    reply = event(
        "> <@bob:localhost> the build is red\n> again\n\nHelper: why?",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}},
    )
    assert read(reply).text == "why?"


def test_reactions_and_keycaps() -> None:
    reaction = {
        "type": "m.reaction",
        "event_id": "$r1",
        "sender": "@ann:localhost",
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$card", "key": "2⃣"}},
    }
    assert reaction_from(reaction) == ("$card", "2️⃣")
    assert normal_emoji("👍") == "👍"
    assert reaction_from(event("not a reaction")) is None


def test_conversation_keys() -> None:
    assert parse_conversation("!abc:localhost") == ("!abc:localhost", None)
    assert parse_conversation("!abc/$root") == ("!abc", "$root")
    for bad in ("", "#alias:localhost", "!abc/root", "!a b", "!abc/$x/$y", "!"):
        with pytest.raises(tl.InvalidInputError):
            parse_conversation(bad)


def test_a_room_is_said_to_the_bot_only_from_when_it_joined() -> None:
    joined = {
        "type": "m.room.member",
        "state_key": BOT.user_id,
        "content": {"membership": "join"},
        "unsigned": {"prev_content": {"membership": "invite"}},
    }
    renamed = {**joined, "unsigned": {"prev_content": {"membership": "join"}}}
    before, after = event("before"), event("after")
    assert after_joining([before, joined, after], BOT.user_id) == [after]
    assert after_joining([before, renamed, after], BOT.user_id) == [before, renamed, after]


async def test_the_sync_position_is_saved_once_the_events_before_it_are_handled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sync.json"
    position = SyncPosition(path, BOT.user_id)
    assert position.load() is None
    position.start()
    loop = asyncio.get_running_loop()
    slow, fast, cancelled = loop.create_future(), loop.create_future(), loop.create_future()
    position.add("s1", [])
    position.add("s2", [slow])
    position.add("s3", [fast])
    fast.set_result(None)
    await asyncio.sleep(0)  # the done callbacks run
    assert position.handled == "s1"  # s3 is done, but s2 before it is not
    slow.set_result(None)
    await asyncio.sleep(0)
    assert position.handled == "s3"
    position.add("s4", [cancelled])
    cancelled.cancel()  # the bot stopped before handling it: delivered again next time
    await position.close()
    assert json.loads(path.read_text()) == {"user_id": BOT.user_id, "next_batch": "s3"}

    again = SyncPosition(path, BOT.user_id)
    assert again.load() == "s3"
    with pytest.raises(tl.ConfigurationError, match="not of"):
        SyncPosition(path, "@other:localhost").load()
    path.write_text("[]")
    with pytest.raises(tl.ConfigurationError):
        SyncPosition(path, BOT.user_id).load()


def test_without_matrix_nio_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nio", None)  # as if it were not installed
    with pytest.raises(tl.ConfigurationError, match=r"threadline\[matrix\]"):
        tl.bots.Matrix("https://matrix.example.org", "@bot:example.org", "token")
