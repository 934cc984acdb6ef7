"""An app with a tool that needs approval and one that asks a choice, for the CLI tests:
`--app tests.cli.bank_app:agents --model py:tests.cli.bank_app:model` (or
`tests.cli.bank_app:delegating`, a lead that delegates to that agent)."""

from __future__ import annotations

from pydantic import BaseModel

import threadline as tl
from threadline import ModelRequest
from threadline.testing import ScriptedModel, Step, text, tool_call
from threadline.types import ToolResult


@tl.tool(needs_approval=True)
async def transfer(to: str, amount: int) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


class Seat(BaseModel):
    seat: str


@tl.tool
async def book(flight: str, thread: tl.ThreadState[object]) -> str:
    """Book a flight; the traveller picks the seat."""
    choice = await thread.await_choice("Which seat?", Seat)
    return f"booked {flight} seat {choice.seat}"


agents = [tl.Agent(name="bank", tools=[transfer, book])]
# A lead that hands "delegate TASK" to the bank agent, in a child thread.
delegating = [tl.Agent(name="lead", subagents=[agents[0]])]


def model() -> ScriptedModel:
    return ScriptedModel([_respond] * 20, model_name="scripted-bank")


def _respond(request: ModelRequest) -> Step:
    last = request.items[-1]
    if isinstance(last.payload, ToolResult):
        return text(f"Result: {last.payload.output}")
    message = last.text.strip()
    if message.startswith("delegate "):
        return tool_call("bank", {"input": message.removeprefix("delegate ")})
    if message.startswith("pay "):
        return tool_call("transfer", {"to": message.removeprefix("pay "), "amount": 5})
    if message.startswith("book "):
        return tool_call("book", {"flight": message.removeprefix("book ")})
    return text(f"You said: {message}")
