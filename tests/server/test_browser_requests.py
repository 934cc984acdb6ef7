"""Browsers are hostile: a page of another site must not drive the agents through the visitor's
browser, so requests with a foreign `Origin` and bodies that are not JSON (which a page may send
without asking) are refused on every route, before anything changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from responses_harness import RunningServer
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

EVIL = "https://evil.example"


def _conversation(server: RunningServer) -> tuple[str, str]:
    """A conversation with one response, and the id of that response."""
    conversation = httpx.post(f"{server.base_url}/conversations", json={}).json()["id"]
    response = httpx.post(
        f"{server.base_url}/responses",
        json={"model": "assistant", "conversation": conversation, "input": "say kept"},
    ).json()["id"]
    return conversation, response


def _state(server: RunningServer, conversation: str) -> tuple[Any, Any]:
    base = f"{server.base_url}/conversations/{conversation}"
    return httpx.get(base).json(), httpx.get(f"{base}/items", params={"limit": 100}).json()


def _routes(conversation: str, response: str, item: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/v1/responses"),
        ("POST", "/v1/responses/compact"),
        ("GET", f"/v1/responses/{response}"),
        ("DELETE", f"/v1/responses/{response}"),
        ("POST", f"/v1/responses/{response}/cancel"),
        ("GET", f"/v1/responses/{response}/input_items"),
        ("POST", "/v1/conversations"),
        ("GET", f"/v1/conversations/{conversation}"),
        ("POST", f"/v1/conversations/{conversation}"),
        ("DELETE", f"/v1/conversations/{conversation}"),
        ("GET", f"/v1/conversations/{conversation}/items"),
        ("POST", f"/v1/conversations/{conversation}/items"),
        ("GET", f"/v1/conversations/{conversation}/items/{item}"),
        ("DELETE", f"/v1/conversations/{conversation}/items/{item}"),
        ("GET", "/openapi.json"),
        ("POST", "/mcp"),
        ("GET", "/mcp"),
        ("DELETE", "/mcp"),
    ]


def _body(conversation: str) -> bytes:
    return (
        b'{"model": "assistant", "input": "say pwned", "conversation": "'
        + conversation.encode()
        + b'", "metadata": {"owned": "yes"}, "items": [{"role": "user", "content": "pwned"}]}'
    )


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:1", "http://attacker.test"])
def test_a_foreign_origin_is_refused_on_every_route_and_changes_nothing(
    server: RunningServer, origin: str
) -> None:
    conversation, response = _conversation(server)
    before = _state(server, conversation)
    item = before[1]["data"][0]["id"]

    for method, path in _routes(conversation, response, item):
        body = _body(conversation) if method == "POST" else None
        headers = {"Origin": origin, "Content-Type": "text/plain"}
        reply = httpx.request(method, server.origin + path, content=body, headers=headers)

        assert reply.status_code == 403, (method, path)
        assert reply.json() == {
            "error": {
                "message": reply.json()["error"]["message"],
                "type": "permission_error",
                "param": None,
                "code": "invalid_origin",
            }
        }
        assert reply.headers["x-should-retry"] == "false"
    assert _state(server, conversation) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        None,
    ],
)
def test_a_body_that_is_not_json_is_415_on_every_route_and_changes_nothing(
    server: RunningServer, content_type: str | None
) -> None:
    conversation, response = _conversation(server)
    before = _state(server, conversation)
    item = before[1]["data"][0]["id"]

    for method, path in _routes(conversation, response, item):
        headers = {} if content_type is None else {"Content-Type": content_type}
        reply = httpx.request(
            method, server.origin + path, content=_body(conversation), headers=headers
        )

        assert reply.status_code == 415, (method, path)
        error = reply.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "unsupported_media_type")
        assert "application/json" in error["message"]
    assert _state(server, conversation) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"],
)
def test_json_bodies_from_the_server_s_own_origin_are_served(
    server: RunningServer, content_type: str
) -> None:
    conversation, _ = _conversation(server)
    for origin in (None, server.origin, f"http://localhost:{server.port}"):
        headers = {"Content-Type": content_type, **({"Origin": origin} if origin else {})}
        reply = httpx.post(
            f"{server.base_url}/conversations/{conversation}",
            content=b'{"metadata": {"topic": "tea"}}',
            headers=headers,
        )

        assert reply.status_code == 200, origin
        assert reply.json()["metadata"] == {"topic": "tea"}


def test_requests_without_a_body_need_no_content_type(server: RunningServer) -> None:
    conversation, response = _conversation(server)

    assert httpx.get(f"{server.base_url}/conversations/{conversation}/items").status_code == 200
    assert httpx.post(f"{server.base_url}/responses/{response}/cancel").status_code == 200
    assert httpx.delete(f"{server.base_url}/conversations/{conversation}").status_code == 200


@pytest.mark.parametrize(
    ("path", "hello"),
    [
        ("/codex", '{"id": 1, "method": "initialize", "params": {}}'),
        ("/v1/responses", '{"type": "response.create", "input": "say hi"}'),
    ],
)
async def test_a_foreign_origin_cannot_open_a_websocket(
    server: RunningServer, path: str, hello: str
) -> None:
    url = f"ws://127.0.0.1:{server.port}{path}"
    with pytest.raises(InvalidStatus):
        await connect(url, origin=EVIL)  # type: ignore[arg-type]
    with pytest.raises(InvalidStatus):
        await connect(url, origin="http://127.0.0.1:1")  # type: ignore[arg-type]

    async with connect(url, origin=server.origin) as websocket:  # type: ignore[arg-type]
        await websocket.send(hello)
        assert str(await websocket.recv())
