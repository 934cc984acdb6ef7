"""The environment of a remote thread: `threadline.Thread`'s methods, over the network."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from threadline.types import EnvType


class RemoteThreadEnv:
    """`env`, `env_type`, `set_env` and `delete_env` of a `RemoteThread`. A secret's value
    never leaves the server: `env` answers its marker, `[redacted:NAME]`."""

    _call: Callable[..., Awaitable[Any]]

    async def env(self, name: str) -> str | None:
        """The value of `name` for this thread (a secret's marker), None if it is set
        nowhere."""
        value: str | None = (await self._call("env", name=name))["value"]
        return value

    async def env_type(self, name: str) -> EnvType | None:
        """`"secret"` or `"text"`, None if `name` is set nowhere."""
        env_type: EnvType | None = (await self._call("env", name=name))["type"]
        return env_type

    async def set_env(self, name: str, value: str, *, type: EnvType | None = None) -> None:
        """Store a value for this thread and its active descendants (see `Thread.set_env`)."""
        await self._call("setEnv", name=name, value=value, type=type)

    async def delete_env(self, name: str) -> bool:
        """Remove this thread's own value of `name`. False if it had none."""
        return bool((await self._call("deleteEnv", name=name))["deleted"])
