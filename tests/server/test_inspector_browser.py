"""The web inspector in a real browser (Chromium, headless): the thread list, a thread whose
turn streams live, a tool approved from the pending page, a turn's waterfall, and model
output full of HTML that must never run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_harness import chromium, playwright
from responses_harness import RunningServer

SCREENSHOTS = os.environ.get("THREADLINE_INSPECTOR_SCREENSHOTS")  # a folder: docs/


__all__ = ["chromium"]  # the module's browser fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def page(chromium: playwright.Browser) -> Iterator[playwright.Page]:
    context = chromium.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def _start(server: RunningServer, text: str) -> str:
    response = httpx.post(
        f"{server.base_url}/responses",
        json={"model": "assistant", "input": text, "background": True},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["conversation"]["id"]


def _shoot(page: playwright.Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"inspector-{name}.png"), full_page=True)


def test_list_open_watch_live_approve_and_trace(
    server: RunningServer, page: playwright.Page
) -> None:
    expect = playwright.expect
    refused: list[str] = []  # what the Content-Security-Policy blocked: the pages need nothing
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{server.origin}/")
    live = _start(server, "slow 1.5")
    # The list was loaded before the thread existed; it appears without a reload.
    expect(page.locator(f'a[href="/inspector/threads/{live}"]')).to_be_visible(timeout=10_000)
    _shoot(page, "threads")

    page.click(f'a[href="/inspector/threads/{live}"]')
    expect(page.locator("h1")).to_contain_text(live)
    # The page was loaded while the turn ran; the answer arrives by the live tail alone.
    expect(page.locator(".kind-agent_message")).to_have_count(1, timeout=15_000)
    expect(page.locator("#transcript .thread-status .status")).to_have_text("idle")

    page.goto(f"{server.origin}/inspector/pending")
    expect(page.locator("#pending")).to_contain_text("Nothing waits for an answer.")
    waiting = _start(server, "transfer 9")
    # The page was loaded before the turn paused; the request appears without a reload.
    expect(page.locator(f'a[href="/inspector/threads/{waiting}"]')).to_be_visible(timeout=15_000)
    expect(page.locator(".entry pre.detail")).to_contain_text('{"amount": 9}')
    _shoot(page, "pending")
    page.locator(f'form[action^="/inspector/threads/{waiting}/approvals/"] button.approve').click()
    expect(page.locator("h1")).to_contain_text(waiting)
    expect(page.locator(".kind-agent_message .text")).to_have_text(
        "transfer returned sent 9", timeout=15_000
    )
    expect(page.locator(".kind-approval_response .who")).to_have_text("approval approved")
    _shoot(page, "thread")

    page.locator('a:text("trace")').first.click()
    expect(page.locator("rect.kind-tools")).to_have_count(1)
    expect(page.locator("table.waterfall")).to_contain_text("thread.tool transfer")
    _shoot(page, "turn")
    assert refused == []


def test_model_output_with_html_never_runs(server: RunningServer, page: playwright.Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    hostile = (
        "say <script>window.__pwned=1;alert(1)</script> "
        "<img src=x onerror=window.__pwned=2;alert(2)> "
        "<a href=javascript:window.__pwned=3>click</a>"
    )
    thread_id = _start(server, hostile)
    page.goto(f"{server.origin}/inspector/threads/{thread_id}")
    agent = page.locator(".kind-agent_message .text")
    playwright.expect(agent).to_contain_text("<script>window.__pwned=1", timeout=15_000)
    playwright.expect(agent).to_contain_text("<img src=x onerror=")
    page.get_by_text("click", exact=False).last.click()
    page.wait_for_timeout(300)  # time for an event handler or a navigation to have run
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert (
        page.locator("#transcript img, #transcript script, #transcript a[href^=javascript]").count()
        == 0
    )
