from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bank_harness import Bank

from store_backends import BACKENDS, drop_schema, postgres_url


@pytest.fixture(params=BACKENDS)
async def bank(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bank]:
    """The bank app's store: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield Bank(str(tmp_path / "bank.db"), tmp_path)
        return
    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield Bank(f"{url}?schema={schema}", tmp_path)
    await drop_schema(url, schema)


@pytest.fixture(params=BACKENDS)
async def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A store for an app run in subprocesses: a SQLite file, or a PostgreSQL schema of its own
    (as a URL with `?schema=`)."""
    if request.param == "sqlite":
        yield str(tmp_path / "app.db")
        return
    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield f"{url}?schema={schema}"
    await drop_schema(url, schema)
