from __future__ import annotations

from typing import Any

from threadline.runtime import TurnInput
from threadline.types import FilePart, ImagePart, TextPart, part_to_dict


def input_to_wire(value: TurnInput) -> Any:
    """Input as JSON: strings, part dicts and `{"input": ..., "sender": ...}` pass as they
    are; part objects become their dicts. The server validates it."""
    if isinstance(value, str | dict):
        return value
    return [part_to_dict(p) if isinstance(p, TextPart | ImagePart | FilePart) else p for p in value]
