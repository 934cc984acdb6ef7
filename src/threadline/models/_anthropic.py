"""The Anthropic Messages API backend, streamed through the official `anthropic` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import anthropic
import httpx2
from anthropic.types import (
    InputJSONDelta,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
    RedactedThinkingBlock,
    SignatureDelta,
    TextBlock,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)
from anthropic.types import TextDelta as AnthropicTextDelta
from anthropic.types import Usage as AnthropicUsage

from threadline.types import ConfigurationError, ModelError, Usage

from ._anthropic_format import anthropic_messages, anthropic_tools
from ._errors import (
    ModelAuthenticationError,
    ModelConnectionError,
    ModelTimeoutError,
    broken_stream,
    status_error,
)
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

DEFAULT_MAX_TOKENS = 8192
PLACEHOLDER_API_KEY = "not-needed"
# The SDK's stream reader lets these through when a body breaks mid-way.
_STREAM_BREAKS = (httpx2.TransportError, httpx2.StreamError)
_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


class AnthropicModel(RemoteModel):
    """A Claude model behind Anthropic's Messages API, streamed through the `anthropic` SDK.

    Thinking blocks stream as `ReasoningDelta`s; with their signatures they are kept in the
    thread's `Reasoning` items (see `reasoning_data`) and handed back on the next request,
    as the API requires during tool use.

    Args:
        model: the model name, e.g. `claude-sonnet-4-6`.
        base_url: another server that speaks the Messages API.
        api_key: defaults to the SDK's own lookup (`ANTHROPIC_API_KEY`, ...); with a
            `base_url` and no credentials at all, a placeholder is sent.
        client: an `AsyncAnthropic` to use instead of building one (it is not closed here;
            give it `max_retries=0`, since this backend retries by `retry`).
        max_tokens: the most tokens one answer may have, when the request does not say;
            the API needs a limit.
        thinking: the API's `thinking` option as it is, e.g. `{"type": "enabled",
            "budget_tokens": 4096}` or `{"type": "adaptive"}`; None sends nothing.
        tool_choice: `auto`, `required`, `none`, or the name of a tool to force.
        retry, first_token_timeout, total_timeout, prices, sleep: as for `OpenAIChatModel`.

    The request's `temperature` and `top_p` are not sent: the API deprecated sampling
    parameters for current models, and the SDK no longer takes them.

    Raises:
        ConfigurationError: no credentials are available for Anthropic itself.

    Example:
        >>> model = AnthropicModel("claude-sonnet-4-6", thinking={"type": "adaptive"})
        >>> events = [e async for e in model.stream(request)]
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: anthropic.AsyncAnthropic | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        thinking: Mapping[str, Any] | None = None,
        tool_choice: str | None = None,
        retry: RetryPolicy | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
        prices: PriceTable | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if not model:
            raise ConfigurationError("AnthropicModel needs a model name, e.g. 'claude-sonnet-4-6'")
        super().__init__(
            model,
            name=f"anthropic:{model}" + (f"@{base_url}" if base_url else ""),
            retry=retry,
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
            prices=prices,
            sleep=sleep,
        )
        self._max_tokens = max_tokens
        self._thinking = dict(thinking) if thinking is not None else None
        self._tool_choice = tool_choice
        self._owns_client = client is None
        self._client = client if client is not None else _client(model, base_url, api_key)

    async def aclose(self) -> None:
        """Close the HTTP client, if this model built it."""
        if self._owns_client:
            await self._client.close()

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[ModelEvent]:
        arguments = self._arguments(request)
        try:
            events = await self._client.messages.create(**arguments)
        except anthropic.AnthropicError as exc:
            raise _model_error(exc, self._model) from exc
        state = _StreamState()
        try:
            async for event in events:
                for model_event in state.feed(event):
                    yield model_event
                if state.stopped:
                    break
        except anthropic.AnthropicError as exc:
            raise _model_error(exc, self._model, during_stream=True) from exc
        except (*_STREAM_BREAKS, ValueError) as exc:  # a cut body, or an event not JSON
            raise broken_stream(exc, self._model) from exc
        finally:
            await events.close()
        yield state.response(self)

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self._model,
            "max_tokens": request.max_output_tokens or self._max_tokens,
            "messages": anthropic_messages(request),
            "stream": True,
        }
        if request.instructions:
            arguments["system"] = request.instructions
        if request.tools:
            arguments["tools"] = anthropic_tools(request.tools)
            if self._tool_choice is not None:
                arguments["tool_choice"] = self._wire_tool_choice(request)
        if request.output_schema is not None:
            arguments["output_config"] = {
                "format": {"type": "json_schema", "schema": request.output_schema}
            }
        if self._thinking is not None:
            arguments["thinking"] = dict(self._thinking)
        return arguments

    def _wire_tool_choice(self, request: ModelRequest) -> dict[str, Any]:
        choice = self._tool_choice
        if choice in ("auto", "none"):
            return {"type": choice}
        if choice == "required":
            return {"type": "any"}
        if not any(tool.name == choice for tool in request.tools):
            raise ConfigurationError(
                f"tool_choice {choice!r} names no tool of this request", model=self._model
            )
        return {"type": "tool", "name": choice}


def _client(model: str, base_url: str | None, api_key: str | None) -> anthropic.AsyncAnthropic:
    client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0)
    if client.api_key is None and client.auth_token is None and client.credentials is None:
        if base_url is None:
            raise ConfigurationError(
                "no API key for Anthropic: set ANTHROPIC_API_KEY or pass api_key", model=model
            )
        # Compatible servers accept any key, but the SDK refuses to send a request without.
        client = client.with_options(api_key=PLACEHOLDER_API_KEY)
    return client


class _StreamState:
    """The message as the events have built it so far, in the API's own JSON shape."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
        self.blocks: dict[int, dict[str, Any]] = {}  # by the event's block index
        self.arguments: dict[int, list[str]] = {}  # tool input JSON, by block index
        self.call_index: dict[int, int] = {}  # block index -> index among the calls
        self.usage: dict[str, int | None] = {}
        self.thinking_tokens: int | None = None
        self.stopped = False

    def feed(self, event: RawMessageStreamEvent) -> list[ModelEvent]:
        if isinstance(event, RawContentBlockDeltaEvent):
            return self._delta(event)
        if isinstance(event, RawContentBlockStartEvent):
            return self._start(event)
        if isinstance(event, RawMessageStartEvent):
            start = event.message
            self.message.update(id=start.id, model=str(start.model))
            self._add_usage(start.usage)
        elif isinstance(event, RawMessageDeltaEvent):
            self.message["stop_reason"] = event.delta.stop_reason
            self._add_usage(event.usage)
        elif isinstance(event, RawMessageStopEvent):
            self.stopped = True
        return []

    def _start(self, event: RawContentBlockStartEvent) -> list[ModelEvent]:
        block = event.content_block
        index = event.index
        if isinstance(block, TextBlock):
            self.blocks[index] = {"type": "text", "text": block.text}
            return [TextDelta(delta=block.text, raw=event)] if block.text else []
        if isinstance(block, ThinkingBlock):
            self.blocks[index] = {
                "type": "thinking",
                "thinking": block.thinking,
                "signature": block.signature or "",
            }
            return [ReasoningDelta(delta=block.thinking, raw=event)] if block.thinking else []
        if isinstance(block, RedactedThinkingBlock):
            self.blocks[index] = {"type": "redacted_thinking", "data": block.data}
        elif isinstance(block, ToolUseBlock):
            self.blocks[index] = {"type": "tool_use", "id": block.id, "name": block.name}
            self.arguments[index] = []
            call = self.call_index[index] = len(self.call_index)
            return [ToolCallDelta(index=call, tool_call_id=block.id, name=block.name, raw=event)]
        return []

    def _delta(self, event: RawContentBlockDeltaEvent) -> list[ModelEvent]:
        delta = event.delta
        block = self.blocks.get(event.index)
        if block is None:
            return []
        if isinstance(delta, AnthropicTextDelta):
            block["text"] = block.get("text", "") + delta.text
            return [TextDelta(delta=delta.text, raw=event)] if delta.text else []
        if isinstance(delta, ThinkingDelta):
            block["thinking"] = block.get("thinking", "") + delta.thinking
            return [ReasoningDelta(delta=delta.thinking, raw=event)] if delta.thinking else []
        if isinstance(delta, SignatureDelta):
            block["signature"] = block.get("signature", "") + delta.signature
        elif isinstance(delta, InputJSONDelta) and event.index in self.arguments:
            self.arguments[event.index].append(delta.partial_json)
            if delta.partial_json:
                return [
                    ToolCallDelta(
                        index=self.call_index[event.index],
                        arguments_delta=delta.partial_json,
                        raw=event,
                    )
                ]
        return []

    def _add_usage(self, usage: AnthropicUsage | MessageDeltaUsage) -> None:
        # The final delta repeats the counts so far; any it leaves out keep their value.
        for field in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = getattr(usage, field, None)
            if isinstance(value, int):
                self.usage[field] = value
        details = getattr(usage, "output_tokens_details", None)
        thinking = getattr(details, "thinking_tokens", None)
        if isinstance(thinking, int):
            self.thinking_tokens = thinking

    def response(self, backend: RemoteModel) -> ModelResponse:
        model = backend.model
        stop_reason = self.message.get("stop_reason")
        if not self.stopped or stop_reason is None:
            raise ModelConnectionError(
                f"{model}: the stream ended before the message was complete", model=model
            )
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCallRequest] = []
        content: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block["type"] == "text":
                text.append(block["text"])
            elif block["type"] == "thinking":
                reasoning.append(block["thinking"])
            elif block["type"] == "tool_use":
                arguments = "".join(self.arguments[index]) or "{}"
                block["input"] = _parsed(arguments)
                calls.append(
                    ToolCallRequest(
                        tool_call_id=block["id"], name=block["name"], arguments=arguments
                    )
                )
            content.append(block)
        self.message["content"] = content
        self.message["usage"] = dict(self.usage)
        return ModelResponse(
            text="".join(text),
            reasoning="".join(reasoning),
            tool_calls=tuple(calls),
            usage=self._usage(backend),
            finish_reason=_FINISH_REASONS.get(stop_reason, "other"),
            raw=self.message,
        )

    def _usage(self, backend: RemoteModel) -> Usage:
        read = self.usage.get("cache_read_input_tokens") or 0
        written = self.usage.get("cache_creation_input_tokens") or 0
        # Anthropic counts cache reads and writes apart from `input_tokens`.
        return backend.usage(
            input_tokens=(self.usage.get("input_tokens") or 0) + read + written,
            output_tokens=self.usage.get("output_tokens") or 0,
            cached_input_tokens=read,
            cache_write_tokens=written,
            reasoning_tokens=self.thinking_tokens or 0,
            response_model=self.message.get("model"),
        )


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _model_error(
    exc: anthropic.AnthropicError, model: str, *, during_stream: bool = False
) -> ModelError:
    name = type(exc).__name__
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelTimeoutError(f"{model}: the request timed out ({name})", model=model)
    if isinstance(exc, anthropic.APIConnectionError):
        where = "the stream broke" if during_stream else "cannot reach the server"
        return ModelConnectionError(f"{model}: {where}: {name}: {exc.message}", model=model)
    if isinstance(exc, anthropic.APIStatusError):
        detail = exc.api_message or exc.message
        return status_error(
            model=model,
            status=exc.status_code,
            message=f"{name}: {detail}",
            error_type=exc.type,
            error_code=exc.error_code,
            headers=exc.response.headers,
            during_stream=during_stream,
        )
    if isinstance(exc, anthropic.CredentialsError):
        return ModelAuthenticationError(f"{model}: {name}: {exc}", model=model)
    return ModelError(f"{model}: {name}: {exc}", retryable=False, model=model)
