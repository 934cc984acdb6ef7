from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from threadline.types import InvalidInputError, Item

StateT = TypeVar("StateT")


class ThreadState(Generic[StateT]):
    """What a tool may know and change about its thread. Declare a parameter of this type and
    the runtime passes it; the model never sees it.

        @tl.tool
        async def remember(note: str, thread: tl.ThreadState[Notes]) -> str:
            thread.set_state(Notes(items=[*thread.state.items, note]))
            return "saved"

    `set_state` is validated against the agent's state schema and stored in the same
    transaction as the tool's result.
    """

    def __init__(self, *, thread_id: str, turn_id: str, tool_call_id: str, user_id: str | None,
                 items: Sequence[Item], state: Any, state_type: type[BaseModel] | None) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self.tool_call_id = tool_call_id
        self.idempotency_key = f"{turn_id}:{tool_call_id}"
        self.user_id = user_id
        self._items = items
        self._state_type = state_type
        self._state: Any = state
        self.state_changed = False

    def get_messages(self) -> list[Item]:
        """The thread's history so far, oldest first, as stored items."""
        return list(self._items)

    @property
    def state(self) -> StateT:
        """The thread's state: an instance of the agent's `state_type`, or a dict."""
        state: StateT = self._state
        return state

    def set_state(self, value: StateT | dict[str, Any]) -> None:
        """Replace the thread's state. Raises `InvalidInputError` if it does not validate."""
        if self._state_type is not None:
            try:
                value = self._state_type.model_validate(
                    value.model_dump() if isinstance(value, BaseModel) else value)  # type: ignore[assignment]
            except ValidationError as exc:
                raise InvalidInputError(f"state does not match {self._state_type.__name__}: "
                                        f"{exc.errors(include_url=False)}") from None
        elif not isinstance(value, dict):
            raise InvalidInputError("without a state_type on the agent, state must be a dict")
        self._state = value
        self.state_changed = True

    def state_as_json(self) -> dict[str, Any] | None:
        state: Any = self._state
        if state is None:
            return None
        if isinstance(state, BaseModel):
            return state.model_dump(mode="json")
        return dict(state)
