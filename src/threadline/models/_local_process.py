"""The parent's side of the local model's worker process (`_local_worker`).

One process per model file and context size serves every `LocalModel` of this process. It
starts on first use; when it dies (a crash in native code, a kill), every request it was
serving fails with a retryable `ModelError` and the next request starts a new one.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import orjson

from threadline.types import ConfigurationError, ModelError

logger = logging.getLogger("threadline.models.local")

Frame = dict[str, Any]
Deliver = Callable[[Frame | None], None]  # None: the process died

_TERMINAL = frozenset({"done", "error", "cancelled"})
_START_TIMEOUT = 600.0  # loading a large GGUF from a slow disk takes a while
_COUNT_TIMEOUT = 60.0  # a count is answered at once, even during a generation
_STDERR_LINES = 20
_ILLEGAL_INSTRUCTION_HINT = (
    " (an instruction this CPU lacks: llama-cpp-python was built for another CPU; rebuild it "
    "portable with CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --force-reinstall --no-cache-dir "
    "llama-cpp-python)"
)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _Process:
    """One started worker process and the requests it is serving."""

    def __init__(self, path: str, n_ctx: int, progress: Callable[[str], None] | None) -> None:
        self._progress = progress
        self._pending: dict[int, Deliver] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # never held while waiting for `_lock`
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self.load_error: str | None = None
        self._closing = False
        self.exit_description: str | None = None
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p
        )
        config = orjson.dumps({"path": path, "n_ctx": n_ctx}).decode()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "threadline.models._local_worker", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.pid = self.popen.pid
        self._readers = [
            threading.Thread(
                target=reader, name=f"threadline-local-model-{reader.__name__}", daemon=True
            )
            for reader in (self._read_frames, self._read_stderr)
        ]
        for reader in self._readers:
            reader.start()

    @property
    def alive(self) -> bool:
        return self.exit_description is None and self.load_error is None

    def wait_ready(self) -> None:
        if not self._ready.wait(_START_TIMEOUT):
            self.kill()
            raise ModelError(
                f"the local model process did not load its model within {_START_TIMEOUT:g}s",
                retryable=True,
            )

    def submit(self, body: Frame, deliver: Deliver) -> int:
        """Send a request; `deliver` gets its frames on the reader thread, then None if the
        process dies before the request's last frame."""
        with self._lock:
            request_id = next(self._ids)
            if not self.alive:
                raise self.died_error()
            self._pending[request_id] = deliver
        self._send({**body, "id": request_id})
        return request_id

    def cancel(self, request_id: int) -> None:
        """Stop a request; its remaining frames are dropped."""
        with self._lock:
            if request_id not in self._pending:
                return
            self._pending[request_id] = _ignore
        with contextlib.suppress(ModelError):  # it died: nothing left to stop
            self._send({"op": "cancel", "id": request_id})

    def died_error(self) -> ModelError:
        description = self.exit_description or "died"
        hint = _ILLEGAL_INSTRUCTION_HINT if "SIGILL" in description else ""
        return ModelError(
            f"the local model process {description}{hint}; the next call starts a new one",
            retryable=True,
        )

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()

    def close(self) -> None:
        """Ask the process to exit (it exits when its input closes), then make sure it did."""
        self._closing = True
        stdin = self.popen.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        for reader in self._readers:
            reader.join(timeout=5)

    def _send(self, frame: Frame) -> None:
        stdin = self.popen.stdin
        assert stdin is not None
        data = orjson.dumps(frame) + b"\n"
        try:
            with self._write_lock:
                stdin.write(data)
                stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise self.died_error() from None

    def _read_frames(self) -> None:
        stdout = self.popen.stdout
        assert stdout is not None
        for line in stdout:
            frame: Frame = orjson.loads(line)
            request_id = frame.get("id")
            if request_id is None:
                self._on_process_frame(frame)
                continue
            terminal = frame["t"] in _TERMINAL or frame["t"] == "count"
            with self._lock:
                deliver = (
                    self._pending.pop(request_id, None)
                    if terminal
                    else self._pending.get(request_id)
                )
            if deliver is not None:
                deliver(frame)
        stdout.close()
        self._on_exit()

    def _on_process_frame(self, frame: Frame) -> None:
        kind = frame["t"]
        if kind == "ready":
            self._report(f"loaded local model in {frame['seconds']:.1f}s")
            self._ready.set()
        elif kind == "load_error":
            self.load_error = str(frame["message"])
            self._ready.set()
        elif kind == "warning":
            logger.warning("%s", frame["message"])

    def _on_exit(self) -> None:
        returncode = self.popen.wait()
        stdin = self.popen.stdin
        if stdin is not None:
            with self._write_lock, contextlib.suppress(OSError):
                stdin.close()
        if returncode < 0:
            description = f"was killed by {_signal_name(-returncode)}"
        else:
            description = f"exited with status {returncode}"
        with self._lock:
            self.exit_description = description
            pending = list(self._pending.values())
            self._pending.clear()
        if self.load_error is None and self._ready.is_set() and not self._closing:
            logger.warning("the local model process (pid %d) %s", self.pid, description)
            for line in self._stderr:
                logger.debug("local model process: %s", line)
        self._ready.set()
        for deliver in pending:
            deliver(None)

    def _read_stderr(self) -> None:
        stderr: IO[bytes] | None = self.popen.stderr
        assert stderr is not None
        for line in stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())
        stderr.close()

    def _report(self, message: str) -> None:
        logger.info(message)
        if self._progress is not None:
            self._progress(message)


def _ignore(frame: Frame | None) -> None:
    pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class LocalProcess:
    """The worker process of one model file and context size, started when first needed and
    again after it dies."""

    def __init__(self, path: str, n_ctx: int) -> None:
        self._path = path
        self._n_ctx = n_ctx
        self._process: _Process | None = None
        self._starting = threading.Lock()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.alive else None

    def started(self, progress: Callable[[str], None] | None = None) -> _Process:
        """The running process, starting one (and waiting for its model) if needed."""
        process = self._process
        if process is not None and process.alive:
            return process
        with self._starting:
            process = self._process
            if process is None or not process.alive:
                if progress is not None:
                    progress(f"loading local model {self._path}")
                logger.info("loading local model %s", self._path)
                process = self._process = _Process(self._path, self._n_ctx, progress)
            process.wait_ready()
        if process.load_error is not None:
            raise ConfigurationError(
                f"cannot load local model {self._path!r}: {process.load_error}"
            )
        if not process.alive:
            raise process.died_error()
        return process

    async def start(self, progress: Callable[[str], None] | None = None) -> _Process:
        """`started`, waiting off the event loop if the process must start."""
        process = self._process
        if process is not None and process.alive:
            return process
        return await asyncio.to_thread(self.started, progress)

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's tokenizer; blocks for one round trip."""
        process = self.started()
        answered = threading.Event()
        answer: list[Frame | None] = []

        def deliver(frame: Frame | None) -> None:
            answer.append(frame)
            answered.set()

        request_id = process.submit({"op": "count", "text": text}, deliver)
        if not answered.wait(_COUNT_TIMEOUT):
            process.cancel(request_id)
            raise ModelError(
                f"the local model process did not count tokens within {_COUNT_TIMEOUT:g}s",
                retryable=True,
            )
        frame = answer[0]
        if frame is None:
            raise process.died_error()
        return int(frame["count"])

    async def generate(
        self, body: Frame, progress: Callable[[str], None] | None = None
    ) -> AsyncIterator[Frame]:
        """The frames of one generation, ending with its `done`, `error` or `cancelled`
        frame. Closing the iterator cancels the generation.

        Raises:
            ModelError: the process died (retryable).
        """
        process = await self.start(progress)
        loop = asyncio.get_running_loop()
        frames: asyncio.Queue[Frame | None] = asyncio.Queue()

        def deliver(frame: Frame | None) -> None:
            # A closed loop raises RuntimeError: nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(frames.put_nowait, frame)

        request_id = process.submit({"op": "generate", **body}, deliver)
        finished = False
        try:
            while True:
                frame = await frames.get()
                if frame is None:
                    finished = True
                    raise process.died_error()
                finished = frame["t"] in _TERMINAL
                yield frame
                if finished:
                    return
        finally:
            if not finished:
                process.cancel(request_id)

    def close(self) -> None:
        process = self._process
        if process is not None:
            process.close()


_processes: dict[tuple[str, int], LocalProcess] = {}
_processes_lock = threading.Lock()


def local_process(path: str, n_ctx: int) -> LocalProcess:
    """The shared worker process of a model file and context size."""
    with _processes_lock:
        process = _processes.get((path, n_ctx))
        if process is None:
            process = _processes[(path, n_ctx)] = LocalProcess(path, n_ctx)
        return process


@atexit.register
def _close_all() -> None:
    with _processes_lock:
        processes = list(_processes.values())
    for process in processes:
        process.close()
