"""Random but seeded and bounded schedules of submits, approvals, denials, interrupts, crashes
(an app abandoned without closing) and recoveries, some of them delegated to a subagent (a
child thread whose approvals its parent decides); the invariants hold after every step."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import threadline as tl
from threadline.models import ModelRequest
from threadline.testing import ScriptedModel, Step, check_invariants, text, tool_call
from threadline.types import ToolResult

pytestmark = pytest.mark.slow


@tl.tool(needs_approval=True)
async def wire(to: str) -> str:
    """Needs a human."""
    return f"wired {to}"


@tl.tool
async def lookup(key: str) -> str:
    """Plain."""
    await asyncio.sleep(0)
    return f"value of {key}"


def respond(request: ModelRequest) -> Step:
    last = request.items[-1]
    if isinstance(last.payload, ToolResult):
        return text(f"done with {last.payload.name}")
    said = last.text
    if said.startswith("delegate "):
        return tool_call("helper", {"input": said.removeprefix("delegate ")})
    if said.startswith("wire"):
        return tool_call("wire", {"to": said})
    if said.startswith("look"):
        return tool_call("lookup", {"key": said})
    return Step(text=f"echo {said}", deltas=[f"echo {said}"], delta_delay=0.01)


class Schedules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.folder = tempfile.mkdtemp()
        self.db = Path(self.folder) / "schedule.db"
        self.app: tl.Threadline | None = None
        self.thread_ids: list[str] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.keys = 0
        self.open_app()

    def open_app(self) -> None:
        helper = tl.Agent(
            name="helper", tools=[wire, lookup], model=ScriptedModel([respond] * 10_000)
        )
        agent = tl.Agent(
            name="a",
            tools=[wire, lookup],
            model=ScriptedModel([respond] * 10_000),
            subagents=[helper],
        )
        self.app = tl.Threadline(agents=[agent], store=self.db, lease_seconds=0.3, shutdown_grace=0)
        self.runner.run(self.app.open())

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    async def _thread(self, index: int) -> tl.Thread:
        assert self.app is not None
        return await self.app.threads.resume(self.thread_ids[index % len(self.thread_ids)])

    @rule()
    def start_thread(self) -> None:
        assert self.app is not None
        self.thread_ids.append(self.run(self.app.threads.start()).id)

    @precondition(lambda self: self.thread_ids)
    @rule(
        index=st.integers(0, 9),
        message=st.sampled_from(
            ["hi", "wire ann", "look up x", "delegate wire bob", "delegate look up y"]
        ),
        policy=st.sampled_from(["enqueue", "error", "interrupt"]),
        retry=st.booleans(),
    )
    def submit(self, index: int, message: str, policy: str, retry: bool) -> None:
        async def go() -> None:
            thread = await self._thread(index)
            self.keys += 1
            key = f"k{self.keys - (1 if retry and self.keys > 1 else 0)}"
            stream = thread.run_streamed(
                message,
                on_busy=policy,  # type: ignore[arg-type]
                client_key=key,
            )
            self.tasks.append(asyncio.ensure_future(_drain(stream)))
            await asyncio.sleep(0.02)

        self.run(go())

    @precondition(lambda self: self.thread_ids)
    @rule(index=st.integers(0, 9), approve=st.booleans())
    def decide(self, index: int, approve: bool) -> None:
        async def go() -> None:
            thread = await self._thread(index)
            for pending in await thread.pending():
                try:
                    if approve:
                        await thread.approve(pending.tool_call_id)
                    else:
                        await thread.deny(pending.tool_call_id)
                    self.tasks.append(asyncio.ensure_future(thread.resume_turn()))
                except tl.ThreadlineError:
                    pass
            await asyncio.sleep(0.02)

        self.run(go())

    @precondition(lambda self: self.thread_ids)
    @rule(index=st.integers(0, 9))
    def interrupt(self, index: int) -> None:
        async def go() -> None:
            thread = await self._thread(index)
            with contextlib.suppress(tl.ThreadlineError):
                await thread.interrupt()

        self.run(go())

    @rule()
    def crash_and_recover(self) -> None:
        """The process dies: its tasks stop without writing more; another one recovers."""
        assert self.app is not None
        engine = self.app._engine
        for active in list(engine.active.values()):
            active.lose_lease()
        self.run(self.app.close())
        self.tasks.clear()
        self.open_app()

        async def recover() -> None:
            assert self.app is not None
            await asyncio.sleep(0.35)  # past the 0.3 s lease
            await (await self.app.recover()).wait()

        self.run(recover())

    @invariant()
    def store_is_sound(self) -> None:
        assert self.app is not None
        problems = self.run(check_invariants(self.app.store))
        assert problems == []

    def teardown(self) -> None:
        if self.app is not None:
            for task in self.tasks:
                task.cancel()
            self.run(self.app.close())
        self.runner.close()
        shutil.rmtree(self.folder, ignore_errors=True)


async def _drain(stream: tl.TurnStream) -> None:
    try:
        async for _ in stream:
            pass
    except (tl.ThreadlineError, tl.LeaseLost, asyncio.CancelledError):
        pass


Schedules.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_schedules = Schedules.TestCase
