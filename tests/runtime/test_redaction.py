"""Redaction: a registered secret is replaced by `[redacted:NAME]` in any text threadline
stores, streams or logs; a stream holds back what could begin a secret, so its deltas joined
are the stored text; and a turn that touches no secret reads nothing more from the store."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import threadline as tl
from threadline._redaction import (
    RedactingFilter,
    StreamHold,
    redact,
    redact_text,
    register_secret,
)
from threadline.runtime._turn_events import TurnEvents
from threadline.testing import ScriptedModel
from threadline.testing._scripted import Step, tool_call
from threadline.types import Event, ToolCall, delta_params

StoreFactory = Callable[[], tl.Store]


def fresh_secret(name: str = "TOKEN") -> str:
    value = f"~s3cr3t-{uuid.uuid4().hex}"
    register_secret(name, value)
    return value


def stream(deltas: list[str]) -> list[str]:
    hold = StreamHold()
    shown = [hold.feed(d) for d in deltas]
    return [*shown, hold.flush()]


def test_text_and_structures_are_redacted() -> None:
    secret = fresh_secret("API_KEY")
    assert redact_text(f"key={secret}; again {secret}") == (
        "key=[redacted:API_KEY]; again [redacted:API_KEY]"
    )
    call = ToolCall(tool_call_id="c", name="t", arguments=json.dumps({"k": secret}))
    assert redact(call).arguments == '{"k": "[redacted:API_KEY]"}'
    nested: dict[str, Any] = {"a": [secret, (1, f"x{secret}")], secret: {"n": None}}
    assert redact(nested) == {
        "a": ["[redacted:API_KEY]", (1, "x[redacted:API_KEY]")],
        "[redacted:API_KEY]": {"n": None},
    }
    clean = {"a": ["nothing", (1, "here")]}
    assert redact(clean) is clean  # nothing to replace: the same object, nothing copied


def test_a_secret_is_caught_in_its_json_escaped_form() -> None:
    secret = f'~quo"te\\back-é-{uuid.uuid4().hex[:8]}'
    register_secret("ODD", secret)
    for text in (json.dumps({"v": secret}), json.dumps({"v": secret}, ensure_ascii=False)):
        assert "[redacted:ODD]" in redact_text(text)
        assert json.loads(redact_text(text)) == {"v": "[redacted:ODD]"}


@pytest.mark.parametrize("cut", [1, 5, 10, 20])
def test_a_secret_split_across_deltas_is_caught(cut: int) -> None:
    secret = fresh_secret()
    deltas = [f"before {secret[:cut]}", secret[cut:], " after"]
    shown = stream(deltas)
    assert "".join(shown) == "before [redacted:TOKEN] after"
    assert all(secret[:cut] not in part or cut < 3 for part in shown)
    # Text that only began like the secret is shown once the next delta says it is not.
    almost = stream([f"x {secret[:6]}", "Z and more"])
    assert "".join(almost) == f"x {secret[:6]}Z and more"
    assert almost[0] == "x "


def test_a_secret_split_into_single_characters() -> None:
    secret = fresh_secret()
    shown = stream(["<", *secret, ">"])
    assert "".join(shown) == "<[redacted:TOKEN]>"
    # Nothing of it is shown until it is whole, and then only its marker.
    assert shown == ["<", *[""] * (len(secret) - 1), "[redacted:TOKEN]", ">", ""]


def test_a_secret_inside_a_longer_one_and_across_them() -> None:
    inner = f"~in-{uuid.uuid4().hex[:10]}"
    outer = f"{inner}-out-{uuid.uuid4().hex[:10]}"
    register_secret("INNER", inner)
    register_secret("OUTER", outer)
    assert "".join(stream([outer[:5], outer[5:]])) == "[redacted:OUTER]"
    assert "".join(stream([inner[:5], inner[5:], "-nothing"])) == "[redacted:INNER]-nothing"
    assert "".join(stream([inner, "-out-", "no"])) == "[redacted:INNER]-out-no"


def test_the_live_deltas_are_the_stored_text() -> None:
    secret = fresh_secret()
    live: list[Event] = []
    events = TurnEvents(thread_id="thr", turn_id="turn", last_seq=0, publish=live.append)
    pieces = [f"a {secret[:4]}", secret[4:12], f"{secret[12:]} b", " c ", secret[:3]]
    for piece in pieces:
        events.emit("agent_message_delta", item_id="item", params=delta_params({}, piece))
    events.emit("item_completed", item_id="item", params={"text": "".join(pieces)})
    stored = events.take_unstored()
    live_text = "".join(e.params["delta"] for e in live if e.type == "agent_message_delta")
    assert live_text == f"a [redacted:TOKEN] b c {secret[:3]}"
    [coalesced] = [e for e in stored if e.is_delta]
    assert coalesced.params["delta"] == live_text
    live_sizes = [len(e.params["delta"]) for e in live if e.is_delta]
    assert coalesced.params.get("sizes", live_sizes) == live_sizes
    assert {e.seq for e in live if e.is_delta} == {1}
    assert live[-1].type == "item_completed"
    assert live[-1].params == {"text": redact_text("".join(pieces))}
    assert all(e.original is None for e in live)


@dataclass
class _Counting:
    reads: int = 0


async def test_a_turn_without_secrets_reads_no_environment(make_store: StoreFactory) -> None:
    store = make_store()
    counted = _Counting()
    get_env = store.get_env

    async def counting_get_env(*args: Any, **kwargs: Any) -> Any:
        counted.reads += 1
        return await get_env(*args, **kwargs)

    store.get_env = counting_get_env  # type: ignore[method-assign]

    @tl.tool
    async def plain(city: str) -> str:
        return city

    model = ScriptedModel([tool_call("plain", {"city": "Oslo"}), Step(text="ok")])
    agent = tl.Agent(name="a", model=model, tools=[plain], env={"REGION": "eu"})
    async with tl.Threadline(agents=[agent], store=store) as app:
        thread = await app.threads.start()
        await thread.run("go")
        assert counted.reads == 0
        assert await thread.env("REGION") == "eu"
        assert counted.reads == 1


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    secret = fresh_secret("LOGGED")
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("threadline.runtime")
    logger.debug("formatted %s and %r", secret, {"k": secret})
    try:
        raise ValueError(f"an error with {secret}")
    except ValueError:
        logger.exception("failed with %s", secret)
    text = caplog.text
    assert secret not in text
    assert "formatted [redacted:LOGGED] and {'k': '[redacted:LOGGED]'}" in text
    assert "ValueError: an error with [redacted:LOGGED]" in text


@pytest.mark.parametrize("log_content", [False, True])
def test_the_servers_log_filter_redacts_and_still_strips_tracebacks(log_content: bool) -> None:
    from threadline.server._log_config import ContentFilter

    secret = fresh_secret("SERVED")
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError as exc:
        error = exc
    for logger_filtered_first in (False, True):
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "saw %s", (secret,), None
        )
        record.exc_info = (RuntimeError, error, error.__traceback__)
        if logger_filtered_first:  # as a threadline logger's own filter does
            RedactingFilter().filter(record)
        assert ContentFilter(log_content=log_content).filter(record)
        shown = logging.Formatter().format(record)
        assert secret not in shown
        assert "saw [redacted:SERVED]" in shown
        assert ("failed with [redacted:SERVED]" in shown) is log_content
