"""`ChatThread`: one conversation on one platform, as a bot's handlers and tools see it."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from threadline.runtime import StartOptions, Thread, TurnSettings, run_with_options
from threadline.store import ThreadUpdate
from threadline.tools import ThreadState, Tool
from threadline.types import (
    AwaitingInput,
    ConfigurationError,
    InvalidInputError,
    TurnInProgressError,
    UserMessage,
)

from ._bot_agent import BOT_ANNOTATIONS, RUN_TOOLS, tool_table
from ._choices import (
    Question,
    answered_card,
    checked_options,
    choice_prompt,
    choice_schema,
    from_awaiting,
    open_questions,
    record_answer,
)
from ._delivery import Target, add_number_reactions, deliver
from ._services import BotServices
from ._transcript import TRANSCRIPT, spoken, transcript_limit, transcript_messages
from ._types import (
    ContextEntry,
    FileResult,
    FileUpload,
    Message,
    MessageRef,
    User,
    context_instructions,
)
from ._ui import UI, Card, Text, as_card

SUBSCRIBED = "subscribed"  # the conversation notes' key


class ChatThread:
    """A conversation on a chat platform, backed by a durable threadline thread: handlers get
    one as `ctx.thread`, tools as `bot.thread(state)`.

    Methods that need a platform capability degrade when the adapter lacks it: `get_messages`
    gives `[]`, `lookup_user` None, `post_file` `{"ok": False, ...}`, `delete` False, and
    `update` and streaming post new messages instead of editing.

        await ctx.thread.post("On it.")
        ref = await ctx.thread.run_agent(context=[tl.bots.ContextEntry("User", "Ann")])
    """

    def __init__(
        self,
        services: BotServices,
        platform: str,
        conversation: str,
        *,
        message: Message | None = None,
        tool_state: ThreadState[Any] | None = None,
    ) -> None:
        self._services = services
        self._adapter = services.adapter(platform)
        self.platform = platform
        self.conversation_key = conversation
        self._message = message
        self._tool_state = tool_state
        self._runs = 0

    def __repr__(self) -> str:
        return f"ChatThread({self.platform!r}, {self.conversation_key!r})"

    @property
    def capabilities(self) -> frozenset[str]:
        """What the platform can do (see `tl.bots.Capability`)."""
        return frozenset(self._adapter.capabilities)

    async def thread(self) -> Thread:
        """The conversation's durable threadline thread."""
        return await self._services.thread(self.platform, self.conversation_key)

    async def _target(self) -> Target:
        return Target(
            services=self._services,
            adapter=self._adapter,
            conversation=self.conversation_key,
            thread=await self.thread(),
        )

    # -- posting ---------------------------------------------------------------------------

    async def post(self, ui: UI) -> MessageRef:
        """Post text or a card; text past the platform's length limit continues in further
        messages (the last one's ref is returned). Raises `InvalidInputError` for bad `ui`."""
        card = as_card(ui)
        return await (await self._target()).post(card)

    async def update(self, ref: MessageRef, ui: UI) -> MessageRef:
        """Show `ui` in place of a posted message; where the platform cannot edit, post it as
        a new message. Returns the message that shows it."""
        card = as_card(ui)
        self._check_ref(ref)
        return await (await self._target()).edit(ref, card)

    async def delete(self, ref: MessageRef) -> bool:
        """Delete a posted message; False where the platform cannot."""
        self._check_ref(ref)
        if not self._adapter.can("delete"):
            return False
        await self._adapter.delete(ref)
        return True

    async def stream(self, text: str | AsyncIterable[str]) -> MessageRef | None:
        """Show text as it is produced: a placeholder edited as pieces arrive (at most every
        `stream_interval` seconds) where the platform can edit, else one post when it is
        complete; past the length limit it continues in a new message. Returns the last
        message, None if there was no text."""
        streamer = (await self._target()).streamer()
        if isinstance(text, str):
            return await streamer.finish(text)
        await streamer.post_placeholder()
        async for piece in text:
            if not isinstance(piece, str):
                raise InvalidInputError("stream() takes text, or an async iterable of text")
            await streamer.push(piece)
        return await streamer.finish()

    # -- the agent -------------------------------------------------------------------------

    async def run_agent(
        self,
        *,
        context: Sequence[ContextEntry] = (),
        tools: Sequence[Tool | Any] = (),
        prompt: str | None = None,
        transcript: bool | Mapping[str, Any] = False,
    ) -> MessageRef | None:
        """Run one turn of the bot's agent on this conversation and stream its answer here.

        Args:
            context: facts for this run (`ContextEntry`), after the bot's own, added to the
                run's instructions.
            tools: tools for this run, after the agent's and the bot's. A turn resumed in
                another process finds them there only once they were given to its bot
                (put tools that wait for people in `Bot(tools=...)`).
            prompt: the turn's input; default: the text of the message being handled.
            transcript: True (or `{"limit": n}`, default 50) brings the people's messages
                that the thread does not hold yet in from the platform's history first.

        Returns the last message of the answer (None if it posted nothing, e.g. a retried
        event whose answer was shown). The turn's `client_key` is the message's event id,
        so a retried delivery never runs a turn twice. Raises `TurnInProgressError` while
        the conversation's turn waits for a choice or runs elsewhere, `TurnFailedError` /
        `TurnCancelledError` after saying so in the conversation, `InvalidInputError`
        (before anything is stored) for bad arguments.
        """
        message = self._message
        text = prompt if prompt is not None else (message.text if message is not None else None)
        if text is None:
            raise InvalidInputError("run_agent needs a prompt outside a message handler")
        limit = transcript_limit(transcript)
        entries = [*self._services.settings.context, *_entries(context)]
        run_tools = self._register(tools)
        target = await self._target()
        history: list[UserMessage] = []
        consumed = [] if message is None else [message.message_id]
        if limit is not None:
            history, consumed = await transcript_messages(target, limit, message)
            if message is not None and prompt is None:
                text = spoken(message)
        self._runs += 1
        client_key = None
        if message is not None:
            client_key = message.event_id if self._runs == 1 else f"{message.event_id}#{self._runs}"
        annotations: dict[str, Any] = {RUN_TOOLS: [t.name for t in run_tools]}
        if consumed:
            annotations[TRANSCRIPT] = consumed
        options = StartOptions(
            sender=message.user.name if message is not None else None,
            client_key=client_key,
            settings=TurnSettings(instructions=context_instructions(entries)),
            annotations={BOT_ANNOTATIONS: annotations},
            history=tuple(history),
        )
        return await deliver(target, run_with_options(target.thread, text, options))

    async def resume(self, value: Any, *, user: User | None = None) -> MessageRef | None:
        """Answer what the conversation's turn waits for with `value`, and stream the rest of
        the turn here. For a bot's card, `value` is one of its buttons' values (or labels);
        for a tool's own `await_choice`, anything its schema accepts. Raises
        `InvalidInputError` (changing nothing) when nothing waits or `value` does not fit."""
        target = await self._target()
        chooser = user or (self._message.user if self._message is not None else None)
        chooser = chooser or User(id=self._services.settings.owner, name="bot")
        notes = await self._services.notes(target.thread)
        for question in await open_questions(target.thread, notes, None):
            for index, option in enumerate(question.options):
                if value in (option.chosen, option.label):
                    # Code that resumes speaks for the bot: approvers limit people only.
                    trusted = replace(question, approvers=None)
                    return await answer_question(target, trusted, index, chooser)
        pending = [r for r in await target.thread.pending() if isinstance(r, AwaitingInput)]
        if not pending or from_awaiting(pending[0]) is not None:
            raise InvalidInputError("nothing in this conversation waits for that answer")
        await target.thread.answer(value, sender=chooser.name)
        return await deliver(target, target.thread.resume_turn_streamed())

    async def await_choice(self, ui: UI, *, approvers: Sequence[str] | None = None) -> str:
        """From a tool (`bot.thread(state)`): post `ui`'s buttons and wait, durably, until
        someone picks one; return its value. Where the platform has no buttons they are
        numbered (and, with reactions, the bot reacts with the numbers to click). The card is
        then edited to say who chose what; later clicks do nothing. `approvers` (platform
        user ids) are the only people whose answer counts.

        Raises `ConfigurationError` outside a tool, `InvalidInputError` for a card without
        buttons, with more than 10, or with two of the same value.
        """
        state = self._tool_state
        if state is None:
            raise ConfigurationError(
                "await_choice blocks a tool: call it on the thread a tool gets from "
                "bot.thread(state)"
            )
        card = as_card(ui)
        checked_options(card)
        allowed = None if approvers is None else frozenset(_user_ids(approvers))
        asked = _asked_before(state)
        if asked is None:
            target = await self._target()
            question = Question(
                kind="choice",
                tool_call_id=state.tool_call_id,
                card=card,
                ref=None,
                approvers=allowed,
            )
            key = f"choice:{state.turn_id}:{state.tool_call_id}"
            ref = await target.post(card, question.actions(), key=key)
            if self._adapter.can("reactions") and not self._adapter.can("buttons"):
                await add_number_reactions(self._adapter, ref, len(card.buttons))
            asked = choice_schema(state.tool_call_id, card, ref, allowed)
        answer = await state.await_choice(choice_prompt(card), asked)
        return str(answer["value"])

    # -- subscriptions and state -----------------------------------------------------------

    async def subscribe(self) -> None:
        """Route every later message of this conversation to `on_subscribed_message`
        (stored: it holds across restarts)."""
        await self._set_note(SUBSCRIBED, True)

    async def unsubscribe(self) -> None:
        await self._set_note(SUBSCRIBED, False)

    async def is_subscribed(self) -> bool:
        notes = await self._services.notes(await self.thread())
        return bool(notes.get(SUBSCRIBED))

    async def state(self) -> Any:
        """The conversation's state: an instance of the bot's `state_type` (a dict without
        one), None if it was never set. Tools share it (`ThreadState.state`)."""
        state_type = self._services.settings.state_type
        if self._tool_state is not None:
            return self._tool_state.state
        stored = (await (await self.thread()).reload()).state
        if stored is None:
            return None
        return state_type.model_validate(stored) if state_type is not None else dict(stored)

    async def set_state(self, value: Any) -> None:
        """Replace the conversation's state. It is validated by the bot's `state_type` (a
        dict without one) first: `InvalidInputError`, and nothing stored, if it does not
        fit. From a tool, it is stored with the tool's result."""
        stored = self._validated_state(value)
        if self._tool_state is not None:
            self._tool_state.set_state(value)
            return
        thread = await self.thread()
        await self._services.app.store.update_thread(thread.id, ThreadUpdate(state=stored))

    def _validated_state(self, value: Any) -> dict[str, Any]:
        state_type = self._services.settings.state_type
        if state_type is None:
            if not isinstance(value, dict):
                raise InvalidInputError("without a state_type, a bot's state is a dict")
            return _json_state(value)
        try:
            data = value.model_dump() if isinstance(value, BaseModel) else value
            return state_type.model_validate(data).model_dump(mode="json")
        except ValidationError as exc:
            raise InvalidInputError(
                f"state does not match {state_type.__name__}: {exc.errors(include_url=False)}"
            ) from None

    # -- platform power --------------------------------------------------------------------

    async def get_messages(self, limit: int = 50) -> list[Message]:
        """The conversation's latest messages from the platform, oldest first; `[]` where the
        platform keeps no history."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidInputError("limit must be a whole number of at least 1")
        if not self._adapter.can("history"):
            return []
        return await self._adapter.history(self.conversation_key, limit)

    async def lookup_user(self, query: str) -> User | None:
        """A user of the platform by id or name; None if there is none, or where users
        cannot be looked up."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("lookup_user needs a non-empty query")
        if not self._adapter.can("lookup_user"):
            return None
        return await self._adapter.lookup_user(query)

    async def post_file(
        self,
        data: bytes,
        filename: str,
        *,
        title: str | None = None,
        alt_text: str | None = None,
    ) -> FileResult:
        """Post a file into the conversation: `{"ok": True, "file_id": ..., "error": None}`,
        or `{"ok": False, "file_id": None, "error": why}` (the platform takes no files, or
        refused this one)."""
        if not isinstance(data, bytes | bytearray):
            raise InvalidInputError("post_file takes bytes")
        if not isinstance(filename, str) or not filename.strip() or "\x00" in filename:
            raise InvalidInputError("post_file needs a file name")
        if not self._adapter.can("files"):
            return {"ok": False, "file_id": None, "error": f"{self.platform} takes no files"}
        upload = FileUpload(data=bytes(data), filename=filename, title=title, alt_text=alt_text)
        try:
            file_id = await self._adapter.upload(self.conversation_key, upload)
        except Exception as exc:  # the platform's refusal, reported rather than raised
            return {"ok": False, "file_id": None, "error": f"upload failed: {type(exc).__name__}"}
        return {"ok": True, "file_id": file_id, "error": None}

    # -- helpers ---------------------------------------------------------------------------

    def _check_ref(self, ref: MessageRef) -> None:
        if not isinstance(ref, MessageRef):
            raise InvalidInputError("expected a MessageRef")
        if (ref.platform, ref.conversation) != (self.platform, self.conversation_key):
            raise InvalidInputError("that message is not in this conversation")

    def _register(self, tools: Sequence[Tool | Any]) -> list[Tool]:
        built = list(tool_table(tools, "run_agent"))
        known = self._services.run_tools
        for tool in built:
            if tool.name in {t.name for t in self._services.settings.tools}:
                raise ConfigurationError(f"the bot already has a tool named {tool.name!r}")
            known[tool.name] = tool
        return built

    async def _set_note(self, key: str, value: Any) -> None:
        await self._services.patch_notes(await self.thread(), {key: value})


async def answer_question(
    target: Target, question: Question, index: int, user: User
) -> MessageRef | None:
    """Record `user`'s answer (if they may give it and it is still open), show it on the card,
    and stream the rest of the turn. None when the answer did not count."""
    if not question.may_answer(user) or not await record_answer(
        target.thread, question, index, user
    ):
        return None
    shown = answered_card(question, index, user)
    if question.ref is not None and target.adapter.can("edit"):
        await target.adapter.update(question.ref, shown)
    else:
        label = question.options[index].label
        await target.post(Card(Text(f"{user.name} chose {label}.")))
    try:
        return await deliver(target, target.thread.resume_turn_streamed())
    except TurnInProgressError:  # another process continues it
        return None


def _asked_before(state: ThreadState[Any]) -> dict[str, Any] | None:
    """The schema of this call's card, if it was posted before (a tool run again after a
    restart finds its answer without posting the card twice)."""
    for item in reversed(state.get_messages()):
        payload = item.payload
        if isinstance(payload, AwaitingInput) and payload.tool_call_id == state.tool_call_id:
            return payload.schema
    return None


def _entries(context: Sequence[ContextEntry]) -> list[ContextEntry]:
    if isinstance(context, ContextEntry) or not all(isinstance(c, ContextEntry) for c in context):
        raise InvalidInputError("context is a list of tl.bots.ContextEntry")
    return list(context)


def _user_ids(approvers: Sequence[str]) -> list[str]:
    if isinstance(approvers, str) or not all(isinstance(a, str) for a in approvers):
        raise InvalidInputError("approvers is a list of platform user ids")
    return list(approvers)


def _json_state(value: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise InvalidInputError(
            "a bot's state must be JSON (text, numbers, lists, dicts)"
        ) from None
