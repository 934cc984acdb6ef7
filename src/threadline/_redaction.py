"""Secret values kept out of everything threadline stores, streams, logs or answers.

The process keeps a registry of the secret values it has set, decrypted or been given
(`tl.Secret`). `redact` replaces each of them, wherever it occurs in text, with a marker
naming the secret (`[redacted:NAME]`); it is applied where items, events, errors and log
records pass, so one function decides for all of them. With no secret registered it costs one
attribute read. A value is also caught in the escaped form it takes inside JSON text (a tool
call's arguments, a stored item).

Streamed text is redacted as it streams: a `StreamHold` keeps back the end of the text that
could be the start of a secret until the next delta says what it is, so a secret split over
two deltas is caught, and the deltas joined are the text that is stored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from typing import Any, TypeVar

T = TypeVar("T")

MARKER = "[redacted:{name}]"


@dataclasses.dataclass(frozen=True, slots=True)
class _Registered:
    pattern: re.Pattern[str]
    markers: dict[str, str]  # each form of each value -> its marker
    forms: tuple[str, ...]
    first_characters: frozenset[str]
    longest: int

    def replace(self, text: str) -> str:
        markers = self.markers
        return self.pattern.sub(lambda match: markers[match.group()], text)


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._markers: dict[str, str] = {}
        self.current: _Registered | None = None  # None while no secret is registered

    def add(self, name: str, value: str) -> None:
        forms = {value, _json_form(value, ascii_only=True), _json_form(value, ascii_only=False)}
        with self._lock:
            new = [form for form in forms if form and form not in self._markers]
            if not new:
                return
            for form in new:
                self._markers[form] = MARKER.format(name=name)
            ordered = tuple(sorted(self._markers, key=len, reverse=True))  # longest wins
            self.current = _Registered(
                pattern=re.compile("|".join(re.escape(form) for form in ordered)),
                markers=dict(self._markers),
                forms=ordered,
                first_characters=frozenset(form[0] for form in ordered),
                longest=len(ordered[0]),
            )
        install_log_filter()


def _json_form(value: str, *, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)[1:-1]


_registry = _Registry()
registry = _registry
"""The process's registry: `registry.current` is None while no secret is registered (read
directly where every streamed delta passes)."""


def register_secret(name: str, value: str) -> None:
    """Redact `value` (as `[redacted:NAME]`) from now on, in this process."""
    _registry.add(name, value)


def secrets_registered() -> bool:
    return _registry.current is not None


def redact_text(text: str) -> str:
    registered = _registry.current
    return text if registered is None else registered.replace(text)


def redact(value: T) -> T:
    """`value` with every registered secret replaced by its marker, in every string it holds
    (dicts, lists, tuples and dataclasses such as item payloads are walked). The same object
    when there is nothing to replace."""
    registered = _registry.current
    if registered is None:
        return value
    return _walk(value, registered)


def _walk(value: Any, registered: _Registered) -> Any:
    if isinstance(value, str):
        return registered.replace(value)
    if isinstance(value, dict):
        changed = False
        walked: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = _walk(key, registered) if isinstance(key, str) else key
            new_item = _walk(item, registered)
            changed = changed or new_key is not key or new_item is not item
            walked[new_key] = new_item
        return walked if changed else value
    if isinstance(value, list | tuple):
        items: list[Any] = [_walk(item, registered) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            if field.init:
                old = getattr(value, field.name)
                new = _walk(old, registered)
                if new is not old:
                    changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


class StreamHold:
    """Redacts one stream of text deltas: `feed` returns what may be shown now, keeping back
    an end that could begin a secret; `flush` returns the rest when the stream ends."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, delta: str) -> str:
        registered = _registry.current
        text = self.pending + delta if self.pending else delta
        if registered is None:
            self.pending = ""
            return text
        cut = _held_from(text, registered)
        self.pending = text[cut:]
        return registered.replace(text[:cut]) if cut else ""

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return redact_text(text) if text else ""


def _held_from(text: str, registered: _Registered) -> int:
    """Where the part of `text` that must wait begins: the earliest end of it that is the
    beginning of a secret, moved back to the start of any secret that would straddle it."""
    length = len(text)
    cut = length
    for start in range(max(0, length - registered.longest + 1), length):
        if text[start] in registered.first_characters:
            tail = text[start:]
            if any(len(form) > len(tail) and form.startswith(tail) for form in registered.forms):
                cut = start
                break
    if cut < length:
        for match in registered.pattern.finditer(text):
            if match.end() <= cut:
                continue
            if match.start() < cut:
                cut = match.start()
            break
    return cut


class RedactingFilter(logging.Filter):
    """Replaces registered secrets in a record's message, traceback and stack. On threadline's
    loggers once a secret is registered; an application may add it to its own handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        registered = _registry.current
        if registered is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it, unchanged
            return True
        redacted = registered.replace(message)
        if redacted is not message:
            record.msg, record.args = redacted, None
        if record.exc_info is not None and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            cleaned = registered.replace(text)
            if cleaned is not text:
                # The formatter prints `exc_text` as it is when there is no `exc_info`.
                record.exc_text, record.exc_info = cleaned, None
        elif record.exc_text:
            record.exc_text = registered.replace(record.exc_text)
        if record.stack_info:
            record.stack_info = registered.replace(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Put the redacting filter on every `threadline` logger there is (a logger's filters see
    only its own records, not those of its children)."""
    loggers = logging.Logger.manager.loggerDict
    for name in list(loggers):
        logger = loggers.get(name)
        if (
            (name == "threadline" or name.startswith("threadline."))
            and isinstance(logger, logging.Logger)
            and _FILTER not in logger.filters
        ):
            logger.addFilter(_FILTER)
