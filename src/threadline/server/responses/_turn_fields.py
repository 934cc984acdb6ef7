"""What a `POST /v1/responses` asks of its turn, and what a response says of itself.

The model settings of a request (`instructions`, `text.format`, `temperature`, `top_p`,
`max_output_tokens`) are the turn's: stored with the turn when it starts, so every segment
of it, in any process, makes the same model requests. A request that continues a paused
turn may repeat them, or leave them out; it cannot change them.

A response is one segment of a turn, so its own fields (`metadata`, `previous_response_id`)
are stored per segment, in the turn's annotations: the first segment's with the turn, a
later segment's when the request that continues the turn is taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline import Agent
from threadline.runtime import TurnSettings, with_extra_instructions
from threadline.types import TurnRecord

from .._config import ServerConfig
from .._errors import APIError, invalid
from ._ids import ResponseRef
from ._params import CreateParams

_FIRST = "first"  # the key of a turn's first segment; later ones are keyed by their start
_JSON_OBJECT = {"type": "object"}
_DEFAULT_TEMPERATURE = 1.0  # what OpenAI reports when a request sets none
_DEFAULT_TOP_P = 1.0


@dataclass(frozen=True, kw_only=True)
class ResponseFields:
    """What a stored response says of itself besides its events."""

    instructions: str | None
    text_format: dict[str, Any]
    temperature: float
    top_p: float
    max_output_tokens: int | None
    metadata: dict[str, str] = field(default_factory=dict[str, str])
    previous_response_id: str | None = None


def refuse_instructions(params: CreateParams, config: ServerConfig) -> None:
    """Raises `APIError` (400) for instructions sent to a server that refuses them."""
    if params.instructions is not None and config.refuse_client_instructions:
        raise invalid(
            "this server does not accept instructions from clients: the agent's instructions "
            "are its configuration (threadline serve --refuse-client-instructions). Leave "
            "'instructions' out, or pick another agent with 'model'",
            param="instructions",
            code="instructions_not_accepted",
        )


def turn_settings(params: CreateParams) -> TurnSettings:
    """The model settings a request gives the turn it starts."""
    return TurnSettings(
        instructions=params.instructions,
        output_schema=_output_schema(params.text_format),
        temperature=params.temperature,
        top_p=params.top_p,
        max_output_tokens=params.max_output_tokens,
    )


def first_annotations(params: CreateParams) -> dict[str, Any]:
    """The annotations a new turn is stored with: its text format, its first response's
    fields."""
    annotations: dict[str, Any] = {}
    if params.text_format is not None:
        annotations["text_format"] = {k: v for k, v in params.text_format.items() if k != "schema"}
    own = _own_fields(params)
    if own:
        annotations["responses"] = {_FIRST: own}
    return annotations


def continued_annotations(
    params: CreateParams, turn: TurnRecord, ref: ResponseRef
) -> dict[str, Any] | None:
    """The turn's annotations once the response `ref`, which continues it, is recorded; None
    if they do not change. Raises `APIError` (400) if the request changes the turn's model
    settings."""
    _check_unchanged(params, turn)
    annotations: dict[str, Any] = dict(turn.options.get("annotations") or {})
    responses: dict[str, Any] = dict(annotations.get("responses") or {})
    own = _own_fields(params)
    # A segment with nothing of its own is stored too once another one has fields, so that
    # it never reads as the first segment.
    if not own and not responses:
        return None
    responses[str(ref.after_seq)] = own
    annotations["responses"] = responses
    return annotations


def response_fields(
    agent: Agent | None, mode: str | None, turn: TurnRecord, ref: ResponseRef
) -> ResponseFields:
    """The fields a response echoes: the settings its turn runs with and its own metadata."""
    settings = TurnSettings.from_dict(turn.options.get("settings"))
    annotations: Mapping[str, Any] = turn.options.get("annotations") or {}
    responses: Mapping[str, Any] = annotations.get("responses") or {}
    key = str(ref.after_seq)
    own: Mapping[str, Any] = responses[key] if key in responses else responses.get(_FIRST, {})
    own_instructions: str | None = None
    agent_temperature: float | None = None
    text_format: dict[str, Any] = {"type": "text"}
    if agent is not None:
        own_instructions = agent.resolve_mode(mode).instructions
        agent_temperature = agent.temperature
        if agent.output is not None:
            text_format = {
                "type": "json_schema",
                "name": "output",
                "schema": agent.output.schema,
                "strict": False,
            }
    stored_format = annotations.get("text_format")
    if stored_format is not None and settings.output_schema is not None:
        text_format = dict(stored_format)
        if text_format["type"] == "json_schema":
            text_format["schema"] = settings.output_schema
    temperature = settings.temperature if settings.temperature is not None else agent_temperature
    return ResponseFields(
        instructions=with_extra_instructions(own_instructions, settings.instructions),
        text_format=text_format,
        temperature=_DEFAULT_TEMPERATURE if temperature is None else temperature,
        top_p=_DEFAULT_TOP_P if settings.top_p is None else settings.top_p,
        max_output_tokens=settings.max_output_tokens,
        metadata=dict(own.get("metadata") or {}),
        previous_response_id=own.get("previous_response_id"),
    )


def _output_schema(text_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if text_format is None:
        return None
    if text_format["type"] == "json_object":
        return dict(_JSON_OBJECT)
    return text_format["schema"]


def _own_fields(params: CreateParams) -> dict[str, Any]:
    own: dict[str, Any] = {}
    if params.metadata:
        own["metadata"] = params.metadata
    if params.previous_response_id is not None:
        own["previous_response_id"] = params.previous_response_id
    return own


def _check_unchanged(params: CreateParams, turn: TurnRecord) -> None:
    stored = TurnSettings.from_dict(turn.options.get("settings"))
    stored_format = (turn.options.get("annotations") or {}).get("text_format")
    given_format = (
        None
        if params.text_format is None
        else {k: v for k, v in params.text_format.items() if k != "schema"}
    )
    changes = {
        "instructions": params.instructions not in (None, stored.instructions),
        "text.format": given_format is not None
        and (
            given_format != stored_format
            or _output_schema(params.text_format) != stored.output_schema
        ),
        "temperature": params.temperature not in (None, stored.temperature),
        "top_p": params.top_p not in (None, stored.top_p),
        "max_output_tokens": params.max_output_tokens not in (None, stored.max_output_tokens),
    }
    for name, changed in changes.items():
        if changed:
            raise APIError(
                400,
                f"this request continues a paused turn, whose {name} was set when it started "
                f"and cannot change; send the same {name}, or leave it out",
                param=name,
                code="turn_settings_fixed",
            )
