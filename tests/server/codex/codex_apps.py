"""Agents and a deterministic model for the app-server tests, loaded in the server's own
process with `--app tests.server.codex.apps:agents --model py:tests.server.codex.apps:model`.
"""

from __future__ import annotations

import re

import threadline as tl
from threadline import ModelError, ModelRequest
from threadline.testing import ScriptedModel, Step, fail, text, tool_call
from threadline.types import ToolResult

_STEPS = 200
SLOW_WORDS = 60


@tl.tool
async def get_weather(city: str) -> dict[str, object]:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18}


@tl.tool(needs_approval=True)
async def transfer(to: str, amount: int) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


def agents() -> list[tl.Agent]:
    return [
        tl.Agent(
            name="assistant",
            instructions="Be brief.",
            tools=[get_weather, transfer, tl.plan_tool()],
        )
    ]


def lead_agents() -> list[tl.Agent]:
    """A lead that delegates ("delegate TASK") to a researcher, which answers its task as
    the model answers any message (so "delegate pay 5 to Ann" pauses the researcher)."""
    researcher = tl.Agent(name="researcher", description="Researches a task.", tools=[transfer])
    return [tl.Agent(name="lead", instructions="Delegate.", subagents=[researcher])]


def model() -> ScriptedModel:
    """Answers by the last message: "weather in CITY" calls get_weather, "pay N to NAME"
    calls transfer (which needs approval), "delegate TASK" calls the researcher subagent, "plan A, B, ..." calls update_plan with those
    steps (the first in progress), "slowly [N]" streams N words (60) one every
    50 ms, "flood N" streams N one-letter deltas at once, "break" fails after two words,
    anything else is echoed; a tool result is reported back."""
    return ScriptedModel([respond] * _STEPS, model_name="scripted-codex")


def respond(request: ModelRequest) -> Step:
    last = request.items[-1]
    call_id = f"call_{len(request.items)}"
    if isinstance(last.payload, ToolResult):
        return text(f"{last.payload.name} said: {last.payload.output}")
    message = last.text.strip()
    weather = re.match(r"(?i)weather in (\w+)", message)
    if weather:
        return tool_call("get_weather", {"city": weather.group(1)}, tool_call_id=call_id)
    payment = re.match(r"(?i)pay (\d+) to (\w+)", message)
    if payment:
        return tool_call(
            "transfer",
            {"to": payment.group(2), "amount": int(payment.group(1))},
            tool_call_id=call_id,
        )
    delegate = re.match(r"(?i)delegate (.+)", message)
    if delegate:
        return tool_call("researcher", {"input": delegate.group(1)}, tool_call_id=call_id)
    plan = re.match(r"(?i)plan (.+)", message)
    if plan:
        names = [s.strip() for s in plan.group(1).split(",")]
        steps = [
            {"step": name, "status": "in_progress" if n == 0 else "pending"}
            for n, name in enumerate(names)
        ]
        return tool_call(
            "update_plan", {"steps": steps, "explanation": "one at a time"}, tool_call_id=call_id
        )
    flood = re.match(r"(?i)flood (\d+)", message)
    if flood:
        return Step(text="x" * int(flood.group(1)), deltas=["x"] * int(flood.group(1)))
    if message == "break":
        return fail(ModelError("the backend is down"), after_text="I was ")
    slowly = re.search(r"(?i)slowly(?: (\d+))?", message)
    if slowly:
        words = [f"w{n} " for n in range(int(slowly.group(1) or SLOW_WORDS))]
        return Step(text="".join(words), deltas=words, delta_delay=0.05)
    return text(f"You said: {message}")
