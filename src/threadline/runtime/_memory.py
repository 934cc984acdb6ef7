"""Observational memory: how an agent condenses older history into dated observations, and
the handle that lists, edits and deletes them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from threadline._redaction import redact
from threadline.models import Model, TokenCounter
from threadline.store import Store
from threadline.types import (
    ConfigurationError,
    InvalidInputError,
    MemoryScope,
    NotFoundError,
    Observation,
)


@dataclass(frozen=True, kw_only=True)
class ObservationalMemory:
    """Long threads keep their older history as dated observations instead of raw items.

        tl.Agent(name="support", observational_memory=tl.ObservationalMemory(
            scope="resource", threshold_tokens=30_000))

    Before a model request, when the thread's raw history (after what is observed already)
    passes `threshold_tokens`, an observer model call condenses its older part into dated
    observations, keeping the newest `keep_recent_tokens` raw; a tool call and its result are
    never separated. When a scope's observations pass `reflect_threshold_tokens`, a reflector
    call merges and prunes them. Every request carries the scope's observations in its
    instructions, and only the raw history after what they cover. A failing observer or
    reflector does not fail the turn: the request carries the raw history instead.

    Args:
        scope: "resource" shares observations between the threads of one resource (and one
            memory namespace: `memory_agent_id` in `app.chat`, else the agent's name);
            a thread without a `resource_id` keeps them to itself, as with "thread".
        threshold_tokens: raw history size that starts the observer.
        model: the observer's and reflector's model (a spec such as `"local"` or a `Model`);
            None: the app's default model.
        reflect_threshold_tokens: observation size that starts the reflector.
        keep_recent_tokens: raw history left unobserved (default: a quarter of
            `threshold_tokens`).
        count_tokens: how to count an item's tokens (default: about 4 characters a token).
    """

    scope: MemoryScope = "resource"
    threshold_tokens: int = 30_000
    model: str | Model | None = None
    reflect_threshold_tokens: int = 40_000
    keep_recent_tokens: int | None = None
    count_tokens: TokenCounter | None = None

    def __post_init__(self) -> None:
        if self.scope not in ("resource", "thread"):
            raise ConfigurationError("observational_memory.scope must be 'resource' or 'thread'")
        for name in ("threshold_tokens", "reflect_threshold_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"observational_memory.{name} must be a positive int")
        keep = self.keep_recent_tokens
        if keep is not None and (not isinstance(keep, int) or keep < 0):
            raise ConfigurationError(
                "observational_memory.keep_recent_tokens must be a non-negative int"
            )
        if keep is not None and keep >= self.threshold_tokens:
            raise ConfigurationError(
                "observational_memory.keep_recent_tokens must be below threshold_tokens"
            )

    @property
    def recent_tokens(self) -> int:
        """The raw history the observer leaves unobserved."""
        keep = self.keep_recent_tokens
        return self.threshold_tokens // 4 if keep is None else keep


class Memory:
    """The observations of one resource (`app.memory(resource_id)`) or of one thread
    (`thread.memory()`): list, read, edit and delete them. An unknown id and an id of
    another owner get the same answer.

        memory = app.memory("user-42")
        for observation in await memory.list(): print(observation.text)
    """

    def __init__(self, store: Store, scope: MemoryScope, owner: str, namespace: str | None) -> None:
        self._store = store
        self.scope: MemoryScope = scope
        self.owner = owner
        self.namespace = namespace  # None: every memory namespace of the owner

    def __repr__(self) -> str:
        return f"Memory(scope={self.scope!r}, owner={self.owner!r}, namespace={self.namespace!r})"

    async def list(self) -> list[Observation]:
        """The observations, oldest observed first."""
        return await self._store.list_observations(self.scope, self.owner, self.namespace)

    async def get(self, observation_id: str) -> Observation:
        """One observation. Raises `NotFoundError`."""
        found = await self._store.get_observation(
            _checked_id(observation_id), self.scope, self.owner, self.namespace
        )
        if found is None:
            raise _not_found(observation_id)
        return found

    async def update(self, observation_id: str, text: str) -> Observation:
        """Replace an observation's text (secret values are redacted from it). Raises
        `NotFoundError`, `InvalidInputError` for empty text; nothing changes then."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("an observation's text must be a non-empty string")
        found = await self._store.update_observation(
            _checked_id(observation_id),
            self.scope,
            self.owner,
            self.namespace,
            redact(text.strip()),
            at=time.time(),
        )
        if found is None:
            raise _not_found(observation_id)
        return found

    async def delete(self, observation_id: str) -> bool:
        """Remove an observation. False if there was no such observation here."""
        removed = await self._store.delete_observations(
            self.scope, self.owner, self.namespace, _checked_id(observation_id)
        )
        return removed > 0

    async def clear(self) -> int:
        """Remove every observation here; how many there were."""
        return await self._store.delete_observations(self.scope, self.owner, self.namespace)


def checked_owner(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{name} must be a non-empty string", field=name)
    return value


def _checked_id(observation_id: object) -> str:
    return checked_owner(observation_id, "observation_id")


def _not_found(observation_id: str) -> NotFoundError:
    return NotFoundError(f"no observation {observation_id!r}", observation_id=observation_id)
