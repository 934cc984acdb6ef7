"""OpenAI's cursor lists: `{"object": "list", "data", "first_id", "last_id", "has_more"}`,
newest first unless `order=asc`, the next page `after` the last id seen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import invalid

MAX_LIMIT = 100


@dataclass(frozen=True, kw_only=True)
class PageQuery:
    after: str | None
    limit: int
    order: str

    @classmethod
    def parse(cls, query: Mapping[str, str], *, default_limit: int = 20) -> PageQuery:
        """Read `after`, `limit` (1-100) and `order` (asc/desc) from a query string."""
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid("order must be 'asc' or 'desc'", param="order")
        raw_limit = query.get("limit")
        limit = default_limit
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                raise invalid("limit must be an integer", param="limit") from None
            if not 1 <= limit <= MAX_LIMIT:
                raise invalid(f"limit must be between 1 and {MAX_LIMIT}", param="limit")
        after = query.get("after") or None
        return cls(after=after, limit=limit, order=order)


def page(items: Sequence[dict[str, Any]], query: PageQuery) -> dict[str, Any]:
    """One page of `items` (given oldest first, each with an `id`)."""
    ordered = list(items) if query.order == "asc" else list(reversed(items))
    start = 0
    if query.after is not None:
        ids = [item["id"] for item in ordered]
        if query.after not in ids:
            raise invalid(f"no item with id {query.after[:80]!r} to list after", param="after")
        start = ids.index(query.after) + 1
    data = ordered[start : start + query.limit]
    return listing(data, has_more=start + query.limit < len(ordered))


def listing(data: Sequence[dict[str, Any]], *, has_more: bool = False) -> dict[str, Any]:
    return {
        "object": "list",
        "data": list(data),
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
