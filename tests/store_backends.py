"""Which stores the tests run on, and how to reach PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

POSTGRES_URL_VAR = "THREADLINE_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgres")


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VAR)
    if url:
        return url
    reason = f"PostgreSQL tests need {POSTGRES_URL_VAR}=postgresql://USER@HOST:PORT/DB"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run them")
    pytest.skip(reason)


async def drop_schema(url: str, schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # pyright: ignore


SchemaFactory = Callable[[], str]
PostgresFactory = Callable[..., Awaitable[Any]]
