"""The raw stream, as an Open Responses client reads it: `event:` equal to the data's `type`,
every event numbered, SSE comments as keep-alives, `data: [DONE]` last, and the response
object with every field the profile requires."""

from __future__ import annotations

import json

import httpx
from responses_harness import RunningServer

REQUIRED = {
    "id",
    "object",
    "created_at",
    "completed_at",
    "status",
    "incomplete_details",
    "model",
    "previous_response_id",
    "instructions",
    "output",
    "error",
    "tools",
    "tool_choice",
    "truncation",
    "parallel_tool_calls",
    "text",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "temperature",
    "reasoning",
    "user",
    "usage",
    "max_output_tokens",
    "max_tool_calls",
    "store",
    "background",
    "service_tier",
    "metadata",
    "safety_identifier",
    "prompt_cache_key",
}


def _frames(server: RunningServer, text: str) -> list[tuple[str | None, str]]:
    body = {"model": "assistant", "input": text, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/responses", json=body) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        raw = "".join(reply.iter_text())
    frames: list[tuple[str | None, str]] = []
    for block in raw.split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            frames.append((None, "comment"))
            continue
        event = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = "".join(line[6:] for line in lines if line.startswith("data: "))
        frames.append((event, data))
    return frames


def test_every_frame_names_its_type_and_the_stream_ends_with_done(server: RunningServer) -> None:
    frames = [f for f in _frames(server, "say a b c") if f[0] is not None or f[1] != "comment"]

    assert frames[-1] == (None, "[DONE]")
    numbers = []
    for event, data in frames[:-1]:
        payload = json.loads(data)
        assert event == payload["type"]
        numbers.append(payload["sequence_number"])
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)


def test_a_quiet_stream_sends_keep_alive_comments(server: RunningServer) -> None:
    frames = _frames(server, "slow 2.6")  # four words, 0.65 s apart; keep-alive: 0.5 s

    assert (None, "comment") in frames


def test_the_response_object_has_every_required_field(server: RunningServer) -> None:
    frames = _frames(server, "say fields")
    lifecycle = [
        json.loads(d)
        for e, d in frames
        if e in ("response.created", "response.in_progress", "response.completed")
    ]

    assert len(lifecycle) == 3
    for event in lifecycle:
        assert set(event["response"]) >= REQUIRED
        assert isinstance(event["response"]["created_at"], int)
    assert lifecycle[0]["response"]["output"] == []
    assert lifecycle[-1]["response"]["output"][0]["content"][0]["text"] == "fields"
