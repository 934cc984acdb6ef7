"""A model request carries the thread's history as it stood when the request was made: the
items a turn adds afterwards stay out of it, though it is not a copy of a long thread."""

from __future__ import annotations

from typing import Any

import threadline as tl
from threadline.testing import tool_call


async def test_a_request_keeps_the_history_it_was_made_with(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, model = await make_app(
        ["Hello!", tool_call("get_weather", {"city": "Oslo"}), "Mild."], tools=[weather_tool]
    )
    thread = await app.threads.start(user_id="me")
    await thread.run("Hi")

    await thread.run("Weather in Oslo?")

    first, second, third = (request.items for request in model.requests)
    assert [i.type for i in first] == ["user_message"]
    assert [i.type for i in second] == ["user_message", "agent_message", "user_message"]
    assert [i.type for i in third] == [*(i.type for i in second), "tool_call", "tool_result"]
    stored = await thread.items()
    assert third == stored[:5] and stored[:5] == third
    assert third[-1] == stored[4] and third[1:3] == stored[1:3] and len(third) == 5
