"""JavaScript and TypeScript in QuickJS (jsbox), run in a child process the host can kill.

jsbox checks its deadline inside the interpreter loop, so a running script blocks the event loop
and cannot be cancelled; one long native operation can even overshoot the deadline. Each run
therefore gets its own Python process (isolated mode, empty environment) holding one jsbox
Runtime; host functions, reports and console lines cross a pipe as length-prefixed pickles.
Cancelling or a missed deadline kills the process.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import struct
import sys
from collections.abc import Mapping
from typing import Any

from ._types import CodeJob, CodeLanguage, CodeResult, CodeStatus

_GRACE_SECONDS = 0.25
"""How long past `limits.seconds` the host waits for the worker's own timeout before killing it."""

_FRAME = struct.Struct(">I")

_WORKER = r'''
import asyncio, json, os, pickle, re, resource, struct, sys
from jsbox import JavaScriptError, JsTimeoutError, Runtime

FRAME = struct.Struct(">I")
MAIN = "<main>"
IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
MODULE_SYNTAX = re.compile(r"^\s*(import\s*[\w{*'\"]|export\s)", re.MULTILINE)


class Stop(BaseException):
    """Ends the script; a guest's try/catch cannot catch it."""


class HostFunctionError(Exception):
    pass


def send(message):
    data = pickle.dumps(message)
    view = memoryview(FRAME.pack(len(data)) + data)
    while view:
        view = view[os.write(1, view):]


inbox = bytearray()
results = {}
waiting = {}


def pump():
    chunk = os.read(0, 1 << 16)
    if not chunk:
        os._exit(0)
    inbox.extend(chunk)
    while len(inbox) >= FRAME.size:
        (size,) = FRAME.unpack(inbox[: FRAME.size])
        if len(inbox) < FRAME.size + size:
            break
        message = pickle.loads(bytes(inbox[FRAME.size : FRAME.size + size]))
        del inbox[: FRAME.size + size]
        _, call_id, ok, value = message
        future = waiting.pop(call_id, None)
        if future is None:
            results[call_id] = (ok, value)
        elif not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(HostFunctionError(value))


def receive_plan():
    header = b""
    while len(header) < FRAME.size:
        header += os.read(0, FRAME.size - len(header)) or os._exit(0)
    (size,) = FRAME.unpack(header)
    data = bytearray()
    while len(data) < size:
        data.extend(os.read(0, size - len(data)) or os._exit(0))
    return pickle.loads(bytes(data))


def peak_rss():
    # VmHWM starts afresh at exec; ru_maxrss would carry the launcher's peak over.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def text_of(value):
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return "Uint8Array(%d)" % len(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def main():
    plan = receive_plan()
    limits = plan["limits"]
    state = {"calls": 0, "output": 0, "next_id": 0}
    rss_before = peak_rss()

    def count_call():
        state["calls"] += 1
        if state["calls"] > limits["host_calls"]:
            raise Stop("too many host calls: the limit is %d" % limits["host_calls"])

    def on_console(level, args):
        line = " ".join(text_of(arg) for arg in args) + "\n"
        data = line.encode("utf-8", "replace")
        room = limits["output_bytes"] - state["output"]
        if len(data) > room:
            kept = data[:room].decode("utf-8", "ignore")
            if kept:
                send(("stdout", kept))
            send(("done", "error", None, "output limit: the code printed more than %d bytes" % limits["output_bytes"]))
            os._exit(0)
        state["output"] += len(data)
        send(("stdout", line))

    def sync_proxy(name):
        def call(*args):
            count_call()
            call_id = state["next_id"] = state["next_id"] + 1
            send(("call", call_id, name, list(args)))
            while call_id not in results:
                pump()
            ok, value = results.pop(call_id)
            if not ok:
                raise HostFunctionError(value)
            return value
        return call

    def async_proxy(name):
        async def call(*args):
            count_call()
            call_id = state["next_id"] = state["next_id"] + 1
            future = asyncio.get_running_loop().create_future()
            waiting[call_id] = future
            send(("call", call_id, name, list(args)))
            return await future
        return call

    def report(value=None):
        count_call()
        send(("report", value))

    rt = Runtime(memory_limit=limits["memory_bytes"], on_console=on_console, lossy=True)
    for name, is_async in plan["imports"]:
        rt.bind_function(name, async_proxy(name) if is_async else sync_proxy(name))
    rt.bind_function("report", report)
    for key, source in plan["modules"].items():
        rt.add_static_module(key, source)

    async def run():
        asyncio.get_running_loop().add_reader(0, pump)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits["seconds"]
        source = plan["source"]
        module = MODULE_SYNTAX.search(source) is not None
        if not module:
            try:
                rt.check_syntax(source)
            except JavaScriptError:
                try:
                    rt.check_syntax(source, module=True)
                except JavaScriptError:
                    pass
                else:
                    module = True
        execute = plan["execute"]
        if execute is not None:
            rt.bind_object("__threadline_args", execute[1])
        take_args = "const args = globalThis.__threadline_args; delete globalThis.__threadline_args;"
        if module:
            rt.add_static_module(MAIN, source)
            if execute is None:
                code = "import(%s).then(ns => ns.default)" % json.dumps(MAIN)
            else:
                code = (
                    "(async () => { %s const ns = await import(%s); const f = ns[%s];"
                    " if (typeof f !== 'function') throw new TypeError(%s);"
                    " return await f(...args); })()"
                    % (take_args, json.dumps(MAIN), json.dumps(execute[0]), json.dumps("the module exports no function named " + execute[0]))
                )
            return await rt.eval_async(code, timeout=limits["seconds"])
        value = await rt.eval_async(source, timeout=limits["seconds"])
        if execute is None:
            return value
        if not IDENTIFIER.match(execute[0]):
            raise Stop("cannot execute %r: not a JavaScript identifier" % execute[0])
        code = (
            "(async () => { %s const target = typeof %s === 'function' ? %s : undefined;"
            " if (target === undefined) throw new TypeError(%s); return await target(...args); })()"
            % (take_args, execute[0], execute[0], json.dumps("the code defines no function named " + execute[0]))
        )
        return await rt.eval_async(code, timeout=max(deadline - loop.time(), 0.001))

    try:
        value = asyncio.run(run())
    except JsTimeoutError:
        send(("done", "timeout", None, "the code ran longer than %g seconds" % limits["seconds"]))
    except JavaScriptError as error:
        text = str(error).strip()
        rss_growth = peak_rss() - rss_before
        if "out of memory" in text or (error.name is None and text == "null" and rss_growth * 4 >= limits["memory_bytes"]):
            send(("done", "memory", None, "out of memory: the code used more than %d bytes" % limits["memory_bytes"]))
        elif text.startswith("module not found:"):
            send(("done", "link_error", None, text + " (only the modules given can be imported)"))
        else:
            send(("done", "error", None, "%s: %s" % (error.name, text) if error.name else "Uncaught " + text))
    except (Stop, HostFunctionError) as error:
        send(("done", "error", None, str(error)))
    except MemoryError:
        send(("done", "memory", None, "out of memory: the code used more than %d bytes" % limits["memory_bytes"]))
    except (TypeError, ValueError, RuntimeError) as error:
        send(("done", "error", None, "%s: %s" % (type(error).__name__, error)))
    else:
        send(("done", "ok", value, None))


try:
    main()
except BaseException as error:
    send(("done", "error", None, "the JavaScript worker failed: %r" % (error,)))
'''


class JavaScriptSandbox:
    """Runs JavaScript and TypeScript in QuickJS (jsbox), one killable process per run.

    The code sees the ECMAScript built-ins, `console` (its lines are the run's stdout), the
    `job.imports` as global functions (async ones return Promises), `report(value)`, and the
    `job.modules` by their exact keys (`import {f} from "./util.js"`). A source with `import` or
    `export` statements is a module: its value is the `default` export, and `job.execute` names an
    export. Otherwise it is a script whose last expression is the value, and `job.execute` names
    a global function.

        result = await JavaScriptSandbox().run(CodeJob(source="1 + 2", language="js"))
        assert result.value == 3
    """

    @property
    def name(self) -> str:
        return "quickjs"

    @property
    def languages(self) -> frozenset[CodeLanguage]:
        return frozenset({"js", "ts"})

    def missing(self) -> str | None:
        try:
            import jsbox  # noqa: F401  # pyright: ignore[reportUnusedImport]
        except ImportError as error:
            return f"jsbox cannot be imported: {error}"
        return None

    async def run(self, job: CodeJob) -> CodeResult:
        missing = self.missing()
        if missing is not None:
            return self._result("link_error", error=missing)
        try:
            source, modules = await _prepare_sources(job)
        except _SourceError as error:
            return self._result(error.status, error=str(error))
        plan: dict[str, Any] = {
            "source": source,
            "modules": modules,
            "execute": None if job.execute is None else (job.execute[0], list(job.execute[1])),
            "imports": [(name, _is_async(function)) for name, function in job.imports.items()],
            "limits": {
                "memory_bytes": job.limits.memory_bytes,
                "seconds": job.limits.seconds,
                "output_bytes": job.limits.output_bytes,
                "host_calls": job.limits.host_calls,
            },
        }
        return await _Run(job, self.name).run(plan)

    def _result(self, status: CodeStatus, *, error: str) -> CodeResult:
        return CodeResult(status=status, error=error, backend=self.name)


class _SourceError(Exception):
    def __init__(self, status: CodeStatus, message: str) -> None:
        super().__init__(message)
        self.status: CodeStatus = status


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        type(function).__call__
    )


async def _prepare_sources(job: CodeJob) -> tuple[str, dict[str, str]]:
    """The main source and the modules by import name, TypeScript stripped."""
    modules: dict[str, str] = {}
    for key, text in job.modules.items():
        if not key.startswith("./"):
            raise _SourceError("link_error", f"module {key!r}: module names start with './'")
        if key.endswith(".ts"):
            text = await _strip_types(key, text)
            stem = key[: -len(".ts")]
            for alias in (stem, stem + ".js"):
                if alias not in job.modules:
                    modules[alias] = text
        modules[key] = text
    source = job.source
    if job.language == "ts":
        source = await _strip_types("main.ts", source)
    return source, modules


async def _strip_types(name: str, source: str) -> str:
    try:
        from quickjs_rs import transform_source
    except ImportError as error:
        raise _SourceError("link_error", f"TypeScript needs quickjs-rs: {error}") from None
    try:
        return await asyncio.to_thread(transform_source, name, source)
    except Exception as error:
        raise _SourceError("error", f"TypeScript: {error}") from None


class _Run:
    """One run: the worker process, its messages, and what they add up to."""

    def __init__(self, job: CodeJob, backend: str) -> None:
        self.job = job
        self.backend = backend
        self.stdout: list[str] = []
        self.reports: list[Any] = []
        self.calls: set[asyncio.Task[None]] = set()

    async def run(self, plan: Mapping[str, Any]) -> CodeResult:
        boot = f"import sys; sys.path.insert(0, {_jsbox_path()!r})\n" + _WORKER
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            boot,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={},
        )
        try:
            self._send(process, plan)
            async with asyncio.timeout(self.job.limits.seconds + _GRACE_SECONDS):
                return await self._serve(process)
        except TimeoutError:
            seconds = self.job.limits.seconds
            return self._result("timeout", error=f"the code ran longer than {seconds:g} seconds")
        finally:
            for call in self.calls:
                call.cancel()
            if process.returncode is None:
                process.kill()
            await process.wait()

    async def _serve(self, process: asyncio.subprocess.Process) -> CodeResult:
        assert process.stdout is not None
        while True:
            try:
                header = await process.stdout.readexactly(_FRAME.size)
                message = pickle.loads(await process.stdout.readexactly(_FRAME.unpack(header)[0]))
            except asyncio.IncompleteReadError:
                code = await process.wait()
                return self._result("error", error=f"the JavaScript worker died (exit code {code})")
            kind = message[0]
            if kind == "stdout":
                self.stdout.append(message[1])
            elif kind == "report":
                self.reports.append(message[1])
                if self.job.on_report is not None:
                    self.job.on_report(message[1])
            elif kind == "call":
                self._call(process, message[1], message[2], message[3])
            else:
                _, status, value, error = message
                return self._result(status, value=value, error=error)

    def _call(
        self, process: asyncio.subprocess.Process, call_id: int, name: str, args: list[Any]
    ) -> None:
        function = self.job.imports[name]
        if not _is_async(function):
            try:
                reply = (call_id, True, function(*args))
            except Exception as error:
                reply = (call_id, False, _host_error(name, error))
            self._send(process, ("result", *reply))
            return

        async def call() -> None:
            try:
                reply = (call_id, True, await function(*args))
            except Exception as error:
                reply = (call_id, False, _host_error(name, error))
            self._send(process, ("result", *reply))

        task = asyncio.create_task(call())
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    def _send(self, process: asyncio.subprocess.Process, message: Any) -> None:
        assert process.stdin is not None
        if process.stdin.is_closing():
            return
        data = pickle.dumps(message)
        process.stdin.write(_FRAME.pack(len(data)) + data)

    def _result(self, status: CodeStatus, *, value: Any = None, error: str | None) -> CodeResult:
        return CodeResult(
            status=status,
            value=value,
            error=error,
            stdout="".join(self.stdout),
            reports=tuple(self.reports),
            backend=self.backend,
        )


def _jsbox_path() -> str:
    import jsbox

    return os.path.dirname(os.path.dirname(os.path.abspath(jsbox.__file__)))


def _host_error(name: str, error: Exception) -> str:
    return f"host function {name!r} raised {type(error).__name__}: {error}"
