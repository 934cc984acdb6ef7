"""The app-server over stdio: one JSON message per line in, one per line out.

Reading and writing happen on daemon threads, so that a parent that stops reading our
stdout, or never closes our stdin, cannot keep the process from exiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable

from threadline import Threadline

from ._hub import Hub
from ._jsonrpc import INVALID_REQUEST, Limits, RpcError
from ._session import Session

_CHUNK = 65536
_Line = tuple[str, bytes | int]  # ("line", data) | ("too_long", size) | ("eof", 0)


def _read_lines(fd: int, max_bytes: int, deliver: Callable[[_Line], None]) -> None:
    """Split what `fd` yields into lines; a line over `max_bytes` is skipped, reported."""
    buffer = bytearray()
    skipping = 0  # bytes of an overlong line dropped so far
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except OSError:
            chunk = b""
        if not chunk:
            if buffer.strip() and not skipping:
                deliver(("line", bytes(buffer)))
            deliver(("eof", 0))
            return
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if skipping:
                skipping += len(piece)
            elif len(buffer) + len(piece) > max_bytes:
                skipping = len(buffer) + len(piece)
                buffer.clear()
            else:
                buffer += piece
            if end < 0:
                break
            if skipping:
                deliver(("too_long", skipping))
                skipping = 0
            elif buffer.strip():
                deliver(("line", bytes(buffer)))
            buffer.clear()
            start = end + 1


class _Writer:
    """Writes batches to `fd` on a daemon thread; `write` waits for the batch to be out."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()

    async def write(self, data: bytes) -> None:
        done: asyncio.Future[None] = self._loop.create_future()

        def run() -> None:
            error: BaseException | None = None
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                error = exc
            self._loop.call_soon_threadsafe(_settle, done, error)

        threading.Thread(target=run, name="threadline-stdout", daemon=True).start()
        await done


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if not future.done():
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


async def serve_stdio(
    app: Threadline, *, limits: Limits | None = None, input_fd: int = 0, output_fd: int = 1
) -> None:
    """Open `app`, serve one client on stdin/stdout until it closes stdin (or SIGTERM),
    then close the app: turns still running are handed back for recovery.

        asyncio.run(serve_stdio(tl.Threadline(agents=[agent])))
    """
    limits = limits or Limits()
    async with app:
        hub = Hub(app)
        session = Session(hub, limits=limits)
        try:
            await _serve(session, limits, input_fd, output_fd)
        finally:
            await session.close()
            await hub.close()
    await hub.join()


async def _serve(session: Session, limits: Limits, input_fd: int, output_fd: int) -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[_Line] = asyncio.Queue(limits.max_pending_requests)

    def deliver(line: _Line) -> None:
        asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()

    threading.Thread(
        target=_read_lines,
        args=(input_fd, limits.max_message_bytes, deliver),
        name="threadline-stdin",
        daemon=True,
    ).start()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, session.shut, "terminated")
    writer = loop.create_task(_write(session, _Writer(output_fd)))
    try:
        while not session.closed.is_set():
            getting = asyncio.ensure_future(lines.get())
            closing = asyncio.ensure_future(session.closed.wait())
            await asyncio.wait({getting, closing}, return_when=asyncio.FIRST_COMPLETED)
            closing.cancel()
            if not getting.done():
                getting.cancel()
                break
            kind, data = getting.result()
            if kind == "eof":
                await session.finish()
                break
            if kind == "too_long":
                session.refuse(
                    RpcError(
                        INVALID_REQUEST,
                        f"message of {data} bytes is over the "
                        f"limit of {limits.max_message_bytes} bytes",
                    )
                )
                continue
            assert isinstance(data, bytes)
            await session.receive(data)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
        session.shut(session.close_reason or "stdin closed")
        await writer


async def _write(session: Session, writer: _Writer) -> None:
    async for batch in session.outgoing():
        try:
            await writer.write(b"\n".join(batch) + b"\n")
        except OSError:
            session.shut("stdout closed")
            return
