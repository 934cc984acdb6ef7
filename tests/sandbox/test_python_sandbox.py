"""The Python sandbox (Monty) on its own: what code gets, and every way out it is refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from threadline.sandbox import CodeJob, CodeLimits, CodeResult
from threadline.sandbox._python import PythonSandbox

SANDBOX = PythonSandbox()


async def run(source: str, **fields: Any) -> CodeResult:
    return await SANDBOX.run(CodeJob(source=source, language="python", **fields))


async def test_values_host_functions_reports_and_execute() -> None:
    got: list[Any] = []

    async def double(x: int) -> int:
        await asyncio.sleep(0.001)
        return x * 2

    result = await run(
        "def main(n):\n    report(n)\n    return double(n) if False else n + 1\nawait double(4)",
        imports={"double": double},
        on_report=got.append,
    )
    assert (result.status, result.value, result.backend) == ("ok", 8, "monty")

    called = await run(
        "def main(n):\n    report(n)\n    return n + 1",
        execute=("main", [41]),
        on_report=got.append,
    )
    assert (called.status, called.value, called.reports) == ("ok", 42, (41,))
    assert got == [41]

    many = await run(
        "import asyncio\nawait asyncio.gather(*[double(i) for i in range(5)])",
        imports={"double": double},
    )
    assert many.value == [0, 2, 4, 6, 8]


async def test_errors_are_results_with_what_went_wrong() -> None:
    syntax = await run("def (:")
    assert syntax.status == "error" and "SyntaxError" in (syntax.error or "")
    raised = await run("raise ValueError('bad input')")
    assert (raised.status, raised.error) == ("error", "ValueError: bad input")
    modules = await run("import util", modules={"./util.py": "x = 1"})
    assert modules.status == "link_error" and "modules" in (modules.error or "")
    missing = await run("undefined_function()")
    assert missing.status == "error" and "NameError" in (missing.error or "")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import socket\nsocket.create_connection(('127.0.0.1', 5432))", "socket"),
        ("open('/etc/passwd').read()", "PermissionError"),
        ("open('/tmp/escape.txt', 'w').write('x')", "PermissionError"),
        ("import os\nos.environ['HOME']", "os.environ"),
        ("import os\nos.getenv('PATH')", "not supported"),
        ("import os\nos.fork()", "fork"),
        ("import subprocess", "subprocess"),
        ("import ctypes", "ctypes"),
        ("__import__('os').system('id')", ""),
        ("open('/proc/self/environ').read()", "PermissionError"),
    ],
)
async def test_ways_out_are_refused(source: str, expected: str) -> None:
    result = await run(source)

    assert result.status == "error", result
    assert expected in (result.error or "")


async def test_limits_stop_the_code() -> None:
    loop = await run("while True:\n    pass", limits=CodeLimits(seconds=0.5))
    assert loop.status == "timeout"
    objects = await run(
        "x = []\nwhile True:\n    x.append([0] * 100000)", limits=CodeLimits(memory_bytes=64 << 20)
    )
    assert objects.status == "memory", objects
    blob = await run("x = 'a' * (1 << 30)", limits=CodeLimits(memory_bytes=64 << 20))
    assert blob.status == "memory", blob
    started = time.perf_counter()
    flood = await run(
        "while True:\n    print('y' * 65536)", limits=CodeLimits(output_bytes=1 << 20, seconds=30)
    )
    assert flood.status == "error" and "output" in (flood.error or "")
    assert len(flood.stdout.encode()) <= 1 << 20
    assert time.perf_counter() - started < 10  # stopped at the limit, not after 1 GiB
    calls = await run(
        "while True:\n    ping()",
        imports={"ping": lambda: None},
        limits=CodeLimits(host_calls=1000),
    )
    assert calls.status == "error" and "host calls" in (calls.error or "")


async def test_cancelling_stops_a_running_loop_within_100_ms() -> None:
    task = asyncio.ensure_future(run("while True:\n    pass"))
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - started < 0.1
    after = await run("1 + 1")  # the pool goes on serving
    assert after.value == 2
