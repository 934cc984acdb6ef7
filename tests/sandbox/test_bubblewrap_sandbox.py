"""The bubblewrap sandbox: real CPython (and node) as uid 65534, and what it must not reach."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from threadline.sandbox import CodeJob, CodeLimits, CodeResult
from threadline.sandbox._bubblewrap import _RUN_UIDS, _RUN_UIDS_START, BubblewrapSandbox  # pyright: ignore[reportPrivateUsage]

_SANDBOX = BubblewrapSandbox()
_MISSING = _SANDBOX.missing()

if _MISSING is not None and os.environ.get("CI"):
    raise AssertionError(f"CI must run the bubblewrap sandbox, but it cannot run: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"bwrap cannot run here: {_MISSING}")


async def run(source: str, **kwargs: Any) -> CodeResult:
    return await _SANDBOX.run(CodeJob(source=source, language="python", **kwargs))


def _postgres_listening() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


def _sandbox_pids() -> set[int]:
    """Host pids running as a sandbox's uid (each run has a host uid of its own, from the
    range `_RUN_UIDS_START` starts)."""
    pids: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uid = int(uid_line.split()[1])
        if uid == 65534 or _RUN_UIDS_START <= uid < _RUN_UIDS_START + _RUN_UIDS:
            pids.add(int(entry))
    return pids


async def test_value_of_last_expression_and_stdout() -> None:
    result = await run("print('hello')\nx = 6 * 7\nx")
    assert result.status == "ok"
    assert result.value == 42
    assert result.stdout == "hello\n"
    assert result.backend == "bubblewrap"


async def test_execute_calls_the_function_with_args() -> None:
    result = await run(
        "def add(a, b):\n    return {'sum': a + b, 'raw': b'x'}", execute=("add", [2, 3])
    )
    assert result.status == "ok"
    assert result.value == {"sum": 5, "raw": b"x"}


async def test_execute_of_an_unknown_function_is_an_error() -> None:
    result = await run("x = 1", execute=("nope", []))
    assert result.status == "error"
    assert "no function 'nope'" in (result.error or "")


async def test_raised_exception_is_an_error_with_its_text() -> None:
    result = await run("def f():\n    raise ValueError('bad input')\nf()")
    assert result.status == "error"
    assert "ValueError: bad input" in (result.error or "")
    assert '"<code>", line 2' in (result.error or "")


async def test_async_and_sync_host_functions_return_values() -> None:
    async def fetch(key: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"key": key, "n": [1, 2]}

    def fail() -> None:
        raise LookupError("not here")

    result = await run(
        "a = fetch('k')\ntry:\n    fail()\nexcept Exception as e:\n    err = str(e)\n[a, err]",
        imports={"fetch": fetch, "fail": fail},
    )
    assert result.status == "ok"
    assert result.value == [{"key": "k", "n": [1, 2]}, "fail: LookupError: not here"]


async def test_reports_arrive_in_order() -> None:
    seen: list[Any] = []
    result = await run("for i in range(3):\n    report({'step': i})\n'done'", on_report=seen.append)
    assert result.status == "ok"
    assert result.reports == ({"step": 0}, {"step": 1}, {"step": 2})
    assert seen == list(result.reports)


async def test_modules_are_importable() -> None:
    result = await run(
        "import util\nfrom pkg import helpers\nutil.twice(helpers.N)",
        modules={"./util.py": "def twice(x):\n    return 2 * x\n", "./pkg/helpers.py": "N = 21\n"},
    )
    assert result.status == "ok"
    assert result.value == 42


async def test_module_path_outside_is_refused() -> None:
    result = await run("1", modules={"../evil.py": "x = 1"})
    assert result.status == "link_error"
    assert "relative path" in (result.error or "")


async def test_files_in_and_out() -> None:
    source = (
        "import os\n"
        "kept = open('keep.txt').read()\n"
        "open('change.txt', 'w').write('new')\n"
        "os.remove('gone.txt')\n"
        "os.makedirs('sub', exist_ok=True)\n"
        "open('sub/created.bin', 'wb').write(b'\\x00\\x01')\n"
        "kept"
    )
    files = {"keep.txt": b"same", "change.txt": b"old", "gone.txt": b"bye"}
    result = await run(source, files=files)
    assert result.status == "ok"
    assert result.value == "same"
    assert dict(result.files) == {
        "change.txt": b"new",
        "gone.txt": None,
        "sub/created.bin": b"\x00\x01",
    }


# Escapes


@pytest.mark.skipif(not _postgres_listening(), reason="nothing listens on 127.0.0.1:5432")
async def test_tcp_connect_to_host_is_refused() -> None:
    source = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 5432), timeout=2)\n"
        "    r = 'connected'\n"
        "except OSError as e:\n"
        "    r = type(e).__name__\n"
        "r"
    )
    result = await run(source)
    assert result.status == "ok"
    assert result.value in ("ConnectionRefusedError", "OSError")


@pytest.mark.skipif(not _postgres_listening(), reason="nothing listens on 127.0.0.1:5432")
async def test_bash_dev_tcp_is_refused() -> None:
    source = (
        "import subprocess\n"
        "p = subprocess.run(['bash', '-c', 'echo > /dev/tcp/127.0.0.1/5432 && echo OPEN'],"
        " capture_output=True, text=True)\n"
        "[p.returncode, p.stdout]"
    )
    result = await run(source)
    assert result.status == "ok"
    assert result.value[0] != 0
    assert "OPEN" not in result.value[1]


async def test_host_etc_passwd_is_not_readable() -> None:
    result = await run(
        "try:\n    r = open('/etc/passwd').read()\nexcept OSError as e:\n    r = type(e).__name__\nr"
    )
    assert result.status == "ok"
    assert "root:x:0:0" not in result.value
    assert result.value == "FileNotFoundError"


async def test_another_threads_file_is_not_readable(tmp_path: Path) -> None:
    secret = tmp_path / "other-thread.txt"
    secret.write_text("other thread's data")
    secret.chmod(0o644)
    result = await run(
        f"try:\n    r = open({str(secret)!r}).read()\nexcept OSError as e:\n    r = type(e).__name__\nr"
    )
    assert result.status == "ok"
    assert result.value in ("FileNotFoundError", "PermissionError")


@pytest.mark.parametrize("path", ["/usr/evil.txt", "/etc/evil.txt", "/evil.txt"])
async def test_writing_outside_work_fails(path: str) -> None:
    result = await run(
        f"try:\n    open({path!r}, 'w').write('x')\n    r = 'written'\nexcept OSError as e:\n    r = type(e).__name__\nr"
    )
    assert result.status == "ok"
    assert result.value != "written"
    assert not _exists(path)


async def test_symlink_in_work_leaks_nothing_and_overwrites_nothing(tmp_path: Path) -> None:
    target = tmp_path / "host-secret.txt"
    target.write_text("host secret")
    target.chmod(0o666)
    source = (
        "import os\n"
        f"os.symlink({str(target)!r}, 'link.txt')\n"
        "os.symlink('/etc/hostname', 'host.txt')\n"
        "os.remove('data.txt')\n"
        f"os.symlink({str(target)!r}, 'data.txt')\n"
        "try:\n"
        "    open('link.txt', 'w').write('overwritten')\n"
        "except OSError:\n"
        "    pass\n"
        "1"
    )
    result = await run(source, files={"data.txt": b"mine"})
    assert result.status == "ok"
    assert target.read_text() == "host secret"
    assert dict(result.files) == {"data.txt": None}
    assert all(b"secret" not in (c or b"") for c in result.files.values())


async def test_host_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_SECRET_PROBE", "s3cr3t-value")
    result = await run(
        "import os\n[os.environ.get('THREADLINE_SECRET_PROBE'), open('/proc/1/environ', 'rb').read()]"
    )
    assert result.status == "ok"
    assert result.value[0] is None
    assert b"THREADLINE_SECRET_PROBE" not in result.value[1]


async def test_runs_as_nobody_with_no_new_privs() -> None:
    result = await run(
        "import os\nstatus = open('/proc/self/status').read()\n[os.getuid(), 'NoNewPrivs:\\t1' in status]"
    )
    assert result.status == "ok"
    assert result.value == [65534, True]


async def test_nested_user_namespace_is_refused() -> None:
    source = (
        "import subprocess\n"
        "p = subprocess.run(['unshare', '-U', 'true'], capture_output=True, text=True)\n"
        "[p.returncode, p.stderr]"
    )
    result = await run(source)
    assert result.status == "ok"
    assert result.value[0] != 0


async def test_fork_bomb_is_stopped() -> None:
    before = _sandbox_pids()
    source = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    )
    started = time.monotonic()
    result = await run(source, limits=CodeLimits(seconds=3))
    assert result.status in ("error", "timeout")
    assert time.monotonic() - started < 10
    assert not _still_running(lambda: _sandbox_pids() - before, seconds=2)


async def test_memory_bomb_is_memory() -> None:
    result = await run("x = bytearray(1 << 30)\nlen(x)")
    assert result.status == "memory"
    assert "memory" in (result.error or "")


async def test_infinite_loop_is_timeout() -> None:
    started = time.monotonic()
    result = await run("while True:\n    pass", limits=CodeLimits(seconds=1))
    assert result.status == "timeout"
    assert "1 s" in (result.error or "")
    assert time.monotonic() - started < 3


async def test_huge_output_stops_at_output_limit() -> None:
    started = time.monotonic()
    limit = 1 << 20
    source = (
        "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)"
    )
    result = await run(source, limits=CodeLimits(output_bytes=limit))
    assert result.status == "error"
    assert "output limit" in (result.error or "")
    assert len(result.stdout) == limit
    assert time.monotonic() - started < 5


async def test_host_call_flood_is_an_error() -> None:
    result = await run("while True:\n    report(1)", limits=CodeLimits(host_calls=100))
    assert result.status == "error"
    assert "too many host calls" in (result.error or "")
    assert len(result.reports) == 100


async def test_oversized_message_is_an_error() -> None:
    result = await run("report('x' * (2 << 20))")
    assert result.status == "error"
    assert "exceeded" in (result.error or "")


async def test_cancel_stops_the_run_promptly_and_leaves_no_process() -> None:
    before = _sandbox_pids()
    started = asyncio.Event()

    def ready() -> None:
        started.set()

    task = asyncio.create_task(run("ready()\nwhile True:\n    pass", imports={"ready": ready}))
    await asyncio.wait_for(started.wait(), 10)
    running = _sandbox_pids() - before
    assert running
    (pgid,) = [pid for pid in running if _ppid(pid) == os.getpid()]
    assert os.getpgid(pgid) == pgid
    t0 = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - t0 < 0.1
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert not _still_running(lambda: running, seconds=1)


def _exists(path: str) -> bool:
    return Path(path).exists()


def _still_running(pids: Callable[[], set[int]], *, seconds: float) -> set[int]:
    """The pids still running after up to `seconds` (their ends are not awaited by the host)."""
    deadline = time.monotonic() + seconds
    while (alive := _alive(pids())) and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _alive(pids: set[int]) -> set[int]:
    """The pids that still run (a zombie waiting for the host's init to reap it runs nothing)."""
    alive: set[int] = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


# JavaScript (node)

_NODE = pytest.mark.skipif("js" not in _SANDBOX.languages, reason="no node binary on this host")


async def run_js(source: str, **kwargs: Any) -> CodeResult:
    return await _SANDBOX.run(CodeJob(source=source, language="js", **kwargs))


@_NODE
async def test_js_default_export_host_function_report_and_module() -> None:
    async def double(x: int) -> int:
        return 2 * x

    seen: list[Any] = []
    source = (
        "import { k } from './util.js';\n"
        "console.log('hi');\n"
        "await report({ step: 1 });\n"
        "export default (await double(20)) + k;\n"
    )
    result = await run_js(
        source,
        imports={"double": double},
        modules={"./util.js": "export const k = 2;"},
        on_report=seen.append,
    )
    assert result.status == "ok"
    assert result.value == 42
    assert result.stdout == "hi\n"
    assert result.reports == ({"step": 1},)
    assert seen == [{"step": 1}]


@_NODE
async def test_js_execute_and_error() -> None:
    result = await run_js(
        "export function f(a) { return [a, new Uint8Array([1, 2])]; }", execute=("f", [5])
    )
    assert result.status == "ok"
    assert result.value == [5, b"\x01\x02"]
    failed = await run_js("throw new TypeError('bad js');")
    assert failed.status == "error"
    assert "TypeError: bad js" in (failed.error or "")


@_NODE
async def test_js_sees_no_host_env_nor_host_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_SECRET_PROBE", "s3cr3t-value")
    source = (
        "import fs from 'node:fs';\n"
        "let passwd;\n"
        "try { passwd = fs.readFileSync('/etc/passwd', 'utf8'); } catch (e) { passwd = e.code; }\n"
        "export default [process.env.THREADLINE_SECRET_PROBE ?? null, passwd];\n"
    )
    result = await run_js(source)
    assert result.status == "ok"
    assert result.value == [None, "ENOENT"]


@_NODE
@pytest.mark.skipif(not _postgres_listening(), reason="nothing listens on 127.0.0.1:5432")
async def test_js_tcp_connect_is_refused() -> None:
    source = (
        "import net from 'node:net';\n"
        "export default await new Promise((resolve) => {\n"
        "  const s = net.connect(5432, '127.0.0.1', () => resolve('connected'));\n"
        "  s.on('error', (e) => resolve(e.code));\n"
        "});\n"
    )
    result = await run_js(source)
    assert result.status == "ok"
    assert result.value in ("ECONNREFUSED", "ENETUNREACH")


@_NODE
async def test_js_memory_bomb_and_infinite_loop() -> None:
    bomb = await run_js("const a = []; while (true) a.push(new Array(1e6).fill(1));")
    assert bomb.status == "memory"
    loop = await run_js("while (true) {}", limits=CodeLimits(seconds=1))
    assert loop.status == "timeout"


async def test_many_runs_in_a_row_each_get_their_own_process_limit() -> None:
    # What a run leaves for the host's init to reap must not count against the next run.
    results = [await run(f"{n} * 2") for n in range(50)]

    assert [r.status for r in results] == ["ok"] * 50
    assert [r.value for r in results] == [n * 2 for n in range(50)]
