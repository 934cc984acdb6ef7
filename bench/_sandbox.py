"""The `sandbox` phase: what a `run_code` costs on each backend that runs here.

- start-up: a run of a trivial program (`1`), from the call to its result, median;
- per host call: a run making 1,000 calls of a host function, less a trivial run, over 1,000.

The reference is the cheapest way to run code out of process at all: `python3 -I -c pass`
as a subprocess (no isolation), measured in the same run."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

CALLS = 1000
_PROGRAMS = {
    "python": ("1", f"for i in range({CALLS}):\n    ping()\n1"),
    "js": ("1", f"for (let i = 0; i < {CALLS}; i++) {{ ping(); }} 1"),
}


@dataclass(frozen=True)
class SandboxWorkload:
    runs: int = 20

    @classmethod
    def quick(cls) -> SandboxWorkload:
        return cls(runs=5)


async def _timed(sandbox: Any, language: str, source: str) -> float:
    from threadline.sandbox import CodeJob

    job = CodeJob(source=source, language=language, imports={"ping": lambda: None})  # type: ignore[arg-type]
    started = time.perf_counter()
    result = await sandbox.run(job)
    elapsed = (time.perf_counter() - started) * 1000
    assert result.status == "ok", (sandbox.name, result)
    return elapsed


async def _subprocess_ms() -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(sys.executable, "-I", "-c", "pass")
    await process.wait()
    return (time.perf_counter() - started) * 1000


async def run(workload: SandboxWorkload) -> dict[str, Any]:
    from threadline.sandbox._choice import sandbox

    reference = statistics.median([await _subprocess_ms() for _ in range(workload.runs)])
    found: dict[str, Any] = {"reference_ms": reference, "backends": {}}
    for name, languages in (("monty", ["python"]), ("quickjs", ["js"]), ("bubblewrap", ["python"])):
        box = sandbox(name)
        missing = box.missing()
        if missing is not None:
            found["backends"][name] = {"missing": missing}
            continue
        for language in languages:
            trivial, calling = _PROGRAMS[language]
            await _timed(box, language, trivial)  # warm up: a pool, a first import
            starts = [await _timed(box, language, trivial) for _ in range(workload.runs)]
            calls = [await _timed(box, language, calling) for _ in range(workload.runs)]
            start = statistics.median(starts)
            per_call_us = max(0.0, (statistics.median(calls) - start) / CALLS * 1000)
            found["backends"][f"{name} ({language})"] = {
                "start_ms": start,
                "per_call_us": per_call_us,
                "vs_subprocess": start / reference,
            }
    return found


def render(result: dict[str, Any]) -> str:
    lines = [
        "Sandboxes: a trivial run (start-up) and a host call, median; reference: "
        f"`python -I -c pass` as a subprocess, {result['reference_ms']:.1f} ms"
    ]
    for name, figures in result["backends"].items():
        if "missing" in figures:
            lines.append(f"  {name:<22} cannot run here: {figures['missing']}")
            continue
        lines.append(
            f"  {name:<22} start {figures['start_ms']:7.2f} ms ({figures['vs_subprocess']:.2f}x "
            f"the subprocess) · {figures['per_call_us']:7.1f} µs per host call"
        )
    return "\n".join(lines)
