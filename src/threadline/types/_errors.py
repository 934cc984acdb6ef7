"""The error tree. Every error threadline raises derives from `ThreadlineError`.

ThreadlineError
├── ConfigurationError          the app, an agent or a setting is wrong (programmer error)
│   └── SecretKeyError          no key to encrypt or decrypt a secret, or not the right one
├── InvalidInputError           an argument or an input is malformed; nothing was changed
│   ├── FileQuotaExceededError  a write would take a thread's files over their quota
│   ├── CheckpointError         a checkpoint was altered, signed with another key, or is of
│   │                           another version
│   └── ThreadTerminatedError   the thread was terminated: it takes no more input
├── NotFoundError               a thread, turn or item does not exist
├── TurnError                   the outcome of a turn, carrying it
│   ├── TurnFailedError         the turn ended as failed (model, tool, output or budget)
│   ├── TurnCancelledError      the turn was interrupted or its caller was cancelled
│   └── TurnInProgressError     the thread already has a running turn
├── StoreError                  the store could not do what was asked
│   ├── SchemaVersionError      the database was written by a newer threadline
│   └── CorruptDataError        what the database holds cannot be read (damaged, or edited)
├── ModelError                  a model backend failed; `retryable` says whether to try again
└── ToolError                   raised by a tool to hand the model a readable error message
    └── MCPServerUnavailableError  an MCP server could not be reached, or went away mid-request

LeaseLost (BaseException)       a stale owner tried to write; user code must not swallow it

UnpricedModelWarning (UserWarning)  a cost limit that cannot be enforced: the model has no price
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._records import TurnRecord


class ThreadlineError(Exception):
    """Root of every error threadline raises. `code` is stable and used on the wire."""

    code: ClassVar[str] = "threadline_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: `code`, `message` and its context."""
        return {"code": self.code, "message": self.message, **self.context}


class ConfigurationError(ThreadlineError):
    code = "configuration_error"


class SecretKeyError(ConfigurationError):
    """A secret cannot be stored or read: no secret key is configured
    (`THREADLINE_SECRET_KEY`, `THREADLINE_SECRET_KEY_FILE` or `Threadline(secret_key=...)`),
    or the stored secret was encrypted with another key. Nothing was stored."""

    code = "secret_key"


class InvalidInputError(ThreadlineError):
    code = "invalid_input"


class FileQuotaExceededError(InvalidInputError):
    """A write would take the thread's files over their quota (`Threadline(file_quota_bytes=
    ...)`); nothing was written. Delete files, or write less."""

    code = "file_quota_exceeded"


class ThreadTerminatedError(InvalidInputError):
    """The thread was terminated (`terminate(reason)`): it refuses every input (a turn, queued
    input, a scheduled effect, an approval) and nothing was changed. Start a new thread."""

    code = "thread_terminated"


class CheckpointError(InvalidInputError):
    """A checkpoint cannot be resumed: it is not one, it was altered or signed with a key that
    is not configured here, or it was written by an incompatible threadline. Nothing ran."""

    code = "invalid_checkpoint"


class NotFoundError(ThreadlineError):
    code = "not_found"


class TurnError(ThreadlineError):
    """A turn ended in a way the caller must handle. `turn` is the stored turn."""

    code = "turn_error"

    def __init__(self, message: str, *, turn: TurnRecord | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.turn = turn


class TurnFailedError(TurnError):
    code = "turn_failed"

    @property
    def error_code(self) -> str:
        """The code of what made the turn fail, e.g. `budget_exceeded` or `model_error`."""
        if self.turn is not None and self.turn.error is not None:
            return str(self.turn.error.get("code", self.code))
        return self.code


class TurnCancelledError(TurnError):
    code = "turn_cancelled"


class TurnInProgressError(TurnError):
    code = "turn_in_progress"


class StoreError(ThreadlineError):
    code = "store_error"


class SchemaVersionError(StoreError):
    code = "schema_version"


class CorruptDataError(StoreError):
    """What the database holds cannot be read: a row that is not what threadline wrote (text
    that is not UTF-8, invalid JSON, an unknown item type) or a damaged database file. The
    message and `context` name the table and row (`table`, `row_id`), never the content.
    Trying again does not help: restore the database from a backup, or delete the row."""

    code = "corrupt_data"


class ModelError(ThreadlineError):
    """A model backend failed. Retryable errors may succeed when tried again."""

    code = "model_error"

    def __init__(self, message: str, *, retryable: bool = False, **context: Any) -> None:
        super().__init__(message, **context)
        self.retryable = retryable


class ToolError(ThreadlineError):
    """Raise inside a tool to give the model this message as the tool's error result."""

    code = "tool_error"


class SubagentLimitError(ToolError):
    """A spawn would pass a limit of the app's `SubagentLimits` (how deep a tree of threads
    may grow, how many children one turn may start); nothing was created. Raised in a tool,
    the model reads it as the tool's error result."""

    code = "subagent_limit"


class MCPServerUnavailableError(ToolError):
    """An MCP server could not be reached, or went away before it answered. The message
    says why without quoting a URL, a header or a secret; `context["server"]` names it, and
    `context["sent"]` is true when the request had been sent (it may have taken effect).
    The next request connects again. Raised in a tool, the model reads it as the tool's
    error result."""

    code = "mcp_server_unavailable"


class BudgetExceededError(ThreadlineError):
    """A turn reached one of its limits; `limit` names it (e.g. `max_tokens`)."""

    code = "budget_exceeded"

    def __init__(self, limit: str, value: float, used: float) -> None:
        super().__init__(
            f"budget exceeded: {limit}={value:g} (used {used:g})",
            limit=limit,
            value=value,
            used=used,
        )
        self.limit = limit


class LeaseLost(BaseException):
    """The turn's owner lost its lease; it must stop without writing or invoking anything."""


class UnpricedModelWarning(UserWarning):
    """A turn has `max_cost_usd` but its model's price is unknown, so its cost cannot be
    counted. Give the model a price, or set `Budget(strict_cost=True)` (or turn this warning
    into an error) to fail such turns instead."""
