"""The message, lifecycle and loader operations a tool's `ThreadState` reaches (its
`MessageServices`), for one tool call. Each write is keyed by the call's idempotency key and
the operation's rank: an idempotent tool that is run again after a crash finds what its first
run stored, and stores nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from threadline.models import Model
from threadline.store import Terminate, ThreadCursor
from threadline.tools import InjectPosition, MessageContent, MessageRole
from threadline.types import (
    FileInfo,
    InboxEntry,
    Item,
    NotFoundError,
    ThreadRecord,
    TurnRecord,
    derived_id,
)

from ._agent import Agent
from ._context import NewItem, TurnContext
from ._messages import edit_marker, edited_payload, message_payload, queue, versions
from ._termination import checked_reason


class StagingCall(Protocol):
    """A tool call being run, as far as its staged messages go (see `Invocation`)."""

    result_id: str
    staged: list[NewItem]  # messages stored with the call's result ("with_result")


class ToolMessageServices:
    """Mixed into the services of one tool call (`_tool_step._Services`)."""

    _ctx: TurnContext
    _invocation: Any  # a `StagingCall`: the call these services are lent to

    @property
    def _call(self) -> StagingCall:
        return self._invocation

    def _staged_files(self) -> dict[str, FileInfo]:
        # A message may attach a file the call wrote and has not stored yet.
        files = self._invocation.files
        return {} if files is None else files.staged_by_id()

    @property
    def thread_record(self) -> ThreadRecord:
        return self._ctx.thread

    @property
    def execution(self) -> TurnRecord:
        return self._ctx.turn

    # -- messages -----------------------------------------------------------------------------

    def get_message(self, item_id: str) -> Item:
        return self.message_versions(item_id)[-1]

    def message_versions(self, item_id: str) -> list[Item]:
        history = self._ctx.history
        for index, item in enumerate(history):
            if item.item_id == item_id:
                return versions(item, history[index + 1 :])
        raise NotFoundError(f"no item {item_id!r} in this thread", item_id=item_id)

    async def inject_message(
        self,
        content: MessageContent,
        *,
        role: MessageRole,
        sender: str | None,
        position: InjectPosition,
        key: str,
    ) -> Item:
        ctx = self._ctx
        payload = await message_payload(
            ctx.store, ctx.thread.thread_id, content, role, sender, self._staged_files()
        )
        item_id = derived_id(self._call.result_id, key)
        stored = self._stored(item_id)
        if stored is not None:
            return stored
        new = NewItem(item_id=item_id, payload=payload)
        if position == "with_result":
            self._call.staged.append(new)
            return Item(
                item_id=item_id,
                thread_id=ctx.thread.thread_id,
                turn_id=ctx.turn.turn_id,
                seq=0,
                status="completed",
                payload=payload,
                created_at=0.0,
            )
        ctx.item_started(item_id, payload)
        (item,) = await ctx.commit([new])
        return item

    async def update_message(self, item_id: str, content: MessageContent, *, key: str) -> Item:
        ctx = self._ctx
        original = self.message_versions(item_id)[0]
        payload = await edited_payload(ctx.store, original, content, self._staged_files())
        marker_id = derived_id(self._call.result_id, key)
        stored = self._stored(marker_id)
        if stored is None:
            marker = edit_marker(item_id, payload)
            ctx.item_started(marker_id, marker)
            (stored,) = await ctx.commit([NewItem(item_id=marker_id, payload=marker)])
        return replace(original, payload=payload, created_at=stored.created_at)

    async def queue_message(
        self, content: MessageContent, *, sender: str | None, client_key: str
    ) -> InboxEntry:
        ctx = self._ctx
        return await queue(
            ctx.services,
            ctx.thread,
            content,
            sender=sender,
            client_key=client_key,
            staged=self._staged_files(),
        )

    def _stored(self, item_id: str) -> Item | None:
        """The item `item_id` of this turn, if a run of the tool before a crash stored it."""
        for item in reversed(self._ctx.turn_items()):
            if item.item_id == item_id:
                return item
        return None

    # -- lifecycle ----------------------------------------------------------------------------

    async def terminate(self, reason: str) -> None:
        ctx = self._ctx
        await ctx.store.terminate_thread(
            Terminate(
                thread_id=ctx.thread.thread_id,
                reason=checked_reason(reason),
                expected=ThreadCursor(last_item_seq=ctx.last_item_seq, last_event_seq=0),
                cancel_turn=False,  # the turn ends itself once its tools are done
            )
        )
        ctx.thread = replace(ctx.thread, status="terminated")

    async def remove_scheduled_effect(self, timer_id: str) -> bool:
        return await self._ctx.store.cancel_timer(self._ctx.thread.thread_id, timer_id)

    # -- loaders ------------------------------------------------------------------------------

    def load_prompt(self, name: str, variables: dict[str, Any]) -> str:
        return self._ctx.services.loaders.load_prompt(name, variables)

    def load_model(self, name: str) -> Model:
        return self._ctx.services.loaders.load_model(name)

    def load_agent(self, name: str) -> Agent:
        return self._ctx.services.loaders.load_agent(name)


def staged_messages(ctx: TurnContext, calls: Sequence[StagingCall]) -> list[NewItem]:
    """The messages the finished `calls` staged to be stored with their results, announced."""
    staged: list[NewItem] = []
    for call in calls:
        for new in call.staged:
            ctx.item_started(new.item_id, new.payload)
            staged.append(new)
    return staged
