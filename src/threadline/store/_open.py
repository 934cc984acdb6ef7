from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from threadline.types import ConfigurationError

from ._protocol import Store
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def open_store(spec: str | Path | Store | None) -> Store:
    """A store from a path, a `sqlite:///path` URL, a `postgresql://` URL, or a `Store` object
    (returned as is). A PostgreSQL URL may name the schema to use: `...?schema=NAME`.

    `None` means `threadline.db` in the current folder; `":memory:"` (or `sqlite:///:memory:`)
    a SQLite database in memory, a new one for each store.
    """
    if spec is None:
        return SQLiteStore("threadline.db")
    if isinstance(spec, Path):
        return SQLiteStore(spec)
    if not isinstance(spec, str):
        return spec
    if spec.startswith("sqlite:///"):
        return SQLiteStore(spec.removeprefix("sqlite:///"))
    if spec.startswith(("postgres://", "postgresql://")):
        return _postgres(spec)
    if "://" in spec:
        raise ConfigurationError(
            f"unsupported store URL {spec.split('://')[0]!r}://: use a file path, "
            "sqlite:///PATH or postgresql://..."
        )
    return SQLiteStore(spec)


def _postgres(url: str) -> PostgresStore:
    try:
        from ._postgres import PostgresStore
    except ImportError as exc:  # psycopg is only needed by those who use PostgreSQL
        raise ConfigurationError(
            f"the PostgreSQL store needs psycopg: pip install 'threadline[postgres]' ({exc})"
        ) from None
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    if len(schemas) > 1 or (schemas and not schemas[0]):
        raise ConfigurationError("give at most one non-empty ?schema= in the store URL")
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    connect_url = urlunsplit(parts._replace(query=rest))
    return PostgresStore(connect_url, schema=schemas[0]) if schemas else PostgresStore(connect_url)
