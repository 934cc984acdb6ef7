"""Checkpoints of paused stateless runs: resumed in this process, as signed JSON in a new
process, and refused when altered, foreign or of another version."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import InputResponse, ToolResult

SRC = Path(__file__).resolve().parents[2] / "src"


def make_transfer(log: list[str]) -> tl.Tool:
    @tl.tool(needs_approval=True)
    async def transfer(to: str, amount: int) -> str:
        """Send money."""
        log.append(f"{amount} to {to}")
        return f"sent {amount} to {to}"

    return transfer


async def paused_run(log: list[str], *steps: Any) -> tuple[tl.Agent, tl.AgentResult]:
    model = ScriptedModel(
        [tool_call("transfer", {"to": "ann", "amount": 5}, tool_call_id="c1"), *steps]
    )
    agent = tl.Agent(name="payer", model=model, tools=[make_transfer(log)])
    result = await tl.run_agent(agent, "Pay Ann 5")
    return agent, result


async def test_a_paused_run_resumes_in_process_from_its_checkpoint() -> None:
    log: list[str] = []
    agent, paused = await paused_run(log, "Sent.")

    assert paused.status == "paused"
    assert [p.tool_call_id for p in paused.pending_approvals] == ["c1"]
    assert paused.checkpoint is not None and log == []

    resumed = await tl.run_agent_resume(
        agent, paused.checkpoint, [tl.ApprovalResponse(tool_call_id="c1", decision="approved")]
    )

    assert (resumed.status, resumed.text, resumed.thread_id) == (
        "completed",
        "Sent.",
        paused.thread_id,
    )
    assert log == ["5 to ann"]


async def test_a_denial_runs_nothing_and_the_stream_ends_with_the_result() -> None:
    log: list[str] = []
    agent, paused = await paused_run(log, "Not sent.")
    assert paused.checkpoint is not None

    envelopes = [
        e
        async for e in tl.run_agent_resume_stream(
            agent,
            paused.checkpoint,
            [tl.ApprovalResponse(tool_call_id="c1", decision="denied", reason="no")],
        )
    ]

    assert {e.type for e in envelopes[:-1]} == {"event"}
    assert envelopes[-2].event is not None and envelopes[-2].event.type == "completed"
    last = envelopes[-1]
    assert last.type == "result" and last.result is not None
    assert (last.result.status, last.result.text) == ("completed", "Not sent.")
    denials = [i.payload for i in last.result.items if isinstance(i.payload, ToolResult)]
    assert len(denials) == 1 and "denied" in denials[0].output
    assert log == []


async def test_an_answer_to_nothing_the_run_waits_for_is_refused() -> None:
    agent, paused = await paused_run([], "Sent.")
    assert paused.checkpoint is not None

    with pytest.raises(tl.InvalidInputError):
        await tl.run_agent_resume(
            agent,
            paused.checkpoint,
            [tl.ApprovalResponse(tool_call_id="nope", decision="approved")],
        )
    with pytest.raises(tl.InvalidInputError, match="ApprovalResponse"):
        tl.run_agent_resume_stream(agent, paused.checkpoint, ["approved"])  # type: ignore[list-item]

    resumed = await tl.run_agent_resume(
        agent, paused.checkpoint, [tl.ApprovalResponse(tool_call_id="c1", decision="approved")]
    )
    assert resumed.status == "completed"


async def test_a_checkpoint_of_another_agent_is_refused() -> None:
    _, paused = await paused_run([], "Sent.")
    assert paused.checkpoint is not None
    other = tl.Agent(name="other", model=ScriptedModel([]))

    with pytest.raises(tl.CheckpointError, match="'payer'"):
        tl.run_agent_resume_stream(other, paused.checkpoint, [])


class Seat(BaseModel):
    seat: str


async def test_a_choice_is_answered_with_an_input_response() -> None:
    @tl.tool(idempotent=True)
    async def book(flight: str, thread: tl.ThreadState[Any]) -> str:
        """Book a flight, asking for a seat."""
        choice = await thread.await_choice("Which seat?", Seat)
        return f"booked {flight} seat {choice.seat}"

    model = ScriptedModel([tool_call("book", {"flight": "LH1"}, tool_call_id="b1"), "Booked."])
    agent = tl.Agent(name="booker", model=model, tools=[book])
    paused = await tl.run_agent(agent, "Book LH1")
    assert paused.status == "paused" and paused.pending_input is not None
    assert paused.checkpoint is not None

    resumed = await tl.run_agent_resume(
        agent, paused.checkpoint, [InputResponse(tool_call_id="b1", value={"seat": "12A"})]
    )

    assert resumed.status == "completed"
    outputs = [i.payload.output for i in resumed.items if isinstance(i.payload, ToolResult)]
    assert outputs == ["booked LH1 seat 12A"]


async def test_without_a_secret_key_a_checkpoint_has_no_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("THREADLINE_SECRET_KEY", raising=False)
    monkeypatch.delenv("THREADLINE_SECRET_KEY_FILE", raising=False)
    _, paused = await paused_run([])
    assert paused.checkpoint is not None

    with pytest.raises(tl.SecretKeyError, match="THREADLINE_SECRET_KEY"):
        paused.checkpoint.to_json()
    with pytest.raises(tl.SecretKeyError, match="THREADLINE_SECRET_KEY"):
        tl.Checkpoint.from_json("{}")


async def test_json_round_trips_and_keys_rotate() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _, paused = await paused_run([])
    assert paused.checkpoint is not None

    text = paused.checkpoint.to_json(secret_key=old)
    again = tl.Checkpoint.from_json(text, secret_key=f"{new},{old}")

    assert again == paused.checkpoint
    with pytest.raises(tl.CheckpointError, match="signature does not match"):
        tl.Checkpoint.from_json(text, secret_key=new)


def altered(text: str, change: Any) -> str:
    envelope = json.loads(text)
    body = json.loads(envelope["body"])
    change(envelope, body)
    envelope["body"] = json.dumps(body)
    return json.dumps(envelope)


@pytest.mark.parametrize(
    "change",
    [
        lambda e, b: b.update(thread_id="thr_other"),
        lambda e, b: b["snapshot"]["tables"]["items"][0].update(content='{"evil": true}'),
        lambda e, b: e.update(signature="0" * 64),
        lambda e, b: e.update(signature=None),
    ],
)
async def test_an_altered_checkpoint_is_refused(change: Any) -> None:
    key = Fernet.generate_key().decode()
    _, paused = await paused_run([])
    assert paused.checkpoint is not None
    text = paused.checkpoint.to_json(secret_key=key)

    with pytest.raises(tl.CheckpointError):
        tl.Checkpoint.from_json(altered(text, change), secret_key=key)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"type": "other"}', "null"])
async def test_text_that_is_no_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(tl.CheckpointError, match="not a checkpoint"):
        tl.Checkpoint.from_json(text, secret_key=Fernet.generate_key())


async def test_a_truncated_checkpoint_is_refused() -> None:
    key = Fernet.generate_key().decode()
    _, paused = await paused_run([])
    assert paused.checkpoint is not None
    text = paused.checkpoint.to_json(secret_key=key)

    with pytest.raises(tl.CheckpointError, match="not JSON"):
        tl.Checkpoint.from_json(text[: len(text) // 2], secret_key=key)


async def test_a_checkpoint_of_another_version_is_refused_naming_both() -> None:
    key = Fernet.generate_key().decode()
    _, paused = await paused_run([])
    assert paused.checkpoint is not None
    envelope = orjson.loads(paused.checkpoint.to_json(secret_key=key))
    envelope["version"] = 99

    with pytest.raises(tl.CheckpointError, match=r"version 99.*version 1"):
        tl.Checkpoint.from_json(orjson.dumps(envelope), secret_key=key)


_RESUMER = """
import asyncio, json, sys
from pathlib import Path
import threadline as tl
from threadline.testing import ScriptedModel

log = Path(sys.argv[2])

@tl.tool(needs_approval=True)
async def transfer(to: str, amount: int) -> str:
    \"\"\"Send money.\"\"\"
    log.write_text(f"{amount} to {to}")
    return f"sent {amount} to {to}"

async def main() -> None:
    agent = tl.Agent(name="payer", model=ScriptedModel(["Sent."]), tools=[transfer])
    checkpoint = tl.Checkpoint.from_json(Path(sys.argv[1]).read_text())
    result = await tl.run_agent_resume(
        agent, checkpoint, [tl.ApprovalResponse(tool_call_id="c1", decision="approved")]
    )
    print(json.dumps({"status": result.status, "text": result.text, "thread_id": result.thread_id}))

asyncio.run(main())
"""


async def test_a_checkpoint_resumes_in_a_new_process(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    log: list[str] = []
    _, paused = await paused_run(log)
    assert paused.checkpoint is not None
    (tmp_path / "checkpoint.json").write_text(paused.checkpoint.to_json(secret_key=key))
    (tmp_path / "resume.py").write_text(textwrap.dedent(_RESUMER))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "resume.py",
        "checkpoint.json",
        "transfers.log",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC), "THREADLINE_SECRET_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, stderr.decode()
    assert json.loads(stdout) == {
        "status": "completed",
        "text": "Sent.",
        "thread_id": paused.thread_id,
    }
    assert (tmp_path / "transfers.log").read_text() == "5 to ann"
    assert log == []


async def test_a_checkpoint_being_resumed_cannot_be_resumed_again_at_once() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @tl.tool(needs_approval=True)
    async def transfer(to: str, amount: int) -> str:
        """Send money."""
        started.set()
        await release.wait()
        return "sent"

    model = ScriptedModel([tool_call("transfer", {"to": "ann", "amount": 5}, tool_call_id="c1")])
    agent = tl.Agent(name="payer", model=model, tools=[transfer])
    paused = await tl.run_agent(agent, "Pay Ann 5")
    assert paused.checkpoint is not None
    model.add("Sent.")
    approve = [tl.ApprovalResponse(tool_call_id="c1", decision="approved")]
    first = asyncio.ensure_future(tl.run_agent_resume(agent, paused.checkpoint, approve))
    await asyncio.wait_for(started.wait(), 10)

    with pytest.raises(tl.InvalidInputError, match="being resumed already"):
        await tl.run_agent_resume(agent, paused.checkpoint, approve)

    release.set()
    assert (await first).status == "completed"
