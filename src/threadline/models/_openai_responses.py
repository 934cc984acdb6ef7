"""The OpenAI Responses API backend, streamed through the official `openai` SDK."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any, Literal

import openai
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseIncompleteEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputMessage,
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseRefusalDeltaEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)

from threadline.types import ConfigurationError, Usage

from ._errors import ModelConnectionError, broken_stream, status_error
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
from ._responses_format import responses_input, responses_text_format, responses_tools
from ._retry import RetryPolicy, Sleep

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
ReasoningSummary = Literal["auto", "concise", "detailed"]

# Models that reason, and so return encrypted reasoning when asked; other models refuse the
# `include` that asks for it.
_REASONING_MODELS = re.compile(r"^(o\d|gpt-[5-9]|codex)")
_SUMMARY_SEPARATOR = "\n\n"
_ReasoningTextDelta = ResponseReasoningSummaryTextDeltaEvent | ResponseReasoningTextDeltaEvent


class OpenAIResponsesModel(RemoteModel):
    """A model behind OpenAI's Responses API, streamed through the official `openai` SDK.

    The thread's history is sent in full on every call (`store` is off by default), so
    reasoning models get their earlier reasoning back as encrypted items kept in the
    thread's `Reasoning` items (see `reasoning_data`).

    Args:
        model: the model name, e.g. `gpt-5-mini`.
        base_url: another server that speaks the Responses API.
        api_key: defaults to `OPENAI_API_KEY`; with a `base_url` and no key at all, a
            placeholder is sent.
        client: an `AsyncOpenAI` to use instead of building one (it is not closed here;
            give it `max_retries=0`, since this backend retries by `retry`).
        tool_choice: `auto`, `required`, `none`, or the name of a tool to force.
        store: let OpenAI keep the responses (its own default); off, nothing is kept there.
        reasoning_effort: how hard a reasoning model thinks; None leaves the model's default.
        reasoning_summary: ask for summaries of the reasoning, which stream as
            `ReasoningDelta`s; None asks for none.
        encrypted_reasoning: ask for the reasoning in encrypted form so that it can be
            handed back; None asks for it when `store` is off and the model reasons.
        retry, first_token_timeout, total_timeout, prices, sleep: as for `OpenAIChatModel`.

    Raises:
        ConfigurationError: no API key is available for OpenAI itself.

    Example:
        >>> model = OpenAIResponsesModel("gpt-5-mini", reasoning_summary="auto")
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
        store: bool = False,
        reasoning_effort: ReasoningEffort | None = None,
        reasoning_summary: ReasoningSummary | None = None,
        encrypted_reasoning: bool | None = None,
        retry: RetryPolicy | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
        prices: PriceTable | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if not model:
            raise ConfigurationError("OpenAIResponsesModel needs a model name, e.g. 'gpt-5-mini'")
        super().__init__(
            model,
            name=f"openai:{model}" + (f"@{base_url}" if base_url else ""),
            retry=retry,
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
            prices=prices,
            sleep=sleep,
        )
        self._tool_choice = tool_choice
        self._store = store
        self._reasoning: dict[str, str] = {}
        if reasoning_effort is not None:
            self._reasoning["effort"] = reasoning_effort
        if reasoning_summary is not None:
            self._reasoning["summary"] = reasoning_summary
        if encrypted_reasoning is None:
            encrypted_reasoning = not store and _REASONING_MODELS.match(model) is not None
        self._encrypted_reasoning = encrypted_reasoning
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
            events = await self._client.responses.create(**arguments)
        except openai.OpenAIError as exc:
            raise openai_error(exc, self._model) from exc
        state = _StreamState(self._model)
        try:
            async for event in events:
                for model_event in state.feed(event):
                    yield model_event
                if state.final is not None:
                    break
        except openai.OpenAIError as exc:
            raise openai_error(exc, self._model, during_stream=True) from exc
        except ValueError as exc:  # an event that is not JSON
            raise broken_stream(exc, self._model) from exc
        finally:
            await events.close()
        yield state.response(self)

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self._model,
            "input": responses_input(request),
            "stream": True,
            "store": self._store,
        }
        if request.instructions:
            arguments["instructions"] = request.instructions
        if request.tools:
            arguments["tools"] = responses_tools(request.tools)
            if self._tool_choice is not None:
                arguments["tool_choice"] = self._wire_tool_choice(request)
        text_format = responses_text_format(request.output_schema)
        if text_format is not None:
            arguments["text"] = text_format
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.top_p is not None:
            arguments["top_p"] = request.top_p
        if request.max_output_tokens is not None:
            arguments["max_output_tokens"] = request.max_output_tokens
        if self._reasoning:
            arguments["reasoning"] = dict(self._reasoning)
        if self._encrypted_reasoning:
            arguments["include"] = ["reasoning.encrypted_content"]
        return arguments

    def _wire_tool_choice(self, request: ModelRequest) -> str | dict[str, Any]:
        choice = self._tool_choice
        if choice in ("auto", "required", "none"):
            return choice
        if not any(tool.name == choice for tool in request.tools):
            raise ConfigurationError(
                f"tool_choice {choice!r} names no tool of this request", model=self._model
            )
        return {"type": "function", "name": choice}


class _StreamState:
    """What the events said so far; `final` is the response once the stream has ended it."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.final: Response | None = None
        self.call_index: dict[int, int] = {}  # output_index -> index among the calls
        self.reasoning_started = False
        self.refused = False

    def feed(self, event: ResponseStreamEvent) -> list[ModelEvent]:
        if isinstance(event, ResponseTextDeltaEvent):
            return [TextDelta(delta=event.delta, raw=event)] if event.delta else []
        if isinstance(event, ResponseRefusalDeltaEvent):
            self.refused = True
            return [TextDelta(delta=event.delta, raw=event)] if event.delta else []
        if isinstance(event, _ReasoningTextDelta):
            self.reasoning_started = True
            return [ReasoningDelta(delta=event.delta, raw=event)] if event.delta else []
        if isinstance(event, ResponseReasoningSummaryPartAddedEvent):
            if self.reasoning_started:  # parts are joined the way `response` joins them
                return [ReasoningDelta(delta=_SUMMARY_SEPARATOR, raw=event)]
            return []
        if isinstance(event, ResponseOutputItemAddedEvent):
            item = event.item
            if isinstance(item, ResponseFunctionToolCall):
                index = self.call_index[event.output_index] = len(self.call_index)
                return [
                    ToolCallDelta(
                        index=index,
                        tool_call_id=item.call_id,
                        name=item.name,
                        arguments_delta=item.arguments or "",
                        raw=event,
                    )
                ]
            return []
        if isinstance(event, ResponseFunctionCallArgumentsDeltaEvent):
            index = self.call_index.get(event.output_index)
            if index is None or not event.delta:
                return []
            return [ToolCallDelta(index=index, arguments_delta=event.delta, raw=event)]
        if isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent):
            self.final = event.response
            return []
        if isinstance(event, ResponseFailedEvent):
            error = event.response.error
            raise status_error(
                model=self.model,
                status=None,
                message=error.message if error is not None else "the response failed",
                error_code=error.code if error is not None else None,
                during_stream=True,
            )
        if isinstance(event, ResponseErrorEvent):
            raise status_error(
                model=self.model,
                status=None,
                message=event.message,
                error_code=event.code,
                during_stream=True,
            )
        return []

    def response(self, backend: RemoteModel) -> ModelResponse:
        final = self.final
        if final is None:
            raise ModelConnectionError(
                f"{self.model}: the stream ended before the response was complete", model=self.model
            )
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCallRequest] = []
        refused = self.refused
        for item in final.output:
            if isinstance(item, ResponseOutputMessage):
                for part in item.content:
                    if part.type == "output_text":
                        text.append(part.text)
                    else:
                        text.append(part.refusal)
                        refused = True
            elif isinstance(item, ResponseReasoningItem):
                parts = [s.text for s in item.summary] or [c.text for c in item.content or ()]
                reasoning.extend(parts)
            elif isinstance(item, ResponseFunctionToolCall):
                calls.append(
                    ToolCallRequest(
                        tool_call_id=item.call_id, name=item.name, arguments=item.arguments
                    )
                )
        return ModelResponse(
            text="".join(text),
            reasoning=_SUMMARY_SEPARATOR.join(reasoning),
            tool_calls=tuple(calls),
            usage=_usage(final, backend),
            finish_reason=_finish_reason(final, refused=refused, calls=bool(calls)),
            raw=final.to_dict(mode="json", warnings=False),
        )


def _finish_reason(final: Response, *, refused: bool, calls: bool) -> FinishReason:
    if final.status == "incomplete":
        reason = final.incomplete_details.reason if final.incomplete_details else None
        if reason == "max_output_tokens":
            return "length"
        return "content_filter" if reason == "content_filter" else "other"
    if refused:
        return "refusal"
    return "tool_calls" if calls else "stop"


def _usage(final: Response, backend: RemoteModel) -> Usage:
    usage = final.usage
    if usage is None:
        return Usage(cost_usd=None)
    details = getattr(usage, "input_tokens_details", None)
    output_details = getattr(usage, "output_tokens_details", None)
    return backend.usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_input_tokens=getattr(details, "cached_tokens", 0) or 0,
        reasoning_tokens=getattr(output_details, "reasoning_tokens", 0) or 0,
        response_model=str(final.model) if getattr(final, "model", None) else None,
    )
