from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from threadline.sandbox import CodeJob, CodeLanguage, CodeLimits
from threadline.sandbox._choice import Backend, choose
from threadline.sandbox._run import CodeRun
from threadline.types import ConfigurationError, InvalidInputError


class CodeServices(Protocol):
    """What the runtime lends a tool to run code as a durable step."""

    def run_code(
        self, caller: Any, number: int, job: CodeJob, backend: str, idempotent: bool
    ) -> CodeRun: ...


class CodeAccess:
    """Code the agent wrote, run isolated with only the capabilities given (see `ThreadState`)."""

    _services: Any
    _invoked: int

    def run_code(
        self,
        source: str,
        *,
        language: CodeLanguage = "python",
        imports: Mapping[str, Callable[..., Any]] | None = None,
        modules: Mapping[str, str] | None = None,
        execute: tuple[str, Sequence[Any]] | None = None,
        report: Callable[[Any], None] | None = None,
        limits: CodeLimits | None = None,
        backend: Backend = "default",
        idempotent: bool = False,
    ) -> CodeRun:
        """Run `source` in a sandbox that reaches nothing of the host but `imports` (host
        functions, sync or async, called by name) and `report(value)` (each value goes to
        `report` and, as a `system_event` of phase `code_report`, to the turn's stream).
        `modules` are relative modules the code may import; `execute=(name, args)` calls
        that function (or export) after the module ran. Await the returned run for its
        `CodeResult`; `run.terminate(reason)` stops it.

        The run is a durable step of the tool: recorded before it starts and its result
        stored, so a tool run again after a crash gets the stored result instead of running
        the code twice; a run cut off by the crash is reported (`terminated`) unless
        `idempotent=True`, which runs it again. Raises `ConfigurationError` for an unknown
        language or backend and `InvalidInputError` for malformed arguments.

            run = thread.run_code("sum(range(10))")
            result = await run  # CodeResult(status="ok", value=45, ...)
        """
        services = self._services
        if services is None or getattr(services, "run_code", None) is None:
            raise ConfigurationError("run_code needs a running turn")
        if not isinstance(source, str):
            raise InvalidInputError("the source is text")
        choose(language, backend)  # an unknown language or backend is refused here
        names = dict(imports or {})
        for name, fn in names.items():
            if not name.isidentifier() or name == "report" or not callable(fn):
                raise InvalidInputError(
                    f"import {name!r} must be a callable under an identifier other than 'report'"
                )
        for path, text in (modules or {}).items():
            if not path.startswith("./") or ".." in path or not isinstance(text, str):
                raise InvalidInputError(f"module {path!r} must be a relative path like ./util.py")
        if execute is not None and (
            not isinstance(execute[0], str) or not isinstance(execute[1], Sequence)
        ):
            raise InvalidInputError("execute is (name, [arguments])")
        job = CodeJob(
            source=source,
            language=language,
            imports=names,
            modules=dict(modules or {}),
            execute=None if execute is None else (execute[0], list(execute[1])),
            on_report=report,
            limits=limits or CodeLimits(),
        )
        self._invoked += 1
        code: CodeServices = services
        return code.run_code(self, self._invoked, job, backend, idempotent)
