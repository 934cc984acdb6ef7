"""The global options, and the `Settings` they decide, handed to each command.

The global options are accepted before the subcommand and after it (`threadline --db x.db
run ...` and `threadline run --db x.db ...`); typed in both places, the later one wins. One
decorator, `pass_settings`, adds them to the group and to every command and merges them."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import click
from click.core import ParameterSource

DEFAULT_DB = "threadline.db"
DEFAULT_MODEL = "local"

_MODEL_HELP = (
    "The model of the assistant: local (the bundled SmolLM2), local:PATH.gguf, "
    "openai:MODEL (Responses API), openai-chat:MODEL (Chat Completions; add @BASE_URL for "
    "any OpenAI-compatible server), anthropic:MODEL. For tests and custom backends, "
    "py:package.module:attribute loads a threadline Model object, or a zero-argument "
    "callable returning one. Default: the model of the --app Threadline app, else local."
)
_OPTIONS = (
    click.option(
        "--db",
        envvar="THREADLINE_DB",
        show_envvar=True,
        metavar="PATH",
        help=f"Where threads are kept: a SQLite file, :memory:, or a postgresql:// URL (with "
        f"?schema=NAME to use a schema of its own). Default: the store of the --app "
        f"Threadline app, else {DEFAULT_DB}; naming another store than the app's is an error.",
    ),
    click.option(
        "--model",
        "model_spec",
        envvar="THREADLINE_MODEL",
        show_envvar=True,
        metavar="SPEC",
        help=_MODEL_HELP,
    ),
    click.option(
        "--app",
        "app_spec",
        envvar="THREADLINE_APP",
        show_envvar=True,
        metavar="MODULE:ATTR",
        help="Run these agents instead of the demo assistant: a Threadline app (with its "
        "store), an Agent or a list of agents, named as package.module:attribute.",
    ),
    click.option("--debug", is_flag=True, help="Show the full traceback when something fails."),
)
_NAMES = ("db", "model_spec", "app_spec", "debug")
_META_KEY = "threadline.settings"


@dataclass(frozen=True, kw_only=True)
class Settings:
    db: str | None = None  # --db or THREADLINE_DB; None when neither was given
    model_spec: str | None = None  # --model or THREADLINE_MODEL; None when neither was given
    debug: bool = False
    app_spec: str | None = None

    def command(self, *words: str) -> str:
        """A `threadline ...` command line that reuses this invocation's database and model."""
        parts = ["threadline"]
        if self.app_spec is not None:
            parts += ["--app", self.app_spec]
        if self.db is not None:
            parts += ["--db", self.db]
        if self.model_spec is not None:
            parts += ["--model", self.model_spec]
        return shlex.join([*parts, *words])


def current_settings(ctx: click.Context) -> Settings | None:
    """The settings of the command being run, once its options are merged."""
    settings = ctx.meta.get(_META_KEY)
    return settings if isinstance(settings, Settings) else None


def pass_settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command (or group) the global options, and call it with the `Settings` they
    decide as its first argument. A group's values come from its command line, the
    environment or the defaults; a subcommand's own command line overrides them."""

    @functools.wraps(command)
    def with_settings(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        values = {name: kwargs.pop(name) for name in _NAMES}
        outer = current_settings(ctx)
        if outer is None:
            settings = Settings(**values)
        else:
            typed = {
                name: value
                for name, value in values.items()
                if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
            }
            settings = replace(outer, **typed)
        ctx.meta[_META_KEY] = settings
        return command(settings, *args, **kwargs)

    for option in reversed(_OPTIONS):
        with_settings = option(with_settings)
    return with_settings
