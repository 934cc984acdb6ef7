"""Opening the app for a command: the model, the store, and the thread to talk on."""

from __future__ import annotations

import inspect
import logging
from dataclasses import replace
from typing import Any

from threadline import Model, Thread, Threadline, TurnResult, TurnStream, resolve_model

from ._app_spec import choose_model, choose_store, load_app
from ._render import Activity, EventPrinter, TurnPrinter
from ._settings import Settings

_STDIO_RECOVERY_SECONDS = 5.0  # how often a stdio server's recovery passes run


def build_app(settings: Settings, **options: Any) -> Threadline:
    """The app a command runs: the `--app` agents (or the demo assistant) on the store
    `choose_store` picks, with the model `choose_model` picks."""
    app = load_app(settings.app_spec)
    return Threadline(
        agents=app.agents,
        store=choose_store(settings.db, app),
        model=choose_model(settings.model_spec, app),
        **options,
    )


def stdio_app(settings: Settings, app_name: str | None) -> Threadline:
    """The app a stdio protocol server serves (APP, else the global --app): logs go to
    stderr, as stdout carries only protocol messages; its model is built now."""
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    app = build_app(
        replace(settings, app_spec=app_name or settings.app_spec),
        recovery_interval=_STDIO_RECOVERY_SECONDS,
    )
    app_model(app)
    return app


def app_model(app: Threadline) -> Model:
    """The app's model, built now, so that a bad spec or a missing key fails at start."""
    return resolve_model(app.model)


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


async def stream_turn(
    thread: Thread, message: str, printer: TurnPrinter | EventPrinter
) -> TurnResult:
    """Run one turn, handing each event to `printer` as it arrives; see `stream_events`."""
    return await stream_events(thread.run_streamed(message), printer)


async def stream_events(stream: TurnStream, printer: TurnPrinter | EventPrinter) -> TurnResult:
    """Hand each event of `stream` to `printer` as it arrives and return the turn's result.

    If the reader of stdout goes away (`| head`), the turn still runs to its end, so that
    it is stored whole rather than cut off; then `BrokenPipeError` is raised.
    """
    printer.begin()
    reader_gone = False
    try:
        async for event in stream:
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
    return stream.result
