"""Deterministic models for the CLI tests, loaded in the CLI's own process with
`--model py:tests.cli.scripted_models:NAME`. Each name is a factory: every process gets a
fresh script."""

from __future__ import annotations

import re

from threadline import ModelError, ModelRequest
from threadline.testing import ScriptedModel, Step, fail, text, tool_call
from threadline.types import ToolResult

# Enough steps for any test's turns; the rules below decide what each one says.
_STEPS = 50
_SLOW_WORDS = 40


def assistant() -> ScriptedModel:
    """Asks the clock about time, the calculator about "calculate ...", else echoes the
    message with how many user messages the model was shown (so history is visible)."""
    return ScriptedModel([_respond] * _STEPS, model_name="scripted-assistant")


def slow() -> ScriptedModel:
    """A first reply that streams one word every 0.2 s (to be interrupted), then `assistant`."""
    words = [f"word{n} " for n in range(_SLOW_WORDS)]
    first = Step(text="".join(words), deltas=words, delta_delay=0.2)
    return ScriptedModel([first] + [_respond] * _STEPS, model_name="scripted-slow")


def broken() -> ScriptedModel:
    """A model whose backend fails after a few words."""
    return ScriptedModel([fail(ModelError("the backend is down"), after_text="I was ")])


def _respond(request: ModelRequest) -> Step:
    last = request.items[-1]
    if isinstance(last.payload, ToolResult):
        return text(f"The {last.payload.name} tool says: {last.payload.output}")
    message = last.text.strip()
    if "time" in message.lower():
        return tool_call("get_time", {"timezone": "UTC"})
    expression = re.match(r"(?i)calculate\s+(.+)", message)
    if expression:
        return tool_call("calculate", {"expression": expression.group(1)})
    seen = sum(1 for item in request.items if item.type == "user_message")
    return text(f"You said: {message} (message {seen})")
