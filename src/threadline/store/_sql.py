"""Store operations as generators of statements, and what a SQL dialect must provide.

Every operation of the SQL stores (`_ops_*` modules) is written once, as a generator: it
yields `Sql` statements, receives each one's result, decides, and returns its outcome. It
never touches a connection. A dialect runs the generator: SQLite on its writer thread, one
statement after the other; PostgreSQL asynchronously, sending the statements whose results
the operation does not wait for together, so that a turn's step costs one round trip.

Statements are written in one spelling: `?` placeholders and `{name}` for tables and the
handful of phrases that differ between databases (`TOKENS`). A dialect renders them once and
caches the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ._codec import Decoder

T = TypeVar("T")

Shape = Literal[
    "one",  # the first row (decoded if a decoder is given), or None
    "all",  # every row
    "count",  # the number of rows the statement changed
    "fence",  # a write that must change a row: False if it changed none
    "many",  # one statement over many parameter rows; nothing comes back
    "run",  # a write whose result nobody needs
]


@dataclass(frozen=True, slots=True)
class Sql:
    text: str
    params: Sequence[Any] = ()
    shape: Shape = "run"
    decode: Decoder[Any] | None = None
    # The operation's last statement: it returns as soon as it has this result, so a dialect
    # may run it together with the commit.
    final: bool = False


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell listeners, when (and only if) the write commits: new events of a thread, and
    threads with runnable work. A dialect without listeners ignores it."""

    events: tuple[str, int] | None = None
    work: Sequence[str] = ()
    work_if_queued: str | None = None  # a thread, if it has input queued for a turn of its own


Statement = Sql | Notify
Op = Generator[Statement, Any, T]
OpFactory = Callable[[], Op[T]]


def one(text: str, *params: Any, decode: Decoder[Any] | None = None, final: bool = False) -> Sql:
    return Sql(text, params, "one", decode, final)


def rows(text: str, *params: Any, decode: Decoder[Any] | None = None) -> Sql:
    return Sql(text, params, "all", decode)


def count(text: str, *params: Any) -> Sql:
    return Sql(text, params, "count")


def fence(text: str, *params: Any) -> Sql:
    return Sql(text, params, "fence")


def run(text: str, *params: Any) -> Sql:
    return Sql(text, params, "run")


def many(text: str, param_rows: Sequence[Sequence[Any]]) -> Sql:
    return Sql(text, param_rows, "many")


def marks(n: int) -> str:
    return ", ".join("?" * n)


def drive(op: Op[T], execute: Callable[[Statement], Any]) -> T:
    """Run `op` to its end, one statement at a time (the synchronous dialects)."""
    try:
        statement = next(op)
        while True:
            statement = op.send(execute(statement))
    except StopIteration as done:
        return done.value


# The names a statement may use. Tables: threads, turns, items, events, inbox, timers, files,
# file_chunks, env, observations, thread_memory, steps, spans.
# Phrases:
#   now          the database's clock, in seconds since the epoch (lease math uses it)
#   lock         after a SELECT of rows to change: lock them until the transaction ends
#   skip_locked  after a SELECT of rows to claim: lock them, skipping rows others hold
#   same         null-safe equality (`a {same} ?` is true when both are NULL)
#   owner_key_conflict  after an INSERT INTO threads: a thread with the same owner and key
#                exists already, so insert nothing (SQLite, one writer, never meets it)
TABLES = (
    "threads",
    "turns",
    "items",
    "events",
    "inbox",
    "timers",
    "files",
    "file_chunks",
    "env",
    "observations",
    "thread_memory",
    "steps",
    "spans",
)
PHRASES = ("now", "lock", "skip_locked", "same", "owner_key_conflict")
TOKENS = (*TABLES, *PHRASES)
_TOKEN = re.compile(r"\{(" + "|".join(TOKENS) + r")\}")
_CACHED = 2048


class Dialect:
    """How one database spells what `TOKENS` names, and its placeholder."""

    def __init__(self, spelling: Mapping[str, str], *, placeholder: str) -> None:
        missing = set(TOKENS) - set(spelling)
        if missing:
            raise ValueError(f"a dialect must spell {sorted(missing)}")
        self.spelling = dict(spelling)
        self.placeholder = placeholder
        self._rendered: dict[str, str] = {}

    def render(self, text: str) -> str:
        rendered = self._rendered.get(text)
        if rendered is None:
            rendered = _TOKEN.sub(lambda m: self.spelling[m[1]], text)
            if self.placeholder != "?":
                rendered = rendered.replace("%", "%%").replace("?", self.placeholder)
            if len(self._rendered) < _CACHED:  # statements built per call (IN lists) vary
                self._rendered[text] = rendered
        return rendered
