from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from threadline.types import ConfigurationError, InvalidInputError, Item, TimerRecord

from ._state_code import CodeAccess
from ._state_env import EnvAccess
from ._state_family import FamilyAccess
from ._state_files import FileAccess
from ._state_messages import MessageAccess
from ._state_tools import ToolAccess

StateT = TypeVar("StateT")


class ToolServices(Protocol):
    """What the runtime lends a tool: durable choices and scheduled effects."""

    async def await_choice(self, tool_call_id: str, prompt: str, schema: dict[str, Any]) -> Any: ...

    def schedule_effect(
        self, effect: Any, *, at: float | None, delay: float | None
    ) -> TimerRecord: ...

    async def scheduled_effects(self) -> list[TimerRecord]: ...


def choice_schema(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, dict):
        import jsonschema.validators

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigurationError(f"invalid choice schema: {exc.message}") from None
        return schema
    raise ConfigurationError("a choice schema must be a pydantic model or a JSON Schema dict")


class ThreadView(Generic[StateT]):
    """What code running for a turn may read about its thread: ids (`thread_id`, `turn_id`,
    `agent_id`, the agent's name), `user_id`, `created_at`, `metadata`, the agent `mode`,
    the typed `state` and `get_messages()`. Dynamic instructions receive one; a tool's
    `ThreadState` is one too, with ways to act.

        def instructions(thread: tl.ThreadView[Profile]) -> str:
            return f"Answer in {thread.state.language}. Mode: {thread.mode or 'default'}."
    """

    def __init__(
        self,
        *,
        thread_id: str,
        turn_id: str,
        user_id: str | None,
        items: Sequence[Item],
        state: Any,
        metadata: Mapping[str, Any] | None = None,
        mode: str | None = None,
        agent_id: str = "",
        created_at: float = 0.0,
    ) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self.user_id = user_id
        self.agent_id = agent_id  # the name of the thread's agent
        self.created_at = created_at  # when the thread was created (epoch seconds)
        self.mode = mode  # the agent mode the thread is in; None: the agent's default
        self._metadata: Mapping[str, Any] = MappingProxyType(dict(metadata or {}))
        self._items = items
        self._state: Any = state

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The thread's metadata, read-only."""
        return self._metadata

    def get_messages(self) -> list[Item]:
        """The thread's history so far, oldest first, as stored items."""
        return list(self._items)

    @property
    def state(self) -> StateT:
        """The thread's state: an instance of the agent's `state_type`, or a dict."""
        state: StateT = self._state
        return state


class ThreadState(
    ThreadView[StateT], MessageAccess, FileAccess, EnvAccess, ToolAccess, FamilyAccess, CodeAccess
):
    """What a tool may know and change about its thread. Declare a parameter of this type and
    the runtime passes it; the model never sees it.

        @tl.tool
        async def remember(note: str, thread: tl.ThreadState[Notes]) -> str:
            thread.set_state(Notes(items=[*thread.state.items, note]))
            return "saved"

    `set_state` is validated against the agent's state schema and stored in the same
    transaction as the tool's result.
    """

    def __init__(
        self,
        *,
        thread_id: str,
        turn_id: str,
        tool_call_id: str,
        user_id: str | None,
        items: Sequence[Item],
        state: Any,
        state_type: type[BaseModel] | None,
        epoch: int = 0,
        services: ToolServices | None = None,
        metadata: Mapping[str, Any] | None = None,
        mode: str | None = None,
        agent_id: str = "",
        created_at: float = 0.0,
    ) -> None:
        super().__init__(
            thread_id=thread_id,
            turn_id=turn_id,
            user_id=user_id,
            items=items,
            state=state,
            metadata=metadata,
            mode=mode,
            agent_id=agent_id,
            created_at=created_at,
        )
        self.tool_call_id = tool_call_id
        self.idempotency_key = f"{turn_id}:{tool_call_id}"
        self.epoch = epoch  # the lease epoch this call runs under
        self._services = services
        self.scheduled: list[TimerRecord] = []
        self._state_type = state_type
        self.state_changed = False

    def set_state(self, value: StateT | dict[str, Any]) -> None:
        """Replace the thread's state. Raises `InvalidInputError` if it does not validate."""
        if self._state_type is not None:
            try:
                value = self._state_type.model_validate(
                    value.model_dump() if isinstance(value, BaseModel) else value
                )  # type: ignore[assignment]
            except ValidationError as exc:
                raise InvalidInputError(
                    f"state does not match {self._state_type.__name__}: "
                    f"{exc.errors(include_url=False)}"
                ) from None
        elif not isinstance(value, dict):
            raise InvalidInputError("without a state_type on the agent, state must be a dict")
        self._state = value
        self.state_changed = True

    async def await_choice(self, prompt: str, schema: type[BaseModel] | dict[str, Any]) -> Any:
        """Ask a human and wait durably: the turn pauses with an `awaiting_input` item until
        `thread.resume(value)`; the value is validated against `schema` (a pydantic model
        is returned as an instance). The tool's code before this call does not run again: in
        the process that paused, the tool simply continues; elsewhere, an idempotent tool is
        called again and gets the value at once, and any other tool's result says the human's
        answer arrived after the tool was cut off.
        """
        if self._services is None:
            raise ConfigurationError("await_choice needs a running turn")
        value = await self._services.await_choice(self.tool_call_id, prompt, choice_schema(schema))
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(value)
        return value

    def schedule_effect(
        self, effect: Any, *, at: float | None = None, delay: float | None = None
    ) -> TimerRecord:
        """Schedule input (or a `ScheduledCall`) for this thread at `at` (epoch seconds) or
        after `delay` seconds. Stored with this tool's result; fired exactly once."""
        if self._services is None:
            raise ConfigurationError("schedule_effect needs a running turn")
        timer = self._services.schedule_effect(effect, at=at, delay=delay)
        self.scheduled.append(timer)
        return timer

    async def get_scheduled_effects(self) -> list[TimerRecord]:
        """The thread's pending scheduled effects, soonest first."""
        if self._services is None:
            return []
        return [*await self._services.scheduled_effects(), *self.scheduled]

    def state_as_json(self) -> dict[str, Any] | None:
        state: Any = self._state
        if state is None:
            return None
        if isinstance(state, BaseModel):
            return state.model_dump(mode="json")
        return dict(state)
