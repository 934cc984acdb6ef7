"""The logging of `threadline serve`: uvicorn's format, threadline's loggers at the chosen
level, and nothing that holds a credential or content unless the operator opts in."""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from threadline._logging import CONTENT_LOGGER, OFF, describe
from threadline._redaction import RedactingFilter

# At debug level these print request headers (Authorization), WebSocket frames or request
# bodies. uvicorn hands its own logger to the websockets library, hence `uvicorn.error`.
_VERBOSE_LIBRARIES = ("uvicorn.error", "websockets", "httpx", "httpcore", "openai", "anthropic")


def log_config(level: str, *, log_content: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration: threadline and uvicorn at `level`, other
    libraries' warnings; unless `log_content`, the libraries that log headers, frames or
    bodies at debug level held at info, and tracebacks reduced to the exception's type."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    guarded = numeric if log_content else max(numeric, logging.INFO)
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"content": {"()": ContentFilter, "log_content": log_content}}
    for handler in config["handlers"].values():
        handler["filters"] = ["content"]
    loggers: dict[str, Any] = config["loggers"]
    loggers["uvicorn"]["level"] = numeric
    loggers["uvicorn.access"]["level"] = numeric
    for name in _VERBOSE_LIBRARIES:
        loggers[name] = {**loggers.get(name, {}), "level": guarded}
    loggers["threadline"] = {"level": numeric}
    loggers[CONTENT_LOGGER] = {"level": numeric if log_content else OFF}
    # Everything else (threadline included) reaches the filtered handler through the root,
    # rather than Python's last-resort handler, which prints tracebacks as they are.
    config["root"] = {"handlers": ["default"], "level": logging.WARNING}
    return config


class ContentFilter(logging.Filter):
    """Takes the traceback off every record (its message and frames may quote a secret or a
    message) and names the exception's type instead, unless content is logged. Whatever is
    logged, registered secret values are redacted, whichever library logs them."""

    def __init__(self, log_content: bool = False) -> None:
        super().__init__()
        self.log_content = log_content
        self._secrets = RedactingFilter()

    def filter(self, record: logging.LogRecord) -> bool:
        # `exc_text` alone: a traceback that a logger's redacting filter has formatted already.
        if not self.log_content and (record.exc_info is not None or record.exc_text):
            exc = record.exc_info[1] if record.exc_info is not None else None
            if exc is not None:
                record.msg = f"{record.getMessage()} [{describe(exc)}]"
                record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return self._secrets.filter(record)
