"""`threadline worker`: run the turns that API processes and other workers store."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace

import click

from ._render import make_console
from ._session import app_model, build_app
from ._settings import Settings, pass_settings


@click.command()
@click.argument("app_name", metavar="[APP]", required=False)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=4,
    show_default=True,
    help="How many turns this worker runs at once.",
)
@click.option(
    "--lease",
    "lease_seconds",
    type=click.FloatRange(0.5, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a turn's lease lasts without a heartbeat.",
)
@click.option(
    "--grace",
    "grace_seconds",
    type=click.FloatRange(0, 3600),
    default=5.0,
    show_default=True,
    help="On SIGTERM, seconds running turns may take to finish before being handed back.",
)
@pass_settings
def worker(
    settings: Settings,
    app_name: str | None,
    concurrency: int,
    lease_seconds: float,
    grace_seconds: float,
) -> None:
    """Claim and run work from the store until SIGTERM or Ctrl-C: new and queued turns,
    approved turns, due timers, and turns whose process died. APP (module:attribute)
    names the agents, as --app does; a Threadline app runs on its own store. On SIGTERM,
    running turns may finish for a few seconds; the others are handed back for another
    worker to continue."""
    settings = replace(settings, app_spec=app_name or settings.app_spec)
    asyncio.run(_work(settings, concurrency, lease_seconds, grace_seconds))


async def _work(
    settings: Settings, concurrency: int, lease_seconds: float, grace_seconds: float
) -> None:
    err = make_console(stderr=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    app = build_app(settings, lease_seconds=lease_seconds, shutdown_grace=grace_seconds)
    app_model(app)
    async with app:
        err.print(f"worker on {app.store!r}, concurrency {concurrency}", style="dim", markup=False)
        await app.work(concurrency=concurrency, stop=stop)
        err.print(
            "stopping: letting running turns finish, handing back the rest",
            style="dim",
            markup=False,
        )
