"""The store contract runs against every backend listed here.

PostgreSQL runs when THREADLINE_TEST_POSTGRES_URL names a database
(e.g. postgresql://postgres@127.0.0.1:5432/test); without it those tests are skipped, except
in CI (`CI` set), where they fail. Each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from store_backends import BACKENDS, PostgresFactory, SchemaFactory, drop_schema, postgres_url
from threadline.store import SQLiteStore, Store


@pytest.fixture
async def pg_schemas() -> AsyncIterator[SchemaFactory]:
    """Make fresh schema names; every schema made is dropped when the test ends."""
    url = postgres_url()
    made: list[str] = []

    def make() -> str:
        made.append(f"tl_test_{uuid.uuid4().hex[:16]}")
        return made[-1]

    yield make
    for schema in made:
        await drop_schema(url, schema)


@pytest.fixture
async def make_postgres(pg_schemas: SchemaFactory) -> AsyncIterator[PostgresFactory]:
    """Open PostgresStores: `await make_postgres(schema=None, **options)`; a new schema unless
    one is given. All are closed when the test ends."""
    from threadline.store import PostgresStore

    opened: list[PostgresStore] = []

    async def factory(schema: str | None = None, **options: Any) -> PostgresStore:
        store = PostgresStore(postgres_url(), schema=schema or pg_schemas(), **options)
        await store.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture(params=[*BACKENDS, "sqlite_memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param.startswith("sqlite"):
        path = ":memory:" if request.param == "sqlite_memory" else tmp_path / "contract.db"
        async with SQLiteStore(path) as sqlite:
            yield sqlite
        return
    from threadline.store import PostgresStore

    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    try:
        async with PostgresStore(url, schema=schema) as postgres:
            yield postgres
    finally:
        await drop_schema(url, schema)
