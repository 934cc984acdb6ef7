"""python -m bench [--quick | --threads N --turns M] [--only NAMES] [--phases NAMES] [--profile]

The `postgres` phase (not run by default; `--phases postgres`) needs a PostgreSQL server
(--pg-url, or BENCH_PG_URL): threadline and LangGraph on it, and threadline's worker processes.
The `serve` phase (not run by default; `--phases serve`) drives `threadline serve` and a bare
Starlette SSE server with concurrent streaming requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import _workload as w
from ._report import Report

FRAMEWORKS = (
    "threadline",
    "threadline-normal",
    "langgraph",
    "agents-sdk",
    "pydantic-ai",
    "baseline",
)
RESULTS = Path(__file__).parent / "results"
POSTGRES = "postgres"  # a phase of its own: not per framework, not in the default set
LOCAL_MODEL = "local-model"  # a phase of its own: the worker process against in-process
SERVE = "serve"  # a phase of its own, not in the default set: the HTTP server's streaming
SUBAGENTS = "subagents"  # a phase of its own: delegating turns, threadline and the Agents SDK
SANDBOX = "sandbox"  # a phase of its own: run_code's start-up and host-call cost per backend
STATELESS = "stateless"  # a phase of its own: run_agent against Runner.run, no session
TRACING = "tracing"  # a phase of its own: a turn with spans off, stored, and exported


def _framework(key: str) -> w.Framework:
    if key == "threadline":
        from ._threadline import framework

        return framework("FULL")
    if key == "threadline-normal":
        from ._threadline import framework

        return framework("NORMAL")
    if key == "baseline":
        from ._baseline import framework

        return framework()
    names = {
        "langgraph": "LangGraph",
        "agents-sdk": "OpenAI Agents SDK",
        "pydantic-ai": "Pydantic AI",
    }
    try:
        if key == "langgraph":
            from ._langgraph import _lib, framework
        elif key == "agents-sdk":
            from ._agents_sdk import _lib, framework
        else:
            from ._pydantic_ai import _lib, framework
        _lib()  # import the package now, so that a missing one is reported here
        return framework()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"

        def unavailable(path: Path) -> Any:
            raise RuntimeError(f"unavailable: {reason}")

        return w.Framework(name=names[key], factory=unavailable, notes=(f"unavailable: {reason}",))


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--threads", type=int, help="N threads (default 200; --quick: 20)")
    p.add_argument("--turns", type=int, help="M turns per thread (default 5; --quick: 3)")
    p.add_argument("--quick", action="store_true", help="N=20, M=3, fewer samples")
    p.add_argument(
        "--only",
        default=",".join(FRAMEWORKS),
        help=f"comma-separated subset of {','.join(FRAMEWORKS)}",
    )
    p.add_argument(
        "--phases",
        default=",".join([*w.PHASES, LOCAL_MODEL, SUBAGENTS, SANDBOX, STATELESS, TRACING]),
        help=f"comma-separated subset of "
        f"{','.join([*w.PHASES, LOCAL_MODEL, SUBAGENTS, SANDBOX, STATELESS, TRACING, POSTGRES, SERVE])} "
        f"(default: all but {POSTGRES} and {SERVE})",
    )
    pg = p.add_argument_group("the postgres phase")
    pg.add_argument(
        "--pg-url",
        help="PostgreSQL server (default $BENCH_PG_URL or postgresql://postgres@127.0.0.1:5432/"
        "test); each run uses a schema of its own and drops it",
    )
    pg.add_argument(
        "--workers",
        default="1,2,4",
        help="worker process counts to measure (default 1,2,4)",
    )
    pg.add_argument(
        "--worker-concurrency",
        type=int,
        help="turns each worker process runs at once (default 16)",
    )
    pg.add_argument(
        "--pg-threads",
        type=int,
        help="threads the API process runs at once with workers (default 100; --quick: 30)",
    )
    pg.add_argument(
        "--pg-turns",
        type=int,
        help="turns per thread with workers (default 3; --quick: 2)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the results (default bench/results/latest.json)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary databases")
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile threadline's sequential turns instead of comparing",
    )
    p.add_argument(
        "--synchronous",
        default="FULL",
        choices=["FULL", "NORMAL"],
        help="with --profile: threadline's synchronous setting",
    )
    return p.parse_args(argv)


def _postgres(args: argparse.Namespace, wl: w.Workload, keys: list[str]) -> dict[str, Any]:
    from . import _pg
    from ._postgres import run
    from ._workers import PgWorkload

    pw = PgWorkload.quick() if args.quick else PgWorkload()
    pw = replace(pw, workers=tuple(int(n) for n in args.workers.split(",") if n.strip()))
    for field, value in (
        ("concurrency", args.worker_concurrency),
        ("threads", args.pg_threads),
        ("turns", args.pg_turns),
    ):
        if value:
            pw = replace(pw, **{field: value})
    url = args.pg_url or _pg.default_url()
    print(
        f"-- PostgreSQL: sequential {wl.threads} x {wl.turns} turns per framework; workers "
        f"{'/'.join(map(str, pw.workers))} x concurrency {pw.concurrency}, "
        f"{pw.threads} threads x {pw.turns} turns at once",
        flush=True,
    )
    result = asyncio.run(run(wl, pw, url, keys, keep=args.keep))
    errors = sorted(k for k in result["errors"] if not k.endswith("_traceback"))
    print(
        f"   done in {result['seconds']:.1f} s" + (f"; errors in {errors}" if errors else ""),
        flush=True,
    )
    return result


def _local_model(args: argparse.Namespace) -> dict[str, Any]:
    from ._local_model import LocalWorkload, run

    workload = LocalWorkload.quick() if args.quick else LocalWorkload()
    print(
        f"-- local model: {workload.max_tokens} tokens x {workload.samples} runs, in-process "
        "and in the worker process, alternating",
        flush=True,
    )
    return asyncio.run(run(workload))


def _subagents(args: argparse.Namespace) -> dict[str, Any]:
    from ._subagents import SubagentWorkload, run

    workload = SubagentWorkload.quick() if args.quick else SubagentWorkload()
    print(
        f"-- subagents: {workload.rounds} rounds of {workload.turns} delegating turns per "
        "framework, alternating (threadline, OpenAI Agents SDK)",
        flush=True,
    )
    return asyncio.run(run(workload))


def _stateless(args: argparse.Namespace) -> dict[str, Any]:
    from ._stateless import StatelessWorkload, run

    workload = StatelessWorkload.quick() if args.quick else StatelessWorkload()
    print(
        f"-- stateless: {workload.rounds} rounds of {workload.calls} run_agent calls per "
        "framework, alternating (threadline, threadline with a new app, OpenAI Agents SDK)",
        flush=True,
    )
    return asyncio.run(run(workload))


def _tracing(args: argparse.Namespace) -> dict[str, Any]:
    from ._tracing import TracingWorkload, run

    workload = TracingWorkload.quick() if args.quick else TracingWorkload()
    print(
        f"-- tracing: {workload.rounds} rounds of {workload.turns} turns per variant, "
        "alternating (spans off, stored, stored and exported)",
        flush=True,
    )
    return asyncio.run(run(workload))


def _sandbox(args: argparse.Namespace) -> dict[str, Any]:
    from ._sandbox import SandboxWorkload, run

    workload = SandboxWorkload.quick() if args.quick else SandboxWorkload()
    print(f"-- sandbox: {workload.runs} runs of each program per backend", flush=True)
    return asyncio.run(run(workload))


def _serve(args: argparse.Namespace) -> dict[str, Any]:
    from ._serve import ServeWorkload, run

    workload = ServeWorkload.quick() if args.quick else ServeWorkload()
    print(
        f"-- serve: {workload.clients} concurrent streaming requests, {workload.rounds} windows "
        f"of {workload.seconds:.0f} s per server, alternating between threadline serve and a "
        "bare Starlette SSE server",
        flush=True,
    )
    return asyncio.run(run(workload))


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    wl = w.Workload.quick() if args.quick else w.Workload()
    if args.threads:
        wl = replace(wl, threads=args.threads)
    if args.turns:
        wl = replace(wl, turns=args.turns)
    if args.profile:
        from ._profile import profile

        print(profile(wl, args.synchronous))
        return 0

    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(keys) - set(FRAMEWORKS)
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown |= set(phases) - {
        *w.PHASES,
        LOCAL_MODEL,
        SUBAGENTS,
        SANDBOX,
        STATELESS,
        TRACING,
        POSTGRES,
        SERVE,
    }
    if unknown:
        print(f"unknown framework or phase: {sorted(unknown)}", file=sys.stderr)
        return 2
    sqlite_phases = tuple(p for p in phases if p in w.PHASES)
    print(
        f"workload: {wl.threads} threads x {wl.turns} turns, tool call + "
        f"{wl.answer_deltas}-delta answer per turn; zero-latency models"
        + ("; SQLite WAL, synchronous=FULL" if sqlite_phases else ""),
        flush=True,
    )
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for key in keys if sqlite_phases else []:
        fw = _framework(key)
        folder = Path(tempfile.mkdtemp(prefix=f"threadline-bench-{key}-"))
        print(f"-- {fw.name} ({folder})", flush=True)
        try:
            result = asyncio.run(w.measure(fw, wl, folder, sqlite_phases))
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        print(
            f"   done in {result['seconds']:.1f} s"
            + (
                f"; errors in {sorted(k for k in result['errors'] if '_' not in k)}"
                if result["errors"]
                else ""
            ),
            flush=True,
        )
        results.append(result)
    postgres = _postgres(args, wl, keys) if POSTGRES in phases else None
    local_model = _local_model(args) if LOCAL_MODEL in phases else None
    serve = _serve(args) if SERVE in phases else None
    subagents = _subagents(args) if SUBAGENTS in phases else None
    sandboxes = _sandbox(args) if SANDBOX in phases else None
    stateless = _stateless(args) if STATELESS in phases else None
    tracing = _tracing(args) if TRACING in phases else None
    total = time.perf_counter() - started

    report = Report(results, postgres)
    print()
    print(report.render())
    if local_model is not None:
        from ._local_model import render

        print()
        print(render(local_model))
    if serve is not None:
        from ._serve import render as render_serve

        print()
        print(render_serve(serve))
    if subagents is not None:
        from ._subagents import render as render_subagents

        print()
        print(render_subagents(subagents))
    if stateless is not None:
        from ._stateless import render as render_stateless

        print()
        print(render_stateless(stateless))
    if tracing is not None:
        from ._tracing import render as render_tracing

        print()
        print(render_tracing(tracing))
    if sandboxes is not None:
        from ._sandbox import render as render_sandbox

        print()
        print(render_sandbox(sandboxes))
    print(f"\nTotal: {total:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "workload": w.workload_dict(wl),
                "environment": w.environment(),
                "seconds": total,
                "results": results,
                "targets": report.targets,
                **({} if postgres is None else {POSTGRES: postgres}),
                **({} if local_model is None else {LOCAL_MODEL: local_model}),
                **({} if subagents is None else {SUBAGENTS: subagents}),
                **({} if sandboxes is None else {SANDBOX: sandboxes}),
                **({} if stateless is None else {STATELESS: stateless}),
                **({} if tracing is None else {TRACING: tracing}),
                **({} if serve is None else {SERVE: serve}),
            },
            indent=2,
            default=str,
        )
    )
    print(f"Results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
