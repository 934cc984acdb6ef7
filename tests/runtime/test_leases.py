"""The heartbeat judges a turn lost only when its lease really is: not when the turn's own
last write freed the lease just before a renewal looked."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, Step, check_invariants, eventually

LOST = "lost the lease"


class GatedStore:
    """A store whose ending writes and whose lease renewals a test can hold."""

    def __init__(self, inner: tl.Store) -> None:
        self._inner = inner
        self.released = asyncio.Event()  # a turn's releasing write is stored
        self.renewed_after_release = asyncio.Event()
        self.hold_release = False
        self.renewals_open = asyncio.Event()
        self.renewals_open.set()
        self.on_release: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def write_turn(self, write: Any) -> Any:
        written = await self._inner.write_turn(write)
        if write.end == "release" and self.hold_release:
            self.released.set()
            if self.on_release is not None:
                self.on_release()
            # The turn does not hear back before a renewal that began after this write.
            await self.renewed_after_release.wait()
        return written

    async def renew_leases(self, owner: str, lease_seconds: float) -> Any:
        await self.renewals_open.wait()
        began_after_release = self.released.is_set()
        renewal = await self._inner.renew_leases(owner, lease_seconds)
        if began_after_release:
            self.renewed_after_release.set()
        return renewal


async def test_a_turn_whose_last_write_freed_the_lease_is_not_judged_lost(
    make_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = GatedStore(make_store())
    store.hold_release = True
    model = ScriptedModel(["done"])
    app = tl.Threadline(agents=[tl.Agent(name="a")], store=store, model=model, lease_seconds=0.3)
    async with app:
        thread = await app.threads.start()
        seen: list[Any] = []
        store.on_release = lambda: seen.append(app._engine.active[thread.id])  # pyright: ignore[reportPrivateUsage]

        with caplog.at_level(logging.WARNING, logger="threadline.runtime"):
            result = await thread.run("hi")

        assert store.renewed_after_release.is_set()  # the race happened
        assert result.status == "completed"
        assert result.text == "done"
        assert LOST not in caplog.text
        assert seen[0].context.lease_lost is False  # nobody cancelled the turn
        assert await check_invariants(store._inner) == []  # pyright: ignore[reportPrivateUsage]
    model.assert_done()


async def test_a_lease_that_really_expired_is_still_detected(
    make_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = GatedStore(make_store())
    slow = ScriptedModel([Step(text="never", delay=60)])
    first = tl.Threadline(agents=[tl.Agent(name="a")], store=store, model=slow, lease_seconds=0.6)
    fast = ScriptedModel(["taken over"])
    second = tl.Threadline(agents=[tl.Agent(name="a")], store=make_store(), model=fast)
    async with first, second:
        thread = await first.threads.start()
        running = asyncio.create_task(thread.run("hi"))
        await eventually(lambda: slow.requests)
        store.renewals_open.clear()  # the owner stalls: its lease runs out

        async def take_over() -> tl.RecoveryReport | None:
            report = await second.recover()
            return report if report.continued else None

        report = await eventually(take_over, within=10, interval=0.1)
        assert report is not None
        await report.wait()
        with caplog.at_level(logging.WARNING, logger="threadline.runtime"):
            store.renewals_open.set()
            with pytest.raises(tl.LeaseLost):
                await running

        assert LOST in caplog.text
        turns = await thread.turns()
        assert [(t.status, t.number) for t in turns] == [("completed", 1)]
        assert [i.text for i in await thread.items()] == ["hi", "taken over"]
        assert await check_invariants(second.store) == []
