"""`--app MODULE:ATTRIBUTE`: the agents the command runs instead of the demo assistant."""

from __future__ import annotations

import importlib
from typing import Any

from threadline import Agent, ConfigurationError, Threadline

from ._demo_agent import demo_agent


def load_agents(spec: str | None) -> list[Agent]:
    """The agents an `--app` value names: a `Threadline` app, an `Agent`, a list of agents,
    or a zero-argument callable returning one of those. None: the demo assistant."""
    if spec is None:
        return [demo_agent()]
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"--app {spec} is not of the form package.module:attribute")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"--app: cannot import {module_name!r}: {exc}") from None
    for name in attribute.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise ConfigurationError(
                f"--app: {module_name!r} has no attribute {attribute!r}"
            ) from None
    if callable(value) and not isinstance(value, Agent | Threadline):
        value = value()
    if isinstance(value, Threadline):
        return list(value.agents.values())
    if isinstance(value, Agent):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(a, Agent) for a in value):
        return list(value)  # type: ignore[arg-type]
    raise ConfigurationError(f"--app {spec} is not a Threadline app, an Agent or a list of agents")
