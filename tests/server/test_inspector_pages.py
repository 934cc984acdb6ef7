"""The web inspector over HTTP: who may look, what every page sends, and approvals answered
from a page under the API's rules."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from page_waiting import page_with
from responses_harness import API_KEYS, RunningServer

from threadline.server.inspector import CONTENT_SECURITY_POLICY


def _start(client: httpx.Client, text: str, key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.post(
        "/v1/responses",
        json={"model": "assistant", "input": text, "background": True},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation"]["id"]


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.origin, timeout=30) as client:
        yield client


@pytest.fixture
def keyed_browser(keyed_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_server.origin, timeout=30) as client:
        yield client


def test_root_leads_to_the_thread_list_with_a_strict_policy(browser: httpx.Client) -> None:
    thread_id = _start(browser, "say hello there")
    response = browser.get("/", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/inspector/")
    assert thread_id in response.text
    for url in ("/inspector/", "/inspector/static/htmx.min.js", f"/inspector/threads/{thread_id}"):
        headers = browser.get(url).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_model_output_is_escaped_in_the_transcript(browser: httpx.Client) -> None:
    thread_id = _start(browser, 'say <script>alert(1)</script><a href="javascript:x()">go</a>')
    page = page_with(browser, f"/inspector/threads/{thread_id}", "agent_message")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    assert "<script" not in page.replace('<script src="/inspector/static/', "")


def test_a_server_with_keys_asks_the_browser_to_sign_in(
    keyed_browser: httpx.Client, keyed_server: RunningServer
) -> None:
    own = _start(keyed_browser, "say mine", key=API_KEYS[0])
    foreign = _start(keyed_browser, "say theirs", key=API_KEYS[1])
    response = keyed_browser.get(f"/inspector/threads/{own}")
    assert response.status_code == 303
    assert response.headers["location"] == "/inspector/sign-in"
    origin = {"Origin": keyed_server.origin}
    refused = keyed_browser.post("/inspector/sign-in", data={"api_key": "sk-wrong"}, headers=origin)
    assert refused.status_code == 401
    assert "threadline_session" not in refused.headers.get("set-cookie", "")
    signed_in = keyed_browser.post(
        "/inspector/sign-in", data={"api_key": API_KEYS[0]}, headers=origin
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/inspector" in cookie
    assert API_KEYS[0] not in cookie
    assert keyed_browser.get(f"/inspector/threads/{own}").status_code == 200
    listed = keyed_browser.get("/inspector/").text
    assert own in listed and foreign not in listed
    unknown = keyed_browser.get("/inspector/threads/thr_unknown")
    other = keyed_browser.get(f"/inspector/threads/{foreign}")
    assert (unknown.status_code, unknown.text) == (other.status_code, other.text)
    assert other.status_code == 404
    assert keyed_browser.get(f"/inspector/threads/{foreign}/live").status_code == 404


def test_form_posts_must_come_from_the_inspectors_own_pages(
    browser: httpx.Client, server: RunningServer
) -> None:
    thread_id = _start(browser, "say fork me")
    page = page_with(browser, f"/inspector/threads/{thread_id}", "agent_message")
    token = _csrf(page)
    url = f"/inspector/threads/{thread_id}/fork"
    form = {"csrf_token": token, "upto_seq": "1"}
    foreign = browser.post(url, data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert browser.post(url, data=form).status_code == 403  # no Origin at all
    as_json = browser.post(url, json=form, headers={"Origin": server.origin})
    assert as_json.status_code == 415
    tokenless = browser.post(url, data={"upto_seq": "1"}, headers={"Origin": server.origin})
    assert tokenless.status_code == 403
    forked = browser.post(url, data=form, headers={"Origin": server.origin})
    assert forked.status_code == 303
    new_page = browser.get(forked.headers["location"]).text
    assert f'forked from\n<a href="/inspector/threads/{thread_id}"' in new_page


def test_an_approval_is_answered_from_the_pending_page_once(
    browser: httpx.Client, server: RunningServer
) -> None:
    thread_id = _start(browser, "transfer 12")
    pending = page_with(browser, "/inspector/pending", thread_id)
    assert "{&#34;amount&#34;: 12}" in pending
    action = re.search(rf'action="(/inspector/threads/{thread_id}/approvals/[^"]+)"', pending)
    assert action
    form = {"csrf_token": _csrf(pending), "decision": "approve"}
    origin = {"Origin": server.origin}
    answered = browser.post(action.group(1), data=form, headers=origin)
    assert answered.status_code == 303
    page = page_with(browser, f"/inspector/threads/{thread_id}", "transfer returned sent 12")
    assert "approval approved" in page
    again = browser.post(action.group(1), data=form, headers=origin)
    assert again.status_code == 400
    assert "no turn of this thread waits for an answer" in again.text


def test_a_turn_page_draws_its_steps_as_a_waterfall(browser: httpx.Client) -> None:
    thread_id = _start(browser, "weather Paris")
    page = page_with(browser, f"/inspector/threads/{thread_id}", "get_weather returned")
    turn_url = re.search(rf'href="(/inspector/threads/{thread_id}/turns/[^"]+)"', page)
    assert turn_url
    turn = browser.get(turn_url.group(1)).text
    # The turn's stored trace: its run, this process's execution, and each step with the
    # model call or the tool call under it.
    assert turn.count('<rect class="bar kind-run"') == 1
    assert turn.count('<rect class="bar kind-model"') == 2
    assert turn.count('<rect class="bar kind-llm"') == 2
    assert turn.count('<rect class="bar kind-tools"') == 1
    assert turn.count('<rect class="bar kind-tool"') == 1
    assert "thread.tool get_weather" in turn
    assert browser.get(f"/inspector/threads/{thread_id}/turns/trn_unknown").status_code == 404


def test_a_live_tail_that_reconnects_hears_of_what_it_missed(browser: httpx.Client) -> None:
    thread_id = _start(browser, "say once")
    page_with(browser, f"/inspector/threads/{thread_id}", "agent_message")
    url = f"/inspector/threads/{thread_id}/live"
    with browser.stream("GET", url, headers={"Last-Event-ID": "1"}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "retry: 1000"
        assert next(lines) == ""
        assert next(lines) == "event: change"
        assert next(lines).startswith("id: ")
    with browser.stream("GET", url) as stream:  # a first connection: nothing missed
        lines = stream.iter_lines()
        assert [next(lines), next(lines), next(lines)] == ["retry: 1000", "", ": idle"]
    # A page names what it showed: a change made before its live tail connected is sent.
    live = re.search(r'data-live="([^"]+)"', browser.get(f"/inspector/threads/{thread_id}").text)
    assert live and live.group(1).startswith(f"{url}?seen=")
    with browser.stream("GET", f"{url}?seen=1") as stream:
        lines = stream.iter_lines()
        assert [next(lines), next(lines), next(lines)] == ["retry: 1000", "", "event: change"]
