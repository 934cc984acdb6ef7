from __future__ import annotations

from pathlib import Path

from threadline.types import ConfigurationError

from ._protocol import Store
from ._sqlite import SQLiteStore


def open_store(spec: str | Path | Store | None) -> Store:
    """A store from a path, a `sqlite:///path` URL, or a `Store` object (returned as is).

    `None` means `threadline.db` in the current folder.
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
        raise ConfigurationError("the PostgreSQL store is not available in this version yet")
    if "://" in spec:
        raise ConfigurationError(
            f"unsupported store URL {spec.split('://')[0]!r}://: use a file path or sqlite:///PATH")
    return SQLiteStore(spec)
