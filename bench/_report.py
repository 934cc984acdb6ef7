"""Tables (GitHub markdown, readable in a terminal too) and target checks from the results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = dict[str, Any]


def _get(result: Row, *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])


class Report:
    def __init__(self, results: list[Row], postgres: Row | None = None) -> None:
        self.results = results
        self.postgres = postgres
        self.threadline = next((r for r in results if r["kind"] == "threadline"), None)
        self.peers = [r for r in results if r["kind"] == "peer"]
        self.targets: list[Row] = []

    # -- helpers -----------------------------------------------------------------------------

    def _tl(self, *path: str) -> Any:
        return None if self.threadline is None else _get(self.threadline, *path)

    def _vs(self, value: Any, *path: str, higher_is_better: bool = False) -> str:
        """The framework's figure against threadline's: > 1 means threadline is better."""
        mine = self._tl(*path)
        if value is None or mine is None or not mine or not value:
            return "—"
        return f"{(mine / value) if higher_is_better else (value / mine):.2f}x"

    def _best_peer(self, *path: str, higher_is_better: bool = False) -> tuple[str, float] | None:
        values = [(r["name"], v) for r in self.peers if (v := _get(r, *path)) is not None]
        if not values:
            return None
        pick = max if higher_is_better else min
        return pick(values, key=lambda nv: nv[1])

    def _target(
        self, metric: str, *path: str, limit: float, higher_is_better: bool = False, unit: str = ""
    ) -> str:
        """threadline / best peer, against the stated limit."""
        best = self._best_peer(*path, higher_is_better=higher_is_better)
        mine = self._tl(*path)
        if best is None or mine is None:
            self.targets.append({"metric": metric, "met": None, "why": "no figure"})
            return f"Target {metric}: not evaluated (missing figures)."
        name, value = best
        ratio = mine / value
        met = ratio >= limit if higher_is_better else ratio <= limit
        sign = "≥" if higher_is_better else "≤"
        self.targets.append(
            {
                "metric": metric,
                "threadline": mine,
                "best_peer": name,
                "best_peer_value": value,
                "ratio": ratio,
                "limit": limit,
                "comparison": sign,
                "met": met,
            }
        )
        return (
            f"Target {metric}: threadline = {ratio:.2f}x best peer ({name}, "
            f"{_fmt(value)}{unit} vs {_fmt(mine)}{unit}); target {sign} {limit}x → "
            f"{'MET' if met else 'MISSED'}"
        )

    def _rows(self, phase: str, cells: Callable[[Row], list[str]], width: int) -> list[list[str]]:
        rows = []
        for r in self.results:
            if phase in r.get("errors", {}):
                rows.append(
                    [r["name"], "failed: " + r["errors"][phase][:90], *([""] * (width - 2))]
                )
            elif phase in r:
                rows.append([r["name"], *cells(r)])
        return rows

    # -- the tables --------------------------------------------------------------------------

    def sequential(self) -> str:
        def cells(r: Row) -> list[str]:
            t = r["sequential"]["turn_ms"]
            store = _get(r, "sequential", "store_write_ms_per_turn")
            return [
                _fmt(t["median"]),
                _fmt(t["p95"]),
                _fmt(r["sequential"]["events_per_turn"]),
                _fmt(r["sequential"]["commits_per_turn"]),
                _fmt(store),
                self._vs(t["median"], "sequential", "turn_ms", "median"),
            ]

        headers = [
            "framework",
            "median ms",
            "p95 ms",
            "events/turn",
            "commits/turn",
            "of which awaiting store ms",
            "vs threadline",
        ]
        out = [
            "### 1. Per-turn runtime overhead, sequential turns (zero-latency model)",
            _table(headers, self._rows("sequential", cells, len(headers))),
            "vs threadline = peer median / threadline median (> 1: threadline is faster).",
            self._target(
                "per-turn overhead (median) ≤ 0.2x best peer",
                "sequential",
                "turn_ms",
                "median",
                limit=0.2,
                unit=" ms",
            ),
        ]
        return "\n".join(out)

    def long_thread(self) -> str:
        def cells(r: Row) -> list[str]:
            g = r["long"]
            return [
                _fmt(g["new_turn_ms"]["median"]),
                _fmt(g["long_turn_ms"]["median"]),
                f"{g['long_over_new']:.2f}",
                _fmt(g["cold_long_turn_ms"]["median"]),
                f"{g['cold_over_new']:.2f}",
                self._vs(g["long_turn_ms"]["median"], "long", "long_turn_ms", "median"),
            ]

        headers = [
            "framework",
            "new-thread turn ms",
            "500-item turn ms",
            "500/new",
            "500-item turn after reopen ms",
            "reopen/new",
            "vs threadline (500-item)",
        ]
        out = [
            "### 2. A turn on a thread holding 500 items vs a turn on a new thread",
            _table(headers, self._rows("long", cells, len(headers))),
            "500-item turn: median of turns on the long thread in a process that has run it "
            "before; after reopen: the first turn in a freshly opened app.",
            self._target(
                "500-item turn ≤ 0.15x best peer",
                "long",
                "long_turn_ms",
                "median",
                limit=0.15,
                unit=" ms",
            ),
        ]
        ratio = self._tl("long", "long_over_new")
        if ratio is not None:
            met = ratio <= 1.3
            self.targets.append(
                {
                    "metric": "500-item turn ≤ 1.3x threadline's new-thread turn",
                    "ratio": ratio,
                    "limit": 1.3,
                    "comparison": "≤",
                    "met": met,
                }
            )
            out.append(
                f"Target 500-item turn ≤ 1.3x threadline's new-thread turn: {ratio:.2f}x"
                f" → {'MET' if met else 'MISSED'}"
            )
            cold = self._tl("long", "cold_over_new")
            out.append(
                f"(first turn after reopen: {cold:.2f}x threadline's new-thread turn, not a target)"
            )
        return "\n".join(out)

    def load(self) -> str:
        def cells(r: Row) -> list[str]:
            g = r["long"]
            large = g.get("large") or {}
            large_ms = _get(large, "load_ms", "median")
            return [
                _fmt(g["load_ms"]["median"]),
                _fmt(g["items_loaded"]),
                self._vs(g["load_ms"]["median"], "long", "load_ms", "median"),
                _fmt(large_ms),
                _fmt(large.get("items_loaded")),
                self._vs(large_ms, "long", "large", "load_ms", "median"),
            ]

        headers = [
            "framework",
            "500-item load ms (median)",
            "items/messages",
            "vs threadline",
            "10,000-item load ms (median)",
            "items/messages",
            "vs threadline (10,000)",
        ]
        return "\n".join(
            [
                "### 3. Loading a long thread from a freshly opened instance",
                _table(headers, self._rows("long", cells, len(headers))),
                "threadline: thread.items(); LangGraph: graph.aget_state(); Agents SDK: "
                "session.get_items(); Pydantic AI: rows → ModelMessagesTypeAdapter.validate_json. "
                "The 10,000-item thread is the long thread grown by more turns (threadline) or "
                "by copies of its last turn through session.add_items (Agents SDK); the others "
                "are not measured there.",
                self._target(
                    "500-item load ≤ 0.5x best peer",
                    "long",
                    "load_ms",
                    "median",
                    limit=0.5,
                    unit=" ms",
                ),
                self._target(
                    "10,000-item load ≤ 0.5x best peer",
                    "long",
                    "large",
                    "load_ms",
                    "median",
                    limit=0.5,
                    unit=" ms",
                ),
            ]
        )

    def storage(self) -> str:
        def cells(r: Row) -> list[str]:
            s = r["sequential"]
            half, second = s["bytes_per_turn_half"], s["bytes_per_turn_second_half"]
            linear = "—" if not half or second is None else f"{second / half:.2f}"
            wal = s.get("wal_bytes_per_turn")
            return [
                _fmt(half),
                _fmt(s["bytes_per_turn"]),
                _fmt(second),
                linear,
                _fmt(s["commits_per_turn"]),
                "—" if wal is None else f"{wal / 1024:.1f}",
                self._vs(s["bytes_per_turn"], "sequential", "bytes_per_turn"),
            ]

        headers = [
            "framework",
            "bytes/turn @ N/2",
            "bytes/turn @ N",
            "2nd half bytes/turn",
            "growth 2nd/1st half",
            "commits/turn",
            "WAL KiB written/turn",
            "vs threadline",
        ]
        return "\n".join(
            [
                "### 4. Bytes stored per turn (database + WAL after a checkpoint) and commits",
                _table(headers, self._rows("sequential", cells, len(headers))),
                "growth ≈ 1.00 means linear growth. Commits: threadline counts the write "
                "transactions the SQLite database committed during its turns (the WAL index's "
                "commit counter: one per group commit of its writer, however many writes the "
                "group held); LangGraph aput/aput_writes; Agents SDK add_items; Pydantic AI one "
                "insert per run (each of those commits once).",
                self._target(
                    "bytes/turn ≤ 1.0x best peer",
                    "sequential",
                    "bytes_per_turn",
                    limit=1.0,
                    unit=" B",
                ),
            ]
        )

    def stream(self) -> str:
        def cells(r: Row) -> list[str]:
            s = r["stream"]
            return [
                _fmt(s["events"]),
                _fmt(s["seconds"] * 1000),
                _fmt(s["events_per_s"]),
                self._vs(s["events_per_s"], "stream", "events_per_s", higher_is_better=True),
            ]

        headers = ["framework", "events received", "turn ms", "events/s", "vs threadline"]
        return "\n".join(
            [
                "### 5. Streamed events per second (one turn streaming 10,000 deltas)",
                _table(headers, self._rows("stream", cells, len(headers))),
                "vs threadline = threadline events/s / peer events/s (> 1: threadline is faster).",
                self._target(
                    "events/s ≥ 5x best peer",
                    "stream",
                    "events_per_s",
                    limit=5.0,
                    higher_is_better=True,
                ),
            ]
        )

    def concurrent(self) -> str:
        def cells(r: Row) -> list[str]:
            c = r["concurrent"]
            return [
                _fmt(c["turns"]),
                _fmt(c["seconds"]),
                _fmt(c["turns_per_s"]),
                self._vs(c["turns_per_s"], "concurrent", "turns_per_s", higher_is_better=True),
            ]

        headers = ["framework", "turns", "seconds", "turns/s", "vs threadline"]
        return "\n".join(
            [
                "### 6. Throughput with all threads concurrent in one event loop",
                _table(headers, self._rows("concurrent", cells, len(headers))),
                "vs threadline = threadline turns/s / peer turns/s (> 1: threadline is faster). "
                "The baseline calls SQLite on the loop thread, so it does not overlap anything.",
                self._target(
                    "concurrent turns/s ≥ 5x best peer",
                    "concurrent",
                    "turns_per_s",
                    limit=5.0,
                    higher_is_better=True,
                ),
            ]
        )

    def summary(self) -> str:
        rows = []
        for t in self.targets:
            met = {True: "MET", False: "MISSED", None: "n/a"}[t["met"]]
            ratio = f"{t['ratio']:.2f}x" if "ratio" in t else "—"
            limit = f"{t['comparison']} {t['limit']}x" if "limit" in t else "—"
            rows.append([t["metric"], ratio, limit, t.get("best_peer", "—"), met])
        return "\n".join(
            ["### Targets", _table(["target", "threadline", "limit", "best peer", "status"], rows)]
        )

    def notes(self) -> str:
        lines = ["### Setup"]
        probes = [
            f"{r['name']} {'/'.join(f'{p:.2f}' for p in r['disk_commit_ms'])}"
            for r in self.results
            if r.get("disk_commit_ms")
        ]
        if probes:
            lines.append(
                "- disk: median ms of a 1-row fsync'd commit, before/after each framework's "
                "phases (large or unequal values mean the disk was slow during that phase; "
                "rerun): " + "; ".join(probes)
            )
        for r in self.results:
            for note in r["notes"]:
                lines.append(f"- {r['name']}: {note}")
            for phase, error in r.get("errors", {}).items():
                if not phase.endswith("_traceback"):
                    lines.append(f"- {r['name']}: phase {phase!r} FAILED: {error}")
        return "\n".join(lines)

    def render(self) -> str:
        self.targets = []
        parts = []
        if self.results:
            parts += [
                self.sequential(),
                self.long_thread(),
                self.load(),
                self.storage(),
                self.stream(),
                self.concurrent(),
                self.summary(),
                self.notes(),
            ]
        if self.postgres is not None:
            parts += PostgresReport(self.postgres).parts()
        return "\n\n".join(parts)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


THROUGHPUT_HEADERS = [
    "worker processes",
    "concurrency each",
    "turns",
    "stalled / lost leases",
    "seconds",
    "turns/s",
    "vs 1 worker",
    "turn median ms",
    "turn p95 ms",
    "CPU ms/turn: API / workers / PostgreSQL / other",
    "CPU idle",
]


class PostgresReport:
    """The tables of the `postgres` phase."""

    def __init__(self, result: Row) -> None:
        self.r = result
        self.cores = _get(result, "cores") or "?"

    def _failed(self, prefix: str) -> list[str]:
        return [
            f"- {key}: FAILED: {error}"
            for key, error in self.r.get("errors", {}).items()
            if key.startswith(prefix) and not key.endswith("_traceback")
        ]

    def sequential(self) -> str:
        rows_in = self.r.get("sequential", [])
        mine = next((x for x in rows_in if x["name"] == "threadline"), None)
        base = _get(mine, "turn_ms", "median") if mine else None
        rows = []
        for x in rows_in:
            t = x["turn_ms"]
            cpu = x.get("cpu_seconds") or {}
            per_turn = [
                _fmt(cpu[k] * 1000 / x["turns"]) if k in cpu else "—"
                for k in ("api", "postgres", "other")
            ]
            rows.append(
                [
                    x["name"],
                    _fmt(t["median"]),
                    _fmt(t["p95"]),
                    _fmt(x["events_per_turn"]),
                    _fmt(x["store_writes_per_turn"]),
                    _fmt(x["store_write_ms_per_turn"]),
                    _fmt(x["bytes_per_turn"]),
                    " / ".join(per_turn),
                    f"{t['median'] / base:.2f}x" if base else "—",
                ]
            )
        headers = [
            "framework",
            "median ms",
            "p95 ms",
            "events/turn",
            "store writes/turn",
            "of which awaiting store ms",
            "bytes/turn",
            "CPU ms/turn: process / PostgreSQL / other",
            "peer/threadline (median)",
        ]
        turns = rows_in[0]["turns"] if rows_in else 0
        return "\n".join(
            [
                "### P1. Per-turn overhead on PostgreSQL, sequential turns, one process "
                "(zero-latency model)",
                _table(headers, rows),
                f"{turns:,} turns each, one at a time, on loopback PostgreSQL "
                f"({self.cores} cores). peer/threadline > 1: threadline is faster. Store "
                "writes: threadline begin_turn + write_turn (one transaction each); LangGraph "
                "aput + aput_writes (autocommit: a call may commit several statements). "
                "bytes/turn: heap + indexes + TOAST of the schema's tables (page-granular). "
                "CPU (/proc): the benchmark process, every postgres process, the rest of the "
                "machine (other programs running meanwhile).",
                *self._target(rows_in, base),
                *self._failed("sequential"),
            ]
        )

    def _target(self, rows_in: list[Row], base: float | None) -> list[str]:
        peer = next((x for x in rows_in if x["name"] == "LangGraph"), None)
        if base is None or peer is None:
            return []
        ratio = base / peer["turn_ms"]["median"]
        return [
            f"Target per-turn overhead ≤ 0.5x LangGraph's AsyncPostgresSaver: threadline = "
            f"{ratio:.2f}x → {'MET' if ratio <= 0.5 else 'MISSED'}"
        ]

    def throughput(self) -> str:
        rows = self._throughput_rows("workers", "scaling", "scaling_without_stalled")
        headers = THROUGHPUT_HEADERS
        w = self.r.get("workload", {})
        return "\n".join(
            [
                "### P2. Throughput with worker processes on loopback PostgreSQL",
                _table(headers, rows),
                f"One API process (run_turns=False) runs {w.get('threads')} threads at once, "
                f"{w.get('turns')} turns each in order, and streams every turn from the store; "
                "`threadline worker` processes run the turns (tool call + 50-delta answer, "
                "zero-latency model). Turn latency: run_streamed call to its last event, in "
                f"the API process. THIS MACHINE HAS {self.cores} CORES: the API process, "
                "the workers and PostgreSQL share them, so more worker processes cannot add "
                "CPU, and the scaling column is bounded by that, not by threadline's design. "
                "CPU: /proc user+system time over the run (PostgreSQL: every postgres process; "
                "other: the rest of the machine, e.g. other programs running meanwhile).",
                "Every thread always has a turn waiting, so a turn's latency is mostly its "
                "wait for a worker slot: on average threads / (turns/s). Stalled: turns slower "
                "than 20 s, i.e. that waited for their lease to expire (30 s) after their "
                "worker gave them up; lost leases: 'lost the lease' warnings in the workers' "
                "logs over the whole run. With stalls, (figures in brackets) leave the stalled "
                "turns out: turns/s of the others until the last of them ended.",
                *self._failed("workers:"),
            ]
        )

    def _throughput_rows(self, runs_key: str, scale_key: str, scale_ok_key: str) -> list[list[str]]:
        runs = self.r.get(runs_key, [])
        scale = self.r.get(scale_key, {})
        scale_ok = self.r.get(scale_ok_key, scale)
        rows: list[list[str]] = []
        for x in runs:
            c = x.get("concurrent")
            if c is None:
                continue
            cpu = c.get("cpu_ms_per_turn") or {}
            secs = c.get("cpu_seconds") or {}
            capacity = (secs.get("wall") or 0) * (secs.get("cores") or 1)
            key = str(x["workers"])
            ratio = f"{scale.get(key, 0):.2f}x"
            if scale_ok != scale:
                ratio += f" ({scale_ok.get(key, 0):.2f}x)"
            stalled = c.get("stalled", 0)
            rows.append(
                [
                    key,
                    str(x["concurrency"]),
                    _fmt(c["turns"]) + (f" ({c['failed']} failed)" if c["failed"] else ""),
                    f"{stalled} / {x.get('lost_leases', '?')}",
                    _fmt(c["seconds"]),
                    _fmt(c["turns_per_s"])
                    + (
                        f" ({_fmt(c['turns_per_s_without_stalled'])})"
                        if c.get("turns_per_s_without_stalled")
                        else ""
                    ),
                    ratio,
                    _fmt(c["turn_ms"]["median"]),
                    _fmt(c["turn_ms"]["p95"]),
                    " / ".join(_fmt(cpu.get(k)) for k in ("api", "workers", "postgres", "other")),
                    _pct(secs.get("idle", 0), capacity) if secs else "—",
                ]
            )
        return rows

    def io_throughput(self) -> str:
        rows = self._throughput_rows("workers_io", "scaling_io", "scaling_io")
        if not rows:
            return ""
        w = self.r.get("workload", {})
        seconds = w.get("io_model_seconds") or 0
        return "\n".join(
            [
                f"### P2b. Throughput with worker processes when the model takes "
                f"{seconds * 1000:.0f} ms per step",
                _table(THROUGHPUT_HEADERS, rows),
                f"As P2, with a model that waits {seconds * 1000:.0f} ms before each of its two "
                f"steps (I/O-bound, as remote models are) and {w.get('io_concurrency')} turns "
                "at once per worker process: the work is waiting, not computing, so each "
                "worker process adds capacity until the machine's CPU is used up.",
                *self._failed("workers_io:"),
            ]
        )

    def latency(self) -> str:
        rows = []
        for x in self.r.get("workers", []):
            for load in ("light", "concurrent"):
                part = x.get(load)
                if part is None:
                    continue
                d = part["delivery"]
                rows.append(
                    [
                        str(x["workers"]),
                        "one turn at a time" if load == "light" else "all threads at once",
                        _fmt(part["turn_ms"]["median"]),
                        _fmt(d["writes_ms"].get("n")),
                        _fmt(d["writes_ms"].get("median")),
                        _fmt(d["writes_ms"].get("p95")),
                        _fmt(d["writes_ms"].get("max")),
                        _fmt(d["late_writes"]),
                        _fmt(d["events_ms"].get("median")),
                        _fmt(d["events_ms"].get("p95")),
                        f"{d.get('turns_missing_events', '?')} of {_fmt(part['turns'])} "
                        f"({d.get('missing_events', '?')} events)",
                    ]
                )
        headers = [
            "worker processes",
            "load",
            "turn median ms",
            "writes",
            "write median ms",
            "write p95 ms",
            "write max ms",
            "> 500 ms",
            "event median ms",
            "event p95 ms",
            "turns whose stream missed events",
        ]
        out = [
            "### P3. Event delivery latency, worker process → run_streamed consumer in the "
            "API process",
            _table(headers, rows),
            "From the created_at of the first item a write stores, beside which it keeps its "
            "events (taken by the worker just before it submits the write), to the consumer "
            "receiving the event (same host clock): the write, its commit, NOTIFY, the "
            "follower's wake-up and its read of the event log. A write's events share a "
            "created_at; write = its first event. The follower's safety poll is 1 s: "
            "lost notifications would show as deliveries near 1 s. Missed events: stored "
            "events of the turn that its run_streamed consumer never received.",
        ]
        verdict = self.verdict()
        if verdict:
            out.append(verdict)
        out += ["", self.histogram()]
        return "\n".join(out)

    def histogram(self) -> str:
        labels: list[str] = []
        rows = []
        for x in self.r.get("workers", []):
            for load in ("light", "concurrent"):
                part = x.get(load)
                if part is None:
                    continue
                counts = part["delivery"].get("writes_histogram_ms") or {}
                labels = labels or list(counts)
                rows.append(
                    [
                        str(x["workers"]),
                        "one at a time" if load == "light" else "all at once",
                        *(_fmt(counts.get(label, 0)) for label in labels),
                    ]
                )
        return "\n".join(
            [
                "Writes by delivery latency (ms): lost notifications would pile up near 1,000 "
                "(the safety poll); CPU queueing spreads them out.",
                _table(["worker processes", "load", *labels], rows),
            ]
        )

    def verdict(self) -> str:
        light = [
            x["light"]["delivery"] for x in self.r.get("workers", []) if x.get("light") is not None
        ]
        if not light:
            return ""
        gaps = sum(
            x[load]["delivery"].get("turns_missing_events", 0)
            for x in self.r.get("workers", [])
            for load in ("light", "concurrent")
            if x.get(load) is not None
        )
        unended = sum(
            x[load]["delivery"].get("streams_without_end", 0)
            for x in self.r.get("workers", [])
            for load in ("light", "concurrent")
            if x.get(load) is not None
        )
        incomplete = (
            f"\nINCOMPLETE STREAMS: {gaps} turn(s) missed stored events, {unended} stream(s) "
            "ended without a terminal event."
            if gaps or unended
            else ""
        )
        p95 = max(d["writes_ms"].get("p95", 0) for d in light)
        late = sum(d["late_writes"] for d in light)
        writes = sum(d["writes_ms"].get("n", 0) for d in light)
        if p95 < 100 and late == 0:
            return (
                f"Light load: worst p95 {p95:.1f} ms, no write of {writes:,} later than "
                "500 ms → notifications wake the follower; none was lost (a lost one would "
                "cost up to the 1 s safety poll)." + incomplete
            )
        return (
            f"Light load: worst p95 {p95:.1f} ms, {late} of {writes:,} writes later than "
            "500 ms → look for lost notifications (the 1 s safety poll delivered them)."
            + incomplete
        )

    def notes(self) -> str:
        lines = ["### PostgreSQL setup"]
        server = self.r.get("server") or {}
        if server:
            lines.append(
                "- server: PostgreSQL "
                + ", ".join(f"{k}={v}" for k, v in server.items() if k != "server_version")
                + f" (version {server.get('server_version')})"
            )
        probes = self.r.get("commit_ms")
        if probes:
            lines.append(
                "- commit probe: median ms of a one-row autocommit INSERT, before/after: "
                + "/".join(f"{p:.2f}" for p in probes)
            )
        part = self.r.get("part_seconds") or {}
        if part:
            lines.append(
                "- seconds per part: " + ", ".join(f"{k} {v:.1f}" for k, v in part.items())
            )
        for x in self.r.get("sequential", []):
            for note in x.get("notes", []):
                lines.append(f"- {x['name']}: {note}")
        for key, error in self.r.get("errors", {}).items():
            if not key.endswith("_traceback") and not key.startswith(("sequential", "workers")):
                lines.append(f"- {key}: FAILED: {error}")
        return "\n".join(lines)

    def parts(self) -> list[str]:
        return [
            self.sequential(),
            self.throughput(),
            self.io_throughput(),
            self.latency(),
            self.notes(),
        ]
