"""Python in Monty: a Python interpreter written for code that models write, run in a pool of
`monty` worker processes. The code reaches no filesystem, network, subprocess or environment;
only the host functions a run is given. Monty runs a subset of Python (no classes of its own
beyond dataclasses, a few standard modules); what it lacks is an `error` naming it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from typing import Any

from ._guard import RunGuard
from ._types import CodeJob, CodeLanguage, CodeResult

_ARGS = "__threadline_args"


class PythonSandbox:
    """`Sandbox` for Python on Monty. One pool of worker processes per sandbox, started on
    first use; each run has a worker (a fresh interpreter) of its own."""

    name = "monty"
    languages: frozenset[CodeLanguage] = frozenset({"python"})

    def __init__(self) -> None:
        self._pool: Any = None
        self._starting: asyncio.Lock | None = None

    def missing(self) -> str | None:
        try:
            import pydantic_monty  # noqa: F401  # pyright: ignore[reportUnusedImport]
        except ImportError as exc:  # pragma: no cover - a dependency
            return f"the Monty sandbox is not installed ({exc})"
        return None

    async def _workers(self) -> Any:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._pool is None:
                import pydantic_monty

                pool = pydantic_monty.AsyncMonty()
                await pool.__aenter__()
                self._pool = pool
        return self._pool

    async def close(self) -> None:
        """Stop the worker processes."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.__aexit__(None, None, None)

    async def run(self, job: CodeJob) -> CodeResult:
        import pydantic_monty as monty

        if job.modules:
            return CodeResult(
                status="link_error",
                error="the Python sandbox (Monty) cannot import local modules: put the code "
                "in one source, or use backend='bubblewrap'",
                backend=self.name,
            )
        guard = RunGuard(job.limits, job.on_report)
        lookup = {name: _counted(guard, fn) for name, fn in job.imports.items()}
        lookup["report"] = guard.report
        limits = monty.ResourceLimits(
            max_memory=job.limits.memory_bytes,
            max_feed_duration_secs=job.limits.seconds,
            # Each host call suspends the code once: past the limit, Monty stops it too.
            max_suspensions=job.limits.host_calls + 1,
        )
        pool = await self._workers()

        def printed(stream: str, text: str) -> None:
            guard.print(text)

        async def execute() -> Any:
            async with pool.checkout(limits=limits) as session:
                value = await session.feed_run(
                    job.source, external_lookup=lookup, print_callback=printed
                )
                if job.execute is not None:
                    name, args = job.execute
                    if not name.isidentifier():
                        raise _Refused(f"cannot execute {name!r}: not a function name")
                    value = await session.feed_run(
                        f"{name}(*{_ARGS})",
                        inputs={_ARGS: list(args)},
                        external_lookup=lookup,
                        print_callback=printed,
                    )
                return value

        task = asyncio.ensure_future(execute())
        loop = asyncio.get_running_loop()
        # Monty calls back from its own threads: the task is cancelled on its loop.
        guard.on_stop(lambda: loop.call_soon_threadsafe(task.cancel))
        try:
            async with asyncio.timeout(job.limits.seconds):
                value = await asyncio.shield(task)
        except TimeoutError:
            await _stopped(task)
            return guard.result("timeout", f"the code ran past {job.limits.seconds:g} s", self.name)
        except asyncio.CancelledError:
            await _stopped(task)
            if guard.stopped is not None:
                return guard.result("error", guard.stopped, self.name)
            raise
        except _Refused as exc:
            return guard.result("error", str(exc), self.name)
        except monty.MontyError as exc:
            return guard.result(*_classified(exc), self.name)
        return guard.result("ok", None, self.name, value=value)


class _Refused(Exception):
    pass


def _classified(exc: Exception) -> tuple[Any, str]:
    """The status and error text of what Monty raised for the code."""
    import pydantic_monty as monty

    text = str(exc)
    if isinstance(exc, monty.MontyRuntimeError):
        with contextlib.suppress(Exception):
            text = exc.display("type-msg")
    if isinstance(exc, monty.MontySyntaxError) and not text.startswith("SyntaxError"):
        text = f"SyntaxError: {text}"
    if "suspension limit" in text:
        return "error", f"too many host calls ({text})"
    if text.startswith("MemoryError"):
        return "memory", text
    if text.startswith("TimeoutError"):
        return "timeout", text
    if isinstance(exc, monty.MontyCrashedError):
        return "error", f"the sandbox's worker process ended: {text}"
    return "error", text


def _counted(guard: RunGuard, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, each call counted: async for the code (awaited there) if `fn` is."""
    if inspect.iscoroutinefunction(fn):

        async def awaited(*args: Any, **kwargs: Any) -> Any:
            guard.count_call()
            return await fn(*args, **kwargs)

        return awaited

    def call(*args: Any, **kwargs: Any) -> Any:
        guard.count_call()
        return fn(*args, **kwargs)

    return call


async def _stopped(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
