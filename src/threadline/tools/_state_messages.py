from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from threadline.types import (
    ConfigurationError,
    InboxEntry,
    InvalidInputError,
    Item,
    ThreadRecord,
    TimerRecord,
    TurnRecord,
)

if TYPE_CHECKING:
    from threadline.models import Model

MessageRole = Literal["user", "assistant"]
"""Who an injected message speaks for: the user (a `user_message` item) or the agent (an
`agent_message` item)."""

InjectPosition = Literal["end", "with_result"]
"""Where `inject_message` puts a message (see `MessageAccess.inject_message`)."""

MessageContent = str | Sequence[Any]
"""Text, or a list of input parts (`{"type": "text", ...}`, images, files)."""


class AgentDefinition(Protocol):
    """An agent of the app, as `load_agent` returns it (a `threadline.Agent`)."""

    @property
    def name(self) -> str: ...


class MessageServices(Protocol):
    """What the runtime lends a tool for its thread's identity, messages, lifecycle and
    loaders. Every key it is given is derived from the tool call's idempotency key, so a tool
    that is run again after a crash repeats nothing."""

    @property
    def thread_record(self) -> ThreadRecord: ...

    @property
    def execution(self) -> TurnRecord: ...

    def get_message(self, item_id: str) -> Item: ...

    def message_versions(self, item_id: str) -> list[Item]: ...

    async def inject_message(
        self,
        content: MessageContent,
        *,
        role: MessageRole,
        sender: str | None,
        position: InjectPosition,
        key: str,
    ) -> Item: ...

    async def update_message(self, item_id: str, content: MessageContent, *, key: str) -> Item: ...

    async def queue_message(
        self, content: MessageContent, *, sender: str | None, client_key: str
    ) -> InboxEntry: ...

    async def terminate(self, reason: str) -> None: ...

    async def remove_scheduled_effect(self, timer_id: str) -> bool: ...

    def load_prompt(self, name: str, variables: dict[str, Any]) -> str: ...

    def load_model(self, name: str) -> Model: ...

    def load_agent(self, name: str) -> AgentDefinition: ...


class MessageAccess:
    """The thread's identity, messages, lifecycle and loaders, for a tool (see `ThreadState`).

    What a tool does here is durable when the call returns, and a tool that is run again after
    a crash (an idempotent one) does not do it twice: each operation is keyed by the tool
    call's `idempotency_key` and its rank among the call's operations.
    """

    idempotency_key: str  # set by `ThreadState`
    scheduled: list[TimerRecord]  # set by `ThreadState`
    _operations = 0  # how many keyed operations this tool call made so far

    # -- identity -----------------------------------------------------------------------------

    @property
    def execution(self) -> TurnRecord | None:
        """The record of the running turn (the one this tool runs in), as it was when the
        tool started; None outside a turn."""
        services = getattr(self, "_services", None)
        return None if services is None else cast(MessageServices, services).execution

    @property
    def terminated(self) -> bool:
        """Whether the thread was terminated (by this tool, or before)."""
        services = getattr(self, "_services", None)
        if services is None:
            return False
        record: ThreadRecord = cast(MessageServices, services).thread_record
        return record.status == "terminated"

    # -- messages -----------------------------------------------------------------------------

    async def get_message(self, item_id: str) -> Item:
        """The thread's item `item_id` as the model sees it now (as last edited).

        Raises `NotFoundError` for an id the thread does not hold (another thread's included)
        or an item taken out of the history.
        """
        return self._message_services("get_message").get_message(item_id)

    async def get_message_versions(self, item_id: str) -> list[Item]:
        """Every version of item `item_id`, oldest first: the item as stored, then one per
        `update_message` (same id and seq, the edit's content and time). Raises
        `NotFoundError` like `get_message`."""
        return self._message_services("get_message_versions").message_versions(item_id)

    async def inject_message(
        self,
        content: MessageContent,
        *,
        role: MessageRole = "user",
        sender: str | None = None,
        position: InjectPosition = "end",
    ) -> Item:
        """Add a message to the thread's history inside the running turn; the model reads it
        from its next request on.

        Args:
            content: text, or input parts (an assistant message takes text only).
            role: "user" stores a `user_message`, "assistant" an `agent_message`.
            sender: who speaks, for a user message.
            position: "end" (the default) stores the message now, after everything the thread
                holds: it survives a crash as soon as this returns. The model sees it after
                the results of the tool calls that are running (each call must be followed
                by its result), so in the next request. "with_result" stores it with this
                tool call's result, in the same transaction, right after the step's results:
                a call cut off by a crash leaves no message behind. The returned item's `seq`
                is then 0 until the step is stored.

        Raises `InvalidInputError` for empty or malformed content (nothing is stored).

            await thread.inject_message("The user's plan is Pro.", role="user")
        """
        if position not in ("end", "with_result"):
            raise InvalidInputError("position must be 'end' or 'with_result'")
        if role not in ("user", "assistant"):
            raise InvalidInputError("role must be 'user' or 'assistant'")
        services = self._message_services("inject_message")
        return await services.inject_message(
            content, role=role, sender=sender, position=position, key=self._next_key("inject")
        )

    async def update_message(self, item_id: str, content: MessageContent) -> Item:
        """Edit a stored message: a user message's content, an agent message's text or a
        tool result's output. The edit is stored as an `edited` system event (and its
        events); the model sees the new version from its next request on; the original stays
        in the log (`get_message_versions`). Returns the new version.

        Raises `NotFoundError` for an unknown item, `InvalidInputError` for an item of
        another kind or malformed content (nothing is stored).
        """
        services = self._message_services("update_message")
        return await services.update_message(item_id, content, key=self._next_key("update"))

    async def queue_message(
        self, content: MessageContent, *, sender: str | None = None
    ) -> InboxEntry:
        """Queue a user message for this thread, durably and in order: the running turn takes
        it before its next model step (after this step's results); if the turn ends first,
        the message starts a turn of its own. Returns the inbox entry.

        Raises `InvalidInputError` for malformed content, `ThreadTerminatedError` once the
        thread was terminated.
        """
        services = self._message_services("queue_message")
        return await services.queue_message(
            content, sender=sender, client_key=self._next_key("queue")
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def terminate(self, reason: str) -> None:
        """End the thread for good. This tool finishes and its result is stored; then the turn
        ends as cancelled, with a `terminated` system event that gives `reason`. From now on
        the thread refuses input (`ThreadTerminatedError`), its inbox and scheduled effects
        are dropped. Terminating twice changes nothing."""
        if not isinstance(reason, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise InvalidInputError("the reason must be a string")
        await self._message_services("terminate").terminate(reason)

    async def remove_scheduled_effect(self, timer_id: str) -> bool:
        """Cancel a pending scheduled effect of this thread (one this tool scheduled, or an
        earlier one). False if the thread has no such pending effect."""
        for timer in self.scheduled:
            if timer.timer_id == timer_id:  # not stored yet: it is stored with the result
                self.scheduled.remove(timer)
                return True
        return await self._message_services("remove_scheduled_effect").remove_scheduled_effect(
            timer_id
        )

    # -- loaders ------------------------------------------------------------------------------

    def load_prompt(self, name: str, /, **variables: Any) -> str:
        """The app's prompt `name` (`Threadline(prompts=[tl.Prompt(...)])`) rendered with
        `variables`. Raises `NotFoundError` (naming the prompts there are) for an unknown
        name, `InvalidInputError` naming a variable that is missing, of the wrong type or
        unknown."""
        return self._message_services("load_prompt").load_prompt(name, variables)

    def load_model(self, name: str) -> Model:
        """The app's model `name` (`Threadline(models={"fast": "openai:gpt-4.1-mini"})`),
        resolved like an agent's model. Raises `NotFoundError` naming the models there are."""
        return self._message_services("load_model").load_model(name)

    def load_agent(self, name: str) -> AgentDefinition:
        """The app's agent `name` (a `threadline.Agent`). Raises `NotFoundError` naming the
        agents there are."""
        return self._message_services("load_agent").load_agent(name)

    # -- helpers ------------------------------------------------------------------------------

    def _message_services(self, operation: str) -> MessageServices:
        services = getattr(self, "_services", None)
        if services is None:
            raise ConfigurationError(f"{operation} needs a running turn")
        return cast(MessageServices, services)

    def _next_key(self, kind: str) -> str:
        self._operations += 1
        return f"{self.idempotency_key}:{kind}:{self._operations}"
