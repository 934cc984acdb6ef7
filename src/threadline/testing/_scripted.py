from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from threadline.models import (
    FinishReason,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
)
from threadline.types import ModelError, Usage


@dataclass(frozen=True, kw_only=True)
class ScriptedToolCall:
    name: str
    arguments: str
    tool_call_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Step:
    """One scripted model response.

    Args:
        text: the final answer text.
        deltas: how `text` streams; default: word by word. Their concatenation must be `text`.
        reasoning: reasoning text, streamed before the answer.
        tool_calls: calls the model makes in this step.
        usage: reported usage; default: 10 input tokens and one output token per delta.
        error: raised instead of finishing, after `error_after_deltas` deltas were streamed.
        delay: seconds before the first event; delta_delay: seconds between deltas.
    """

    text: str = ""
    deltas: Sequence[str] | None = None
    reasoning: str = ""
    tool_calls: Sequence[ScriptedToolCall] = ()
    usage: Usage | None = None
    error: BaseException | None = None
    error_after_deltas: int = 0
    delay: float = 0.0
    delta_delay: float = 0.0
    finish_reason: FinishReason | None = None

    def text_deltas(self) -> list[str]:
        if self.deltas is not None:
            if "".join(self.deltas) != self.text and self.error is None:
                raise ValueError("a Step's deltas must add up to its text")
            return list(self.deltas)
        return re.findall(r"\S+\s*|\s+", self.text)


StepSource = Step | str | Callable[[ModelRequest], "Step | str"]


def text(value: str, *, deltas: Sequence[str] | None = None, usage: Usage | None = None) -> Step:
    """A step that answers `value`."""
    return Step(text=value, deltas=deltas, usage=usage)


def tool_call(
    name: str,
    arguments: dict[str, Any] | str | None = None,
    *,
    tool_call_id: str | None = None,
    text: str = "",
) -> Step:
    """A step that calls one tool (arguments as a dict, or raw JSON text to test bad input)."""
    raw = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
    return Step(
        text=text,
        tool_calls=[ScriptedToolCall(name=name, arguments=raw, tool_call_id=tool_call_id)],
    )


def tool_calls(*calls: tuple[str, dict[str, Any]]) -> Step:
    """A step that calls several tools at once."""
    return Step(
        tool_calls=[ScriptedToolCall(name=n, arguments=orjson.dumps(a).decode()) for n, a in calls]
    )


def fail(error: BaseException, *, after_text: str = "") -> Step:
    """A step that raises `error`, after streaming `after_text` word by word."""
    deltas = re.findall(r"\S+\s*|\s+", after_text)
    return Step(text=after_text, deltas=deltas, error=error, error_after_deltas=len(deltas))


@dataclass
class ScriptedModel:
    """A deterministic model for tests and demos: it plays its steps in order and records
    every request it receives.

        model = ScriptedModel([tool_call("get_weather", {"city": "Paris"}), "It is 18 °C."])
        ...
        model.assert_done()  # every step was used, and no request went unanswered

    A request beyond the script fails the turn with a `ModelError` saying so.
    """

    steps: list[StepSource] = field(default_factory=list[StepSource])
    model_name: str = "scripted"
    requests: list[ModelRequest] = field(default_factory=list[ModelRequest])
    _next: int = 0
    _overrun: int = 0

    @property
    def name(self) -> str:
        return self.model_name

    @property
    def remaining(self) -> int:
        return len(self.steps) - self._next

    def add(self, *steps: StepSource) -> None:
        self.steps.extend(steps)

    def assert_done(self) -> None:
        """Fail unless every step was used and no request went beyond the script."""
        assert self._overrun == 0, f"{self._overrun} request(s) came after the script ended"
        assert self.remaining == 0, f"{self.remaining} scripted step(s) were never used"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        if self._next >= len(self.steps):
            self._overrun += 1
            raise ModelError(
                f"the scripted model has no step left for request {len(self.requests)}"
            )
        source = self.steps[self._next]
        self._next += 1
        step = source(request) if callable(source) else source
        if isinstance(step, str):
            step = Step(text=step)
        async for event in _play(step):
            yield event


async def _play(step: Step) -> AsyncIterator[ModelEvent]:
    if step.delay:
        await asyncio.sleep(step.delay)
    deltas = step.text_deltas()
    if step.reasoning:
        yield ReasoningDelta(delta=step.reasoning)
    for n, delta in enumerate(deltas):
        if step.error is not None and n >= step.error_after_deltas:
            break
        if step.delta_delay and n:
            await asyncio.sleep(step.delta_delay)
        yield TextDelta(delta=delta)
    if step.error is not None:
        raise step.error
    calls: list[ToolCallRequest] = []
    for index, call in enumerate(step.tool_calls):
        call_id = call.tool_call_id or f"call_{index}_{id(step) & 0xFFFFFF:x}"
        yield ToolCallDelta(
            index=index, tool_call_id=call_id, name=call.name, arguments_delta=call.arguments
        )
        calls.append(
            ToolCallRequest(tool_call_id=call_id, name=call.name, arguments=call.arguments)
        )
    usage = step.usage or Usage(input_tokens=10, output_tokens=max(1, len(deltas)), cost_usd=0.0)
    finish: FinishReason = step.finish_reason or ("tool_calls" if calls else "stop")
    yield ModelResponse(
        text=step.text,
        reasoning=step.reasoning,
        tool_calls=tuple(calls),
        usage=usage,
        finish_reason=finish,
    )
