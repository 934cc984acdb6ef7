"""Running code an agent wrote, isolated, with only the capabilities handed to it."""

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
    "CodeJob",
    "CodeLanguage",
    "CodeLimits",
    "CodeResult",
    "CodeStatus",
    "HostFunction",
    "Sandbox",
]
