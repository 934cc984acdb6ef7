"""Failures of the runtime's own background work are logged by type: a store error's message
may quote stored content, so it and its traceback reach the logs only when content logging is
on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import threadline as tl
from threadline.testing import eventually

SECRET = "sk-live-do-not-log-0451"


class _FailingStore(tl.SQLiteStore):
    async def fire_due_timers(self, *args: object, **kwargs: object) -> list[str]:
        raise RuntimeError(f"the row holds {SECRET}")


async def test_a_failed_recovery_pass_is_logged_without_its_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = tl.Agent(name="assistant")
    store = _FailingStore(tmp_path / "threadline.db")
    async with tl.Threadline(agents=[agent], store=store, recovery_interval=0.01):
        await eventually(lambda: "recovery failed" in caplog.text)

    [record, *_] = [r for r in caplog.records if "recovery failed" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "RuntimeError" in record.getMessage()
    assert record.exc_info is None
    assert SECRET not in caplog.text


async def test_with_content_logging_on_the_message_and_traceback_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    content = logging.getLogger("threadline.content")
    level = content.level
    content.setLevel(logging.DEBUG)
    try:
        agent = tl.Agent(name="assistant")
        store = _FailingStore(tmp_path / "threadline.db")
        async with tl.Threadline(agents=[agent], store=store, recovery_interval=0.01):
            await eventually(lambda: SECRET in caplog.text)
    finally:
        content.setLevel(level)

    [record, *_] = [r for r in caplog.records if "recovery failed" in r.getMessage()]
    assert record.exc_info is not None
