"""`Bot`: receives events from its adapters, routes each to its handlers, or to the question
(a choice or an approval) it answers, one event of a conversation at a time."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from threadline._logging import log_failure
from threadline.runtime import Agent, Threadline
from threadline.tools import ThreadState, Tool
from threadline.types import ConfigurationError, InvalidInputError

from ._adapter import Adapter
from ._bot_agent import bot_agent, tool_table
from ._choices import (
    Question,
    answered_by_action,
    answered_by_number,
    answered_by_reaction,
    open_questions,
)
from ._delivery import BUTTON_PREFIX, Target
from ._services import BOT_METADATA, BotServices, BotSettings, thread_key
from ._streaming import PLACEHOLDER
from ._thread import SUBSCRIBED, ChatThread, answer_question
from ._types import ActionEvent, ChatEvent, ContextEntry, Message

logger = logging.getLogger("threadline.bots")

Handler = Callable[["Context"], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a handler receives: the `message` that triggered it and its conversation's
    `thread` (a `ChatThread`). For a click (`on_action`), `action` is the click and
    `message` stands for it: its text is the button's value, its user the one who clicked."""

    bot: Bot
    message: Message
    thread: ChatThread
    action: ActionEvent | None = None  # the click, for `on_action` handlers

    @property
    def value(self) -> str | None:
        """The clicked button's value, for `on_action` handlers."""
        return None if self.action is None else self.message.text

    @property
    def platform(self) -> str:
        return self.thread.platform


class Bot:
    """A chat bot: handlers for what people say on chat platforms, each given the
    conversation as a `ChatThread` backed by a durable threadline thread.

        bot = tl.Bot(app, adapters=[tl.bots.IRC("127.0.0.1", 6667, "helper", channels=["#ops"])])

        @bot.on_mention
        async def mention(ctx: tl.bots.Context) -> None:
            await ctx.thread.run_agent()

        async with bot:
            ...

    Args:
        app: the app whose store keeps the conversations; the bot runs a copy of one of its
            agents under the bot's name.
        adapters: one per platform (`tl.bots.IRC`, `threadline.testing.MemoryChat`, ...).
        agent: the app's agent to copy (an `Agent` or its name); default: the app's first.
        state_type: a pydantic model that each conversation's state must match (shared
            with tools as `ThreadState.state`); default: the agent's.
        tools: tools the bot's agent has on top of the copied agent's.
        context: `ContextEntry`s every run is told.
        name: the bot's name: its agent's name and the owner (`user_id`) of its
            conversations' threads (`bot:NAME`). A restarted bot continues its conversations
            under the same name.
        stream_interval: the fewest seconds between two edits of a streamed message.
        placeholder: what a message shows until the answer's first words arrive.
        approvers: platform user ids whose answers to approval cards count (default:
            anyone in the conversation).

    Raises `ConfigurationError` for two adapters of one platform, an unknown agent, or a
    name the app already uses.
    """

    def __init__(
        self,
        app: Threadline,
        adapters: Sequence[Adapter],
        *,
        agent: str | Agent | None = None,
        state_type: type[BaseModel] | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        context: Sequence[ContextEntry] = (),
        name: str = "bot",
        stream_interval: float = 0.5,
        placeholder: str = PLACEHOLDER,
        approvers: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(app, Threadline):
            raise ConfigurationError("a Bot needs a tl.Threadline app")
        if not adapters:
            raise ConfigurationError("a Bot needs at least one adapter")
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError("a bot needs a non-empty name")
        if state_type is not None and not (
            isinstance(state_type, type) and issubclass(state_type, BaseModel)
        ):
            raise ConfigurationError("a bot's state_type is a pydantic model")
        if stream_interval < 0:
            raise ConfigurationError("stream_interval must be >= 0")
        if any(not isinstance(c, ContextEntry) for c in context):
            raise ConfigurationError("context is a list of tl.bots.ContextEntry")
        if approvers is not None and (
            isinstance(approvers, str) or not all(isinstance(a, str) for a in approvers)
        ):
            raise ConfigurationError("approvers is a list of platform user ids")
        agent_name = f"bot:{name}"
        built_tools = tool_table(tools, f"bot {name!r}")
        settings = BotSettings(
            name=name,
            agent=agent_name,
            owner=agent_name,
            state_type=state_type,
            tools=built_tools,
            context=tuple(context),
            stream_interval=stream_interval,
            placeholder=placeholder,
            approvers=None if approvers is None else frozenset(approvers),
        )
        self._services = BotServices(app, adapters, settings)
        self.agent = bot_agent(
            app,
            agent,
            agent_name,
            state_type=state_type,
            tools=built_tools,
            run_tools=self._services.run_tools,
        )
        self._services.settings = replace(settings, state_type=self.agent.state_type)
        self.name = name
        self._mention_handlers: list[Handler] = []
        self._subscribed_handlers: list[Handler] = []
        self._action_handlers: list[Handler] = []
        self._submitted: set[asyncio.Task[None]] = set()
        self._started: list[Adapter] = []

    @property
    def adapters(self) -> dict[str, Adapter]:
        """The bot's adapters by platform."""
        return dict(self._services.adapters)

    # -- handlers ----------------------------------------------------------------------------

    def on_mention(self, handler: Handler) -> Handler:
        """Register `handler` (async, taking a `Context`) for messages that address the bot
        in conversations it is not subscribed to. Use as a decorator."""
        self._mention_handlers.append(_checked_handler(handler))
        return handler

    def on_action(self, handler: Handler) -> Handler:
        """Register `handler` for clicks on buttons the bot posted with `post` or `update`
        (not those of `await_choice` or approval cards): `ctx.value` is the button's value.
        Use as a decorator."""
        self._action_handlers.append(_checked_handler(handler))
        return handler

    def on_subscribed_message(self, handler: Handler) -> Handler:
        """Register `handler` for every message of a subscribed conversation
        (`ctx.thread.subscribe()`), mentions included. Use as a decorator."""
        self._subscribed_handlers.append(_checked_handler(handler))
        return handler

    # -- conversations outside handlers ------------------------------------------------------

    def thread(self, state: ThreadState[Any]) -> ChatThread:
        """The conversation a tool of the bot's agent runs for, from the tool's
        `ThreadState`: where it posts, streams and asks (`await_choice`).

            @tl.tool
            async def deploy(env: str, thread: tl.ThreadState) -> str:
                choice = await bot.thread(thread).await_choice(card)

        Raises `ConfigurationError` for a tool that does not run in one of its
        conversations.
        """
        notes = state.metadata.get(BOT_METADATA)
        if state.agent_id != self.agent.name or not isinstance(notes, dict):
            raise ConfigurationError("this tool does not run in a conversation of this bot")
        return ChatThread(
            self._services, str(notes["platform"]), str(notes["conversation"]), tool_state=state
        )

    def conversation(self, platform: str, conversation: str) -> ChatThread:
        """A conversation to post in (or run the agent on) outside any handler. Raises
        `NotFoundError` for a platform without an adapter."""
        if not isinstance(conversation, str) or not conversation:
            raise InvalidInputError("a conversation key is a non-empty string")
        return ChatThread(self._services, platform, conversation)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the app (if it is not) and connect every adapter."""
        await self._services.app.open()
        try:
            for adapter in self._services.adapters.values():
                await adapter.start(_Sink(self, adapter))
                self._started.append(adapter)
        except BaseException:
            await self.stop(grace=0)
            raise

    async def stop(self, *, grace: float = 5.0) -> None:
        """Let the events being handled finish for `grace` seconds (their answers still
        reach the platform), disconnect the adapters, then cancel what is left (which
        interrupts those turns)."""
        if self._submitted and grace > 0:
            await asyncio.wait(list(self._submitted), timeout=grace)
        while self._started:
            await self._started.pop().stop()
        pending = list(self._submitted)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def __aenter__(self) -> Bot:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- events ------------------------------------------------------------------------------

    async def _handle(self, adapter: Adapter, event: ChatEvent) -> None:
        if event.user.id == adapter.user_id:
            return  # the bot's own message or reaction (its number reactions)
        key = thread_key(adapter.platform, event.conversation)
        async with self._services.conversation_locks.hold(key):
            if isinstance(event, Message):
                await self._on_message(adapter, event)
            elif isinstance(event, ActionEvent):
                await self._on_action(adapter, event)
            elif event.added:
                await self._on_answer(
                    adapter, event, lambda q: answered_by_reaction(q, event.message, event.emoji)
                )

    async def _on_message(self, adapter: Adapter, message: Message) -> None:
        services = self._services
        if _numbered(message.text):
            answered = await self._on_answer(
                adapter, message, lambda q: answered_by_number(q, message.text)
            )
            if answered:
                return
        handlers = self._mention_handlers if message.mentioned else []
        if self._subscribed_handlers:
            thread = await services.thread(adapter.platform, message.conversation)
            if (await services.notes(thread)).get(SUBSCRIBED):
                handlers = self._subscribed_handlers
        if not handlers:
            return
        context = Context(
            bot=self,
            message=message,
            thread=ChatThread(services, adapter.platform, message.conversation, message=message),
        )
        for handler in handlers:
            await handler(context)

    async def _on_action(self, adapter: Adapter, action: ActionEvent) -> None:
        prefix, _, value = action.action_id.partition(":")
        if prefix != BUTTON_PREFIX:
            await self._on_answer(
                adapter, action, lambda q: answered_by_action(q, action.action_id)
            )
            return
        message = Message(
            event_id=action.event_id,
            message_id=action.message.message_id,
            conversation=action.conversation,
            user=action.user,
            text=value,
        )
        context = Context(
            bot=self,
            message=message,
            thread=ChatThread(
                self._services, adapter.platform, action.conversation, message=message
            ),
            action=action,
        )
        for handler in self._action_handlers:
            await handler(context)

    async def _on_answer(
        self,
        adapter: Adapter,
        event: ChatEvent,
        pick: Callable[[list[Question]], tuple[Question, int] | None],
    ) -> bool:
        """Answer the question the event picks, if one is open; True if it picked one."""
        services = self._services
        thread = await services.thread(adapter.platform, event.conversation)
        notes = await services.notes(thread)
        picked = pick(await open_questions(thread, notes, services.settings.approvers))
        if picked is None:
            return False
        target = Target(
            services=services, adapter=adapter, conversation=event.conversation, thread=thread
        )
        question, index = picked
        await answer_question(target, question, index, event.user)
        return True

    def _submit(self, adapter: Adapter, event: ChatEvent) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._handle(adapter, event))
        self._submitted.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._submitted.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            log_failure(logger, "a chat event could not be handled", exc=exc)


class _Sink:
    """An adapter's way into its bot (see `EventSink`)."""

    def __init__(self, bot: Bot, adapter: Adapter) -> None:
        self._bot = bot
        self._adapter = adapter

    async def deliver(self, event: ChatEvent) -> None:
        try:
            await self._bot._handle(self._adapter, event)  # pyright: ignore[reportPrivateUsage]
        except Exception as exc:
            log_failure(logger, "a chat event could not be handled", exc=exc)
            raise

    def submit(self, event: ChatEvent) -> asyncio.Task[None]:
        return self._bot._submit(self._adapter, event)  # pyright: ignore[reportPrivateUsage]


def _checked_handler(handler: Handler) -> Handler:
    if not inspect.iscoroutinefunction(handler):
        raise ConfigurationError("a bot handler is an async function taking a Context")
    return handler


def _numbered(text: str) -> bool:
    return text.strip().rstrip(".)").isdigit()
