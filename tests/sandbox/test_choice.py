"""Which sandbox runs a language under each `backend` setting."""

from __future__ import annotations

import logging

import pytest

from threadline.sandbox._choice import choose, sandbox
from threadline.types import ConfigurationError


def test_the_default_and_auto_backends(caplog: pytest.LogCaptureFixture) -> None:
    assert choose("python", "default").name == "monty"
    assert choose("js", "default").name == "quickjs"
    assert choose("ts", "default").name == "quickjs"
    with caplog.at_level(logging.INFO, logger="threadline.sandbox"):
        strongest = choose("python", "auto")
        choose("python", "auto")
    runs_here = sandbox("bubblewrap").missing() is None
    assert strongest.name == ("bubblewrap" if runs_here else "monty")
    said = [r.getMessage() for r in caplog.records if "run_code runs python" in r.getMessage()]
    assert len(said) <= 1  # said once per process
    assert choose("ts", "auto").name == "quickjs"  # bubblewrap has no TypeScript
    assert choose("python", "bubblewrap").name == "bubblewrap"


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="languages"):
        choose("cobol", "default")
    with pytest.raises(ConfigurationError, match="backends"):
        choose("python", "docker")
