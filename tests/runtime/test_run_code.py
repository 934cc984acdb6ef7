"""`run_code` from a tool: the code reaches only what it is given, runs as a durable step of the
tool, streams what it reports, and stops when asked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

import threadline as tl
from threadline.testing import tool_call
from threadline.types import ToolCall, ToolResult


async def test_code_calls_an_async_host_function_and_reports_as_it_runs(make_app: Any) -> None:
    seen: list[Any] = []

    async def lookup(city: str) -> int:
        await asyncio.sleep(0.01)
        return {"Paris": 18, "Oslo": 4}[city]

    @tl.tool
    async def analyse(source: str, thread: tl.ThreadState[Any]) -> Any:
        """Run analysis code."""
        result = await thread.run_code(source, imports={"lookup": lookup}, report=seen.append)
        return result.to_dict()

    source = (
        "temps = [await lookup(c) for c in ['Paris', 'Oslo']]\n"
        "report({'done': len(temps)})\n"
        "print('mean', sum(temps) / len(temps))\n"
        "max(temps)"
    )
    app, _ = await make_app(
        [tool_call("analyse", {"source": source}), "The warmest is 18."], tools=[analyse]
    )
    thread = await app.threads.start()
    reports: list[Any] = []
    stream = thread.run_streamed("analyse")
    async for event in stream:
        if event.type == "system_event" and event.params.get("phase") == "code_report":
            reports.append(event.params["data"]["value"])
    result = stream.result

    outputs = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
    step, answer = outputs  # the code step (nested), then the tool's own result
    assert (step.name, step.parent_call_id) == ("run_code", answer.tool_call_id)
    code = orjson.loads(answer.output)
    assert (code["status"], code["value"], code["backend"]) == ("ok", 18, "monty")
    assert code["stdout"] == "mean 11.0\n"
    assert code["reports"] == [{"done": 2}]
    assert seen == reports == [{"done": 2}]
    (call,) = [
        i.payload
        for i in result.items
        if isinstance(i.payload, ToolCall) and i.payload.name == "run_code"
    ]
    assert orjson.loads(call.arguments)["source"] == source  # what ran is on record


async def test_terminate_stops_a_running_loop_at_once(make_app: Any) -> None:
    timings: list[float] = []

    @tl.tool
    async def spin(thread: tl.ThreadState[Any]) -> str:
        """Run a loop that never ends, then stop it."""
        run = thread.run_code("while True:\n    pass")
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        run.terminate("enough")
        result = await run
        timings.append(time.perf_counter() - started)
        return f"{result.status}: {result.error}"

    app, _ = await make_app([tool_call("spin", {}), "Stopped."], tools=[spin])
    thread = await app.threads.start()
    result = await thread.run("spin")

    assert [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)][-1] == (
        "terminated: enough"
    )
    assert timings[0] < 0.1


@pytest.mark.parametrize(
    ("source", "limits", "status", "error"),
    [
        ("while True:\n    pass", tl.CodeLimits(seconds=0.5), "timeout", "ran past"),
        ("x = [0] * (500 * 1024 * 1024)", tl.CodeLimits(memory_bytes=32 << 20), "memory", ""),
        ("open('/etc/passwd').read()", tl.CodeLimits(), "error", "PermissionError"),
        ("import os\nos.getenv('HOME')", tl.CodeLimits(), "error", "not supported"),
        ("import socket", tl.CodeLimits(), "error", "socket"),
        ("import subprocess", tl.CodeLimits(), "error", "subprocess"),
        ("for i in range(10**7):\n    report(i)", tl.CodeLimits(host_calls=50), "error", "host"),
        (
            "for i in range(10**7):\n    print('x' * 1000)",
            tl.CodeLimits(output_bytes=4096),
            "error",
            "output",
        ),
    ],
)
async def test_what_the_python_sandbox_stops(
    make_app: Any, source: str, limits: tl.CodeLimits, status: str, error: str
) -> None:
    @tl.tool
    async def attempt(thread: tl.ThreadState[Any]) -> Any:
        """Run the attempt."""
        return (await thread.run_code(source, limits=limits)).to_dict()

    app, _ = await make_app([tool_call("attempt", {}), "ok"], tools=[attempt])
    thread = await app.threads.start()
    result = await thread.run("try")

    code = orjson.loads(
        [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)][-1]
    )
    assert code["status"] == status
    assert error in (code["error"] or "")
    assert len(code["stdout"].encode()) <= limits.output_bytes


async def test_a_secret_of_the_host_is_not_in_the_sandbox(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_SECRET_PROBE", "s3cr3t-value")

    @tl.tool
    async def probe(thread: tl.ThreadState[Any]) -> Any:
        """Look for the host's environment."""
        run = thread.run_code("import os\nos.environ.get('THREADLINE_SECRET_PROBE')")
        return (await run).to_dict()

    app, _ = await make_app([tool_call("probe", {}), "ok"], tools=[probe])
    thread = await app.threads.start()
    await thread.run("probe")

    assert "s3cr3t-value" not in orjson.dumps([i.to_dict() for i in await thread.items()]).decode()


async def test_bad_arguments_are_refused_before_anything_runs(make_app: Any) -> None:
    problems: list[str] = []

    @tl.tool
    async def misuse(thread: tl.ThreadState[Any]) -> str:
        """Call run_code wrongly."""
        for attempt in (
            lambda: thread.run_code("1", language="cobol"),  # type: ignore[arg-type]
            lambda: thread.run_code("1", backend="docker"),  # type: ignore[arg-type]
            lambda: thread.run_code("1", imports={"report": print}),
            lambda: thread.run_code("1", modules={"/etc/util.py": ""}),
        ):
            try:
                attempt()
            except (tl.ConfigurationError, tl.InvalidInputError) as exc:
                problems.append(type(exc).__name__)
        return "checked"

    app, _ = await make_app([tool_call("misuse", {}), "ok"], tools=[misuse])
    thread = await app.threads.start()
    result = await thread.run("go")

    assert problems == [
        "ConfigurationError",
        "ConfigurationError",
        "InvalidInputError",
        "InvalidInputError",
    ]
    assert not [i for i in result.items if getattr(i.payload, "name", None) == "run_code"]


async def test_a_model_writes_and_runs_code_with_the_code_tool(make_app: Any) -> None:
    def rows() -> list[dict[str, Any]]:
        return [{"city": "Paris", "sales": 3}, {"city": "Oslo", "sales": 5}]

    tool = tl.code_tool(imports={"rows": rows})
    assert "rows" in tool.description and tool.name == "run_code"
    source = "sum(r['sales'] for r in rows())"
    app, _ = await make_app([tool_call("run_code", {"source": source}), "8 in all."], tools=[tool])
    thread = await app.threads.start()
    result = await thread.run("total sales?")

    answer = [i.payload for i in result.items if isinstance(i.payload, ToolResult)][-1]
    assert orjson.loads(answer.output)["value"] == 8
    assert result.text == "8 in all."
    with pytest.raises(tl.ConfigurationError):
        tl.code_tool(language="cobol")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "source"),
    [
        ("js", "const t = await total(['tea', 'cake']);\nreport(t);\nexport default t * 2;"),
        (
            "ts",
            "const t: number = await total(['tea', 'cake']);\nreport(t);\nexport default t * 2;",
        ),
    ],
)
async def test_javascript_and_typescript_run_the_same_way(
    make_app: Any, language: str, source: str
) -> None:
    async def total(items: list[str]) -> int:
        return len(items) * 10

    @tl.tool
    async def script(thread: tl.ThreadState[Any]) -> Any:
        """Run a script."""
        run = thread.run_code(source, language=language, imports={"total": total})  # type: ignore[arg-type]
        return (await run).to_dict()

    app, _ = await make_app([tool_call("script", {}), "ok"], tools=[script])
    thread = await app.threads.start()
    result = await thread.run("go")

    code = orjson.loads(
        [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)][-1]
    )
    assert (code["status"], code["value"], code["reports"], code["backend"]) == (
        "ok",
        40,
        [20],
        "quickjs",
    )


async def test_a_secret_bridged_in_is_redacted_from_all_the_run_leaves(make_app: Any) -> None:
    import uuid

    from threadline._redaction import register_secret

    secret = f"~s3cr3t-{uuid.uuid4().hex}"
    register_secret("API_TOKEN", secret)

    def token() -> str:
        return secret

    @tl.tool
    async def leak(thread: tl.ThreadState[Any]) -> Any:
        """Try to leak the token."""
        run = thread.run_code("t = token()\nprint(t)\nreport(t)\nt", imports={"token": token})
        return (await run).to_dict()

    app, _ = await make_app([tool_call("leak", {}), "ok"], tools=[leak])
    thread = await app.threads.start()
    events = [e async for e in thread.run_streamed("leak")]

    stored = orjson.dumps([i.to_dict() for i in await thread.items()]).decode()
    streamed = orjson.dumps([e.to_dict() for e in events]).decode()
    logged = orjson.dumps([e.to_dict() for e in await thread.events()]).decode()
    for text in (stored, streamed, logged):
        assert secret not in text
        assert "[redacted:API_TOKEN]" in text


async def test_bubblewrap_runs_real_python_on_the_threads_files(make_app: Any) -> None:
    @tl.tool
    async def crunch(thread: tl.ThreadState[Any]) -> Any:
        """Sum the numbers file into a report file."""
        source = (
            "import statistics\n"
            "from helpers import parse\n"
            "numbers = parse(open('/work/numbers.txt').read())\n"
            "open('/work/report.txt', 'w').write(str(statistics.mean(numbers)))\n"
            "len(numbers)"
        )
        run = thread.run_code(
            source,
            modules={"./helpers.py": "def parse(text):\n    return [int(x) for x in text.split()]"},
            backend="bubblewrap",
        )
        return (await run).to_dict()

    app, _ = await make_app([tool_call("crunch", {}), "Done."], tools=[crunch])
    thread = await app.threads.start()
    await thread.write_file("numbers.txt", b"1 2 3 4")
    result = await thread.run("crunch")

    code = orjson.loads(
        [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)][-1]
    )
    assert (code["status"], code["value"], code["backend"]) == ("ok", 4, "bubblewrap")
    assert await thread.read_file("report.txt") == b"2.5"  # stored with the tool's result
