"""The QuickJS (jsbox) sandbox: values, TypeScript, modules, host functions, limits, escapes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from threadline.sandbox import CodeJob, CodeLanguage, CodeLimits, CodeResult
from threadline.sandbox._javascript import JavaScriptSandbox


async def run(
    source: str,
    language: CodeLanguage = "js",
    **options: Any,
) -> CodeResult:
    result = await JavaScriptSandbox().run(CodeJob(source=source, language=language, **options))
    assert result.backend == "quickjs"
    return result


def test_backend_is_available() -> None:
    sandbox = JavaScriptSandbox()
    assert sandbox.missing() is None
    assert sandbox.languages == {"js", "ts"}


async def test_script_value_is_its_last_expression() -> None:
    result = await run("const xs = [1, 2, 3]; ({total: xs.reduce((a, b) => a + b), xs})")
    assert (result.status, result.value) == ("ok", {"total": 6, "xs": [1, 2, 3]})


async def test_module_value_is_its_default_export() -> None:
    result = await run("export const a = 2;\nexport default a * 21;")
    assert (result.status, result.value) == ("ok", 42)


async def test_execute_calls_an_export_with_arguments() -> None:
    result = await run("export async function add(a, b) { return a + b }", execute=("add", [2, 3]))
    assert (result.status, result.value) == ("ok", 5)


async def test_execute_calls_a_script_function() -> None:
    result = await run(
        "function scale(xs, k) { return xs.map(x => x * k) }", execute=("scale", [[1, 2], 3])
    )
    assert (result.status, result.value) == ("ok", [3, 6])


async def test_execute_of_a_missing_export_is_an_error() -> None:
    result = await run("export const x = 1;", execute=("main", []))
    assert result.status == "error"
    assert "no function named main" in (result.error or "")


async def test_typescript_types_are_stripped() -> None:
    source = "interface Point { x: number }\nconst p: Point = { x: 4 };\np.x * 2 as number"
    result = await run(source, "ts")
    assert (result.status, result.value) == ("ok", 8)


async def test_typescript_syntax_error_is_an_error() -> None:
    result = await run("const x: = 1;", "ts")
    assert result.status == "error"
    assert "TypeScript" in (result.error or "")


async def test_modules_can_be_imported_typescript_ones_stripped() -> None:
    result = await run(
        "import { double } from './math.ts';\nimport { base } from './base.js';\n"
        "export default double(base);",
        "ts",
        modules={
            "./math.ts": "export function double(x: number): number { return x * 2 }",
            "./base.js": "export const base = 21;",
        },
    )
    assert (result.status, result.value) == ("ok", 42)


async def test_import_of_a_module_not_given_is_a_link_error() -> None:
    result = await run("import { x } from './missing.js';\nexport default x;")
    assert result.status == "link_error"
    assert "./missing.js" in (result.error or "")


async def test_thrown_error_is_an_error_with_its_message() -> None:
    result = await run("throw new TypeError('bad input')")
    assert result.status == "error"
    assert "TypeError: bad input" in (result.error or "")


async def test_async_host_function_returns_a_value() -> None:
    async def lookup(key: str) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"key": key, "found": True}

    result = await run("(async () => (await lookup('a')).found)()", imports={"lookup": lookup})
    assert (result.status, result.value) == ("ok", True)


async def test_promise_all_of_host_calls_runs_them_concurrently() -> None:
    running: list[int] = []
    peak = 0

    async def slow(x: int) -> int:
        nonlocal peak
        running.append(x)
        peak = max(peak, len(running))
        await asyncio.sleep(0.05)
        running.remove(x)
        return x * 10

    sync_calls: list[int] = []

    def sync(x: int) -> int:
        sync_calls.append(x)
        return x + 1

    result = await run(
        "Promise.all([1, 2, 3].map(x => slow(sync(x))))", imports={"slow": slow, "sync": sync}
    )
    assert (result.status, result.value) == ("ok", [20, 30, 40])
    assert peak == 3 and sync_calls == [1, 2, 3]


async def test_host_function_error_is_reported() -> None:
    def fail() -> None:
        raise ValueError("no such row")

    result = await run("fail()", imports={"fail": fail})
    assert result.status == "error"
    assert "'fail' raised ValueError: no such row" in (result.error or "")


async def test_reports_in_order_and_to_on_report() -> None:
    seen: list[Any] = []
    result = await run(
        "report(1); report({step: 'two'}); report([3]); 'done'", on_report=seen.append
    )
    assert (result.status, result.value) == ("ok", "done")
    assert result.reports == (1, {"step": "two"}, [3])
    assert seen == [1, {"step": "two"}, [3]]


async def test_console_lines_are_stdout() -> None:
    result = await run("console.log('a', 1, {b: [true, null]}); console.error('oops'); 0")
    assert result.status == "ok"
    assert result.stdout == 'a 1 {"b": [true, null]}\noops\n'


async def test_output_limit_stops_a_gigabyte_of_output() -> None:
    limits = CodeLimits(output_bytes=10_000)
    started = time.monotonic()
    result = await run(
        "const chunk = 'x'.repeat(1 << 20); for (let i = 0; i < 1024; i++) console.log(chunk)",
        limits=limits,
    )
    assert result.status == "error"
    assert "output limit" in (result.error or "")
    assert 0 < len(result.stdout.encode()) <= 10_000
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("require('fs')", "require is not defined"),
        ("process.env", "process is not defined"),
        ("fetch('http://127.0.0.1:5432/')", "fetch is not defined"),
        ("new XMLHttpRequest()", "XMLHttpRequest is not defined"),
        ("Deno.readTextFileSync('/etc/passwd')", "Deno is not defined"),
        ("import('fs')", "module not found: fs"),
        ("import { readFileSync } from 'fs';\nexport default readFileSync('/etc/passwd');", "fs"),
        ("setTimeout(() => 0, 10)", "setTimeout is not defined"),
    ],
)
async def test_no_ambient_capabilities(source: str, needle: str) -> None:
    result = await run(source)
    assert result.status in ("error", "link_error")
    assert needle in (result.error or "")


async def test_global_object_has_only_builtins_and_the_bound_names() -> None:
    result = await run("Object.getOwnPropertyNames(globalThis)", imports={"lookup": str})
    assert result.status == "ok"
    names = set(result.value)
    assert {"lookup", "report", "console"} <= names
    hostish = {"require", "process", "fetch", "Deno", "XMLHttpRequest", "Buffer", "os", "std"}
    assert not names & hostish
    builtins = {"Object", "Array", "JSON", "Math", "Promise", "Uint8Array", "performance"}
    unexpected = {n for n in names if not n[0].isupper()} - builtins - {
        "globalThis", "parseInt", "parseFloat", "isNaN", "isFinite", "queueMicrotask",
        "decodeURI", "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape",
        "unescape", "undefined", "eval", "btoa", "atob", "console", "lookup", "report",
    }  # fmt: skip
    assert unexpected == set()


async def test_host_environment_is_not_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_TEST_SECRET", "hunter2")
    result = await run(
        "JSON.stringify(Object.getOwnPropertyNames(globalThis).map(n => String(globalThis[n])))"
    )
    assert result.status == "ok"
    assert "hunter2" not in result.value


@pytest.mark.parametrize(
    "source",
    [
        "const xs = []; for (;;) xs.push({a: [1, 2, 3], b: 'x'})",
        "new Uint8Array(1 << 30)",
        "const xs = []; for (;;) xs.push(new Uint8Array(1 << 20))",
    ],
)
async def test_memory_bomb_is_memory(source: str) -> None:
    result = await run(source, limits=CodeLimits(memory_bytes=64 << 20, seconds=10))
    assert result.status == "memory"
    assert "out of memory" in (result.error or "")


async def test_infinite_loop_is_timeout() -> None:
    started = time.monotonic()
    result = await run("while (true) {}", limits=CodeLimits(seconds=0.5))
    assert result.status == "timeout"
    assert "0.5 seconds" in (result.error or "")
    assert time.monotonic() - started < 1.0


async def test_slow_async_host_call_counts_against_the_time_limit() -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    started = time.monotonic()
    result = await run("hang()", imports={"hang": hang}, limits=CodeLimits(seconds=0.5))
    assert result.status == "timeout"
    assert time.monotonic() - started < 1.0


async def test_host_call_flood_is_an_error() -> None:
    calls = 0

    def ping() -> int:
        nonlocal calls
        calls += 1
        return calls

    result = await run(
        "for (let i = 0; i < 100000; i++) { try { ping() } catch (e) {} }",
        imports={"ping": ping},
        limits=CodeLimits(host_calls=1000),
    )
    assert result.status == "error"
    assert "too many host calls" in (result.error or "")
    assert calls == 1000


async def test_reports_count_as_host_calls() -> None:
    result = await run("for (;;) report(1)", limits=CodeLimits(host_calls=5))
    assert result.status == "error"
    assert "too many host calls" in (result.error or "")
    assert result.reports == (1, 1, 1, 1, 1)


async def test_cancel_stops_an_infinite_loop_within_100_ms() -> None:
    process_started = asyncio.Event()
    spawned: list[asyncio.subprocess.Process] = []
    original = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        process = await original(*args, **kwargs)
        spawned.append(process)
        process_started.set()
        return process

    task = asyncio.create_task(run("while (true) {}", limits=CodeLimits(seconds=30)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio, "create_subprocess_exec", spy)
        await asyncio.wait_for(process_started.wait(), 5)
        await asyncio.sleep(0.2)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.1
    assert spawned[0].returncode is not None
