"""The Chat Completions backend: OpenAI, or any server that speaks its API."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall
from openai.types.completion_usage import CompletionUsage

from threadline.types import ConfigurationError, ModelError, Usage

from ._chat_format import SchemaDialect, chat_messages, chat_tools, response_format
from ._protocol import (
    FinishReason,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
)

# Local servers (llama.cpp, Ollama, vLLM) accept any key, but the SDK refuses to start without.
PLACEHOLDER_API_KEY = "not-needed"
_RETRYABLE_ERRORS = (
    openai.RateLimitError,
    openai.APIConnectionError,  # includes APITimeoutError
    openai.InternalServerError,
)
_RETRYABLE_STATUSES = frozenset({408, 409})  # the SDK retries these itself too
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class OpenAIChatModel:
    """A model behind the Chat Completions API, streamed through the official `openai` SDK.

    Args:
        model: the provider's model name, e.g. `gpt-4o-mini`.
        base_url: an OpenAI-compatible server, e.g. `http://127.0.0.1:8080/v1`.
        api_key: defaults to `OPENAI_API_KEY`; with a `base_url` and no key at all, a
            placeholder is sent, since local servers ignore it.
        client: an `AsyncOpenAI` to use instead of building one (it is not closed here).
        tool_choice: `auto`, `required`, `none`, or the name of a tool to force; None sends
            nothing, which means `auto` to OpenAI. llama-cpp-python's server ignores tools
            unless this is set, and can only stream a call that is forced by name.
        schema_dialect: how an output schema is sent: `openai` (`json_schema`) or `llama`
            (llama-cpp-python's server, which only knows `json_object` with a `schema`).
        max_retries: the SDK's own retries before an error reaches the caller.

    Raises:
        ConfigurationError: no API key is available for OpenAI itself.

    Example:
        >>> model = OpenAIChatModel("gpt-4o-mini")
        >>> events = [e async for e in model.stream(request)]
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: openai.AsyncOpenAI | None = None,
        tool_choice: str | None = None,
        schema_dialect: SchemaDialect = "openai",
        max_retries: int = 2,
    ) -> None:
        if not model:
            raise ConfigurationError("OpenAIChatModel needs a model name, e.g. 'gpt-4o-mini'")
        self._model = model
        self._name = f"openai-chat:{model}" + (f"@{base_url}" if base_url else "")
        self._tool_choice = tool_choice
        self._schema_dialect: SchemaDialect = schema_dialect
        # Only OpenAI itself takes the newer name; compatible servers mostly know `max_tokens`.
        self._max_tokens_param = "max_completion_tokens" if base_url is None else "max_tokens"
        self._owns_client = client is None
        if client is not None:
            self._client = client
            return
        if api_key is None and not os.environ.get("OPENAI_API_KEY") and base_url is not None:
            api_key = PLACEHOLDER_API_KEY
        try:
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, max_retries=max_retries)
        except openai.OpenAIError as exc:
            raise ConfigurationError(
                "no API key for OpenAI: set OPENAI_API_KEY or pass api_key", model=model,
            ) from exc

    @property
    def name(self) -> str:
        """`openai-chat:MODEL[@BASE_URL]`, a spec that `resolve_model` turns back into it."""
        return self._name

    async def aclose(self) -> None:
        """Close the HTTP client, if this model built it."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, traceback: TracebackType | None) -> None:
        await self.aclose()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Call the model, yielding deltas as they arrive and a final `ModelResponse`.

        Raises:
            ModelError: the call failed; `retryable` is True for rate limits, connection
                failures, timeouts, 5xx answers and streams that break before the end.
            ConfigurationError: `tool_choice` forces a tool that the request does not offer.
        """
        try:
            chunks = await self._client.chat.completions.create(**self._arguments(request))
        except openai.OpenAIError as exc:
            raise _model_error(exc, self._model) from exc
        state = _StreamState()
        try:
            async for chunk in chunks:
                for event in state.feed(chunk):
                    yield event
        except openai.OpenAIError as exc:
            raise _model_error(exc, self._model, broken=True) from exc
        except ValueError as exc:  # a chunk that is not JSON
            raise ModelError(f"{self._model}: the server sent an invalid stream ({exc})",
                             retryable=True, model=self._model) from exc
        finally:
            await chunks.close()
        yield state.response(self._model)

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self._model,
            "messages": chat_messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            arguments["tools"] = chat_tools(request.tools)
            if self._tool_choice is not None:
                arguments["tool_choice"] = self._wire_tool_choice(request)
        schema_format = response_format(request.output_schema, dialect=self._schema_dialect)
        if schema_format is not None:
            arguments["response_format"] = schema_format
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            arguments[self._max_tokens_param] = request.max_output_tokens
        return arguments

    def _wire_tool_choice(self, request: ModelRequest) -> str | dict[str, Any]:
        choice = self._tool_choice
        if choice in ("auto", "required", "none"):
            return choice
        if not any(tool.name == choice for tool in request.tools):
            raise ConfigurationError(
                f"tool_choice {choice!r} names no tool of this request", model=self._model)
        return {"type": "function", "function": {"name": choice}}


@dataclass(slots=True)
class _ToolCallState:
    tool_call_id: str
    name: str
    arguments: list[str]


class _StreamState:
    """What the chunks said so far."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refused = False
        self.tool_calls: dict[int, _ToolCallState] = {}
        self.finish_reason: str | None = None
        self.usage: CompletionUsage | None = None

    def feed(self, chunk: ChatCompletionChunk) -> list[ModelEvent]:
        if chunk.usage is not None:
            self.usage = chunk.usage
        events: list[ModelEvent] = []
        for choice in chunk.choices[:1]:
            delta = choice.delta
            reasoning = _reasoning_delta(delta)
            if reasoning:
                self.reasoning.append(reasoning)
                events.append(ReasoningDelta(delta=reasoning, raw=chunk))
            for text, refusal in ((delta.content, False), (delta.refusal, True)):
                if text:
                    self.text.append(text)
                    self.refused = self.refused or refusal
                    events.append(TextDelta(delta=text, raw=chunk))
            for call in delta.tool_calls or ():
                events.append(self._feed_tool_call(call, chunk))
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return events

    def _feed_tool_call(self, call: ChoiceDeltaToolCall, chunk: ChatCompletionChunk
                        ) -> ToolCallDelta:
        function = call.function
        name = function.name if function is not None else None
        arguments = (function.arguments or "") if function is not None else ""
        state = self.tool_calls.get(call.index)
        if state is None:
            # Servers that send no id still need one for the result to answer.
            tool_call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
            state = _ToolCallState(tool_call_id=tool_call_id, name=name or "",
                                   arguments=[arguments])
            self.tool_calls[call.index] = state
            return ToolCallDelta(index=call.index, tool_call_id=tool_call_id, name=name,
                                 arguments_delta=arguments, raw=chunk)
        # Some servers (llama-cpp-python) repeat the id and name in every chunk.
        new_name = name if name and not state.name else None
        if new_name:
            state.name = new_name
        state.arguments.append(arguments)
        return ToolCallDelta(index=call.index, name=new_name, arguments_delta=arguments,
                             raw=chunk)

    def response(self, model: str) -> ModelResponse:
        if self.finish_reason is None:
            raise ModelError(f"{model}: the stream ended before the model finished",
                             retryable=True, model=model)
        tool_calls = tuple(
            ToolCallRequest(tool_call_id=state.tool_call_id, name=state.name,
                            arguments="".join(state.arguments))
            for _, state in sorted(self.tool_calls.items()))
        finish = _FINISH_REASONS.get(self.finish_reason, "other")
        if self.refused:
            finish = "refusal"
        elif tool_calls and finish == "stop":
            finish = "tool_calls"  # Ollama and others say "stop" after tool calls
        return ModelResponse(text="".join(self.text), reasoning="".join(self.reasoning),
                             tool_calls=tool_calls,
                             usage=_usage(self.usage), finish_reason=finish)


def _reasoning_delta(delta: ChoiceDelta) -> str:
    # Not in the OpenAI schema: vLLM, llama.cpp and DeepSeek send `reasoning_content`,
    # Ollama and OpenRouter send `reasoning`.
    for field in ("reasoning_content", "reasoning"):
        value = getattr(delta, field, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage(cost_usd=None)
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
    reasoning = (usage.completion_tokens_details.reasoning_tokens
                 if usage.completion_tokens_details else None)
    # Prices differ per provider and change over time; None says "unknown", not "free".
    return Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                 cached_input_tokens=cached or 0, reasoning_tokens=reasoning or 0,
                 cost_usd=None)


def _model_error(exc: openai.OpenAIError, model: str, *, broken: bool = False) -> ModelError:
    status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
    retryable = broken or isinstance(exc, _RETRYABLE_ERRORS) or status in _RETRYABLE_STATUSES
    detail = exc.message if isinstance(exc, openai.APIError) else str(exc)
    where = "the stream broke" if broken else "the call failed"
    status_text = f" (HTTP {status})" if status is not None else ""
    return ModelError(f"{model}: {where}: {type(exc).__name__}{status_text}: {detail}",
                      retryable=retryable, model=model, status_code=status)
