"""`python -m bench --phases serve`: streamed responses per second from `threadline serve`
against a bare Starlette SSE server that stores nothing.

Both run as uvicorn subprocesses on 127.0.0.1 (HTTP/1.1 through h11, the asyncio loop, no
access log), up at once. threadline serves `agents` below on `SQLiteStore` in a temporary
folder, with a zero-latency model that answers in `DELTAS` deltas. The bare server
(`bare_app`) writes the bytes of one recorded threadline response, event by event, as a
minimal SSE endpoint does. `clients` keep-alive connections each POST /v1/responses with
`stream: true` (a new conversation each time) in a loop, in windows of `seconds` that
alternate between the servers; the server process's CPU comes from /proc.

    threadline --db x.db --app bench._serve:agents --model py:bench._serve:model serve
    uvicorn --factory bench._serve:bare_app
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, TextDelta
from threadline.types import Usage

from . import _workload as w

AGENT_NAME = "bench"
DELTAS = 50  # text deltas per answer
_RECORDING_ENV = "BENCH_SSE_RECORDING"  # the file of the bare server's events
_BENCH_ROOT = Path(__file__).resolve().parent.parent
_SOURCE_ROOT = Path(tl.__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServeWorkload:
    clients: int = 50  # concurrent streaming requests
    seconds: float = 4.0  # one measured window
    rounds: int = 4  # windows per server, alternating between the servers
    warmup_seconds: float = 2.0

    @staticmethod
    def quick() -> ServeWorkload:
        return ServeWorkload(seconds=3.0, rounds=2, warmup_seconds=1.0)


# -- the two servers -------------------------------------------------------------------------


class AnswerModel:
    """Zero latency: answers every request with `deltas` text deltas."""

    name = "bench-answer"

    def __init__(self, deltas: int = DELTAS) -> None:
        self.deltas = w.answer_deltas(deltas)
        self.text = "".join(self.deltas)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        for delta in self.deltas:
            yield TextDelta(delta=delta)
        yield ModelResponse(
            text=self.text, usage=Usage(input_tokens=10, output_tokens=len(self.deltas))
        )


agents = [tl.Agent(name=AGENT_NAME, instructions=w.INSTRUCTIONS)]


def model() -> AnswerModel:
    return AnswerModel()


def bare_app() -> Any:
    """The floor: a Starlette app that answers POST /v1/responses with the recorded events,
    one write per event, and stores nothing."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    events = orjson.loads(Path(os.environ[_RECORDING_ENV]).read_bytes())

    async def create(request: Request) -> StreamingResponse:
        await request.body()

        async def body() -> AsyncIterator[bytes]:
            for event in events:
                yield event.encode()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    return Starlette(routes=[Route("/v1/responses", create, methods=["POST"])])


# -- driving them ----------------------------------------------------------------------------

_BODY = orjson.dumps({"model": AGENT_NAME, "input": w.USER_TEXT, "stream": True})
_LAST_CHUNK = b"\r\n0\r\n\r\n"  # SSE bodies hold no CRLF, so this ends the chunked body


def _request(port: int) -> bytes:
    return (
        f"POST /v1/responses HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(_BODY)}\r\n\r\n"
    ).encode() + _BODY


class BadResponse(Exception):
    """Not a 200 stream ending in [DONE]."""


async def _stream_once(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[bytes, int]:
    """One streamed response on a kept-alive connection: its body (still chunk-framed), and
    how many events it held."""
    writer.write(request)
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise BadResponse("the server closed the connection") from exc
    if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
        raise BadResponse(head.decode(errors="replace"))
    received = bytearray()
    while not received.endswith(_LAST_CHUNK):
        data = await reader.read(65536)
        if not data:
            raise BadResponse("the server closed the connection")
        received += data
    if b"data: [DONE]" not in received:
        raise BadResponse("no [DONE]")
    return bytes(received), received.count(b"\n\n")


async def _client(port: int, until: float, counts: dict[str, int]) -> None:
    request = _request(port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            try:
                _, events = await _stream_once(reader, writer, request)
            except BadResponse:
                counts["failed"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            counts["responses"] += 1
            counts["events"] += events
    finally:
        writer.close()


async def _load(port: int, clients: int, seconds: float) -> dict[str, int]:
    counts = {"responses": 0, "events": 0, "failed": 0}
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, until, counts) for _ in range(clients)))
    return counts


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _window(
    process: subprocess.Popen[bytes], port: int, workload: ServeWorkload
) -> dict[str, Any]:
    """One measured window of load on one server."""
    cpu, client_cpu = _cpu_seconds(process.pid), time.process_time()
    started = time.perf_counter()
    counts = await _load(port, workload.clients, workload.seconds)
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(process.pid) - cpu
    client_cpu = time.process_time() - client_cpu
    responses = max(counts["responses"], 1)
    return {
        **counts,
        "seconds": elapsed,
        "requests_per_s": counts["responses"] / elapsed,
        "events_per_response": counts["events"] / responses,
        "cpu_ms_per_response": cpu * 1000 / responses,
        "cpu_busy": cpu / elapsed,  # cores the server kept busy
        "client_cpu_ms_per_response": client_cpu * 1000 / responses,
    }


def _summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the windows, and the totals."""
    keys = [k for k, v in windows[0].items() if isinstance(v, float)]
    return {
        **{k: statistics.median(x[k] for x in windows) for k in keys},
        "responses": sum(x["responses"] for x in windows),
        "failed": sum(x["failed"] for x in windows),
        "windows": windows,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _server(command: list[str], port: int, env: dict[str, str], log: Path) -> Any:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _record(port: int) -> list[str]:
    """The events of one threadline response, as the bare server will write them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        body, _ = await _stream_once(reader, writer, _request(port))
    finally:
        writer.close()
    sse = bytearray()
    while body:  # undo the chunked framing
        size, _, rest = body.partition(b"\r\n")
        length = int(size, 16)
        sse += rest[:length]
        body = rest[length + 2 :]
    return [event + "\n\n" for event in sse.decode().split("\n\n") if event]


async def run(workload: ServeWorkload) -> dict[str, Any]:
    """Both servers up at once (the one not under load idles), measured in alternating
    windows, so that whatever else the machine runs meanwhile weighs on both alike."""
    folder = Path(tempfile.mkdtemp(prefix="threadline-bench-serve-"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_SOURCE_ROOT), str(_BENCH_ROOT)]),
        _RECORDING_ENV: str(folder / "events.json"),
    }
    env.pop("THREADLINE_API_KEYS", None)
    ports = {"threadline": _free_port(), "bare": _free_port()}
    commands = {
        "threadline": [
            *(sys.executable, "-m", "threadline.cli", "--db", str(folder / "serve.db")),
            *("--app", "bench._serve:agents", "--model", "py:bench._serve:model"),
            *("serve", "--port", str(ports["threadline"]), "--log-level", "warning"),
        ],
        "bare": [
            *(sys.executable, "-m", "uvicorn", "--factory", "bench._serve:bare_app"),
            *("--port", str(ports["bare"]), "--http", "h11", "--loop", "asyncio"),
            *("--no-access-log", "--log-level", "warning"),
        ],
    }
    windows: dict[str, list[dict[str, Any]]] = {"threadline": [], "bare": []}
    try:
        with contextlib.ExitStack() as stack:
            processes = {
                "threadline": stack.enter_context(
                    _server(commands["threadline"], ports["threadline"], env, folder / "tl.log")
                )
            }
            events = await _record(ports["threadline"])
            (folder / "events.json").write_bytes(orjson.dumps(events))
            processes["bare"] = stack.enter_context(
                _server(commands["bare"], ports["bare"], env, folder / "bare.log")
            )
            for key in windows:
                await _load(ports[key], workload.clients, workload.warmup_seconds)
            for _ in range(workload.rounds):
                for key in windows:
                    windows[key].append(await _window(processes[key], ports[key], workload))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = {
        "workload": asdict(workload),
        "cores": os.cpu_count(),
        **{key: _summary(x) for key, x in windows.items()},
    }
    mine, bare = result["threadline"], result["bare"]
    result["ratio"] = mine["requests_per_s"] / bare["requests_per_s"]
    result["cpu_ratio"] = bare["cpu_ms_per_response"] / mine["cpu_ms_per_response"]
    return result


def render(result: dict[str, Any]) -> str:
    wl = result["workload"]
    rows = []
    for key, label in (("threadline", "threadline serve"), ("bare", "bare Starlette SSE")):
        r = result[key]
        rows.append(
            f"| {label} | {r['requests_per_s']:.0f} | {r['cpu_ms_per_response']:.2f} | "
            f"{r['cpu_busy']:.2f} | {r['client_cpu_ms_per_response']:.2f} | "
            f"{r['events_per_response']:.0f} | {r['responses']:,} | {r['failed']} |"
        )
    ratio, cpu_ratio = result["ratio"], result["cpu_ratio"]
    return "\n".join(
        [
            "## Streamed responses over HTTP: threadline serve vs a bare SSE server",
            "",
            "| server | requests/s | server CPU ms/response | server cores busy | "
            "client CPU ms/response | SSE messages/response | responses | failed |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"threadline / bare requests/s: {ratio:.2f}x (target ≥ 0.5x → "
            f"{'MET' if ratio >= 0.5 else 'MISSED'}); bare / threadline server CPU per "
            f"response: {cpu_ratio:.2f}x.",
            f"{wl['clients']} keep-alive clients POST /v1/responses (stream=true, a new "
            f"conversation each) in a loop; medians of {wl['rounds']} windows of "
            f"{wl['seconds']:.0f} s per server, alternating. threadline: a {DELTAS}-delta "
            "answer from a zero-latency model, stored in SQLiteStore; the bare server writes "
            "the same events, one write each, and stores nothing. Both: uvicorn, h11, asyncio. "
            f"Clients and servers share this machine's {result['cores']} cores (and whatever "
            "else runs on it): requests/s is bounded by all of them, CPU per response by the "
            "server alone.",
        ]
    )
