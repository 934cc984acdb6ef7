"""`threadline run`: one turn, its reply on stdout, or every event as JSON lines."""

from __future__ import annotations

import asyncio
import sys

import click
from rich.console import Console

from ._humans import pending_lines
from ._render import Activity, EventPrinter, TurnPrinter, make_console
from ._session import app_model, build_app, load_weights, open_thread, stream_turn
from ._settings import Settings, pass_settings


@click.command()
@click.argument("prompt")
@click.option(
    "--thread",
    "thread_id",
    metavar="ID",
    help="Continue this thread instead of starting a new one.",
)
@click.option("--user", "user_id", metavar="USER", help="The user a new thread belongs to.")
@click.option(
    "--events",
    is_flag=True,
    help="Print every event as one JSON line (for jq) instead of the reply.",
)
@pass_settings
def run(
    settings: Settings, prompt: str, thread_id: str | None, user_id: str | None, events: bool
) -> None:
    """Run one turn and print the agent's reply.

    PROMPT is the user's message; "-" reads it from stdin. The thread id is printed to
    stderr: continue the conversation with --thread ID or `threadline chat --thread ID`.
    """
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.UsageError("the prompt is empty")
    err = make_console(stderr=True)
    activity = Activity(err)
    printer = EventPrinter(make_console()) if events else TurnPrinter(make_console(), err, activity)
    asyncio.run(_run(settings, prompt, thread_id, user_id, printer, err, activity))


async def _run(
    settings: Settings,
    prompt: str,
    thread_id: str | None,
    user_id: str | None,
    printer: TurnPrinter | EventPrinter,
    err: Console,
    activity: Activity,
) -> None:
    async with build_app(settings) as app:
        await load_weights(app_model(app), activity)
        thread = await open_thread(app, thread_id, user_id)
        err.print(f"thread {thread.id}", style="dim", markup=False)
        result = await stream_turn(thread, prompt, printer)
        if result.status == "paused":
            for line in pending_lines(
                [*result.pending_approvals, *filter(None, [result.pending_input])]
            ):
                err.print(f"waiting: {line}", style="yellow", markup=False)
            err.print(
                f"decide with: {settings.command('approve', thread.id, 'CALL_ID')} (or deny)",
                style="yellow",
                markup=False,
                soft_wrap=True,
            )
