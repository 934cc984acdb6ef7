"""What running untrusted code takes and gives, whichever sandbox runs it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from threadline.types import ConfigurationError

CodeLanguage = Literal["python", "js", "ts"]
CodeStatus = Literal["ok", "error", "timeout", "memory", "terminated", "link_error"]
"""How a run ended: `ok` (the value is its result), `error` (the code raised, or used what the
sandbox does not offer), `timeout` and `memory` (a limit stopped it), `terminated`
(`terminate()` or the turn stopped it), `link_error` (the backend cannot run here, or an import
or module the code needs was not given)."""

HostFunction = Callable[..., Any]
"""A function of the host the code may call by name: sync or async, taking and returning
JSON-like values (None, bool, int, float, str, list, dict with str keys, bytes)."""


@dataclass(frozen=True, kw_only=True)
class CodeLimits:
    """Limits of one run. `memory_bytes` the code's heap (or address space), `seconds` its wall
    time (host calls included), `output_bytes` what it prints, `host_calls` how many calls of
    host functions (and reports) it may make."""

    memory_bytes: int = 256 << 20
    seconds: float = 10.0
    output_bytes: int = 1 << 20
    host_calls: int = 10_000

    def __post_init__(self) -> None:
        if self.memory_bytes <= 0 or self.seconds <= 0 or self.output_bytes <= 0:
            raise ConfigurationError("code limits must be positive")
        if self.host_calls < 0:
            raise ConfigurationError("host_calls must be >= 0")


@dataclass(frozen=True, kw_only=True)
class CodeResult:
    """How a run ended (`status`), its `value` (the module's last expression, the default
    export, or what `execute` returned), the `error` it ended with, what it printed
    (`stdout`, cut at the output limit), the values it reported, and which backend ran it.
    `files`: for a backend that gives the code the thread's files, what it wrote (path ->
    content) or deleted (None)."""

    status: CodeStatus
    value: Any = None
    error: str | None = None
    stdout: str = ""
    reports: tuple[Any, ...] = ()
    backend: str = ""
    files: Mapping[str, bytes | None] = field(default_factory=dict[str, "bytes | None"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "value": self.value,
            "error": self.error,
            "stdout": self.stdout,
            "reports": list(self.reports),
            "backend": self.backend,
        }


@dataclass(frozen=True, kw_only=True)
class CodeJob:
    """One run, as a backend receives it. The code sees nothing but `imports` (callable by
    name), `report(value)` (each value goes to `on_report`, in order), the `modules` it may
    import (relative paths such as `./util.py`, or `./util.js`), and, for a backend with a
    filesystem, `files` (the thread's files, by path). With `execute`, the module runs, then
    its function (or export) of that name is called with those arguments."""

    source: str
    language: CodeLanguage
    imports: Mapping[str, HostFunction] = field(default_factory=dict[str, HostFunction])
    modules: Mapping[str, str] = field(default_factory=dict[str, str])
    execute: tuple[str, Sequence[Any]] | None = None
    on_report: Callable[[Any], None] | None = None
    limits: CodeLimits = field(default_factory=CodeLimits)
    files: Mapping[str, bytes] = field(default_factory=dict[str, bytes])


class Sandbox(Protocol):
    """A way to run code. `run` returns how the run ended (never raises for what the code
    did); cancelling it stops the code at once (the caller reports `terminated`)."""

    @property
    def name(self) -> str: ...

    @property
    def languages(self) -> frozenset[CodeLanguage]: ...

    def missing(self) -> str | None:
        """None when this backend can run here; else what is missing, in a sentence."""
        ...

    async def run(self, job: CodeJob) -> CodeResult: ...
