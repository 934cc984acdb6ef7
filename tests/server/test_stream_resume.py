"""A stream broken on purpose resumes from the stored event log with `starting_after`, with
the same sequence numbers, down to each delta of a streamed text; the numbers have no gaps."""

from __future__ import annotations

import openai
import pytest


def _break_after(client: openai.OpenAI, text_events: int) -> tuple[str, int, str]:
    """Stream a long answer, stop after `text_events` deltas; the id, last number, text."""
    stream = client.responses.create(model="assistant", input="words 40", stream=True)
    seen: list[str] = []
    response_id, last = "", -1
    for event in stream:
        last = event.sequence_number
        if event.type == "response.created":
            response_id = event.response.id
        if event.type == "response.output_text.delta":
            seen.append(event.delta)
            if len(seen) == text_events:
                break
    stream.close()
    return response_id, last, "".join(seen)


FULL = " ".join(f"w{n}" for n in range(40))


def test_resuming_after_a_break_delivers_the_rest_once(client: openai.OpenAI) -> None:
    response_id, last, seen = _break_after(client, 5)

    rest = client.responses.retrieve(response_id, stream=True, starting_after=last)
    events = list(rest)

    assert events[0].sequence_number > last
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert seen + text == FULL
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == FULL


@pytest.mark.parametrize("starting_after", [0, 3, 6, 20, 50])
def test_a_replay_from_any_number_is_the_tail_of_the_full_replay(
    client: openai.OpenAI, starting_after: int
) -> None:
    response_id, _, _ = _break_after(client, 1)
    full = list(client.responses.retrieve(response_id, stream=True))
    assert full[0].type == "response.created"

    tail = list(client.responses.retrieve(response_id, stream=True, starting_after=starting_after))

    assert [e.sequence_number for e in tail] == [
        e.sequence_number for e in full if e.sequence_number > starting_after
    ]
    assert [e.type for e in tail] == [e.type for e in full if e.sequence_number > starting_after]
    full_text = "".join(e.delta for e in full if e.type == "response.output_text.delta")
    tail_text = "".join(e.delta for e in tail if e.type == "response.output_text.delta")
    assert full_text.endswith(tail_text)


def test_the_live_stream_and_the_replay_carry_the_same_events(client: openai.OpenAI) -> None:
    live = list(client.responses.create(model="assistant", input="weather Rome", stream=True))
    response_id = live[0].response.id  # type: ignore[union-attr]

    replayed = list(client.responses.retrieve(response_id, stream=True))

    def shape(events: list[openai.types.responses.ResponseStreamEvent]) -> list[object]:
        return [(e.type, e.sequence_number, getattr(e, "delta", None)) for e in events]

    assert shape(replayed) == shape(live)


@pytest.mark.parametrize("command", ["words 40", "weather Rome", "reason all is fine"])
def test_sequence_numbers_count_every_event_without_gaps(
    client: openai.OpenAI, command: str
) -> None:
    live = list(client.responses.create(model="assistant", input=command, stream=True))
    replayed = list(client.responses.retrieve(live[0].response.id, stream=True))  # type: ignore[union-attr]

    assert [e.sequence_number for e in live] == list(range(len(live)))
    assert [e.sequence_number for e in replayed] == list(range(len(replayed)))
    assert sum(e.type == "response.output_text.delta" for e in live) > 1


def test_the_stream_helper_resumes_by_response_id(client: openai.OpenAI) -> None:
    response_id, last, _ = _break_after(client, 3)

    with client.responses.stream(response_id=response_id, starting_after=last) as stream:
        numbers = [e.sequence_number for e in stream]
        final = stream.get_final_response()

    assert min(numbers) > last
    assert final.output_text == FULL
