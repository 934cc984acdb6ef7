"""Waiting for an inspector page to show something, as a person reloading it would."""

from __future__ import annotations

import time

import httpx


def page_with(client: httpx.Client, url: str, text: str, *, within: float = 15) -> str:
    """The page at `url` once it holds `text`; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        page = client.get(url).text
        if text in page:
            return page
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared on {url}")
