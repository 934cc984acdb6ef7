"""Typed reading of a request's params: a wrong or missing field is a -32602 that names it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ._jsonrpc import INVALID_PARAMS, JSON, RpcError


class Params:
    """The params of one request, read field by field."""

    def __init__(self, raw: JSON) -> None:
        self.raw = raw

    def _get(self, key: str, kind: type | tuple[type, ...], what: str, required: bool) -> Any:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise RpcError(INVALID_PARAMS, f"missing required field `{key}` ({what})")
            return None
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise RpcError(INVALID_PARAMS, f"`{key}` must be {what}")
        if not isinstance(value, kind):
            raise RpcError(INVALID_PARAMS, f"`{key}` must be {what}")
        return value

    def str(self, key: str) -> str:
        value: str = self._get(key, str, "a string", True)
        if not value:
            raise RpcError(INVALID_PARAMS, f"`{key}` must not be empty")
        return value

    def opt_str(self, key: str) -> str | None:
        return self._get(key, str, "a string", False)

    def opt_bool(self, key: str) -> bool | None:
        return self._get(key, bool, "true or false", False)

    def opt_int(self, key: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
        value: int | None = self._get(key, int, "an integer", False)
        if value is not None and (value < minimum or (maximum is not None and value > maximum)):
            bounds = f"at least {minimum}" + ("" if maximum is None else f", at most {maximum}")
            raise RpcError(INVALID_PARAMS, f"`{key}` must be {bounds}")
        return value

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), "a number", False)
        return None if value is None else float(value)

    def opt_dict(self, key: str) -> dict[str, Any] | None:
        return self._get(key, dict, "an object", False)

    def list(self, key: str) -> list[Any]:
        return self._get(key, list, "an array", True)

    def opt_list(self, key: str) -> list[Any] | None:
        return self._get(key, list, "an array", False)

    def opt_choice(self, key: str, choices: Collection[str]) -> str | None:
        value = self.opt_str(key)
        if value is not None and value not in choices:
            raise RpcError(INVALID_PARAMS, f"`{key}` must be one of {sorted(choices)}")
        return value

    def has(self, key: str) -> bool:
        return key in self.raw
