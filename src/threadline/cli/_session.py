"""Opening the app for a command: the model, the store, and the thread to talk on."""

from __future__ import annotations

import inspect

from threadline import Model, Thread, Threadline

from ._demo_agent import demo_agent
from ._render import Activity, EventPrinter, TurnPrinter
from ._settings import Settings


def build_app(settings: Settings, model: Model | str) -> Threadline:
    return Threadline(agents=[demo_agent()], store=settings.db, model=model)


async def load_weights(model: Model, activity: Activity) -> None:
    """Load the model's weights now, under a spinner, if it can (`LocalModel.load()`), so
    that the first reply does not stall silently."""
    load = getattr(model, "load", None)
    if not callable(load):
        return
    activity.show(f"Loading model {model.name}…")
    try:
        loading = load()
        if inspect.isawaitable(loading):
            await loading
    finally:
        activity.stop()


async def open_thread(app: Threadline, thread_id: str | None, user_id: str | None) -> Thread:
    """The thread named by `--thread` (raises `NotFoundError`), or a new one."""
    if thread_id is not None:
        return await app.threads.resume(thread_id)
    return await app.threads.start(user_id=user_id)


async def stream_turn(thread: Thread, message: str, printer: TurnPrinter | EventPrinter) -> None:
    """Run one turn, handing each event to `printer` as it arrives.

    If the reader of stdout goes away (`| head`), the turn still runs to its end, so that
    it is stored whole rather than cut off; then `BrokenPipeError` is raised.
    """
    printer.begin()
    reader_gone = False
    try:
        async for event in thread.run_streamed(message):
            if reader_gone:
                continue
            try:
                printer.event(event)
            except BrokenPipeError:
                reader_gone = True
    finally:
        if not reader_gone:
            printer.end_line()
    if reader_gone:
        raise BrokenPipeError
