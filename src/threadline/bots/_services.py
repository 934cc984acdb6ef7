"""What the parts of a bot share: its settings, its adapters, and each conversation's durable
thread (found by key, created on first use) with the bot's notes in the thread's metadata."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from threadline.runtime import Thread, Threadline
from threadline.store import ThreadUpdate
from threadline.tools import Tool
from threadline.types import ConfigurationError, NotFoundError

from ._adapter import Adapter
from ._types import ContextEntry

BOT_METADATA = "bot"  # the key of the bot's notes in a conversation thread's metadata
_THREAD_IDS_KEPT = 4096


@dataclass(frozen=True, kw_only=True)
class BotSettings:
    name: str
    agent: str  # the name of the bot's agent in the app
    owner: str  # the `user_id` of the bot's conversation threads
    state_type: type[BaseModel] | None
    tools: tuple[Tool, ...]
    context: tuple[ContextEntry, ...]
    stream_interval: float
    placeholder: str
    approvers: frozenset[str] | None


class KeyedLocks:
    """One lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncGenerator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class BotServices:
    """The bot's settings and its conversations' threads, lent to every `ChatThread`."""

    def __init__(self, app: Threadline, adapters: Sequence[Adapter], settings: BotSettings) -> None:
        self.app = app
        self.settings = settings
        self.adapters: dict[str, Adapter] = {}
        for adapter in adapters:
            if not isinstance(adapter, Adapter):
                raise ConfigurationError(f"not a bot adapter: {adapter!r}")
            if adapter.platform in self.adapters:
                raise ConfigurationError(f"two adapters for the platform {adapter.platform!r}")
            self.adapters[adapter.platform] = adapter
        self.run_tools: dict[str, Tool] = {}  # tools given to `run_agent`, by name
        self.conversation_locks = KeyedLocks()  # events of one conversation, one at a time
        self._thread_ids: OrderedDict[str, str] = OrderedDict()

    def adapter(self, platform: str) -> Adapter:
        try:
            return self.adapters[platform]
        except KeyError:
            raise NotFoundError(
                f"this bot has no adapter for the platform {platform!r}; platforms: "
                f"{sorted(self.adapters)}"
            ) from None

    async def thread(self, platform: str, conversation: str) -> Thread:
        """The conversation's durable thread, created on first use."""
        key = thread_key(platform, conversation)
        known = self._thread_ids.get(key)
        if known is not None:
            self._thread_ids.move_to_end(key)
            try:
                return await self.app.threads.resume(known)
            except NotFoundError:  # deleted since: the conversation starts again
                del self._thread_ids[key]
        thread = await self.app.threads.start(
            key=key,
            user_id=self.settings.owner,
            agent=self.settings.agent,
            metadata={BOT_METADATA: {"platform": platform, "conversation": conversation}},
        )
        if thread.record.agent != self.settings.agent:
            raise ConfigurationError(
                f"the thread of conversation {conversation!r} belongs to agent "
                f"{thread.record.agent!r}, not to this bot's {self.settings.agent!r}"
            )
        self._thread_ids[key] = thread.id
        if len(self._thread_ids) > _THREAD_IDS_KEPT:
            self._thread_ids.popitem(last=False)
        return thread

    async def notes(self, thread: Thread) -> dict[str, Any]:
        """The bot's notes about a conversation, as stored now."""
        record = await thread.reload()
        notes = record.metadata.get(BOT_METADATA)
        return dict(notes) if isinstance(notes, dict) else {}

    async def patch_notes(self, thread: Thread, patch: Mapping[str, Any]) -> None:
        """Change the bot's notes about a conversation by a JSON merge patch (a null removes
        its key), merged in the store's transaction: bot processes that note different things
        at once all keep theirs."""
        update = ThreadUpdate(metadata_patch={BOT_METADATA: dict(patch)})
        await self.app.store.update_thread(thread.id, update)


def bounded_patch(
    stored: Mapping[str, Any], entries: Mapping[str, Any], kept: int
) -> dict[str, Any]:
    """The patch of a note that keeps its `kept` newest entries: `entries` set (as the
    newest), the oldest of `stored` removed."""
    order = [key for key in stored if key not in entries] + list(entries)
    return {**entries, **{key: None for key in order[: max(0, len(order) - kept)]}}


def thread_key(platform: str, conversation: str) -> str:
    return f"{platform}:{conversation}"
