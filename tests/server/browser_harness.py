"""Headless Chromium from Debian's packages, driven by Playwright, for the inspector's
browser tests: skipped with the reason when it is missing, a failure in CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing: CI must install it (.ci/run)", pytrace=False)
    pytest.skip("Chromium is not installed: apt-get install chromium", allow_module_level=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[playwright.Browser]:
    """One browser for the module that uses it."""
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()
