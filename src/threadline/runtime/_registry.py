"""Thread definitions registered by key, for the whole process: an app meets a definition's
threads by the agent name they store (the key), so a turn paused in one process continues in
any other that registered the same definition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.types import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from ._agent import Agent
    from ._definitions import ThreadDefinition

_definitions: dict[str, ThreadDefinition] = {}


def register(definition: ThreadDefinition) -> ThreadDefinition:
    """Make `definition` known by its key in this process, and return it. Registering it
    again changes nothing.

    Raises `ConfigurationError` if another definition has the key.

        support = tl.register(tl.define("support.thread").narrative(lambda ctx: "Help.").build())
        assert tl.get_definition("support.thread") is support
    """
    from ._definitions import ThreadDefinition

    if not isinstance(definition, ThreadDefinition):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ConfigurationError(
            f"register takes a ThreadDefinition (from tl.define(key)...build()), not "
            f"{type(definition).__name__}"
        )
    known = _definitions.setdefault(definition.key, definition)
    if known is not definition:
        raise ConfigurationError(
            f"another thread definition is registered as {definition.key!r}: give this one "
            "another key"
        )
    return definition


def get_definition(key: str) -> ThreadDefinition:
    """The definition registered as `key`. Raises `NotFoundError` naming the keys there are.

    support = tl.get_definition("support.thread")
    """
    definition = _definitions.get(key)
    if definition is None:
        raise NotFoundError(
            f"no thread definition is registered as {key!r}; registered: "
            f"{', '.join(sorted(_definitions)) or 'none'}",
            key=key,
        )
    return definition


def registered_agent(name: str) -> Agent | None:
    """The agent of the definition registered as `name`, if there is one."""
    definition = _definitions.get(name)
    return None if definition is None else definition.agent
