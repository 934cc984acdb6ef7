"""What the worker tests share: the repository root, an API app, and the tool ledger."""

from __future__ import annotations

from pathlib import Path

import threadline as tl

REPO = Path(__file__).resolve().parents[2]


def api(store_url: str) -> tl.Threadline:
    from worker_app import agents

    return tl.Threadline(agents=agents, store=store_url, run_turns=False)


def ledger_lines(ledger: Path) -> list[tuple[str, str]]:
    if not ledger.exists():
        return []
    return [tuple(line.split()) for line in ledger.read_text().splitlines()]  # type: ignore[misc]
