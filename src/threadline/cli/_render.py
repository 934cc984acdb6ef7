"""How the CLI prints: consoles, live turns, transcripts, thread tables and JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

from threadline import Event, Item, ThreadRecord, TurnRecord, Usage

_PREVIEW_CHARS = 200
# Piped output is read by programs and tests: never wrap it at an imagined 80 columns.
_PIPE_WIDTH = 200


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that does not wrap lines when it is not a terminal."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
        if "COLUMNS" not in os.environ:
            console.width = _PIPE_WIDTH
    return console


def to_json(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def one_line(value: str, limit: int = _PREVIEW_CHARS) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def format_usage(usage: Usage) -> str:
    tokens = f"{usage.total_tokens} tokens ({usage.input_tokens} in, {usage.output_tokens} out)"
    cost = "cost unknown" if usage.cost_usd is None else f"${usage.cost_usd:.4f}"
    return f"{tokens} · {cost}"


class Activity:
    """A transient spinner on stderr while nothing else is shown; silent off a terminal."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._status: Status | None = None

    def show(self, label: str) -> None:
        if not self._console.is_terminal:
            return
        if self._status is None:
            self._status = self._console.status(label, spinner="dots")
            self._status.start()
        else:
            self._status.update(label)

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class TurnPrinter:
    """Prints a turn as it streams: reply text to stdout, tool activity to stderr."""

    def __init__(
        self, out: Console, err: Console, activity: Activity, *, label: str | None = None
    ) -> None:
        self._out = out
        self._err = err
        self._activity = activity
        self._label = label
        self._streamed: set[str] = set()
        self._line_open = False

    def begin(self) -> None:
        self._activity.show("Thinking…")

    def event(self, event: Event) -> None:
        if event.type == "agent_message_delta":
            self._activity.stop()
            if event.item_id is not None and event.item_id not in self._streamed:
                self._streamed.add(event.item_id)
                self._start_message()
            self._write(str(event.params.get("delta", "")))
        elif event.type == "item_completed":
            self._item_completed(event.params.get("item", {}))
        elif event.type == "approval_requested":
            call = tool_call_text(event.params)
            self._tool_line(
                Text(f"⏸ waiting for approval: {call.removeprefix('→ ')}", style="yellow")
            )
        elif event.type == "cancelled":
            self._activity.stop()
            self.end_line()
            self._err.print("(interrupted; the partial reply is kept)", style="dim", markup=False)

    def end_line(self) -> None:
        """End the reply's line, if the turn printed one."""
        self._activity.stop()
        if self._line_open:
            self._out.file.write("\n")
            self._out.file.flush()
            self._line_open = False

    def _start_message(self) -> None:
        self.end_line()
        if self._label is not None:
            self._out.print(self._label, style="bold green", end="", markup=False)
            self._line_open = True

    def _write(self, text: str) -> None:
        if not text:
            return
        self._out.file.write(text)
        self._out.file.flush()
        self._line_open = not text.endswith("\n")

    def _item_completed(self, item: Mapping[str, Any]) -> None:
        kind = item.get("type")
        content: Mapping[str, Any] = item.get("content", {})
        if kind == "agent_message" and item.get("id") not in self._streamed:
            self._activity.stop()
            self._start_message()
            self._write(str(content.get("text", "")))
        elif kind == "tool_call":
            self._tool_line(Text(tool_call_text(content), style="dim"))
        elif kind == "tool_result":
            self._tool_line(tool_result_text(content))
            self._activity.show("Thinking…")

    def _tool_line(self, line: Text) -> None:
        self.end_line()
        self._err.print(line, soft_wrap=True)


class EventPrinter:
    """Prints every event as one JSON line, for `jq` and other programs."""

    def __init__(self, out: Console) -> None:
        self._file = out.file

    def begin(self) -> None:
        pass

    def end_line(self) -> None:
        pass

    def event(self, event: Event) -> None:
        self._file.write(to_json(event.to_dict(), indent=None) + "\n")
        self._file.flush()


def tool_call_text(content: Mapping[str, Any]) -> str:
    arguments = str(content.get("arguments", "")) or "{}"
    return f"→ {content.get('name', '?')}({one_line(arguments)})"


def tool_result_text(content: Mapping[str, Any]) -> Text:
    output = one_line(str(content.get("output", "")))
    outcome = content.get("outcome", "success")
    if outcome == "success":
        return Text(f"← {output}", style="dim")
    return Text(f"← [{outcome}] {output}", style="red")


def threads_table(records: Iterable[ThreadRecord]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("id", "agent", "status", "turns", "updated"):
        table.add_column(name, justify="right" if name == "turns" else "left", no_wrap=True)
    for record in records:
        table.add_row(
            record.thread_id,
            record.agent,
            record.status,
            str(record.turn_count),
            format_time(record.updated_at),
        )
    return table


def print_transcript(
    console: Console, record: ThreadRecord, turns: list[TurnRecord], items: list[Item]
) -> None:
    """The thread as a reader wants it: a header, then each turn with its items in order."""
    console.print(Text.assemble(("Thread ", "bold"), (record.thread_id, "bold cyan")))
    details = [f"agent {record.agent}", record.status, f"{record.turn_count} turn(s)"]
    if record.user_id:
        details.append(f"user {record.user_id}")
    details.append(f"created {format_time(record.created_at)}")
    console.print(" · ".join(details), style="dim", markup=False)
    by_id = {turn.turn_id: turn for turn in turns}
    current: str | None = None
    for item in items:
        if item.turn_id != current:
            current = item.turn_id
            turn = by_id.get(current) if current is not None else None
            console.print()
            if turn is not None:
                console.print(_turn_header(turn))
        console.print(_item_text(item, record.agent))


def _turn_header(turn: TurnRecord) -> Text:
    style = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(turn.status, "blue")
    header = Text.assemble(
        (f"Turn {turn.number}", "bold"),
        " · ",
        (turn.status, style),
        " · ",
        format_usage(turn.usage),
    )
    if turn.error:
        header.append(
            f" · {turn.error.get('code', 'error')}: {turn.error.get('message', '')}", style="red"
        )
    return header


def _item_text(item: Item, agent: str) -> Text:
    content = item.to_dict()["content"]
    suffix = "" if item.status == "completed" else f" ({item.status})"
    if item.type == "user_message":
        sender = content.get("sender") or "user"
        return Text.assemble((f"{sender}> ", "bold cyan"), item.text, (suffix, "yellow"))
    if item.type == "agent_message":
        return Text.assemble((f"{agent}> ", "bold green"), item.text, (suffix, "yellow"))
    if item.type == "reasoning":
        return Text(f"(thinking) {item.text}{suffix}", style="dim italic")
    if item.type == "tool_call":
        return Text(tool_call_text(content), style="dim")
    if item.type == "tool_result":
        return tool_result_text(content)
    if item.type == "approval_request":
        call = tool_call_text(content).removeprefix("→ ")
        return Text(f"⏸ approval requested: {call}", style="yellow")
    if item.type == "approval_response":
        reason = f" ({content['reason']})" if content.get("reason") else ""
        return Text(f"⏵ {content.get('decision', 'answered')}{reason}", style="yellow")
    if item.type == "error":
        return Text(f"error [{content.get('code')}]: {content.get('message')}", style="red")
    if item.type == "system_event":
        return Text(f"[{content.get('phase')}] {content.get('message')}", style="dim")
    if item.type == "subagent":
        waits = len(content.get("pending") or [])
        return Text(
            f"⏸ waiting for subagent {content.get('reference_id')} ({content.get('agent')}, "
            f"thread {content.get('thread_id')}): {waits} request(s) for a human",
            style="yellow",
        )
    return Text(f"[{item.type}] {one_line(to_json(content, indent=None))}", style="dim")
