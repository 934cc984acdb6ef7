"""Model settings that one turn's caller adds to the agent's: extra instructions, an output
schema, sampling. They are stored with the turn (`turn.options["settings"]`), so a turn
resumed in another process makes the same requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from threadline.types import ConfigurationError, InvalidInputError

from ._output import OutputSpec


@dataclass(frozen=True, kw_only=True)
class TurnSettings:
    """What a turn asks of the model on top of its agent's settings. None leaves the agent's
    own: `instructions` are appended to the agent's, `output_schema` replaces the agent's
    output type for the turn (the repair loop applies), the sampling values replace the
    agent's. Raises `InvalidInputError` for values out of range or an invalid schema."""

    instructions: str | None = None
    output_schema: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise InvalidInputError("temperature must be between 0 and 2")
        if self.top_p is not None and not 0 <= self.top_p <= 1:
            raise InvalidInputError("top_p must be between 0 and 1")
        if self.max_output_tokens is not None and self.max_output_tokens < 1:
            raise InvalidInputError("max_output_tokens must be positive")
        self.output_spec()

    def output_spec(self) -> OutputSpec | None:
        """The turn's own output spec, or None to keep the agent's."""
        if self.output_schema is None:
            return None
        try:
            return OutputSpec.build(self.output_schema)
        except ConfigurationError as exc:
            raise InvalidInputError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """The settings that are set, as stored with the turn."""
        values = {
            "instructions": self.instructions,
            "output_schema": self.output_schema,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_output_tokens": self.max_output_tokens,
        }
        return {name: value for name, value in values.items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TurnSettings:
        return cls(**dict(data or {}))


def with_extra_instructions(instructions: str | None, extra: str | None) -> str | None:
    """The agent's instructions with a turn's extra instructions after them."""
    if not extra:
        return instructions
    if not instructions:
        return extra
    return f"{instructions}\n\n{extra}"
