"""`threadline traces show TURN_ID`: a turn's stored spans as an indented tree."""

from __future__ import annotations

from typing import Any

import click

from threadline import NotFoundError, SpanRecord, Threadline

from ._render import make_console, to_json
from ._settings import Settings, pass_settings
from ._threads import with_app

# Attributes worth a glance in the tree; `--json` prints them all.
_SHOWN = (
    "threadline.owner",
    "threadline.gap_seconds",
    "threadline.turn.status",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.tool.name",
    "threadline.tool.outcome",
)


@click.group()
@pass_settings
def traces(settings: Settings) -> None:
    """Read the stored traces of turns."""


@traces.command("show")
@click.argument("turn_id", metavar="TURN_ID")
@click.option("--json", "as_json", is_flag=True, help="Print the spans as JSON.")
@pass_settings
def show_trace(settings: Settings, turn_id: str, as_json: bool) -> None:
    """Show a turn's spans as a tree, with how long each took."""

    async def read(app: Threadline) -> None:
        turn = await app.store.get_turn(turn_id)
        if turn is None:
            raise NotFoundError(f"no turn {turn_id}")
        thread = await app.threads.resume(turn.thread_id)
        spans = await thread.trace(turn_id)
        out = make_console()
        if as_json:
            out.file.write(to_json([s.to_dict() for s in spans]) + "\n")
            return
        if not spans:
            out.print("No spans stored for this turn.", style="dim")
            return
        out.print(f"trace {spans[0].trace_id}", style="bold", markup=False)
        for line in tree_lines(spans):
            out.print(line, markup=False, soft_wrap=True)

    with_app(settings, read)


def tree_lines(spans: list[SpanRecord]) -> list[str]:
    """One line per span, indented under its parent (spans come each after its parent)."""
    depth: dict[str, int] = {}
    lines: list[str] = []
    for span in spans:
        level = depth[span.span_id] = depth.get(span.parent_id or "", -1) + 1
        took = "open" if span.duration is None else f"{span.duration * 1000:.1f} ms"
        details = " ".join(
            f"{k}={_short(span.attributes[k])}" for k in _SHOWN if k in span.attributes
        )
        status = "" if span.status != "error" else " ERROR"
        lines.append(f"{'  ' * level}{span.name} {took}{status} {details}".rstrip())
    return lines


def _short(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
