from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import TracerProvider

from threadline._logging import log_failure
from threadline.models import Model
from threadline.store import Store, open_store
from threadline.tools import DEFAULT_FILE_QUOTA_BYTES, ToolSource
from threadline.types import Budget, ConfigurationError, EnvType, EnvValue, InvalidInputError

from ._agent import Agent
from ._agent_result import AgentResult, RunEnvelope
from ._chat import ChatRequest, agent_name, chat, chat_stream
from ._engine import Engine
from ._engine_parts import EngineSettings
from ._env import Environment, account, static_layer
from ._faults import FaultHook
from ._input import TurnInput
from ._loaders import Loaders, Prompt
from ._manager import ThreadManager
from ._memory import Memory, checked_owner
from ._recovery import RecoveryReport, recover
from ._secrets import SecretBox, SecretKey
from ._subagent_limits import SubagentLimits
from ._tracing import DEFAULT_TRACE_RETENTION_SECONDS, Tracing

logger = logging.getLogger("threadline.runtime")

if TYPE_CHECKING:
    from ._sync import SyncThreadline


class Threadline:
    """The app: agents, a store and the engine that runs their turns.

        async with tl.Threadline(agents=[agent]) as app:
            thread = await app.threads.start(user_id="me")
            print((await thread.run("Hello")).text)

    Args:
        agents: at least one; the first is the default for new threads.
        store: a `Store`, a SQLite path, a `sqlite:///` URL, a `postgresql://` URL, or
            `":memory:"` (a database of this app's own, gone when it closes); default
            `./threadline.db`.
        model: the model of agents that name none: a spec such as `"local"` or a `Model`.
        history_cache_threads: how many recently run threads keep their history in memory.
        lease_seconds: how long a turn's lease lasts without a heartbeat; another process
            continues a turn whose owner died within this time plus one recovery pass.
        recovery_interval: run `recover()` every this many seconds (None: only when called).
        run_turns: False for an API process next to workers: turns are stored for a worker
            to claim, and their events are followed from the store.
        shutdown_grace: on close, how long running turns may finish before they are handed
            back for recovery.
        faults: a `threadline.testing.FaultPoints`, for tests that break turns on purpose.
        file_quota_bytes: how many bytes each thread's files may take (100 MiB by default;
            None: no limit); a write beyond is refused with `FileQuotaExceededError`.
        env: configuration and secrets for every thread, under the thread's own values and
            its account's: a `str` is text, a `tl.Secret` a secret (see `set_env`).
        secret_key: the Fernet key that encrypts stored secrets (several, comma-separated,
            rotate: the first encrypts), or the path of a file holding it; default:
            `THREADLINE_SECRET_KEY`, else the file `THREADLINE_SECRET_KEY_FILE` names.
            Without one, secrets cannot be stored or read (`SecretKeyError`).
        prompts: `tl.Prompt`s that tools load by name (`thread.load_prompt(name, **vars)`).
        models: models that tools load by name (`thread.load_model(name)`): a spec such as
            `"openai:gpt-4.1-mini"` or a `Model` for each name, resolved on first load.
        subagent_limits: how deep a tree of threads may grow and how many children one
            turn may spawn (`tl.SubagentLimits`).
        tracing: store a span for every durable step of each turn (`thread.trace(turn_id)`).
        tracer_provider: an OpenTelemetry `TracerProvider` that exports the spans too;
            default: the provider set globally, else an OTLP/HTTP exporter when
            `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`threadline[otlp]`), else none.
        trace_content: keep answers and tool results (redacted, cut to 4096 characters) in
            span attributes; off by default.
        trace_retention_seconds: recovery passes delete spans that ended longer ago than
            this (a week by default; None: keep them).

    The agents an agent declares as `subagents` are part of the app too.
    """

    def __init__(
        self,
        *,
        agents: Sequence[Agent],
        store: Store | str | Path | None = None,
        model: str | Model = "local",
        history_cache_threads: int = 128,
        lease_seconds: float = 30.0,
        recovery_interval: float | None = None,
        shutdown_grace: float = 5.0,
        faults: FaultHook | None = None,
        run_turns: bool = True,
        file_quota_bytes: int | None = DEFAULT_FILE_QUOTA_BYTES,
        env: Mapping[str, EnvValue] | None = None,
        secret_key: SecretKey | None = None,
        prompts: Sequence[Prompt] = (),
        models: Mapping[str, str | Model] | None = None,
        subagent_limits: SubagentLimits | None = None,
        tracing: bool = True,
        tracer_provider: TracerProvider | None = None,
        trace_content: bool = False,
        trace_retention_seconds: float | None = DEFAULT_TRACE_RETENTION_SECONDS,
    ) -> None:
        if not agents:
            raise ConfigurationError("a Threadline app needs at least one agent")
        if file_quota_bytes is not None and (
            not isinstance(file_quota_bytes, int) or file_quota_bytes < 0
        ):
            raise ConfigurationError("file_quota_bytes must be a number of bytes, or None")
        by_name = _agents_by_name(agents)
        box = SecretBox.configure(secret_key)
        app_env = static_layer(env, "the app")
        loaders = Loaders(agents=by_name, prompts=prompts, models=models)
        self.store = open_store(store)
        self._engine = Engine(
            store=self.store,
            agents=by_name,
            default_model=model,
            settings=EngineSettings(
                lease_seconds=lease_seconds,
                history_cache_threads=history_cache_threads,
                recovery_interval=recovery_interval,
                shutdown_grace=shutdown_grace,
                run_turns=run_turns,
                file_quota_bytes=file_quota_bytes,
                subagent_limits=subagent_limits or SubagentLimits(),
                tracing=Tracing(
                    enabled=tracing,
                    tracer_provider=tracer_provider,
                    content=trace_content,
                    retention_seconds=trace_retention_seconds,
                ),
            ),
            faults=faults,
            env=Environment(self.store, box, app_env),
            loaders=loaders,
        )
        self.threads = ThreadManager(self._engine, agents[0].name)
        self._open = False

    @property
    def agents(self) -> dict[str, Agent]:
        return dict(self._engine.agents)

    @property
    def model(self) -> str | Model:
        """The model of agents that name none, as given (a spec or a `Model`)."""
        return self._engine.default_model

    # -- the environment beyond a thread ------------------------------------------------------

    async def set_env(
        self,
        name: str,
        value: str,
        *,
        type: EnvType | None = None,
        user_id: str | None = None,
        resource_id: str | None = None,
    ) -> None:
        """Store a value for every thread of `user_id` (or of `resource_id`); with neither,
        for every thread of the store. A thread's own value comes first, then its user's,
        its resource's, the instance's, `Threadline(env=...)`'s and its agent's. Without
        `type` the type the name has there now is kept; a new name is a secret. Raises
        `InvalidInputError`, `SecretKeyError` (a secret and no key); nothing is stored then.

            await app.set_env("GITHUB_TOKEN", token, user_id="ada")
        """
        await self._engine.env.set(name, value, type, account(user_id, resource_id))

    async def env(
        self, name: str, *, user_id: str | None = None, resource_id: str | None = None
    ) -> str | None:
        """The value `name` resolves to for `user_id` (or `resource_id`, or the instance),
        None if it is set nowhere. Raises `SecretKeyError` for a secret without its key."""
        return await self._engine.env.value(name, account(user_id, resource_id))

    async def env_type(
        self, name: str, *, user_id: str | None = None, resource_id: str | None = None
    ) -> EnvType | None:
        """`"secret"` or `"text"`, None if `name` is set nowhere for that owner."""
        return await self._engine.env.type_of(name, account(user_id, resource_id))

    async def delete_env(
        self, name: str, *, user_id: str | None = None, resource_id: str | None = None
    ) -> bool:
        """Remove the value stored for exactly that owner. False if there was none."""
        return await self._engine.env.delete(name, account(user_id, resource_id))

    # -- chat by key, and memory ----------------------------------------------------------------

    async def chat(
        self,
        agent: str | Agent,
        input: TurnInput,
        *,
        thread_id: str,
        resource_id: str | None = None,
        user_id: str | None = None,
        memory_agent_id: str | None = None,
        budget: Budget | None = None,
        sender: str | None = None,
    ) -> AgentResult:
        """Send `input` to `agent` in the conversation your key `thread_id` names for
        `user_id`: the first call creates that thread (with `resource_id`, the person or
        account behind it, whose observations it shares), later calls continue it. A failed
        or cancelled turn is `status` `"errored"` / `"cancelled"`, not an exception.

            result = await app.chat("support", "Hello", thread_id="t-1", resource_id="u-42")

        Args:
            memory_agent_id: the memory namespace: agents chatting with one resource under
                the same id share its observations (default: the agent's name). A thread
                keeps the namespace it was first given.
            budget: limits for this turn, over the agent's.
            sender: who speaks, stored on the user item.

        Raises `InvalidInputError` (nothing is run) for malformed input or a `thread_id` of
        another agent, resource or memory namespace; `ConfigurationError` for an unknown agent.
        """
        request = self._chat_request(
            agent, input, thread_id, resource_id, user_id, memory_agent_id, budget, sender
        )
        return await chat(self.threads, self.store, request)

    def chat_stream(
        self,
        agent: str | Agent,
        input: TurnInput,
        *,
        thread_id: str,
        resource_id: str | None = None,
        user_id: str | None = None,
        memory_agent_id: str | None = None,
        budget: Budget | None = None,
        sender: str | None = None,
    ) -> AsyncIterator[RunEnvelope]:
        """`chat`, streamed: each event in a `RunEnvelope`, then one envelope holding the
        `AgentResult`.

            async for envelope in app.chat_stream("support", "Hi", thread_id="t-1"): ...
        """
        request = self._chat_request(
            agent, input, thread_id, resource_id, user_id, memory_agent_id, budget, sender
        )
        return chat_stream(self.threads, self.store, request)

    def _chat_request(
        self,
        agent: str | Agent,
        input: TurnInput,
        thread_id: str,
        resource_id: str | None,
        user_id: str | None,
        memory_agent_id: str | None,
        budget: Budget | None,
        sender: str | None,
    ) -> ChatRequest:
        name = agent_name(agent)
        self._engine.agent(name)
        return ChatRequest(
            agent=name,
            input=input,
            thread_id=thread_id,
            resource_id=resource_id,
            user_id=user_id,
            memory_agent_id=memory_agent_id,
            budget=budget,
            sender=sender,
        )

    def memory(
        self,
        resource_id: str | None = None,
        *,
        thread_id: str | None = None,
        agent: str | None = None,
    ) -> Memory:
        """The observations of `resource_id` (or, with `thread_id` instead, of that thread's
        own memory), to list, edit and delete; `agent` narrows them to one memory namespace
        (a `memory_agent_id`, by default an agent's name).

            for observation in await app.memory("user-42").list(): print(observation.text)

        Raises `InvalidInputError` unless exactly one of `resource_id` and `thread_id` is
        given.
        """
        if (resource_id is None) == (thread_id is None):
            raise InvalidInputError("give either a resource_id or a thread_id")
        if agent is not None:
            checked_owner(agent, "agent")
        if thread_id is not None:
            return Memory(self.store, "thread", checked_owner(thread_id, "thread_id"), agent)
        return Memory(self.store, "resource", checked_owner(resource_id, "resource_id"), agent)

    # -- loaders -------------------------------------------------------------------------------

    @property
    def prompts(self) -> dict[str, Prompt]:
        """The app's prompts by name."""
        return dict(self._engine.loaders.prompts)

    @property
    def models(self) -> dict[str, str | Model]:
        """The app's named models, as given (a spec or a `Model`)."""
        return dict(self._engine.loaders.models)

    def load_prompt(self, name: str, /, **variables: Any) -> str:
        """The prompt `name` rendered with `variables`, as a tool's `load_prompt` does.
        Raises `NotFoundError` naming the prompts there are, `InvalidInputError` naming a
        variable that is missing, of the wrong type or unknown."""
        return self._engine.loaders.load_prompt(name, variables)

    def load_model(self, name: str) -> Model:
        """The named model `name`, resolved (once). Raises `NotFoundError` naming the models
        there are."""
        return self._engine.loaders.load_model(name)

    def load_agent(self, name: str) -> Agent:
        """The agent `name`. Raises `NotFoundError` naming the agents there are."""
        return self._engine.loaders.load_agent(name)

    async def open(self) -> None:
        if not self._open:
            await self.store.open()
            self._engine.start()
            for source in self._tool_sources():
                await source.retain()
            self._open = True

    async def recover(self) -> RecoveryReport:
        """Continue what crashed or waits: turns whose owner's lease expired, paused turns a
        human has unblocked (or whose approvals expired), queued input on idle threads, and
        due scheduled effects. `await (await app.recover()).wait()` waits for those turns."""
        return await recover(self._engine)

    async def work(
        self, *, concurrency: int = 4, idle_wait: float = 1.0, stop: asyncio.Event | None = None
    ) -> None:
        """Be a worker: claim runnable work (new and queued turns, resumed approvals, due
        timers, turns whose owner died) and run up to `concurrency` turns at once, until
        `stop` is set or the task is cancelled. Several workers, in several processes or
        hosts, may share one store.

            await app.work(concurrency=8, stop=shutdown)
        """
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        engine = self._engine
        stop = stop or asyncio.Event()
        stopping = asyncio.ensure_future(stop.wait())
        clock = asyncio.get_running_loop().time
        timers_checked = float("-inf")
        try:
            while not stop.is_set():
                engine.capacity_freed.clear()
                engine.work_signal.clear()
                free = concurrency - len(engine.active)
                if free > 0:
                    try:
                        # Timers come due with time, not with notifications: looked at once
                        # per `idle_wait`, not on every wake-up.
                        timers = clock() - timers_checked >= idle_wait
                        if timers:
                            timers_checked = clock()
                        await recover(engine, limit=free, timers=timers)
                    except Exception as exc:  # a worker outlives a bad pass; the next retries
                        log_failure(
                            logger,
                            "a recovery pass failed; retrying",
                            exc=exc,
                            level=logging.WARNING,
                        )
                waits = [
                    stopping,
                    asyncio.ensure_future(engine.capacity_freed.wait()),
                    asyncio.ensure_future(engine.work_signal.wait()),
                ]
                _, pending = await asyncio.wait(
                    waits, timeout=idle_wait, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in pending:
                    if waiter is not stopping:
                        waiter.cancel()
        finally:
            stopping.cancel()

    async def close(self) -> None:
        """Let running turns finish for `shutdown_grace` seconds, hand the others back to
        recovery, and close the store."""
        if self._open:
            await self._engine.close()
            for source in self._tool_sources():
                await source.release()  # the last app that used it closes its sessions
            await self.store.close()
            self._open = False

    def _tool_sources(self) -> list[ToolSource]:
        sources: dict[int, ToolSource] = {}
        for agent in self._engine.agents.values():
            for mode in (agent.resolve_mode(None), *agent.modes.values()):
                for source in mode.sources:
                    sources.setdefault(id(source), source)
        return list(sources.values())

    async def __aenter__(self) -> Threadline:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def sync(self) -> SyncThreadline:
        """The same app for synchronous code: `with app.sync as s: s.threads.start()`."""
        from ._sync import SyncThreadline

        return SyncThreadline(self)


def _agents_by_name(agents: Sequence[Agent]) -> dict[str, Agent]:
    """The app's agents by name: those given, and the subagents they declare (each name one
    agent)."""
    by_name: dict[str, Agent] = {}
    for agent in agents:
        if not isinstance(agent, Agent):
            raise ConfigurationError(f"not an Agent: {agent!r}")
        if agent.name in by_name:
            raise ConfigurationError(f"two agents are named {agent.name!r}")
        by_name[agent.name] = agent
    declared = [s for a in agents for s in a.subagents]
    while declared:
        sub = declared.pop()
        known = by_name.get(sub.name)
        if known is None:
            by_name[sub.name] = sub
            declared.extend(sub.subagents)
        elif known is not sub:
            raise ConfigurationError(f"two agents are named {sub.name!r}")
    return by_name
