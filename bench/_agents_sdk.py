"""OpenAI Agents SDK: an `Agent` with a custom `Model` (zero latency, Responses stream events),
`Runner.run_streamed` with `SQLiteSession(session_id, db_path)`, consuming `stream_events()`.
Tracing is disabled."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from . import _workload as w
from ._workload import Framework


def _build() -> dict[str, Any]:
    import agents
    from agents import Agent, Runner, SQLiteSession, function_tool
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        Response,
        ResponseCompletedEvent,
        ResponseContentPartAddedEvent,
        ResponseContentPartDoneEvent,
        ResponseCreatedEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
        ResponseFunctionCallArgumentsDoneEvent,
        ResponseFunctionToolCall,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
        ResponseOutputMessage,
        ResponseOutputText,
        ResponseTextDeltaEvent,
        ResponseTextDoneEvent,
        ResponseUsage,
    )
    from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

    agents.set_tracing_disabled(True)
    ids = itertools.count()

    def usage(output_tokens: int) -> ResponseUsage:
        return ResponseUsage(
            input_tokens=10,
            output_tokens=output_tokens,
            total_tokens=10 + output_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )

    def response(output: list[Any], status: str, output_tokens: int) -> Response:
        return Response(
            id=f"resp_{next(ids)}",
            created_at=0,
            model="bench",
            object="response",
            output=output,
            tool_choice="auto",
            tools=[],
            top_p=None,
            parallel_tool_calls=False,
            status=status,  # type: ignore[arg-type]
            usage=usage(output_tokens) if status == "completed" else None,
        )

    def wants_answer(input: Any) -> bool:
        if isinstance(input, str) or not input:
            return False
        last = input[-1]
        kind = last.get("type") if isinstance(last, dict) else getattr(last, "type", None)
        return kind == "function_call_output"

    class BenchModel(Model):
        """Zero latency: after a user message, one `get_weather` call; after the tool's result,
        an answer streamed as `answer_deltas` `response.output_text.delta` events."""

        def __init__(self) -> None:
            self.set_deltas(50)

        def set_deltas(self, n: int) -> None:
            self.deltas = w.answer_deltas(n)
            self.text = "".join(self.deltas)

        def _call(self) -> ResponseFunctionToolCall:
            call_id = w.new_call_id()
            return ResponseFunctionToolCall(
                id=f"fc_{call_id}",
                call_id=call_id,
                type="function_call",
                name=w.TOOL_NAME,
                arguments=w.TOOL_ARGS_JSON,
                status="completed",
            )

        def _message(self, text: str, status: str = "completed") -> ResponseOutputMessage:
            return ResponseOutputMessage(
                id=f"msg_{next(ids)}",
                type="message",
                role="assistant",
                status=status,  # type: ignore[arg-type]
                content=[
                    ResponseOutputText(text=text, type="output_text", annotations=[], logprobs=[])
                ]
                if status == "completed"
                else [],
            )

        async def get_response(
            self,
            system_instructions: str | None,
            input: Any,
            model_settings: Any,
            tools: Any,
            output_schema: Any,
            handoffs: Any,
            tracing: Any,
            *,
            previous_response_id: Any = None,
            conversation_id: Any = None,
            prompt: Any = None,
        ) -> Any:
            if wants_answer(input):
                output: list[Any] = [self._message(self.text)]
            else:
                output = [self._call()]
            return ModelResponse(
                output=output,
                usage=Usage(requests=1, input_tokens=10, output_tokens=len(self.deltas)),
                response_id=None,
            )

        async def stream_response(
            self,
            system_instructions: str | None,
            input: Any,
            model_settings: Any,
            tools: Any,
            output_schema: Any,
            handoffs: Any,
            tracing: Any,
            *,
            previous_response_id: Any = None,
            conversation_id: Any = None,
            prompt: Any = None,
        ) -> AsyncIterator[Any]:
            seq = itertools.count()
            yield ResponseCreatedEvent(
                type="response.created",
                sequence_number=next(seq),
                response=response([], "in_progress", 0),
            )
            if not wants_answer(input):
                call = self._call()
                yield ResponseOutputItemAddedEvent(
                    type="response.output_item.added",
                    output_index=0,
                    sequence_number=next(seq),
                    item=call.model_copy(update={"arguments": "", "status": "in_progress"}),
                )
                yield ResponseFunctionCallArgumentsDeltaEvent(
                    type="response.function_call_arguments.delta",
                    item_id=call.id or "",
                    output_index=0,
                    delta=call.arguments,
                    sequence_number=next(seq),
                )
                yield ResponseFunctionCallArgumentsDoneEvent.model_validate(
                    {
                        "type": "response.function_call_arguments.done",
                        "item_id": call.id,
                        "output_index": 0,
                        "arguments": call.arguments,
                        "name": call.name,
                        "sequence_number": next(seq),
                    }
                )
                yield ResponseOutputItemDoneEvent(
                    type="response.output_item.done",
                    output_index=0,
                    item=call,
                    sequence_number=next(seq),
                )
                yield ResponseCompletedEvent(
                    type="response.completed",
                    sequence_number=next(seq),
                    response=response([call], "completed", 5),
                )
                return
            message = self._message(self.text)
            item_id = message.id
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                output_index=0,
                sequence_number=next(seq),
                item=self._message("", "in_progress").model_copy(update={"id": item_id}),
            )
            yield ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=item_id,
                output_index=0,
                content_index=0,
                sequence_number=next(seq),
                part=ResponseOutputText(text="", type="output_text", annotations=[], logprobs=[]),
            )
            for delta in self.deltas:
                # The cheapest way to make the SDK's own event type: no validation.
                yield ResponseTextDeltaEvent.model_construct(
                    type="response.output_text.delta",
                    item_id=item_id,
                    output_index=0,
                    content_index=0,
                    delta=delta,
                    logprobs=[],
                    sequence_number=next(seq),
                )
            yield ResponseTextDoneEvent(
                type="response.output_text.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                text=self.text,
                logprobs=[],
                sequence_number=next(seq),
            )
            yield ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                sequence_number=next(seq),
                part=message.content[0],
            )
            yield ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                output_index=0,
                item=message,
                sequence_number=next(seq),
            )
            yield ResponseCompletedEvent(
                type="response.completed",
                sequence_number=next(seq),
                response=response([message], "completed", len(self.deltas)),
            )

    @function_tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return await w.weather(city)

    class CountingSession(SQLiteSession):
        """`SQLiteSession`; each `add_items` is one committed transaction."""

        commits = 0

        async def add_items(self, items: list[Any]) -> None:
            if items:
                CountingSession.commits += 1
            await super().add_items(items)

    return {
        "Agent": Agent,
        "Runner": Runner,
        "Session": CountingSession,
        "Model": BenchModel,
        "tool": get_weather,
    }


_LIB: dict[str, Any] | None = None


def _lib() -> dict[str, Any]:
    global _LIB
    if _LIB is None:
        _LIB = _build()
    return _LIB


class AgentsSDKAdapter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lib = _lib()
        self.model = self.lib["Model"]()
        self.agent = self.lib["Agent"](
            name="bench", instructions=w.INSTRUCTIONS, tools=[self.lib["tool"]], model=self.model
        )
        self.sessions: dict[str, Any] = {}
        self._offset = self.lib["Session"].commits

    @property
    def commits(self) -> int:
        return self.lib["Session"].commits - self._offset

    @commits.setter
    def commits(self, value: int) -> None:
        self._offset = self.lib["Session"].commits - value

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()

    def set_answer_deltas(self, n: int) -> None:
        self.model.set_deltas(n)

    def _session(self, thread_id: str) -> Any:
        session = self.sessions.get(thread_id)
        if session is None:
            session = self.sessions[thread_id] = self.lib["Session"](thread_id, self.path)
        return session

    async def new_thread(self) -> str:
        thread_id = uuid.uuid4().hex
        self._session(thread_id)
        return thread_id

    async def turn(self, thread_id: str, text: str) -> int:
        result = self.lib["Runner"].run_streamed(self.agent, text, session=self._session(thread_id))
        count = 0
        async for _ in result.stream_events():
            count += 1
        return count

    async def prepare_load(self, thread_id: str) -> Any:
        return self._session(thread_id)

    async def load(self, handle: Any) -> int:
        return len(await handle.get_items())


def framework() -> Framework:
    return Framework(
        name="OpenAI Agents SDK",
        factory=AgentsSDKAdapter,
        notes=(
            "Agent + custom Model (Responses stream events) + Runner.run_streamed + "
            "SQLiteSession(file); synchronous=FULL is SQLite's default (SQLiteSession has no "
            "setting for it); tracing disabled",
        ),
    )
