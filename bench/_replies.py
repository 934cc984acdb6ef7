"""Models that answer at once from a reply rule, for threadline and for the OpenAI Agents SDK
alike, so that phases comparing the two run the same script on both.

A rule sees the output of the tool result the request ends with (None when it ends with
anything else) and returns the model's answer: text, or a tool call as `(name, arguments
as JSON)`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

Reply = str | tuple[str, str]
Rule = Callable[[str | None], Reply]


def threadline_model(name: str, rule: Rule) -> Any:
    """A threadline `Model` that follows `rule`."""
    from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
    from threadline.types import ToolResult

    class Replying:
        def __init__(self) -> None:
            self.name = name

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
            last = request.items[-1].payload if request.items else None
            reply = rule(last.output if isinstance(last, ToolResult) else None)
            if isinstance(reply, str):
                yield ModelResponse(text=reply)
                return
            call = ToolCallRequest(
                tool_call_id=f"call_{len(request.items)}", name=reply[0], arguments=reply[1]
            )
            yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")

    return Replying()


def agents_sdk_model(rule: Rule) -> Any:
    """An Agents SDK `Model` that follows `rule` (`Runner.run`; it does not stream)."""
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    counter = itertools.count()

    def tool_output(input: Any) -> str | None:
        if isinstance(input, str) or not input:
            return None
        last = input[-1]
        kind = last.get("type") if isinstance(last, dict) else getattr(last, "type", None)
        if kind != "function_call_output":
            return None
        return str(last.get("output") if isinstance(last, dict) else last.output)

    def output(reply: Reply) -> Any:
        if isinstance(reply, str):
            return ResponseOutputMessage(
                id=f"msg_{next(counter)}",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(text=reply, type="output_text", annotations=[])],
            )
        call_id = f"call_{next(counter)}"
        return ResponseFunctionToolCall(
            id=f"fc_{call_id}",
            call_id=call_id,
            type="function_call",
            name=reply[0],
            arguments=reply[1],
            status="completed",
        )

    class Replying(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            input = args[1] if len(args) > 1 else kwargs.get("input")
            return ModelResponse(
                output=[output(rule(tool_output(input)))],
                usage=Usage(requests=1, input_tokens=10, output_tokens=5),
                response_id=None,
            )

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("these phases run without streaming")

    return Replying()
