"""The `threadline` command group: global options, and how errors reach the user."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from threadline import ThreadlineError, __version__

from ._app_server import app_server
from ._chat import chat
from ._decide import approve, deny
from ._mcp import mcp
from ._run import run
from ._serve import serve
from ._settings import Settings, current_settings, pass_settings
from ._threads import threads
from ._traces import traces
from ._worker import worker

_INTERRUPTED_EXIT_CODE = 130
_BROKEN_PIPE_EXIT_CODE = 141


class _Group(click.Group):
    """Turns failures into one red line on stderr (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, like a command killed by SIGPIPE,
            # and keep Python from complaining when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(_BROKEN_PIPE_EXIT_CODE)
        except KeyboardInterrupt:
            click.secho("interrupted", err=True, fg="yellow")
            ctx.exit(_INTERRUPTED_EXIT_CODE)
        except Exception as exc:
            settings = current_settings(ctx)
            debug = settings is not None and settings.debug
            if debug:
                traceback.print_exc()
            message = (
                exc.message
                if isinstance(exc, ThreadlineError)
                else (
                    f"unexpected {type(exc).__name__}: {exc}"
                    + ("" if debug else " (run with --debug for the traceback)")
                )
            )
            click.secho(f"error: {' '.join(message.split())}", err=True, fg="red")
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="threadline")
@pass_settings
def cli(settings: Settings) -> None:
    """threadline: durable threads for AI agents.

    Chat with the built-in assistant, run single turns, and read the stored threads. Works
    offline on the bundled local model; everything is kept in one SQLite file. The options
    below are accepted after the subcommand too (`threadline run --db x.db ...`), where
    they win over the same option given before it.
    """


cli.add_command(chat)
cli.add_command(run)
cli.add_command(threads)
cli.add_command(traces)
cli.add_command(approve)
cli.add_command(deny)
cli.add_command(worker)
cli.add_command(app_server)
cli.add_command(serve)
cli.add_command(mcp)


def main(args: Sequence[str] | None = None) -> None:
    """Run the `threadline` command line with `args` (default: `sys.argv[1:]`) and exit."""
    cli.main(args=list(args) if args is not None else None, prog_name="threadline")
