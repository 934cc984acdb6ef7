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
    def __init__(self, results: list[Row]) -> None:
        self.results = results
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
                "per-turn overhead (median) ≤ 0.25x best peer",
                "sequential",
                "turn_ms",
                "median",
                limit=0.25,
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
            return [
                _fmt(g["load_ms"]["median"]),
                _fmt(g["items_loaded"]),
                self._vs(g["load_ms"]["median"], "long", "load_ms", "median"),
            ]

        headers = ["framework", "load ms (median)", "items/messages", "vs threadline"]
        return "\n".join(
            [
                "### 3. Loading a 500-item thread from a freshly opened instance",
                _table(headers, self._rows("long", cells, len(headers))),
                "threadline: thread.items(); LangGraph: graph.aget_state(); Agents SDK: "
                "session.get_items(); Pydantic AI: rows → ModelMessagesTypeAdapter.validate_json.",
                self._target(
                    "500-item load ≤ 1.0x best peer",
                    "long",
                    "load_ms",
                    "median",
                    limit=1.0,
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
                "growth ≈ 1.00 means linear growth. Commits: threadline counts begin_turn and "
                "write_turn; LangGraph aput/aput_writes; Agents SDK add_items; Pydantic AI one "
                "insert per run.",
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
        parts = [
            self.sequential(),
            self.long_thread(),
            self.load(),
            self.storage(),
            self.stream(),
            self.concurrent(),
            self.summary(),
            self.notes(),
        ]
        return "\n\n".join(parts)
