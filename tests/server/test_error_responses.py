"""Errors in OpenAI's shape with the status codes the SDK maps to its exception classes."""

from __future__ import annotations

import httpx
import openai
import pytest
from responses_harness import RunningServer


def test_an_unknown_response_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve("resp_nope")

    assert caught.value.body == {
        "message": "Response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_conversation_and_previous_response_id_exclude_each_other(client: openai.OpenAI) -> None:
    first = client.responses.create(model="assistant", input="say hi")
    assert first.conversation is not None

    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="assistant",
            input="x",
            previous_response_id=first.id,
            conversation=first.conversation.id,
        )

    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_a_turn_in_progress_is_a_409_that_is_not_retried(client: openai.OpenAI) -> None:
    running = client.responses.create(model="assistant", input="slow 3", background=True)
    assert running.conversation is not None

    with pytest.raises(openai.ConflictError) as caught:
        client.responses.create(
            model="assistant", conversation=running.conversation.id, input="say hi"
        )

    assert caught.value.response.headers["x-should-retry"] == "false"
    client.responses.cancel(running.id)


def test_an_older_previous_response_id_is_a_conflict(client: openai.OpenAI) -> None:
    first = client.responses.create(model="assistant", input="say a")
    client.responses.create(model="assistant", previous_response_id=first.id, input="say b")

    with pytest.raises(openai.ConflictError):
        client.responses.create(model="assistant", previous_response_id=first.id, input="say c")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": 5}, "input"),
        ({"input": [{"type": "teleport"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0].content[0]",
        ),
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"input": "x", "tools": [{"type": "function", "name": "get_weather"}]}, "tools[0].name"),
        (
            {"input": "x", "tools": [{"type": "function", "name": "f", "parameters": {"type": 3}}]},
            "tools[0].parameters",
        ),
        ({"input": "x", "stream": "yes"}, "stream"),
        ({"input": "x", "metadata": {"k": 1}}, "metadata.k"),
        ({"input": "x", "conversation": 7}, "conversation"),
    ],
)
def test_invalid_parameters_are_400_and_name_the_parameter(
    server: RunningServer, body: dict[str, object], param: str
) -> None:
    reply = httpx.post(f"{server.base_url}/responses", json={"model": "assistant", **body})

    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_unknown_routes_and_methods_answer_in_the_same_shape(server: RunningServer) -> None:
    missing = httpx.get(f"{server.base_url}/nothing-here")
    wrong_method = httpx.put(f"{server.base_url}/responses")

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_url"
    assert wrong_method.status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/openapi.json", {"GET", "HEAD"}),
        ("GET", "/v1/responses", {"POST"}),
        ("PATCH", "/v1/responses/resp_x", {"GET", "HEAD", "DELETE"}),
        ("GET", "/v1/responses/resp_x/cancel", {"POST"}),
        ("DELETE", "/v1/responses/resp_x/input_items", {"GET", "HEAD"}),
        ("PUT", "/v1/conversations", {"POST"}),
        ("PUT", "/v1/conversations/thr_x", {"GET", "HEAD", "POST", "DELETE"}),
        ("PUT", "/v1/conversations/thr_x/items", {"GET", "HEAD", "POST"}),
        ("POST", "/v1/conversations/thr_x/items/item_x", {"GET", "HEAD", "DELETE"}),
    ],
)
def test_a_405_names_every_allowed_method(
    server: RunningServer, method: str, path: str, allowed: set[str]
) -> None:
    reply = httpx.request(method, f"{server.origin}{path}")

    assert reply.status_code == 405
    assert reply.json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in reply.headers["allow"].split(",")} == allowed


def test_deleting_a_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="say bye")

    client.responses.delete(response.id)

    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_deleting_a_response_of_a_conversation_keeps_the_conversation(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(
        model="assistant", conversation=conversation.id, input="say one"
    )

    client.responses.delete(first.id)

    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    items = list(client.conversations.items.list(conversation.id))
    assert len(items) == 2
