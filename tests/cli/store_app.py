"""A `Threadline` app that keeps its threads in a store of its own, the file STORE_APP_DB
names, for `threadline worker tests.cli.store_app:app`. Its agent has its own model, so no
`--model` is needed."""

from __future__ import annotations

import os

from tests.cli.scripted_models import assistant

import threadline as tl

agent = tl.Agent(name="assistant", model=assistant())
app = tl.Threadline(agents=[agent], store=os.environ.get("STORE_APP_DB", ":memory:"))
# Its agent names no model: the app's own model runs it.
model_app = tl.Threadline(
    agents=[tl.Agent(name="assistant")],
    store=os.environ.get("STORE_APP_DB", ":memory:"),
    model=assistant(),
)


def broken() -> tl.Threadline:
    """An app factory that fails: an unexpected error for `--debug` to show."""
    raise RuntimeError("the app factory is broken")
