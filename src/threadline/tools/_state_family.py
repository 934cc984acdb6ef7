from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from threadline.types import ConfigurationError

if TYPE_CHECKING:
    from threadline.runtime import Agent, ChildThread, Thread, TurnInput, TurnResult


class FamilyServices(Protocol):
    """What the runtime lends a tool to start child threads and find its relatives."""

    async def spawn(
        self, caller: Any, agent: str, input: Any, reference_id: str, wait: bool
    ) -> Any: ...

    async def child_thread(self, reference_id: str) -> Any: ...

    async def parent_thread(self) -> Any: ...

    async def children(self) -> list[Any]: ...


class FamilyAccess:
    """Child threads (subagents) and the thread's parent, for a tool (see `ThreadState`)."""

    _services: Any
    tool_call_id: str
    _spawned = 0  # spawns without a reference id this call has made: numbers the next one

    @overload
    async def spawn(
        self,
        agent: str | Agent,
        input: TurnInput,
        *,
        reference_id: str | None = None,
        wait: Literal[True],
    ) -> TurnResult: ...

    @overload
    async def spawn(
        self,
        agent: str | Agent,
        input: TurnInput,
        *,
        reference_id: str | None = None,
        wait: Literal[False] = False,
    ) -> Thread: ...

    async def spawn(
        self,
        agent: str | Agent,
        input: TurnInput,
        *,
        reference_id: str | None = None,
        wait: bool = False,
    ) -> TurnResult | Thread:
        """Start a child thread of this one (a subagent) running `agent` on `input`.

        The child is stored, with its input, before this returns, under `reference_id`
        (unique within this thread; default: this call's id and a number): spawning the same
        reference id again, as a tool run again after a crash does, finds that child instead
        of starting another. With `wait=True` this returns the child's first turn's result
        (its `status` says how it ended); the wait is durable: if the child pauses for a
        human, this turn pauses too (the parent's `pending()` lists the child's requests),
        and a tool marked `idempotent=True` that is cut off while waiting is run again and
        finds its child. With `wait=False` it returns a `Thread` handle on the child at once.

        While this turn runs, the child's work reaches its event stream as
        `subagent_progress` events, and the tokens and cost of the children it waited for
        count against its budget. Raises `SubagentLimitError` past the app's
        `SubagentLimits`, `ConfigurationError` for an agent the app does not have.

            result = await thread.spawn("researcher", "Find three sources", wait=True)
        """
        services = _services(self, "spawn")
        name = agent if isinstance(agent, str) else agent.name
        if reference_id is None:
            self._spawned += 1
            reference_id = f"{self.tool_call_id}/{self._spawned}"
        return await services.spawn(self, name, input, reference_id, wait)

    async def get_child_thread(self, reference_id: str) -> Thread | None:
        """A handle on this thread's child of that reference id; None if it has none."""
        return await _services(self, "get_child_thread").child_thread(reference_id)

    async def get_parent_thread(self) -> Thread | None:
        """A handle on the thread that spawned this one; None for a thread of its own."""
        return await _services(self, "get_parent_thread").parent_thread()

    async def children(self) -> list[ChildThread]:
        """Every child thread of this thread, oldest first, with its reference id, agent,
        status and last turn's result: the registry a resumed tool reads to find what it
        started."""
        return await _services(self, "children").children()


def _services(state: FamilyAccess, action: str) -> FamilyServices:
    services = state._services  # pyright: ignore[reportPrivateUsage]
    if services is None or getattr(services, "spawn", None) is None:
        raise ConfigurationError(f"{action} needs a running turn")
    found: FamilyServices = services
    return found
