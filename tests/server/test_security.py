"""The gate: API keys compared in constant time, each key confined to its own threads, the
`Host` header checked on loopback, and bad input refused before anything is stored."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from responses_harness import API_KEYS, RunningServer

import threadline as tl
from threadline.server import ServerConfig


def _client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer sk-wrong", "Basic abc", "Bearer", f"Bearer {API_KEYS[0]}x"]
)
def test_a_request_without_a_valid_key_is_401(
    keyed_server: RunningServer, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    reply = httpx.post(f"{keyed_server.base_url}/conversations", json={}, headers=headers)

    assert reply.status_code == 401
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert reply.headers["x-should-retry"] == "false"


def test_the_sdk_sees_authentication_errors(keyed_server: RunningServer) -> None:
    with _client(keyed_server, "sk-wrong") as client, pytest.raises(openai.AuthenticationError):
        client.responses.create(model="assistant", input="say hi")


def test_each_key_sees_only_its_own_threads(keyed_server: RunningServer) -> None:
    with _client(keyed_server, API_KEYS[0]) as alpha, _client(keyed_server, API_KEYS[1]) as beta:
        mine = alpha.responses.create(model="assistant", input="say secret")
        assert mine.conversation is not None

        with pytest.raises(openai.NotFoundError):
            beta.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            beta.conversations.retrieve(mine.conversation.id)
        with pytest.raises(openai.NotFoundError):
            list(beta.conversations.items.list(mine.conversation.id))
        with pytest.raises(openai.NotFoundError):
            beta.responses.create(
                model="assistant", previous_response_id=mine.id, input="say steal"
            )
        assert alpha.responses.retrieve(mine.id).output_text == "secret"


def _unknown_like(object_id: str) -> str:
    """An id of the same kind and length that names nothing."""
    prefix, _, rest = object_id.partition("_")
    body, underscore, seq = rest.partition("_")
    return f"{prefix}_{'0' * len(body)}{underscore}{seq}"


def test_a_foreign_id_gets_the_answer_of_an_unknown_id(keyed_server: RunningServer) -> None:
    with _client(keyed_server, API_KEYS[0]) as alpha, _client(keyed_server, API_KEYS[1]) as beta:
        theirs = alpha.responses.create(model="assistant", input="say private")
        assert theirs.conversation is not None
        their_item = next(iter(alpha.conversations.items.list(theirs.conversation.id))).id
        mine = beta.conversations.create().id
    response, conversation = theirs.id, theirs.conversation.id
    calls: list[tuple[str, str, dict[str, object] | None, str]] = [
        ("GET", "/responses/{}", None, response),
        ("GET", "/responses/{}?stream=true", None, response),
        ("DELETE", "/responses/{}", None, response),
        ("POST", "/responses/{}/cancel", None, response),
        ("GET", "/responses/{}/input_items", None, response),
        ("GET", "/conversations/{}", None, conversation),
        ("POST", "/conversations/{}", {"metadata": {}}, conversation),
        ("DELETE", "/conversations/{}", None, conversation),
        ("GET", "/conversations/{}/items", None, conversation),
        ("POST", "/conversations/{}/items", {"items": []}, conversation),
        ("GET", f"/conversations/{conversation}/items/{{}}", None, their_item),
        ("DELETE", f"/conversations/{conversation}/items/{{}}", None, their_item),
        ("GET", f"/conversations/{mine}/items/{{}}", None, their_item),
        ("DELETE", f"/conversations/{mine}/items/{{}}", None, their_item),
    ]
    creates = [
        ({"model": "assistant", "input": "say x", "previous_response_id": "{}"}, response),
        ({"model": "assistant", "input": "say x", "conversation": "{}"}, conversation),
    ]
    headers = {"Authorization": f"Bearer {API_KEYS[1]}"}

    with httpx.Client(headers=headers) as http:
        for method, path, body, foreign in calls:
            unknown = _unknown_like(foreign)
            replies = [
                http.request(method, keyed_server.base_url + path.format(name), json=body)
                for name in (foreign, unknown)
            ]
            assert [r.status_code for r in replies] == [404, 404], (method, path)
            assert replies[0].content.replace(foreign.encode(), unknown.encode()) == (
                replies[1].content
            ), (method, path)
            assert _same_headers(replies[0], replies[1]), (method, path)
            if conversation not in path.format(foreign):
                assert conversation.encode() not in replies[0].content, (method, path)
        for template, foreign in creates:
            unknown = _unknown_like(foreign)
            replies = [
                http.post(
                    keyed_server.base_url + "/responses",
                    json={
                        k: v.format(name) if isinstance(v, str) else v for k, v in template.items()
                    },
                )
                for name in (foreign, unknown)
            ]
            assert [r.status_code for r in replies] == [404, 404], template
            assert replies[0].content.replace(foreign.encode(), unknown.encode()) == (
                replies[1].content
            ), template
            assert _same_headers(replies[0], replies[1]), template


def _same_headers(first: httpx.Response, second: httpx.Response) -> bool:
    def kept(reply: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in reply.headers.items() if k != "date"}

    return kept(first) == kept(second)


def test_the_schema_is_public(keyed_server: RunningServer) -> None:
    reply = httpx.get(f"{keyed_server.origin}/openapi.json")

    assert reply.status_code == 200
    assert reply.json()["openapi"].startswith("3.1")


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:1", "localhost", "attacker.test:8321"])
def test_a_foreign_host_header_is_refused(server: RunningServer, host: str) -> None:
    reply = httpx.get(f"{server.origin}/openapi.json", headers={"Host": host})

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_host"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_names_with_the_port_are_accepted(server: RunningServer, host: str) -> None:
    reply = httpx.get(f"{server.origin}/openapi.json", headers={"Host": f"{host}:{server.port}"})

    assert reply.status_code == 200


def test_a_non_loopback_bind_needs_an_api_key() -> None:
    with pytest.raises(tl.ConfigurationError, match="API key"):
        ServerConfig(host="0.0.0.0")

    assert ServerConfig(host="0.0.0.0", api_keys=("k",)).allowed_hosts() is None


def _items(server: RunningServer, conversation_id: str) -> list[object]:
    return httpx.get(f"{server.base_url}/conversations/{conversation_id}/items").json()["data"]


def test_a_body_over_the_limit_is_413(server: RunningServer) -> None:
    conversation = httpx.post(f"{server.base_url}/conversations", json={}).json()["id"]
    big = {
        "model": "assistant",
        "conversation": conversation,
        "input": "say " + "x" * (1024 * 1024),
    }

    reply = httpx.post(f"{server.base_url}/responses", json=big)

    assert reply.status_code == 413
    assert _items(server, conversation) == []


def test_a_chunked_body_over_the_limit_is_413(server: RunningServer) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "assistant", "input": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    reply = httpx.post(
        f"{server.base_url}/responses",
        content=chunks(),
        headers={"content-type": "application/json"},
    )

    assert reply.status_code == 413


def test_deeply_nested_json_is_400(server: RunningServer) -> None:
    nested = "[" * 200 + "]" * 200
    body = '{"model": "assistant", "input": ' + nested + "}"

    reply = httpx.post(
        f"{server.base_url}/responses", content=body, headers={"content-type": "application/json"}
    )

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "too_deep"


@pytest.mark.parametrize("raw_text", ['"say a\\u0000b"', '"say \\ud800"', '"say \\udfff x"'])
def test_nul_and_lone_surrogates_are_refused_and_store_nothing(
    server: RunningServer, raw_text: str
) -> None:
    conversation = httpx.post(f"{server.base_url}/conversations", json={}).json()["id"]
    body = f'{{"model": "assistant", "conversation": "{conversation}", "input": {raw_text}}}'

    reply = httpx.post(
        f"{server.base_url}/responses",
        content=body.encode(),
        headers={"content-type": "application/json"},
    )

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_text"
    assert _items(server, conversation) == []


def test_invalid_utf8_and_non_json_bodies_are_400(server: RunningServer) -> None:
    for content in (b'{"input": "\xff\xfe"}', b"not json", b"[1, 2]", b""):
        reply = httpx.post(
            f"{server.base_url}/responses",
            content=content,
            headers={"content-type": "application/json"},
        )
        assert reply.status_code == 400, content


@pytest.mark.parametrize(
    "content", [b'{"input": "\xff\xfe"}', b'{"input": "\xed\xa0\x80"}', b"\xc3"]
)
def test_invalid_utf8_is_reported_as_such(server: RunningServer, content: bytes) -> None:
    reply = httpx.post(
        f"{server.base_url}/responses",
        content=content,
        headers={"content-type": "application/json"},
    )

    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_utf8"
    assert error["type"] == "invalid_request_error"
    assert "not valid UTF-8" in error["message"]
    assert "surrogate" not in error["message"]


def test_secrets_in_metadata_keys_cannot_reach_private_state(server: RunningServer) -> None:
    reply = httpx.post(
        f"{server.base_url}/conversations", json={"metadata": {"threadline.conversation": "x"}}
    )

    assert reply.status_code == 400
    assert json.loads(reply.text)["error"]["param"] == "metadata.threadline.conversation"
