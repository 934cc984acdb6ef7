"""The Chat Completions backend: OpenAI, or any server that speaks its API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall
from openai.types.completion_usage import CompletionUsage

from threadline.types import ConfigurationError, Usage

from ._chat_format import SchemaDialect, chat_messages, chat_tools, response_format
from ._errors import ModelConnectionError, broken_stream
from ._openai_client import openai_client, openai_error
from ._pricing import PriceTable
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
from ._remote import RemoteModel
from ._retry import RetryPolicy, Sleep

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class OpenAIChatModel(RemoteModel):
    """A model behind the Chat Completions API, streamed through the official `openai` SDK:
    OpenAI itself, or any compatible server (Ollama, vLLM, llama.cpp's server).

    Args:
        model: the provider's model name, e.g. `gpt-4o-mini`.
        base_url: an OpenAI-compatible server, e.g. `http://127.0.0.1:8080/v1`.
        api_key: defaults to `OPENAI_API_KEY`; with a `base_url` and no key at all, a
            placeholder is sent, since local servers ignore it.
        client: an `AsyncOpenAI` to use instead of building one (it is not closed here;
            give it `max_retries=0`, since this backend retries by `retry`).
        tool_choice: `auto`, `required`, `none`, or the name of a tool to force; None sends
            nothing, which means `auto` to OpenAI. llama-cpp-python's server ignores tools
            unless this is set, and can only stream a call that is forced by name.
        schema_dialect: how an output schema is sent: `openai` (`json_schema`) or `llama`
            (llama-cpp-python's server, which only knows `json_object` with a `schema`).
        retry: how failures before the first delta are retried (default `RetryPolicy()`).
        first_token_timeout: seconds an attempt may take to its first delta.
        total_timeout: seconds an attempt may take to its final response.
        prices: where `Usage.cost_usd` comes from; a fresh `PriceTable()` by default.
            Models it does not know cost None ("unknown").
        sleep: how to wait between attempts (for tests); `asyncio.sleep` by default.

    Raises:
        ConfigurationError: no API key is available for OpenAI itself.

    Example:
        >>> model = OpenAIChatModel("llama3.2", base_url="http://127.0.0.1:11434/v1")
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
        retry: RetryPolicy | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
        prices: PriceTable | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if not model:
            raise ConfigurationError("OpenAIChatModel needs a model name, e.g. 'gpt-4o-mini'")
        super().__init__(
            model,
            name=f"openai-chat:{model}" + (f"@{base_url}" if base_url else ""),
            retry=retry,
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
            prices=prices,
            sleep=sleep,
        )
        self._tool_choice = tool_choice
        self._schema_dialect: SchemaDialect = schema_dialect
        # Only OpenAI itself takes the newer name; compatible servers mostly know `max_tokens`.
        self._max_tokens_param = "max_completion_tokens" if base_url is None else "max_tokens"
        self._owns_client = client is None
        self._client = (
            client
            if client is not None
            else openai_client(model, base_url=base_url, api_key=api_key)
        )

    async def aclose(self) -> None:
        """Close the HTTP client, if this model built it."""
        if self._owns_client:
            await self._client.close()

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[ModelEvent]:
        arguments = self._arguments(request)
        try:
            chunks = await self._client.chat.completions.create(**arguments)
        except openai.OpenAIError as exc:
            raise openai_error(exc, self._model) from exc
        state = _StreamState()
        try:
            async for chunk in chunks:
                for event in state.feed(chunk):
                    yield event
        except openai.OpenAIError as exc:
            raise openai_error(exc, self._model, during_stream=True) from exc
        except ValueError as exc:  # a chunk that is not JSON
            raise broken_stream(exc, self._model) from exc
        finally:
            await chunks.close()
        yield state.response(self)

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
        if request.top_p is not None:
            arguments["top_p"] = request.top_p
        if request.max_output_tokens is not None:
            arguments[self._max_tokens_param] = request.max_output_tokens
        return arguments

    def _wire_tool_choice(self, request: ModelRequest) -> str | dict[str, Any]:
        choice = self._tool_choice
        if choice in ("auto", "required", "none"):
            return choice
        if not any(tool.name == choice for tool in request.tools):
            raise ConfigurationError(
                f"tool_choice {choice!r} names no tool of this request", model=self._model
            )
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
        self.response_model: str | None = None

    def feed(self, chunk: ChatCompletionChunk) -> list[ModelEvent]:
        self.response_model = chunk.model or self.response_model
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

    def _feed_tool_call(
        self, call: ChoiceDeltaToolCall, chunk: ChatCompletionChunk
    ) -> ToolCallDelta:
        function = call.function
        name = function.name if function is not None else None
        arguments = (function.arguments or "") if function is not None else ""
        state = self.tool_calls.get(call.index)
        if state is None:
            # Servers that send no id still need one for the result to answer.
            tool_call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
            state = _ToolCallState(
                tool_call_id=tool_call_id, name=name or "", arguments=[arguments]
            )
            self.tool_calls[call.index] = state
            return ToolCallDelta(
                index=call.index,
                tool_call_id=tool_call_id,
                name=name,
                arguments_delta=arguments,
                raw=chunk,
            )
        # Some servers (llama-cpp-python) repeat the id and name in every chunk.
        new_name = name if name and not state.name else None
        if new_name:
            state.name = new_name
        state.arguments.append(arguments)
        return ToolCallDelta(index=call.index, name=new_name, arguments_delta=arguments, raw=chunk)

    def response(self, backend: RemoteModel) -> ModelResponse:
        model = backend.model
        if self.finish_reason is None:
            raise ModelConnectionError(
                f"{model}: the stream ended before the model finished", model=model
            )
        tool_calls = tuple(
            ToolCallRequest(
                tool_call_id=state.tool_call_id, name=state.name, arguments="".join(state.arguments)
            )
            for _, state in sorted(self.tool_calls.items())
        )
        finish = _FINISH_REASONS.get(self.finish_reason, "other")
        if self.refused:
            finish = "refusal"
        elif tool_calls and finish == "stop":
            finish = "tool_calls"  # Ollama and others say "stop" after tool calls
        return ModelResponse(
            text="".join(self.text),
            reasoning="".join(self.reasoning),
            tool_calls=tool_calls,
            usage=self._usage(backend),
            finish_reason=finish,
        )

    def _usage(self, backend: RemoteModel) -> Usage:
        usage = self.usage
        if usage is None:
            return Usage(cost_usd=None)
        details = usage.prompt_tokens_details
        output_details = usage.completion_tokens_details
        return backend.usage(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cached_input_tokens=(details.cached_tokens if details else None) or 0,
            reasoning_tokens=(output_details.reasoning_tokens if output_details else None) or 0,
            response_model=self.response_model,
        )


def _reasoning_delta(delta: ChoiceDelta) -> str:
    # Not in the OpenAI schema: vLLM, llama.cpp and DeepSeek send `reasoning_content`,
    # Ollama and OpenRouter send `reasoning`.
    for field in ("reasoning_content", "reasoning"):
        value = getattr(delta, field, None)
        if isinstance(value, str) and value:
            return value
    return ""
