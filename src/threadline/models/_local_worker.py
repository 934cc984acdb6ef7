"""The local model's worker process: llama.cpp runs here, never in the caller's process.

`python -m threadline.models._local_worker CONFIG_JSON` loads one GGUF file and answers
requests read as JSON lines on stdin, writing JSON lines to the stdout it was started with.
Native code that crashes (a segfault in a CPU kernel, an illegal instruction on a CPU the
library was not built for) ends this process only; its parent reports a retryable error and
starts a new one. Generations run one at a time on the main thread, in the order they came;
token counts are answered at once from the reader thread (the vocabulary is read-only).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import orjson

from ._local_prompt import END, FUNCTION_PREFIX, MESSAGE_PREFIX, choice_grammar
from ._protocol import ToolSpec

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

Frame = dict[str, Any]

# Long enough for `functions.<any sane tool name>:`; the grammar ends the choice well before.
_CHOICE_MAX_TOKENS = 64
_REPEAT_PENALTY = 1.1  # what llama-cpp-python's chat handlers use; tiny models loop without it
_TOP_P = 0.95  # llama-cpp-python's own default, when the request sets none
_LOOSE_STRING_CHAR = r'char ::= [^"\\]'
_JSON_STRING_CHAR = r'char ::= [^"\\\x7F\x00-\x1F]'
# llama.cpp's AMX kernels crash (SIGSEGV in ggml_backend_amx_mul_mat) on machines that
# advertise AMX without letting it run, as many cloud VMs do. They are reached only through
# the "extra buffer types" that repack weights, so a library built with AMX loads models with
# those turned off; the plain AVX-512/AVX2 kernels serve the same weights.
_AMX_FEATURE = "AMX_INT8 = 1"


class _Output:
    """The frame channel to the parent, shared by the main and the reader thread."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, frame: Frame) -> None:
        data = orjson.dumps(frame) + b"\n"
        with self._lock:
            self._stream.write(data)
            self._stream.flush()


@dataclass(frozen=True, slots=True)
class _Job:
    request_id: int
    body: Frame
    cancelled: threading.Event


class _Generation:
    """One request on the loaded model. `run` returns the final frame, or None if cancelled."""

    def __init__(self, llama: Llama, job: _Job, send: Callable[[Frame], None]) -> None:
        body = job.body
        self._llama = llama
        self._id = job.request_id
        self._send = send
        self._cancelled = job.cancelled
        self._tools = [
            ToolSpec(name=t["name"], description="", parameters=t["parameters"])
            for t in body["tools"]
        ]
        self._output_schema: dict[str, Any] | None = body["output_schema"]
        self._max_tokens: int | None = body["max_tokens"]
        self._temperature: float = body["temperature"]
        self._top_p: float = _TOP_P if body["top_p"] is None else body["top_p"]
        self._seed: int | None = body["seed"]
        self._initial_prompt: str = body["prompt"]
        self._prompt = self._initial_prompt

    def run(self) -> Frame | None:
        if self._tools:
            tool = self._choose()
            if self._cancelled.is_set():
                return None
            if tool is not None:
                return self._call(tool)
            self._prompt += f"{MESSAGE_PREFIX}\n"
        schema = self._output_schema
        grammar = None if schema is None else _schema_grammar(schema, self._send)
        text, finish = self._complete(grammar=grammar, max_tokens=self._max_tokens, kind="text")
        if finish is None:
            return None
        return self._done(text=text, finish="length" if finish == "length" else "stop")

    def _choose(self) -> ToolSpec | None:
        from llama_cpp import LlamaGrammar

        grammar = LlamaGrammar.from_string(choice_grammar(self._tools), verbose=False)
        # Greedy like llama-cpp-python's handler: the choice should not be left to chance.
        choice, _ = self._complete(
            grammar=grammar,
            max_tokens=_CHOICE_MAX_TOKENS,
            temperature=0.0,
            stop=[":"],
            extend_prompt=False,
        )
        return {f"{FUNCTION_PREFIX}{tool.name}": tool for tool in self._tools}.get(choice)

    def _call(self, tool: ToolSpec) -> Frame | None:
        self._prompt += f"{FUNCTION_PREFIX}{tool.name}:\n"
        self._send({"id": self._id, "t": "call", "name": tool.name})
        arguments, finish = self._complete(
            grammar=_schema_grammar(tool.parameters, self._send),
            max_tokens=self._max_tokens,
            kind="args",
        )
        if finish is None:
            return None
        return self._done(
            call={"name": tool.name, "arguments": arguments},
            finish="length" if finish == "length" else "tool_calls",
        )

    def _complete(
        self,
        *,
        grammar: LlamaGrammar | None,
        max_tokens: int | None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        kind: str | None = None,
        extend_prompt: bool = True,
    ) -> tuple[str, str | None]:
        """Stream one completion of the prompt; the finish reason is None if cancelled."""
        chunks = cast(
            Iterator[dict[str, Any]],
            self._llama.create_completion(
                self._prompt,
                max_tokens=max_tokens,
                temperature=self._temperature if temperature is None else temperature,
                top_p=self._top_p,
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
            if self._cancelled.is_set():
                cast(Any, chunks).close()
                return text, None
            choice = chunk["choices"][0]
            piece: str = choice["text"]
            if piece:
                text += piece
                if kind is not None:
                    self._send({"id": self._id, "t": kind, "d": piece})
            finish = choice["finish_reason"] or finish
        if extend_prompt:
            self._prompt += text
        return text, finish or "stop"

    def _done(self, *, finish: str, text: str = "", call: Frame | None = None) -> Frame:
        generated = self._prompt[len(self._initial_prompt) :]
        return {
            "id": self._id,
            "t": "done",
            "text": text,
            "call": call,
            "finish": finish,
            "input_tokens": _count(self._llama, self._initial_prompt),
            "output_tokens": _count(self._llama, generated),
        }


def _count(llama: Llama, text: str) -> int:
    return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def _schema_grammar(schema: dict[str, Any], send: Callable[[Frame], None]) -> LlamaGrammar:
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(json.dumps(schema))
        # llama-cpp-python's converter lets a string hold control characters (a raw
        # newline), which JSON forbids; llama.cpp's own converter does not.
        grammar = grammar.replace(_LOOSE_STRING_CHAR, _JSON_STRING_CHAR, 1)
        return LlamaGrammar.from_string(grammar, verbose=False)
    except Exception:
        # Schemas the converter does not support still get well-formed JSON.
        send(
            {
                "t": "warning",
                "message": "JSON Schema not supported by llama.cpp grammars; asking for any JSON",
            }
        )
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


def _load(path: str, n_ctx: int) -> Llama:
    import llama_cpp
    from llama_cpp import Llama

    if _AMX_FEATURE in llama_cpp.llama_print_system_info().decode(errors="replace"):
        _without_extra_buffer_types(llama_cpp)
    return Llama(model_path=path, n_ctx=n_ctx, verbose=False)


def _without_extra_buffer_types(llama_cpp: Any) -> None:
    native = llama_cpp.llama_cpp
    defaults = native.llama_model_default_params
    if not any(name == "use_extra_bufts" for name, *_ in native.llama_model_params._fields_):
        return  # older libraries have no AMX buffer type to avoid

    def without_repacking() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    # `Llama` reads its defaults through this module attribute when it loads a model.
    native.llama_model_default_params = without_repacking


class _Worker:
    def __init__(self, llama: Llama, output: _Output) -> None:
        self._llama = llama
        self._output = output
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._by_id: dict[int, _Job] = {}
        self._lock = threading.Lock()

    def read_requests(self, stream: BinaryIO) -> None:
        """The reader thread: queue generations, answer token counts, mark cancellations."""
        for line in stream:
            request = orjson.loads(line)
            request_id: int = request["id"]
            op = request["op"]
            if op == "generate":
                job = _Job(request_id=request_id, body=request, cancelled=threading.Event())
                with self._lock:
                    self._by_id[request_id] = job
                self._jobs.put(job)
            elif op == "cancel":
                with self._lock:
                    job = self._by_id.get(request_id)
                if job is not None:
                    job.cancelled.set()
            elif op == "count":
                count = _count(self._llama, request["text"])
                self._output.send({"id": request_id, "t": "count", "count": count})
        # The parent closed our stdin or died: nobody is waiting for answers any more.
        os._exit(0)

    def serve(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if not job.cancelled.is_set():
                    self._run(job)
            finally:
                with self._lock:
                    self._by_id.pop(job.request_id, None)

    def _run(self, job: _Job) -> None:
        try:
            final = _Generation(self._llama, job, self._output.send).run()
        except Exception as exc:
            message = str(exc)
            self._output.send(
                {
                    "id": job.request_id,
                    "t": "error",
                    "kind": type(exc).__name__,
                    "message": message,
                    "context_window": "context window" in message,
                }
            )
            return
        # A cancelled request still ends with a frame, so the parent knows the slot is free.
        self._output.send(final or {"id": job.request_id, "t": "cancelled"})


def main(argv: list[str]) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = orjson.loads(argv[1])
    # Frames travel on a private copy of stdout; anything native code prints goes to stderr.
    output = _Output(os.fdopen(os.dup(sys.stdout.fileno()), "wb"))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    started = time.perf_counter()
    try:
        llama = _load(config["path"], config["n_ctx"])
    except Exception as exc:
        output.send({"t": "load_error", "message": f"{type(exc).__name__}: {exc}"})
        os._exit(1)
    output.send({"t": "ready", "seconds": time.perf_counter() - started})
    worker = _Worker(llama, output)
    threading.Thread(target=worker.read_requests, args=(sys.stdin.buffer,), daemon=True).start()
    worker.serve()


if __name__ == "__main__":
    main(sys.argv)
