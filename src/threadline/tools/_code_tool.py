"""`code_tool()`: a tool with which the model writes code and runs it in a sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from threadline.sandbox import CodeLanguage, CodeLimits
from threadline.sandbox._choice import Backend, choose

from ._state import ThreadState
from ._tool import Tool

_LANGUAGE_NAMES = {"python": "Python", "js": "JavaScript", "ts": "TypeScript"}


def code_tool(
    *,
    imports: Mapping[str, Callable[..., Any]] | None = None,
    language: CodeLanguage = "python",
    limits: CodeLimits | None = None,
    backend: Backend = "default",
    name: str = "run_code",
    description: str | None = None,
) -> Tool:
    """A tool that runs the code the model writes (`source`) with `run_code`: in a sandbox
    that reaches only `imports`, the functions the app chooses to hand it. The model reads
    the run's `CodeResult` (status, value, error, stdout, reports). Each call is a durable
    step of its turn.

        agent = tl.Agent(name="analyst", tools=[tl.code_tool(imports={"fetch_rows": rows})])

    Raises `ConfigurationError` for an unknown language or backend.
    """
    choose(language, backend)
    given = dict(imports or {})
    shown = ", ".join(sorted(given)) or "none"
    language_name = _LANGUAGE_NAMES[language]

    async def run(source: str, thread: ThreadState[Any]) -> dict[str, Any]:
        """Args:
        source: the program; its value is its last expression.
        """
        result = await thread.run_code(
            source, language=language, imports=given, limits=limits, backend=backend
        )
        return result.to_dict()

    text = description or (
        f"Run {language_name} code in a sandbox with no filesystem, network or environment. "
        f"Functions it may call: {shown}; report(value) records a value as it runs. The "
        "result is the value of the last expression, with what was printed."
    )
    return Tool(run, name=name, description=text)
