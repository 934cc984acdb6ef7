"""An owner frozen past its lease (SIGSTOP) is replaced; woken up (SIGCONT) it writes nothing."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from bank_harness import Bank, results

from threadline.testing import eventually

pytestmark = pytest.mark.slow


async def test_a_frozen_owner_cannot_write_after_another_took_over(bank: Bank) -> None:
    owner = bank.start("run", "", "pay", env={"BANK_TOOL_SECONDS": "1.5"})
    marker = bank.folder / "in_tool"
    await eventually(lambda: marker.exists() or owner.poll() is not None, within=30)
    assert owner.poll() is None, owner.communicate()[1]
    os.kill(owner.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(1.2)  # the 1 s lease (database time) runs out while it is frozen
        bank.recovered()
        turns, items = await bank.state()
        assert [t.status for t in turns] == ["completed"]
        assert [r.outcome for r in results(items)] == ["unknown"]
    finally:
        os.kill(owner.pid, signal.SIGCONT)
    _, stderr = owner.communicate(timeout=30)

    assert "LeaseLost" in stderr
    turns_after, items_after = await bank.state()
    assert (turns_after, items_after) == (turns, items)  # the old owner wrote nothing
    assert len(bank.ledger()) <= 1  # only the call it was already inside of
