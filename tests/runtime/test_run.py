from __future__ import annotations

from typing import Any

import threadline as tl
from threadline.testing import tool_call
from threadline.types import AgentMessage, ToolCall, ToolResult, UserMessage


async def test_a_tool_calling_turn_stores_every_item_and_answers(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, model = await make_app(
        [tool_call("get_weather", {"city": "Paris"}), "It is 18 °C in Paris."], tools=[weather_tool]
    )
    thread = await app.threads.start(user_id="me")

    result = await thread.run("What's the weather in Paris?")

    assert result.status == "completed"
    assert result.text == "It is 18 °C in Paris."
    assert [i.type for i in result.items] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_message",
    ]
    call, tool_result = result.items[1].payload, result.items[2].payload
    assert isinstance(call, ToolCall)
    assert call.name == "get_weather"
    assert isinstance(tool_result, ToolResult)
    assert tool_result.output == '{"city":"Paris","temp_c":18}'
    assert tool_result.tool_call_id == call.tool_call_id
    assert result.usage.input_tokens == 20
    stored = await thread.items()
    assert [(i.seq, i.item_id) for i in stored] == [
        (n + 1, i.item_id) for n, i in enumerate(result.items)
    ]
    # The second request carried the tool call and its result back to the model.
    second = model.requests[1]
    assert [i.type for i in second.items] == ["user_message", "tool_call", "tool_result"]
    assert second.instructions == "Be brief."
    assert [t.name for t in second.tools] == ["get_weather"]


async def test_history_carries_over_turns_and_processes(make_app: Any) -> None:
    app, _ = await make_app(["Hello!"])
    thread = await app.threads.start(user_id="me")
    await thread.run("Hi")
    await app.close()

    app2, model2 = await make_app(["Still here."])
    again = await app2.threads.resume(thread.id)
    result = await again.run("Are you there?")

    assert result.text == "Still here."
    assert [(i.type, i.text) for i in model2.requests[0].items] == [
        ("user_message", "Hi"),
        ("agent_message", "Hello!"),
        ("user_message", "Are you there?"),
    ]
    assert (await again.reload()).turn_count == 2


async def test_input_forms_and_sender(make_app: Any) -> None:
    app, model = await make_app(["one", "two", "three"])
    thread = await app.threads.start()

    await thread.run("plain")
    await thread.run(
        [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://example.com/a.png"},
        ]
    )
    await thread.run({"input": "from bob", "sender": "bob"})

    users = [i.payload for i in await thread.items() if isinstance(i.payload, UserMessage)]
    assert [u.sender for u in users] == [None, None, "bob"]
    assert users[1].content[1] == tl.ImagePart(url="https://example.com/a.png")
    assert isinstance(model.requests[2].items[-1].payload, UserMessage)


async def test_buffered_text_is_the_final_snapshot_not_the_deltas_twice(make_app: Any) -> None:
    from threadline.testing import Step

    app, _ = await make_app([Step(text="Hello world", deltas=["Hel", "lo ", "world"])])
    thread = await app.threads.start()

    result = await thread.run("hi")

    assert result.text == "Hello world"
    messages = [i for i in result.items if isinstance(i.payload, AgentMessage)]
    assert len(messages) == 1


async def test_a_model_that_reuses_tool_call_ids_gets_fresh_ones(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, _ = await make_app(
        [
            tool_call("get_weather", {"city": "A"}, tool_call_id="call_0"),
            "one",
            tool_call("get_weather", {"city": "B"}, tool_call_id="call_0"),
            "two",
        ],
        tools=[weather_tool],
    )
    thread = await app.threads.start()

    await thread.run("first")
    events = [e async for e in thread.run_streamed("second")]

    calls = [i.payload for i in await thread.items() if isinstance(i.payload, ToolCall)]
    assert calls[0].tool_call_id == "call_0"
    assert calls[1].tool_call_id != "call_0"
    streamed = {e.params["tool_call_id"] for e in events if e.type == "tool_arguments_delta"}
    assert streamed == {calls[1].tool_call_id}
