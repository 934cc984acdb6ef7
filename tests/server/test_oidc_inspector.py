"""The web inspector signs a browser in through the server's OpenID provider (a real
`oidc-provider` on Node, driven in headless Chromium): authorization code with PKCE, state
and nonce; the browser then sees the threads of its subject, those an access token of the
same subject made, and no one else's. A callback that does not belong to the browser's own
flow, or that is replayed, signs nobody in."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import openai
import pytest
from browser_harness import chromium, playwright
from oidc_harness import AUDIENCE, INSPECTOR_CLIENT, OIDCProvider, start_provider
from responses_harness import RunningServer, listening_socket, start_server, stop_server

from threadline.server import OIDCConfig

__all__ = ["chromium"]  # the module's browser fixture

pytestmark = pytest.mark.slow

_ELSEWHERE = re.compile(r"^(?!https?://127\.0\.0\.1[:/])")  # nothing leaves this machine


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, OIDCProvider]]:
    sock = listening_socket()
    callback = f"http://127.0.0.1:{sock.getsockname()[1]}/inspector/oidc/callback"
    try:
        provider = start_provider(tmp_path_factory.mktemp("oidc-provider"), callback)
    except BaseException:
        sock.close()
        raise
    client_id, client_secret = INSPECTOR_CLIENT
    oidc = OIDCConfig(
        issuer=provider.issuer,
        audience=AUDIENCE,
        client_id=client_id,
        client_secret=client_secret,
        jwks_cooldown_seconds=0,
    )
    try:
        running, handle = start_server(
            tmp_path_factory.mktemp("oidc-inspector") / "threadline.db", sock=sock, oidc=oidc
        )
    except BaseException:
        provider.stop()
        sock.close()
        raise
    yield running, provider
    stop_server(handle)
    provider.stop()


@pytest.fixture
def page(chromium: playwright.Browser) -> Iterator[playwright.Page]:
    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    context.route(_ELSEWHERE, lambda route: route.abort())  # the provider's web fonts
    page = context.new_page()
    yield page
    context.close()


def _conversation(server: RunningServer, token: str, text: str) -> str:
    with openai.OpenAI(base_url=server.base_url, api_key=token, max_retries=0) as client:
        response = client.responses.create(model="assistant", input=text)
    assert response.conversation is not None
    return response.conversation.id


def test_a_browser_signs_in_through_the_provider_and_sees_its_subjects_threads(
    served: tuple[RunningServer, OIDCProvider], page: playwright.Page
) -> None:
    server, provider = served
    expect = playwright.expect
    hers = _conversation(server, provider.token("alice"), "say for alice")
    his = _conversation(server, provider.token("bob"), "say for bob")
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/oidc/callback" in r.url else None)

    page.goto(f"{server.origin}/inspector/")
    page.get_by_role("link", name=f"Sign in with {provider.issuer}").click()
    page.locator('input[name="login"]').fill("alice")  # the provider's own login page
    page.locator('input[name="password"]').fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # its consent page

    expect(page.locator(f'a[href="/inspector/threads/{hers}"]')).to_be_visible(timeout=15_000)
    assert page.locator(f'a[href="/inspector/threads/{his}"]').count() == 0
    page.goto(f"{server.origin}/inspector/threads/{his}")
    expect(page.locator("body")).to_contain_text("Not found")

    cookies = {c["name"]: c for c in page.context.cookies(server.origin + "/inspector/")}
    session = cookies["threadline_session"]
    assert (session["httpOnly"], session["sameSite"]) == (True, "Strict")
    assert "threadline_oidc" not in cookies  # the flow is over
    assert "code=" in callbacks[0] and "state=" in callbacks[0]

    # The same answer again (a replay, or a leaked URL) signs nobody in.
    replay = page.context.new_page()
    try:
        replay.goto(callbacks[0])
        expect(replay.locator(".error")).to_contain_text("expired or was started elsewhere")
    finally:
        replay.close()


def test_the_authorization_request_uses_pkce_state_and_nonce(
    served: tuple[RunningServer, OIDCProvider],
) -> None:
    server, provider = served
    with httpx.Client(base_url=server.origin) as browser:
        started = browser.get("/inspector/oidc/start")
        assert started.status_code == 303
        location = httpx.URL(started.headers["location"])
        params = dict(location.params)
        flow = browser.cookies.get("threadline_oidc")

        assert str(location).startswith(f"{provider.issuer}/auth?")
        assert params["code_challenge_method"] == "S256"
        assert len(params["code_challenge"]) == 43 and params["response_type"] == "code"
        assert params["client_id"] == INSPECTOR_CLIENT[0]
        assert params["redirect_uri"] == f"{server.origin}/inspector/oidc/callback"
        assert len(params["state"]) >= 40 and len(params["nonce"]) >= 40
        assert flow is not None and flow not in str(location)

        # A callback with another state (a login forced on this browser) is refused, and
        # the flow it named is spent.
        forged = browser.get("/inspector/oidc/callback", params={"code": "x", "state": "other"})
        assert forged.status_code == 400 and "threadline_session" not in forged.cookies
        again = browser.get(
            "/inspector/oidc/callback", params={"code": "x", "state": params["state"]}
        )
        assert again.status_code == 400 and "expired or was started elsewhere" in again.text
