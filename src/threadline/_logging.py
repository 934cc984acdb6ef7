"""What threadline logs when something fails: never content unless the operator asks for it.

The message and traceback of an exception raised by user code (a model, a tool) may hold a
secret or the text of a conversation, so they are logged only while the `threadline.content`
logger is enabled: it is off until its level is set (`threadline serve --log-content` does).
"""

from __future__ import annotations

import logging

from threadline.types import ThreadlineError

CONTENT_LOGGER = "threadline.content"
OFF = logging.CRITICAL + 1

_content = logging.getLogger(CONTENT_LOGGER)
if _content.level == logging.NOTSET:  # unless the application configured it already
    _content.setLevel(OFF)


def content_logging() -> bool:
    """Whether the operator opted into logging content."""
    return _content.isEnabledFor(logging.ERROR)


def describe(exc: BaseException) -> str:
    """An exception as it may always be logged: its type, and a threadline error's code and
    the ids it names."""
    name = type(exc).__name__
    if not isinstance(exc, ThreadlineError):
        return name
    ids = [f"{k}={v}" for k, v in exc.context.items() if k.endswith("_id") and isinstance(v, str)]
    return f"{name} ({', '.join([exc.code, *ids])})"


def log_failure(
    logger: logging.Logger,
    message: str,
    *args: object,
    exc: BaseException,
    level: int = logging.ERROR,
) -> None:
    """Log `message % args` at `level`, naming `exc` by `describe`; its message and
    traceback only when content logging is on."""
    logger.log(
        level, f"{message}: %s", *args, describe(exc), exc_info=exc if content_logging() else None
    )
