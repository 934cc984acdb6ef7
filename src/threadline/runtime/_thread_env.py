from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.types import EnvType, ThreadRecord

from ._env import BoundEnvironment, agent_layers

if TYPE_CHECKING:
    from ._engine import Engine


class ThreadEnv:
    """The thread's configuration and secrets, from outside (see `Thread`).

    The same resolution as a tool's `ThreadState.env`: the thread, its account, the app
    instance, the agent. Secrets are encrypted at rest and redacted from what the thread
    stores and shows.
    """

    _engine: Engine
    record: ThreadRecord

    def _environment(self) -> BoundEnvironment:
        engine = self._engine
        # An app that does not declare the thread's agent (an API process beside workers,
        # say) still reads every stored layer.
        agent = engine.agents.get(self.record.agent)
        layers = agent_layers(agent) if agent is not None else ()
        return BoundEnvironment(engine.env, self.record, layers)

    async def env(self, name: str) -> str | None:
        """The value of `name` for this thread, None if it is set nowhere. Raises
        `InvalidInputError` for a bad name, `SecretKeyError` for a stored secret the app has
        no key for.

            region = await thread.env("REGION")
        """
        return await self._environment().get(name)

    async def env_type(self, name: str) -> EnvType | None:
        """`"secret"` or `"text"`, None if `name` is set nowhere. Decrypts nothing."""
        return await self._environment().type_of(name)

    async def set_env(self, name: str, value: str, *, type: EnvType | None = None) -> None:
        """Store a value for this thread and its active descendant threads (by `parent_id`,
        not archived). Without `type` the type `name` resolves to now is kept; a new name is
        a secret. A secret is encrypted with the app's secret key. Raises
        `InvalidInputError`, `SecretKeyError` (a secret and no key), `NotFoundError`;
        nothing is stored then.

            await thread.set_env("GITHUB_TOKEN", token)  # a secret
            await thread.set_env("REGION", "eu-west-1", type="text")
        """
        await self._environment().set(name, value, type)

    async def delete_env(self, name: str) -> bool:
        """Remove this thread's own value of `name` (and the copies its descendants got).
        False if it had none."""
        return await self._environment().delete(name)
