"""Which sandbox runs a language: the app's choice (`backend`), checked against what runs
here."""

from __future__ import annotations

import logging
from typing import Literal

from threadline.types import ConfigurationError

from ._types import CodeLanguage, Sandbox

Backend = Literal["default", "auto", "monty", "quickjs", "bubblewrap"]
"""`default`: Monty for Python, QuickJS for JavaScript and TypeScript; `auto`: bubblewrap where
it runs and has the language, else the default; or a backend by name."""

LANGUAGES: tuple[CodeLanguage, ...] = ("python", "js", "ts")
BACKENDS: tuple[Backend, ...] = ("default", "auto", "monty", "quickjs", "bubblewrap")
logger = logging.getLogger("threadline.sandbox")
_sandboxes: dict[str, Sandbox] = {}
_announced: set[CodeLanguage] = set()


def sandbox(name: str) -> Sandbox:
    """The process's sandbox of that name, made on first use."""
    found = _sandboxes.get(name)
    if found is None:
        if name == "monty":
            from ._python import PythonSandbox

            found = PythonSandbox()
        elif name == "quickjs":
            from ._javascript import JavaScriptSandbox

            found = JavaScriptSandbox()
        elif name == "bubblewrap":
            from ._bubblewrap import BubblewrapSandbox

            found = BubblewrapSandbox()
        else:
            raise ConfigurationError(f"no sandbox named {name!r}; sandboxes: {BACKENDS}")
        _sandboxes[name] = found
    return found


def choose(language: str, backend: str) -> Sandbox:
    """The sandbox for `language` under `backend`. Raises `ConfigurationError` for an unknown
    language or backend; a backend that cannot run here is returned all the same (its run is a
    `link_error` naming what is missing: code never runs outside the sandbox asked for)."""
    if language not in LANGUAGES:
        raise ConfigurationError(f"no language {language!r}; languages: {', '.join(LANGUAGES)}")
    if backend not in BACKENDS:
        raise ConfigurationError(f"no backend {backend!r}; backends: {', '.join(BACKENDS)}")
    default = "monty" if language == "python" else "quickjs"
    if backend == "default":
        return sandbox(default)
    if backend == "auto":
        strong = sandbox("bubblewrap")
        chosen = (
            strong
            if strong.missing() is None and language in strong.languages
            else sandbox(default)
        )
        if language not in _announced:
            _announced.add(language)
            logger.info("run_code runs %s code in the %s sandbox", language, chosen.name)
        return chosen
    return sandbox(backend)
