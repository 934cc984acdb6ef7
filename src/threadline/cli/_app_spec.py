"""`--app MODULE:ATTRIBUTE`: the agents the command runs instead of the demo assistant, and
the store a command runs on."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from threadline import (
    Agent,
    ConfigurationError,
    Model,
    SQLiteStore,
    Store,
    Threadline,
    open_store,
)

from ._demo_agent import demo_agent
from ._model_spec import PYTHON_PREFIX, load_model
from ._settings import DEFAULT_DB, DEFAULT_MODEL


@dataclass(frozen=True)
class AppSpec:
    """What an `--app` value names: agents, and the store and model of a `Threadline` app."""

    agents: list[Agent]
    store: Store | None = None
    model: str | Model | None = None


def load_app(spec: str | None) -> AppSpec:
    """What an `--app` value names: a `Threadline` app, an `Agent`, a list of agents, or a
    zero-argument callable returning one of those. None: the demo assistant."""
    if spec is None:
        return AppSpec([demo_agent()])
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
        return AppSpec(list(value.agents.values()), value.store, value.model)
    if isinstance(value, Agent):
        return AppSpec([value])
    if isinstance(value, list | tuple) and value and all(isinstance(a, Agent) for a in value):
        return AppSpec(list(value))  # type: ignore[arg-type]
    raise ConfigurationError(f"--app {spec} is not a Threadline app, an Agent or a list of agents")


def choose_store(db: str | None, app: AppSpec) -> Store | str:
    """The store a command runs on: a `Threadline` app's own, else `db` (--db or
    THREADLINE_DB), else `threadline.db`. A `db` that names another store than the app's is
    refused rather than one of them being picked: threads would be split between the two."""
    if app.store is None:
        return db or DEFAULT_DB
    if db is None or _same_store(open_store(db), app.store):
        return app.store
    raise ConfigurationError(
        f"the --app Threadline app keeps its threads in {app.store!r}, but --db (or "
        "THREADLINE_DB) names another store: leave --db out to use the app's store, or "
        "give --app the agents instead of the app"
    )


def choose_model(spec: str | None, app: AppSpec) -> str | Model:
    """The model a command runs: `spec` (--model or THREADLINE_MODEL), else a `Threadline`
    app's own, else the bundled local model. A spec stays a string unless it names Python
    code (`py:`), so commands that run no turn never build a model."""
    if spec is not None:
        return load_model(spec) if spec.startswith(PYTHON_PREFIX) else spec
    return app.model if app.model is not None else DEFAULT_MODEL


def _same_store(given: Store, own: Store) -> bool:
    if isinstance(given, SQLiteStore):
        return isinstance(own, SQLiteStore) and (
            (given.in_memory and own.in_memory) or given.path.resolve() == own.path.resolve()
        )
    from threadline.store import PostgresStore

    return (
        isinstance(given, PostgresStore)
        and isinstance(own, PostgresStore)
        and (given.url, given.schema) == (own.url, own.schema)
    )
