"""Messages and lifecycle of a thread over the app-server WebSocket: the same records and
errors as in-process."""

from __future__ import annotations

import pytest

import threadline as tl
from threadline.client import RemoteThreadline
from threadline.types import AgentMessage, UserMessage


async def test_messages_round_trip_as_in_process(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    assert thread.thread_id == thread.id and thread.agent_id == thread.record.agent
    assert thread.created_at == thread.record.created_at
    assert await thread.execution() is None

    injected = await thread.inject_message("note from ops", role="assistant")
    assert isinstance(injected.payload, AgentMessage)
    same = await local.threads.resume(thread.id)
    assert await thread.get_message(injected.item_id) == await same.get_message(injected.item_id)

    edited = await thread.update_message(injected.item_id, "corrected note")
    assert edited.text == "corrected note"
    versions = await thread.get_message_versions(injected.item_id)
    assert [v.text for v in versions] == ["note from ops", "corrected note"]

    entry = await thread.queue_message([{"type": "text", "text": "say queued"}], client_key="k1")
    again = await thread.queue_message("say queued", client_key="k1")
    assert again.entry_id == entry.entry_id
    assert entry.kind == "input"  # an idle thread: the message starts a turn of its own


async def test_unknown_and_foreign_messages_are_not_found(remote: RemoteThreadline) -> None:
    first = await remote.threads.start()
    other = await remote.threads.start()
    item = await first.inject_message("mine")
    with pytest.raises(tl.NotFoundError):
        await other.get_message(item.item_id)
    with pytest.raises(tl.NotFoundError):
        await other.get_message("item_nope")
    with pytest.raises(tl.InvalidInputError):
        await first._call("injectMessage", content=42)  # pyright: ignore[reportPrivateUsage]


async def test_a_terminated_thread_refuses_input_remotely(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start()
    await thread.run("say hello")
    record = await thread.terminate("the case is closed")
    assert record.status == "terminated" and thread.terminated
    with pytest.raises(tl.ThreadTerminatedError):
        await thread.run("say more")
    with pytest.raises(tl.ThreadTerminatedError):
        await thread.queue_message("say more")
    stored = await (await local.threads.resume(thread.id)).items()
    assert not any(isinstance(i.payload, UserMessage) and i.text == "say more" for i in stored)
