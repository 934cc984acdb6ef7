"""`threadline threads ...`: list the stored threads and read one as a transcript."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import click

from threadline import ChildThread, ConfigurationError, SQLiteStore, Threadline

from ._humans import pending_lines
from ._render import make_console, print_transcript, threads_table, to_json
from ._session import build_app
from ._settings import Settings, pass_settings

_STATUSES = ("idle", "active", "awaiting_input", "archived", "terminated")


@click.group()
@pass_settings
def threads(settings: Settings) -> None:
    """List and read the stored threads."""


@threads.command("list")
@click.option("--user", "user_id", metavar="USER", help="Only the threads of this user.")
@click.option(
    "--status",
    type=click.Choice(_STATUSES),
    help="Only threads in this status (archived ones show only when asked for).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="How many threads to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_settings
def list_threads(
    settings: Settings, user_id: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """List threads, the most recently created first."""

    async def read(app: Threadline) -> None:
        page = await app.threads.list(
            user_id=user_id,
            status=status,  # type: ignore[arg-type]
            limit=limit,
        )
        records = [thread.record for thread in page.threads]
        out = make_console()
        if as_json:
            out.file.write(to_json([r.to_dict() for r in records]) + "\n")
        elif records:
            out.print(threads_table(records))
        else:
            out.print("No threads.", style="dim")

    with_app(settings, read)


@threads.command("show")
@click.argument("thread_id", metavar="ID")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the thread, its turns and its items as JSON."
)
@pass_settings
def show_thread(settings: Settings, thread_id: str, as_json: bool) -> None:
    """Show a thread's transcript: every item in order, and each turn's status and usage."""

    async def read(app: Threadline) -> None:
        thread = await app.threads.resume(thread_id)
        turns = await thread.turns()
        items = await thread.items()
        pending = await thread.pending()
        children = await thread.children()
        out = make_console()
        if as_json:
            out.file.write(
                to_json(
                    {
                        "thread": thread.record.to_dict(),
                        "turns": [turn.to_dict() for turn in turns],
                        "items": [item.to_dict() for item in items],
                        "pending": [dataclasses.asdict(p) for p in pending],
                        "children": [_child_json(c) for c in children],
                    }
                )
                + "\n"
            )
            return
        print_transcript(out, thread.record, turns, items)
        if children:
            out.print()
            out.print("Subagents:", style="bold")
            for child in children:
                answer = "" if child.result is None else f" · {child.result.status}"
                out.print(
                    f"  {child.reference_id} ({child.agent}) {child.thread_id} · {child.status}"
                    f"{answer}",
                    markup=False,
                )
        if pending:
            out.print()
            out.print("Waiting for a human:", style="bold yellow")
            for line in pending_lines(pending):
                out.print(f"  {line}", style="yellow", markup=False)
            out.print(
                f"  decide with: {settings.command('approve', thread_id, 'CALL_ID')} (or deny)",
                style="dim",
                markup=False,
                soft_wrap=True,
            )

    with_app(settings, read)


def _child_json(child: ChildThread) -> dict[str, Any]:
    result = child.result
    return {
        "thread_id": child.thread_id,
        "reference_id": child.reference_id,
        "agent": child.agent,
        "status": child.status,
        "result": None
        if result is None
        else {"turn_id": result.turn_id, "status": result.status, "text": result.text},
    }


def with_app(settings: Settings, read: Callable[[Threadline], Awaitable[None]]) -> None:
    # Reading runs no turn: the model is never built.
    app = build_app(settings)
    store = app.store
    if isinstance(store, SQLiteStore) and not store.in_memory and not store.path.exists():
        raise ConfigurationError(
            f"no database at {store.path}: start a conversation with "
            "`threadline chat`, or pass --db PATH"
        )

    async def main() -> None:
        async with app:
            await read(app)

    asyncio.run(main())
