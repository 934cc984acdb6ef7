"""python -m bench [--quick | --threads N --turns M] [--only NAMES] [--profile]"""

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
        default=",".join(w.PHASES),
        help=f"comma-separated subset of {','.join(w.PHASES)}",
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
    if unknown or set(phases) - set(w.PHASES):
        print(
            f"unknown framework or phase: {sorted(unknown | (set(phases) - set(w.PHASES)))}",
            file=sys.stderr,
        )
        return 2
    print(
        f"workload: {wl.threads} threads x {wl.turns} turns, tool call + "
        f"{wl.answer_deltas}-delta answer per turn; zero-latency models; SQLite WAL, "
        "synchronous=FULL",
        flush=True,
    )
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for key in keys:
        fw = _framework(key)
        folder = Path(tempfile.mkdtemp(prefix=f"threadline-bench-{key}-"))
        print(f"-- {fw.name} ({folder})", flush=True)
        try:
            result = asyncio.run(w.measure(fw, wl, folder, phases))
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
    total = time.perf_counter() - started

    report = Report(results)
    print()
    print(report.render())
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
            },
            indent=2,
            default=str,
        )
    )
    print(f"Results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
