from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._types import CodeLimits, CodeResult, CodeStatus


class LimitReached(Exception):
    """Raised into the code when a run passes a limit; the run is stopped as well, so code
    that catches it gains nothing."""


class RunGuard:
    """A run's host calls, output and reports, held to its limits: past one, the run is
    stopped (`stopped` says why) through the callbacks given to `on_stop`."""

    def __init__(self, limits: CodeLimits, on_report: Callable[[Any], None] | None) -> None:
        self.limits = limits
        self.calls = 0
        self.stopped: str | None = None
        self._on_report = on_report
        self._reports: list[Any] = []
        self._output: list[str] = []
        self._output_bytes = 0
        self._stops: list[Callable[[], Any]] = []

    def on_stop(self, callback: Callable[[], Any]) -> None:
        self._stops.append(callback)

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            for callback in self._stops:
                callback()

    def count_call(self) -> None:
        self.calls += 1
        if self.calls > self.limits.host_calls:
            self.stop(f"too many host calls (the limit is {self.limits.host_calls})")
            raise LimitReached(self.stopped)

    def report(self, value: Any) -> None:
        """`report(value)` in the code: kept in order, and passed on."""
        self.count_call()
        self._reports.append(value)
        if self._on_report is not None:
            self._on_report(value)

    def print(self, text: str) -> None:
        """What the code printed, kept up to the output limit."""
        if self.stopped is not None:
            return
        data = text.encode()
        room = self.limits.output_bytes - self._output_bytes
        if len(data) > room:
            self._output.append(data[: max(room, 0)].decode(errors="ignore"))
            self._output_bytes = self.limits.output_bytes
            self.stop(f"output limit: the code printed more than {self.limits.output_bytes} bytes")
            return
        self._output.append(text)
        self._output_bytes += len(data)

    def result(
        self, status: CodeStatus, error: str | None, backend: str, *, value: Any = None
    ) -> CodeResult:
        return CodeResult(
            status=status,
            value=value,
            error=error,
            stdout="".join(self._output),
            reports=tuple(self._reports),
            backend=backend,
        )
