"""Bearer tokens of a real OpenID provider (`oidc-provider` on Node, issuing real JWTs): a
valid token reaches its subject's own threads only; expired tokens, tokens for another
audience or of another issuer, unknown keys, `alg: none` and HS256 signed with the public key
are refused; rotated keys are picked up; API keys keep working beside it."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from mcp_harness import mcp_client, structured
from oidc_harness import AUDIENCE, OTHER_AUDIENCE, OIDCProvider, start_provider
from responses_harness import RunningServer, start_server, stop_server
from serve_harness import free_port, serve, wait_until_up

import threadline as tl
from threadline.server import OIDCConfig, ServerConfig, oidc_identity

API_KEY = "sk-oidc-neighbour-0123456789"

pytestmark = pytest.mark.slow  # one provider process for the module, started with Node


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    running = start_provider(
        tmp_path_factory.mktemp("oidc-provider"), "http://127.0.0.1:1/inspector/oidc/callback"
    )
    yield running
    running.stop()


def _oidc(provider: OIDCProvider, **settings: Any) -> OIDCConfig:
    return OIDCConfig(issuer=provider.issuer, audience=AUDIENCE, leeway_seconds=0, **settings)


@pytest.fixture(scope="module")
def server(
    provider: OIDCProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    # No cooldown: each test's unknown key id is fetched for (the flood test has its own).
    running, handle = start_server(
        tmp_path_factory.mktemp("oidc-server") / "threadline.db",
        api_keys=(API_KEY,),
        oidc=_oidc(provider, jwks_cooldown_seconds=0),
    )
    yield running
    stop_server(handle)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def _call(
    http: httpx.Client,
    server: RunningServer,
    token: str,
    method: str = "POST",
    path: str = "/conversations",
) -> httpx.Response:
    return http.request(
        method,
        server.base_url + path,
        json={} if method == "POST" else None,
        headers={"Authorization": f"Bearer {token}"},
    )


def _refused(reply: httpx.Response, token: str, reason: str) -> None:
    assert reply.status_code == 401, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_token"
    assert reason in error["message"]
    for part in token.split("."):
        if part:
            assert part not in reply.text  # no part of the token is echoed


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _client(server: RunningServer, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=token, max_retries=0)


def test_a_valid_token_reaches_its_subjects_own_threads_only(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    alice, bob = provider.token("alice"), provider.token("bob")
    with _client(server, alice) as as_alice, _client(server, bob) as as_bob:
        mine = as_alice.responses.create(model="assistant", input="say mine")
        assert mine.output_text == "mine" and mine.conversation is not None
        conversation = mine.conversation.id

        assert as_alice.conversations.retrieve(conversation).id == conversation
        with pytest.raises(openai.NotFoundError):
            as_bob.conversations.retrieve(conversation)
        with pytest.raises(openai.NotFoundError):
            as_bob.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            as_bob.responses.create(model="assistant", previous_response_id=mine.id, input="x")

    # Another subject's id gets exactly the answer of an id that names nothing.
    unknown = "conv_" + "0" * (len(conversation) - len("conv_"))
    foreign = _call(http, server, bob, "GET", f"/conversations/{conversation}")
    missing = _call(http, server, bob, "GET", f"/conversations/{unknown}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content.replace(conversation.encode(), unknown.encode()) == missing.content


async def test_the_codex_websocket_takes_the_same_tokens_and_identities(
    server: RunningServer, provider: OIDCProvider
) -> None:
    alice = provider.token("alice")
    with _client(server, alice) as as_alice:
        over_http = as_alice.conversations.create().id
    url = f"ws://127.0.0.1:{server.port}/codex"

    async with tl.connect(url, api_key=alice) as app:
        thread = await app.threads.start()
        seen = {t.id for t in await app.threads.list(limit=100)}
        assert thread.user_id == oidc_identity(provider.issuer, "alice")
        assert {over_http, thread.id} <= seen
    async with tl.connect(url, api_key=provider.token("bob")) as app:
        seen = {t.id for t in await app.threads.list(limit=100)}
        assert seen.isdisjoint({over_http, thread.id})
        with pytest.raises(tl.NotFoundError):
            await app.threads.resume(thread.id)


async def test_mcp_takes_the_same_tokens_and_identities(
    server: RunningServer, provider: OIDCProvider
) -> None:
    async with mcp_client(server, key=provider.token("alice")) as as_alice:
        answered = await as_alice.call_tool("assistant", {"input": "say over mcp"})
        thread_id = structured(answered)["thread_id"]
        listed = structured(await as_alice.call_tool("list_threads", {}))
        assert thread_id in {t["thread_id"] for t in listed["threads"]}
    async with mcp_client(server, key=provider.token("bob")) as as_bob:
        foreign = await as_bob.call_tool("read_thread", {"thread_id": thread_id})
        listed = structured(await as_bob.call_tool("list_threads", {}))
    assert foreign.is_error and thread_id not in {t["thread_id"] for t in listed["threads"]}


def test_an_api_key_keeps_working_beside_oidc(
    server: RunningServer, provider: OIDCProvider
) -> None:
    alice = provider.token("alice")
    with _client(server, API_KEY) as keyed, _client(server, alice) as as_alice:
        keys = keyed.conversations.create().id
        hers = as_alice.conversations.create().id

        assert keyed.conversations.retrieve(keys).id == keys
        with pytest.raises(openai.NotFoundError):
            keyed.conversations.retrieve(hers)
        with pytest.raises(openai.NotFoundError):
            as_alice.conversations.retrieve(keys)


def test_requests_without_a_token_or_with_a_wrong_key_are_401(
    http: httpx.Client, server: RunningServer
) -> None:
    missing = http.post(f"{server.base_url}/conversations", json={})
    assert missing.status_code == 401
    assert "access token of the server's OpenID provider" in missing.json()["error"]["message"]

    wrong = _call(http, server, "sk-not-a-key")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")
    _refused(_call(http, server, "@@@.###.$$$"), "@@@.###.$$$", "not a well-formed JWT")


def test_an_expired_token_is_refused(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    token = provider.token("short-lived")  # lives one second; the server allows no leeway
    expires = _claims(token)["exp"]
    deadline = time.monotonic() + 10
    while (reply := _call(http, server, token)).status_code == 200:
        assert time.monotonic() < deadline, "the token was still accepted after it expired"
        assert time.time() < expires + 1, "accepted after its exp"
        time.sleep(0.1)  # polls the server's answer, which changes when the clock passes exp
    _refused(reply, token, "has expired")


def test_a_token_for_another_audience_is_refused(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    token = provider.token("alice", audience=OTHER_AUDIENCE)

    _refused(_call(http, server, token), token, "issued for another audience")


def test_a_token_of_another_issuer_is_refused(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    # Signed with the very key the server trusts; only `iss` differs.
    token = provider.token("alice", issuer=provider.issued.other_issuer)
    assert token.split(".")[0] == provider.token("alice").split(".")[0]

    _refused(_call(http, server, token), token, "issued by another issuer")


@functools.cache
def _own_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def _forged(provider: OIDCProvider, kid: str, claims: dict[str, Any] | None = None) -> str:
    """Claims the provider would sign for alice, signed by a key of the test's own."""
    claims = claims or _claims(provider.token("alice"))
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, claims, _own_key())


def test_a_token_signed_by_an_unknown_key_is_refused_after_one_refetch(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    _call(http, server, provider.token("alice"))  # the provider's keys are cached
    fetched = provider.jwks_fetches()

    token = _forged(provider, "not-published")
    _refused(_call(http, server, token), token, "key the issuer does not publish")
    # The server looked again (the key might be new), once.
    assert provider.jwks_fetches() == fetched + 1
    # A made-up key that reuses the provider's key id fails on its signature.
    token = _forged(provider, provider.issued.kid)
    _refused(_call(http, server, token), token, "signature is not valid")


def test_a_flood_of_unknown_key_ids_fetches_the_keys_once(
    http: httpx.Client, provider: OIDCProvider, tmp_path: Path
) -> None:
    running, handle = start_server(tmp_path / "flood.db", oidc=_oidc(provider))
    try:
        assert _call(http, running, provider.token("alice")).status_code == 200
        fetched = provider.jwks_fetches()
        claims = _claims(provider.token("alice"))
        for number in range(20):
            token = _forged(provider, f"made-up-{number}", claims)
            _refused(_call(http, running, token), token, "key the issuer does not publish")
        assert provider.jwks_fetches() == fetched + 1
    finally:
        stop_server(handle)


def test_rotated_keys_are_picked_up(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    before = provider.token("alice")
    assert _call(http, server, before).status_code == 200  # the old key is cached
    old_kid = provider.issued.kid

    provider.restart()  # a new process with a new key, on the same issuer
    assert provider.issued.kid != old_kid
    after = provider.token("alice")

    assert _call(http, server, after).status_code == 200
    # The old key is no longer published: a token it signed no longer works.
    _refused(_call(http, server, before), before, "key the issuer does not publish")


def test_unsigned_tokens_are_refused(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    claims = _claims(provider.token("alice"))
    for algorithm in ("none", "None", "NONE"):
        header = {"alg": algorithm, "kid": provider.issued.kid, "typ": "at+jwt"}
        token = f"{_segment(header)}.{_segment(claims)}."

        _refused(_call(http, server, token), token, "algorithm this server refuses")


def test_hs256_signed_with_the_public_key_is_refused(
    http: httpx.Client, server: RunningServer, provider: OIDCProvider
) -> None:
    published = next(k for k in provider.jwks()["keys"] if k["kid"] == provider.issued.kid)
    public_key = RSAKey.import_key(published).get_op_key("verify")
    assert isinstance(public_key, rsa.RSAPublicKey)
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {**_claims(provider.token("alice")), "sub": "bob"}
    signing_input = f"{_segment({'alg': 'HS256', 'kid': provider.issued.kid})}.{_segment(claims)}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    _refused(_call(http, server, token), token, "algorithm this server refuses")


def test_an_unreachable_provider_is_503_and_nothing_is_stored(
    http: httpx.Client, tmp_path: Path
) -> None:
    oidc = OIDCConfig(issuer=f"http://127.0.0.1:{free_port()}", audience=AUDIENCE)
    running, handle = start_server(tmp_path / "down.db", oidc=oidc)
    try:
        header = _segment({"alg": "RS256", "kid": "k"})
        token = f"{header}.{_segment({'sub': 'alice'})}.c2ln"
        reply = _call(http, running, token)
    finally:
        stop_server(handle)

    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "oidc_unavailable"
    assert reply.headers["x-should-retry"] == "true"


def test_oidc_counts_as_authentication_beyond_loopback() -> None:
    oidc = OIDCConfig(issuer="https://id.example.com", audience=AUDIENCE)

    assert ServerConfig(host="0.0.0.0", oidc=oidc).authenticated
    with pytest.raises(tl.ConfigurationError, match="without an API key"):
        ServerConfig(host="0.0.0.0")
    with pytest.raises(tl.ConfigurationError, match="https"):
        OIDCConfig(issuer="http://id.example.com", audience=AUDIENCE)
    with pytest.raises(tl.ConfigurationError, match="audience"):
        OIDCConfig(issuer="https://id.example.com", audience=" ")
    with pytest.raises(tl.ConfigurationError, match="client id"):
        OIDCConfig(issuer="https://id.example.com", audience=AUDIENCE, client_secret="s")


def test_identities_of_subjects_and_keys_never_collide() -> None:
    issuer = "https://id.example.com"
    alice = oidc_identity(issuer, "alice")

    assert alice.startswith("oidc:")
    assert alice != oidc_identity("https://other.example.com", "alice")
    assert alice != oidc_identity(issuer, "alice", claim="email")
    assert not alice.startswith("apikey:")


def test_threadline_serve_takes_the_oidc_options(
    provider: OIDCProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_OIDC_CLIENT_SECRET", "inspector-secret")
    port = free_port()
    process = serve(
        "tests.server.apps:agents",
        *("--port", str(port), "--db", str(tmp_path / "served.db")),
        *("--oidc-issuer", provider.issuer, "--oidc-audience", AUDIENCE),
        *("--oidc-client-id", "inspector", "--log-level", "debug"),
        cwd=tmp_path,
    )
    token = provider.token("alice")
    try:
        wait_until_up(process, port)
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0
        ) as client:
            assert client.responses.create(model="assistant", input="say hi").output_text == "hi"
            with pytest.raises(openai.AuthenticationError):
                client.with_options(api_key=token[:-4] + "AAAA").conversations.create()
        sign_in = httpx.get(f"http://127.0.0.1:{port}/inspector/sign-in").text
        assert f"Sign in with {provider.issuer}" in sign_in
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "inspector-secret" not in stderr
    assert token.split(".")[2] not in stderr
