"""A conversation as a client that keeps the history itself sends it."""

from __future__ import annotations

from typing import Any

LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"word": {"type": "string"}},
        "required": ["word"],
    },
}

HISTORY: list[Any] = [
    {"role": "user", "content": 'client lookup {"word": "tea"}'},
    {
        "type": "function_call",
        "call_id": "call_from_elsewhere",
        "name": "lookup",
        "arguments": '{"word": "tea"}',
    },
    {"type": "function_call_output", "call_id": "call_from_elsewhere", "output": "a drink"},
    {"role": "assistant", "content": [{"type": "output_text", "text": "Tea is a drink."}]},
]
