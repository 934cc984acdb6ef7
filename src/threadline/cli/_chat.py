"""`threadline chat`: an interactive conversation with the demo agent, or replies to piped
lines when stdin is not a terminal."""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
from contextlib import AsyncExitStack, suppress

import click
from rich.console import Console

from threadline import Model, Thread, ThreadlineError, TurnCancelledError

from ._humans import answer_pending
from ._render import Activity, TurnPrinter, make_console
from ._session import app_model, build_app, load_weights, open_thread, stream_events, stream_turn
from ._settings import Settings, pass_settings

_EXIT_COMMANDS = frozenset({"/exit", "/quit"})
_COMMAND = re.compile(r"^/\w+$")
_HELP = "/exit or /quit (or Ctrl-D) leaves · Ctrl-C stops a reply · /help shows this"


@click.command()
@click.option("--thread", "thread_id", metavar="ID", help="Resume this thread.")
@click.option("--user", "user_id", metavar="USER", help="The user a new thread belongs to.")
@pass_settings
def chat(settings: Settings, thread_id: str | None, user_id: str | None) -> None:
    """Chat with the assistant (it has a clock and a calculator).

    Replies stream as they are written and tool calls show as they happen. Ctrl-C stops
    the reply being written (what was written is kept); Ctrl-C at the prompt, Ctrl-D,
    /exit or /quit leave. When stdin is not a terminal, each line read is one message and
    only the replies are printed.
    """
    interactive = sys.stdin.isatty()
    out, err = make_console(), make_console(stderr=True)
    activity = Activity(err)
    # One loop for the whole chat; the prompt is read between turns, outside the loop, so
    # Ctrl-C at the prompt is a plain KeyboardInterrupt and Ctrl-C during a turn cancels
    # only that turn (asyncio.Runner turns it into a cancellation of the running task).
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        app = runner.run(stack.enter_async_context(build_app(settings)))
        try:
            model = app_model(app)
            runner.run(load_weights(model, activity))
            thread = runner.run(open_thread(app, thread_id, user_id))
            session = _ChatSession(settings, runner, thread, interactive, out, err, activity)
            session.greet(model, resumed=thread_id is not None)
            session.loop()
        finally:
            runner.run(stack.aclose())
    if session.failures and not interactive:
        # Scripts piping messages in learn from the exit code that a reply went wrong.
        raise click.exceptions.Exit(1)


class _ChatSession:
    def __init__(
        self,
        settings: Settings,
        runner: asyncio.Runner,
        thread: Thread,
        interactive: bool,
        out: Console,
        err: Console,
        activity: Activity,
    ) -> None:
        self._settings = settings
        self._runner = runner
        self._thread = thread
        self._interactive = interactive
        self._out = out
        self._err = err
        self._activity = activity
        self.failures = 0

    def greet(self, model: Model, *, resumed: bool) -> None:
        thread = self._thread
        if not self._interactive:
            self._err.print(f"thread {thread.id}", style="dim", markup=False)
            return
        _enable_line_editing()
        self._err.print(
            f"threadline chat · agent {thread.record.agent} · model {model.name}",
            style="bold",
            markup=False,
        )
        state = f"resumed, {thread.record.turn_count} earlier turn(s)" if resumed else "new"
        self._err.print(
            f"thread {thread.id} ({state}) · resume with: "
            f"{self._settings.command('chat', '--thread', thread.id)}",
            style="dim",
            markup=False,
            soft_wrap=True,
        )
        self._err.print(_HELP, style="dim", markup=False)
        self._err.print()

    def loop(self) -> None:
        while True:
            line = self._read()
            if line is None:
                return
            message = line.strip()
            if not message:
                continue
            if message in _EXIT_COMMANDS:
                return
            if message == "/help":
                self._err.print(_HELP, style="dim", markup=False)
                continue
            if _COMMAND.match(message):
                self._err.print(
                    f"unknown command {message}; /help lists the commands",
                    style="yellow",
                    markup=False,
                )
                continue
            self._turn(message)

    def _ask(self, question: str) -> str | None:
        if self._interactive:
            try:
                return input(question)
            except (EOFError, KeyboardInterrupt):
                self._err.print()
                return None
        self._err.print(question, style="yellow", markup=False)
        return sys.stdin.readline() or None

    def _read(self) -> str | None:
        """The next line, or None at end of input or Ctrl-C at the prompt."""
        if not self._interactive:
            line = sys.stdin.readline()
            return line or None
        try:
            return input("you> ")
        except (EOFError, KeyboardInterrupt):
            self._err.print()
            return None

    def _turn(self, message: str) -> None:
        label = f"{self._thread.record.agent}> " if self._interactive else None
        printer = TurnPrinter(self._out, self._err, self._activity, label=label)
        try:
            result = self._runner.run(stream_turn(self._thread, message, printer))
            while result.status == "paused":
                # The turn waits for a human: ask here, then continue it.
                if not self._runner.run(answer_pending(self._thread, result, self._ask, self._err)):
                    self._err.print(
                        "the turn stays paused; resume it later with `threadline "
                        f"approve` (see `threadline threads show "
                        f"{self._thread.id}`)",
                        style="yellow",
                        markup=False,
                    )
                    break
                result = self._runner.run(
                    stream_events(self._thread.resume_turn_streamed(), printer)
                )
        except KeyboardInterrupt:
            printer.end_line()
            self._err.print("(interrupted; the partial reply is kept)", style="dim", markup=False)
        except TurnCancelledError:
            pass  # the printer has said so when the `cancelled` event arrived
        except ThreadlineError as exc:
            # A failed turn (or a busy thread) ends this message, not the conversation.
            self.failures += 1
            self._err.print(f"error: {exc.message}", style="red", markup=False, soft_wrap=True)
        if self._interactive:
            self._out.print()


def _enable_line_editing() -> None:
    # Importing readline gives input() line editing and history where it exists.
    with suppress(ImportError):
        importlib.import_module("readline")
