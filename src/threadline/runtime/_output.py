from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema.validators
import orjson
from pydantic import BaseModel, ValidationError

from threadline.types import ConfigurationError

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def strip_fence(text: str) -> str:
    """The JSON inside a ```json ... ``` fence, or the text itself."""
    match = _FENCE.match(text)
    return match.group(1) if match else text.strip()


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """What a structured answer must match: a pydantic model or a JSON Schema."""

    schema: dict[str, Any]
    model: type[BaseModel] | None
    validator: Any  # jsonschema validator when there is no model

    @classmethod
    def build(cls, output_type: type[BaseModel] | Mapping[str, Any]) -> OutputSpec:
        if isinstance(output_type, type) and issubclass(output_type, BaseModel):
            return cls(schema=output_type.model_json_schema(), model=output_type, validator=None)
        if isinstance(output_type, Mapping):
            schema = dict(output_type)
            try:
                validator_class = jsonschema.validators.validator_for(schema)
                validator_class.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ConfigurationError(
                    f"output_type is not a valid JSON Schema: {exc.message}"
                ) from None
            return cls(schema=schema, model=None, validator=validator_class(schema))
        raise ConfigurationError("output_type must be a pydantic model class or a JSON Schema dict")

    def validate(self, text: str) -> tuple[Any, str | None]:
        """(the validated output, None) or (None, what is wrong, for the model to fix)."""
        candidate = strip_fence(text)
        if self.model is not None:
            try:
                return self.model.model_validate_json(candidate), None
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                    for e in exc.errors(include_url=False)[:10]
                )
                return None, problems
        try:
            value = orjson.loads(candidate)
        except orjson.JSONDecodeError as exc:
            return None, f"not valid JSON ({exc})"
        errors = sorted(self.validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            return None, "; ".join(
                f"{'.'.join(str(p) for p in e.path) or 'value'}: {e.message}" for e in errors[:10]
            )
        return value, None

    def repair_prompt(self, problems: str) -> str:
        return (
            "Your last answer did not match the required JSON Schema: "
            + problems
            + ". Reply again with only the corrected JSON object, no prose."
        )
