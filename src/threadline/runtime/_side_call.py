"""A model call beside a turn's steps (a summary of older history, an observation for
memory): its whole text, without secrets, and its usage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline._redaction import redact
from threadline.models import ModelRequest, ModelResponse, TextDelta
from threadline.types import Item, Usage


async def side_call(model: Any, instructions: str, items: Sequence[Item]) -> tuple[str, Usage]:
    """Ask `model` about `items` under `instructions`; the answer's text and usage."""
    request = ModelRequest(instructions=instructions, items=list(items))
    response: ModelResponse | None = None
    parts: list[str] = []
    async for event in model.stream(request):
        if isinstance(event, ModelResponse):
            response = event
        elif isinstance(event, TextDelta):
            parts.append(event.delta)
    # What a side call writes is stored and shown: without the secrets the model may know.
    text = redact((response.text if response is not None else "") or "".join(parts))
    return text.strip(), response.usage if response is not None else Usage()
