"""A turn's events shown in its conversation as they happen: each answer of the agent streamed
(see `MessageStreamer`), approval cards for the tool calls it waits on, a notice when it fails,
and, for a retried event whose turn ran already, its answer shown once (never twice)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from threadline.runtime import Thread, TurnResult, TurnStream
from threadline.types import Event, TurnCancelledError, TurnFailedError

from ._adapter import Adapter
from ._choices import APPROVAL_CARDS, Question, from_approval
from ._services import BotServices, bounded_patch
from ._streaming import MessageStreamer
from ._types import MessageRef
from ._ui import NUMBER_EMOJI, Card, Text, fallback, split_card

logger = logging.getLogger("threadline.bots")

BUTTON_PREFIX = "act"
DELIVERIES = "deliveries"  # the conversation notes' key: turn id -> what was shown of it
_DELIVERIES_KEPT = 32


@dataclass(frozen=True, kw_only=True)
class Target:
    """One conversation, as the bot reaches it: its adapter and its durable thread."""

    services: BotServices
    adapter: Adapter
    conversation: str
    thread: Thread

    def streamer(self) -> MessageStreamer:
        settings = self.services.settings
        return MessageStreamer(
            self.adapter,
            self.conversation,
            interval=settings.stream_interval,
            placeholder=settings.placeholder,
        )

    async def post(
        self, card: Card, actions: list[str] | None = None, *, key: str | None = None
    ) -> MessageRef:
        """Post a card fitted to the platform (buttons as numbered replies where there are
        none, text split at the length limit); the ref of its last message. With `key`, each
        part is posted once (`Adapter.post_once`)."""
        adapter = self.adapter
        buttons = adapter.can("buttons")
        fitted = fallback(card, buttons=buttons, reactions=adapter.can("reactions"))
        parts = split_card(fitted, adapter.max_message_length)
        ref: MessageRef | None = None
        for number, part in enumerate(parts):
            given = (actions or button_actions(part)) if part.buttons else []
            if key is None:
                ref = await adapter.post(self.conversation, part, actions=given)
            else:
                part_key = f"{key}:{number}"
                ref = await adapter.post_once(self.conversation, part, part_key, actions=given)
        assert ref is not None
        return ref

    async def edit(self, ref: MessageRef, card: Card) -> MessageRef:
        """Show `card` in place of a posted message, or as a new one where there are no edits."""
        adapter = self.adapter
        if not adapter.can("edit"):
            return await self.post(card)
        fitted = fallback(card, buttons=adapter.can("buttons"), reactions=adapter.can("reactions"))
        parts = split_card(fitted, adapter.max_message_length)
        ref = await adapter.update(ref, parts[0], actions=button_actions(parts[0]))
        for part in parts[1:]:
            ref = await adapter.post(self.conversation, part, actions=button_actions(part))
        return ref


def button_actions(card: Card) -> list[str]:
    """The action ids of a card's buttons that no question owns: clicks on them go to the
    bot's `on_action` handlers."""
    return [f"{BUTTON_PREFIX}:{b.chosen}" for b in card.buttons]


async def deliver(target: Target, stream: TurnStream) -> MessageRef | None:
    """Show the turn `stream` runs (or continues) in the conversation, and return the last
    message of its answer. Raises as the stream does, after saying so in the conversation."""
    shown = _Shown(target)
    try:
        async for event in stream:
            outcome = stream.outcome
            if outcome is not None and outcome.kind == "duplicate":
                # A retried event whose turn runs on (continued after a crash, say): its
                # answer goes where it was begun once the turn ends, not into a new message.
                continue
            await shown.on(event)
    except (TurnFailedError, TurnCancelledError) as exc:
        await shown.end_badly(exc)
        raise
    result = stream.result
    outcome = stream.outcome
    if outcome is not None and outcome.kind == "duplicate":
        return await _show_again(target, result)
    last = await shown.finish()
    if result.status == "paused":
        await post_approval_cards(target, result)
    await _note_delivery(target, result.turn_id, last, done=True)
    return last


class _Shown:
    def __init__(self, target: Target) -> None:
        self._target = target
        self._current: MessageStreamer | None = None
        self._item_id: str | None = None
        self._turn_id: str | None = None
        self.last: MessageRef | None = None

    async def on(self, event: Event) -> None:
        if self._turn_id is None and event.turn_id is not None:
            self._turn_id = event.turn_id
            # Shown before the model's first words, where it can be removed again if the
            # turn says nothing (it pauses for a person, say).
            if self._target.adapter.can("delete"):
                self._current = self._target.streamer()
                placeholder = await self._current.post_placeholder()
                if placeholder is not None:
                    await _note_delivery(self._target, event.turn_id, placeholder, done=False)
        if event.type == "agent_message_delta":
            streamer = self._streamer_for(event.item_id)
            await streamer.push(str(event.params.get("delta", "")))
        elif event.type == "item_completed" and _item_type(event) == "agent_message":
            streamer = self._streamer_for(event.item_id)
            text = _item_content(event).get("text")
            ref = await streamer.finish(text if isinstance(text, str) else None)
            self.last = ref or self.last
            self._current, self._item_id = None, None

    def _streamer_for(self, item_id: str | None) -> MessageStreamer:
        current = self._current
        if current is None or (self._item_id not in (None, item_id)):
            current = self._current = self._target.streamer()
        self._item_id = item_id
        return current

    async def finish(self) -> MessageRef | None:
        if self._current is not None:
            self.last = await self._current.finish() or self.last
            self._current = None
        return self.last

    async def end_badly(self, exc: TurnFailedError | TurnCancelledError) -> None:
        if isinstance(exc, TurnFailedError):
            code = (exc.turn.error or {}).get("code", "error") if exc.turn else "error"
            notice = f"Sorry, I could not finish this answer ({code})."
        else:
            notice = "This answer was interrupted."
        try:
            current = self._current
            if current is not None and current.has_text:
                await current.finish()
                await self._target.post(Card(Text(notice)))
            elif current is not None and current.started:
                await current.finish(notice)
            else:
                await self._target.post(Card(Text(notice)))
        except Exception as error:  # the turn's own error is the one to raise
            logger.warning("could not post a failure notice: %s", type(error).__name__)


async def _show_again(target: Target, result: TurnResult) -> MessageRef | None:
    """A retried event whose turn ran already: show its answer unless it was shown."""
    notes = await target.services.notes(target.thread)
    entry = (notes.get(DELIVERIES) or {}).get(result.turn_id) or {}
    ref = MessageRef.from_dict(entry["ref"]) if isinstance(entry.get("ref"), dict) else None
    if result.status == "paused":
        await post_approval_cards(target, result)  # those a crash kept from being posted
    if entry.get("done") or result.status != "completed" or not result.text.strip():
        return ref
    streamer = target.streamer()
    if ref is not None and target.adapter.can("edit"):
        streamer.adopt(ref)
    last = await streamer.finish(result.text)
    await _note_delivery(target, result.turn_id, last, done=True)
    return last


async def post_approval_cards(target: Target, result: TurnResult) -> None:
    """A card for each tool call the paused turn waits on that has none yet."""
    requests = result.pending_approvals
    if not requests:
        return
    notes = await target.services.notes(target.thread)
    cards: dict[str, Any] = dict(notes.get(APPROVAL_CARDS) or {})
    approvers = target.services.settings.approvers
    posted: dict[str, Any] = {}
    for request in requests:
        if request.tool_call_id in cards:
            continue
        question: Question = from_approval(request, {}, approvers)
        key = f"approval:{result.turn_id}:{request.tool_call_id}"
        ref = await target.post(question.card, question.actions(), key=key)
        if target.adapter.can("reactions") and not target.adapter.can("buttons"):
            await add_number_reactions(target.adapter, ref, len(question.options))
        posted[request.tool_call_id] = ref.to_dict()
    if posted:
        patch = bounded_patch(cards, posted, _DELIVERIES_KEPT)
        await target.services.patch_notes(target.thread, {APPROVAL_CARDS: patch})


async def add_number_reactions(adapter: Adapter, ref: MessageRef, count: int) -> None:
    for emoji in NUMBER_EMOJI[:count]:
        await adapter.add_reaction(ref, emoji)


async def _note_delivery(
    target: Target, turn_id: str, ref: MessageRef | None, *, done: bool
) -> None:
    deliveries = (await target.services.notes(target.thread)).get(DELIVERIES) or {}
    entry: dict[str, Any] = {"done": done}
    if ref is not None:  # else what was shown before stays noted
        entry["ref"] = ref.to_dict()
    patch = bounded_patch(deliveries, {turn_id: entry}, _DELIVERIES_KEPT)
    await target.services.patch_notes(target.thread, {DELIVERIES: patch})


def _item_type(event: Event) -> str | None:
    item = event.params.get("item")
    return item.get("type") if isinstance(item, dict) else None


def _item_content(event: Event) -> dict[str, Any]:
    item = event.params.get("item")
    content = item.get("content") if isinstance(item, dict) else None
    return content if isinstance(content, dict) else {}
