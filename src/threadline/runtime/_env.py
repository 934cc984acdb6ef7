"""A thread's environment: where `env(name)` finds a value, and how one is stored.

A name resolves, most specific first, to the thread's own value, then its account's (the
thread's `user_id`, then its `resource_id`), then the app instance's (stored with
`app.set_env(name, value)`, then `Threadline(env=...)`), then the static layers after it:
the agent's (`Agent(env=...)`), then any further ones (a prompt's). Stored secrets are
decrypted only when a value is read, and registered for redaction then; static secrets are
registered when they are declared.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadline._redaction import register_secret
from threadline.store import Store
from threadline.types import (
    EnvEntry,
    EnvScope,
    EnvType,
    EnvValue,
    InvalidInputError,
    Secret,
    ThreadRecord,
    check_env_name,
    check_env_type,
    check_env_value,
    check_text,
    static_env,
)

from ._secrets import SecretBox

if TYPE_CHECKING:
    from ._agent import Agent

Layers = Sequence[Mapping[str, EnvValue]]
"""Static environments, most specific first."""


def static_layer(env: Mapping[str, EnvValue] | None, owner: str) -> Mapping[str, EnvValue]:
    """A static environment declared in code (`Agent(env=...)`, `Threadline(env=...)`),
    checked, its secrets registered for redaction. Raises `ConfigurationError`."""
    layer = static_env(env, owner)
    for name, value in layer.items():
        if isinstance(value, Secret):
            register_secret(name, value.reveal())
    return layer


@dataclass(frozen=True, kw_only=True, slots=True)
class _Found:
    name: str
    type: EnvType
    stored: EnvEntry | None = None
    static: EnvValue | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Owner:
    """Whose stored values a lookup reads, most specific first."""

    thread_id: str | None = None
    user_id: str | None = None
    resource_id: str | None = None

    @classmethod
    def of_thread(cls, thread: ThreadRecord) -> Owner:
        return cls(
            thread_id=thread.thread_id, user_id=thread.user_id, resource_id=thread.resource_id
        )

    def scopes(self) -> list[tuple[EnvScope, str]]:
        scopes: list[tuple[EnvScope, str]] = []
        if self.thread_id is not None:
            scopes.append(("thread", self.thread_id))
        if self.user_id is not None:
            scopes.append(("user", self.user_id))
        if self.resource_id is not None:
            scopes.append(("resource", self.resource_id))
        scopes.append(("instance", ""))
        return scopes


class Environment:
    """The app's side of every environment: its store, its secret key and `Threadline(env=)`."""

    def __init__(
        self, store: Store, box: SecretBox, app_env: Mapping[str, EnvValue] | None = None
    ) -> None:
        self.store = store
        self.box = box
        self.app_env = app_env or {}

    async def _find(self, name: str, owner: Owner, layers: Layers) -> _Found | None:
        check_env_name(name)
        scopes = owner.scopes()
        stored = {(e.scope, e.owner): e for e in await self.store.get_env(name, scopes)}
        for scope in scopes:
            entry = stored.get(scope)
            if entry is not None:
                return _Found(name=name, type=entry.type, stored=entry)
        for layer in (self.app_env, *layers):
            value = layer.get(name)
            if value is not None:
                kind: EnvType = "secret" if isinstance(value, Secret) else "text"
                return _Found(name=name, type=kind, static=value)
        return None

    def _reveal(self, found: _Found) -> str:
        if found.stored is None:
            value = found.static
            return value.reveal() if isinstance(value, Secret) else str(value)
        if found.type == "text":
            return found.stored.value
        value = self.box.decrypt(found.name, found.stored.value)
        register_secret(found.name, value)
        return value

    async def value(self, name: str, owner: Owner, layers: Layers = ()) -> str | None:
        """The value `name` resolves to, None if it is set nowhere. Raises
        `InvalidInputError` for a bad name, `SecretKeyError` for a stored secret this app
        has no key for."""
        found = await self._find(name, owner, layers)
        return None if found is None else self._reveal(found)

    async def type_of(self, name: str, owner: Owner, layers: Layers = ()) -> EnvType | None:
        """The type of the value `name` resolves to (nothing is decrypted)."""
        found = await self._find(name, owner, layers)
        return None if found is None else found.type

    async def set(
        self,
        name: str,
        value: str,
        env_type: EnvType | None,
        owner: Owner,
        layers: Layers = (),
    ) -> list[str]:
        """Store `value` for the most specific scope of `owner` (a thread's value reaches its
        active descendants too). Without `env_type`, the type `name` resolves to now is kept;
        a new name is a secret. Returns the threads written. Raises `InvalidInputError`,
        `SecretKeyError` (a secret without a key), `NotFoundError` (no such thread); nothing
        is stored then."""
        check_env_name(name)
        if env_type is None:
            env_type = await self.type_of(name, owner, layers) or "secret"
        else:
            env_type = check_env_type(env_type)
        check_env_value(value, env_type)
        stored = value
        if env_type == "secret":
            stored = self.box.encrypt(name, value)
            register_secret(name, value)
        scope, owner_id = owner.scopes()[0]
        entry = EnvEntry(
            scope=scope,
            owner=owner_id,
            name=name,
            type=env_type,
            value=stored,
            updated_at=time.time(),
        )
        return await self.store.set_env(entry, propagate=scope == "thread")

    async def delete(self, name: str, owner: Owner) -> bool:
        """Remove the value stored for the most specific scope of `owner` (for a thread, the
        copies its descendants received too). False if it had none."""
        check_env_name(name)
        scope, owner_id = owner.scopes()[0]
        removed = await self.store.delete_env(scope, owner_id, name, propagate=scope == "thread")
        return owner_id in removed


def account(user_id: str | None, resource_id: str | None) -> Owner:
    """The owner of `app.set_env(...)`: a user, a resource, or (neither) the instance.
    Raises `InvalidInputError` for both, or for ids that cannot be stored."""
    if user_id is not None and resource_id is not None:
        raise InvalidInputError("give user_id or resource_id, not both")
    for what, value in (("user_id", user_id), ("resource_id", resource_id)):
        if value is not None:
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"{what} must be a non-empty string", field=what)
            check_text(value, what)
    return Owner(user_id=user_id, resource_id=resource_id)


class BoundEnvironment:
    """One thread's environment: what `ThreadState` and `Thread` reach through."""

    def __init__(self, environment: Environment, thread: ThreadRecord, layers: Layers) -> None:
        self._environment = environment
        self._owner = Owner.of_thread(thread)
        self._layers = layers

    async def get(self, name: str) -> str | None:
        return await self._environment.value(name, self._owner, self._layers)

    async def type_of(self, name: str) -> EnvType | None:
        return await self._environment.type_of(name, self._owner, self._layers)

    async def set(self, name: str, value: str, env_type: EnvType | None) -> None:
        await self._environment.set(name, value, env_type, self._owner, self._layers)

    async def delete(self, name: str) -> bool:
        return await self._environment.delete(name, self._owner)


def agent_layers(agent: Agent) -> Layers:
    """The static layers below the app instance for a thread of `agent`: the agent's own,
    then its prompt's (when its instructions are a `tl.Prompt`)."""
    return (agent.env, agent.prompt_env)
