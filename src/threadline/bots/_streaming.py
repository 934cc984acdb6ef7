"""Text that arrives piece by piece, shown in a conversation: where the platform can edit, a
placeholder edited at most every `interval` seconds and continued in a new message past the
length limit; elsewhere, one post (or several, past the limit) once the text is complete."""

from __future__ import annotations

import asyncio

from ._adapter import Adapter
from ._types import MessageRef
from ._ui import Card, Markdown, Text, split_card, split_point

PLACEHOLDER = "…"


class MessageStreamer:
    """One piece of streamed text in one conversation. `push` text, then `finish`."""

    def __init__(
        self,
        adapter: Adapter,
        conversation: str,
        *,
        interval: float,
        placeholder: str = PLACEHOLDER,
    ) -> None:
        self._adapter = adapter
        self._conversation = conversation
        self._interval = interval
        self._placeholder = placeholder
        self._edits = adapter.can("edit")
        self._limit = adapter.max_message_length
        self._clock = asyncio.get_running_loop().time
        self.text = ""
        self.refs: list[MessageRef] = []
        self._ref: MessageRef | None = None  # the message being edited
        self._offset = 0  # where the text of the message being edited begins
        self._shown: str | None = None  # what that message shows now
        self._last_edit = float("-inf")
        self._placeholder_ref: MessageRef | None = None

    @property
    def started(self) -> bool:
        """Something is posted: a placeholder or text."""
        return bool(self.refs)

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())

    async def post_placeholder(self) -> MessageRef | None:
        """Show that an answer is coming (only where it can be edited into the answer)."""
        if not self._edits or self._ref is not None:
            return self._ref
        self._ref = await self._adapter.post(self._conversation, Card(Text(self._placeholder)))
        self._placeholder_ref = self._ref
        self._shown = self._placeholder
        self.refs.append(self._ref)
        return self._ref

    def adopt(self, ref: MessageRef) -> None:
        """Continue in a message posted earlier (a placeholder shown before a restart)."""
        self._ref = self._placeholder_ref = ref
        self._shown = self._placeholder
        self.refs.append(ref)

    async def push(self, delta: str) -> None:
        self.text += delta
        if self._edits and self._clock() - self._last_edit >= self._interval:
            await self._show()

    async def finish(self, text: str | None = None) -> MessageRef | None:
        """Show the complete text (`text`, when given, replaces what was pushed) and return
        the last message it is in; None when there was nothing to show (an unused
        placeholder is deleted where the platform allows it)."""
        if text is not None:
            self.text = text
        if not self.has_text:
            await self._drop_placeholder()
            return None
        if self._edits:
            await self._show()
        else:
            for card in split_card(Card(Markdown(self.text)), self._limit):
                self.refs.append(await self._adapter.post(self._conversation, card))
        return self.refs[-1]

    async def _show(self) -> None:
        self._last_edit = self._clock()
        current = self.text[self._offset :]
        while len(current) > self._limit:
            cut = split_point(current, self._limit)
            await self._display(current[:cut].rstrip())
            rest = current[cut:]
            self._offset += cut + len(rest) - len(rest.lstrip())
            self._ref, self._shown = None, None
            current = self.text[self._offset :]
        if current.strip() and current != self._shown:
            await self._display(current)

    async def _display(self, text: str) -> None:
        card = Card(Markdown(text))
        if self._ref is None:
            self._ref = await self._adapter.post(self._conversation, card)
            self.refs.append(self._ref)
        else:
            self._ref = await self._adapter.update(self._ref, card)
            self.refs[-1] = self._ref
        self._shown = text

    async def _drop_placeholder(self) -> None:
        ref = self._placeholder_ref
        if ref is None or self._shown != self._placeholder:
            return
        self.refs.remove(ref)
        self._ref = self._placeholder_ref = self._shown = None
        if self._adapter.can("delete"):
            await self._adapter.delete(ref)
