"""LangGraph: `create_react_agent` with a fake chat model, `AsyncSqliteSaver` on a file,
one `thread_id` per thread, streamed with `astream(..., stream_mode="messages")`."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from . import _workload as w
from ._workload import Framework


def _build() -> dict[str, Any]:
    """Import LangGraph lazily, so that a missing package only disables this peer."""
    import aiosqlite
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        CallbackManagerForLLMRun,
    )
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        ToolMessage,
    )
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.tools import tool
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.prebuilt import create_react_agent

    class FakeToolCallingChat(BaseChatModel):
        """Zero latency: after a user message, one `get_weather` call; after the tool's
        result, an answer streamed as `answer_deltas` chunks."""

        answer_deltas: int = 50

        @property
        def _llm_type(self) -> str:
            return "bench-fake"

        def bind_tools(
            self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any
        ) -> Any:
            return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

        def _wants_answer(self, messages: list[BaseMessage]) -> bool:
            return isinstance(messages[-1], ToolMessage)

        def _tool_call(self) -> tuple[str, dict[str, Any]]:
            return w.new_call_id(), dict(w.TOOL_ARGS)

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            if self._wants_answer(messages):
                message = AIMessage(content="".join(w.answer_deltas(self.answer_deltas)))
            else:
                call_id, args = self._tool_call()
                message = AIMessage(
                    content="",
                    tool_calls=[
                        {"name": w.TOOL_NAME, "args": args, "id": call_id, "type": "tool_call"}
                    ],
                )
            return ChatResult(generations=[ChatGeneration(message=message)])

        def _stream(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> Iterator[ChatGenerationChunk]:
            yield from self._chunks(messages)

        async def _astream(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: AsyncCallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> AsyncIterator[ChatGenerationChunk]:
            for chunk in self._chunks(messages):
                yield chunk

        def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
            if not self._wants_answer(messages):
                call_id, _ = self._tool_call()
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="",
                        chunk_position="last",
                        tool_call_chunks=[
                            {
                                "name": w.TOOL_NAME,
                                "args": w.TOOL_ARGS_JSON,
                                "id": call_id,
                                "index": 0,
                                "type": "tool_call_chunk",
                            }
                        ],
                    )
                )
                return
            deltas = w.answer_deltas(self.answer_deltas)
            last = len(deltas) - 1
            for n, delta in enumerate(deltas):
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=delta, chunk_position="last" if n == last else None
                    )
                )

    @tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return await w.weather(city)

    class CountingSaver(AsyncSqliteSaver):
        """Each `aput`/`aput_writes` of `AsyncSqliteSaver` is one committed transaction."""

        commits = 0

        async def aput(self, *args: Any, **kwargs: Any) -> Any:
            self.commits += 1
            return await super().aput(*args, **kwargs)

        async def aput_writes(self, *args: Any, **kwargs: Any) -> None:
            self.commits += 1
            await super().aput_writes(*args, **kwargs)

    return {
        "aiosqlite": aiosqlite,
        "Chat": FakeToolCallingChat,
        "tool": get_weather,
        "Saver": CountingSaver,
        "create_react_agent": create_react_agent,
    }


_LIB: dict[str, Any] | None = None


def _lib() -> dict[str, Any]:
    global _LIB
    if _LIB is None:
        _LIB = _build()
    return _LIB


class LangGraphAdapter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lib = _lib()
        self.model = self.lib["Chat"]()
        self.conn: Any = None
        self.saver: Any = None
        self.graph: Any = None
        self._commit_offset = 0

    @property
    def commits(self) -> int:
        return (self.saver.commits if self.saver else 0) - self._commit_offset

    @commits.setter
    def commits(self, value: int) -> None:
        self._commit_offset = (self.saver.commits if self.saver else 0) - value

    async def _saver(self) -> Any:
        """The checkpointer (set up), on a connection kept in `self.conn`."""
        self.conn = await self.lib["aiosqlite"].connect(self.path)
        await self.conn.execute("PRAGMA journal_mode=WAL")
        await self.conn.execute("PRAGMA synchronous=FULL")
        saver = self.lib["Saver"](self.conn)
        await saver.setup()
        return saver

    async def open(self) -> None:
        self.saver = await self._saver()
        with warnings.catch_warnings():
            # create_react_agent now lives in `langchain.agents` (not installed here); the
            # langgraph.prebuilt one is the same agent and still supported.
            warnings.simplefilter("ignore")
            self.graph = self.lib["create_react_agent"](
                self.model, [self.lib["tool"]], prompt=w.INSTRUCTIONS, checkpointer=self.saver
            )

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    def set_answer_deltas(self, n: int) -> None:
        self.model.answer_deltas = n

    async def new_thread(self) -> str:
        return uuid.uuid4().hex

    async def turn(self, thread_id: str, text: str) -> int:
        config = {"configurable": {"thread_id": thread_id}}
        count = 0
        async for _ in self.graph.astream(
            {"messages": [{"role": "user", "content": text}]}, config, stream_mode="messages"
        ):
            count += 1
        return count

    async def prepare_load(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    async def load(self, handle: dict[str, Any]) -> int:
        state = await self.graph.aget_state(handle)
        return len(state.values["messages"])


def framework() -> Framework:
    return Framework(
        name="LangGraph",
        factory=LangGraphAdapter,
        notes=(
            "langgraph.prebuilt.create_react_agent + AsyncSqliteSaver (aiosqlite, WAL, "
            "synchronous=FULL); astream(stream_mode='messages'); default durability "
            "('async': a step's checkpoint is written while the next step runs)",
        ),
    )
