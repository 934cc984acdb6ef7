from __future__ import annotations

from typing import Any, Protocol

from threadline.types import ConfigurationError, EnvType


class EnvServices(Protocol):
    """The thread's environment, as the runtime lends it to a tool."""

    async def get(self, name: str) -> str | None: ...

    async def type_of(self, name: str) -> EnvType | None: ...

    async def set(self, name: str, value: str, env_type: EnvType | None) -> None: ...

    async def delete(self, name: str) -> bool: ...


class EnvAccess:
    """The thread's configuration and secrets, for a tool (see `ThreadState`).

    A name resolves, most specific first, to the thread's own value, its account's (its
    `user_id`, then its `resource_id`), the app instance's, the agent's, then a prompt's.
    A secret's value is redacted (`[redacted:NAME]`) from everything the turn stores or
    shows, this tool's result included.
    """

    def _environment(self) -> EnvServices:
        services: Any = getattr(self, "_services", None)
        environment = getattr(services, "environment", None)
        if environment is None:
            raise ConfigurationError("the environment needs a running turn")
        bound: EnvServices = environment()
        return bound

    async def env(self, name: str) -> str | None:
        """The value of `name`, None if it is set nowhere. Raises `InvalidInputError` for a
        bad name, `SecretKeyError` for a stored secret the app has no key for.

            api_key = await thread.env("WEATHER_API_KEY")
        """
        return await self._environment().get(name)

    async def env_type(self, name: str) -> EnvType | None:
        """`"secret"` or `"text"`: the type of the value `name` resolves to; None if it is
        set nowhere. Decrypts nothing."""
        return await self._environment().type_of(name)

    async def set_env(self, name: str, value: str, *, type: EnvType | None = None) -> None:
        """Store a value for this thread (and its active descendant threads), at once.
        Without `type` the type `name` has now is kept; a new name is a secret. Raises
        `InvalidInputError` (bad name, value or type), `SecretKeyError` (a secret and no
        secret key); nothing is stored then.

            await thread.set_env("REGION", "eu-west-1", type="text")
        """
        await self._environment().set(name, value, type)

    async def delete_env(self, name: str) -> bool:
        """Remove this thread's own value of `name` (and the copies its descendants got);
        the name then resolves as if the thread never set it. False if it had none."""
        return await self._environment().delete(name)
