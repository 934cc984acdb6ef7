"""Running code an agent wrote, isolated, with only the capabilities handed to it."""

from ._choice import Backend
from ._run import CodeRun
from ._types import (
    CodeJob,
    CodeLanguage,
    CodeLimits,
    CodeResult,
    CodeStatus,
    HostFunction,
    Sandbox,
)

__all__ = [
    "Backend",
    "CodeJob",
    "CodeLanguage",
    "CodeLimits",
    "CodeResult",
    "CodeRun",
    "CodeStatus",
    "HostFunction",
    "Sandbox",
]
