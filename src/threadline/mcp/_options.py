"""What an `MCPServer` is given, checked (a `ConfigurationError` for anything wrong), and the
name a server gets when it is given none."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, cast

from threadline.tools import ApprovalPolicy, tool_name
from threadline.types import ConfigurationError

_RUNNERS = {"python", "python3", "node", "npx", "uvx", "uv", "bun", "bunx", "deno", "pipx"}
_ENTRY_FILES = {"index", "main", "server", "__main__", "cli"}
_BUILD_DIRS = {"dist", "build", "src", "bin", "lib", "out"}


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def strings(values: object, what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ConfigurationError(f"{what} must be a list of strings")
    items: Sequence[object] = values  # pyright: ignore[reportUnknownVariableType]
    if not all(isinstance(v, str) for v in items):
        raise ConfigurationError(f"{what} must be a list of strings")
    return tuple(str(v) for v in items)


def names_of(values: object, what: str) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, Collection):
        raise ConfigurationError(f"{what} must be a collection of tool names")
    items: Collection[object] = values  # pyright: ignore[reportUnknownVariableType]
    if not all(isinstance(v, str) for v in items):
        raise ConfigurationError(f"{what} must be a collection of tool names")
    return frozenset(str(v) for v in items)


class ApprovalRule(Protocol):
    def __call__(self, name: str, /) -> bool | ApprovalPolicy: ...


def approvals(value: object) -> ApprovalRule:
    if isinstance(value, bool):
        return lambda _name: value
    if isinstance(value, Mapping):
        rules: Mapping[object, object] = value  # pyright: ignore[reportUnknownVariableType]
        table: dict[str, bool | ApprovalPolicy] = {}
        for key, rule in rules.items():
            if not isinstance(key, str) or not (isinstance(rule, bool) or callable(rule)):
                raise ConfigurationError(
                    "needs_approval maps tool names to True, False or a policy"
                )
            table[key] = cast("bool | ApprovalPolicy", rule)
        return lambda name: table.get(name, False)
    names = names_of(value, "needs_approval")
    assert names is not None
    return lambda name: name in names


class IdempotenceRule(Protocol):
    def __call__(self, name: str, /) -> bool | None: ...


def idempotence(value: object) -> IdempotenceRule:
    if value is None or isinstance(value, bool):
        return lambda _name: value
    if isinstance(value, Mapping):
        rules: Mapping[object, object] = value  # pyright: ignore[reportUnknownVariableType]
        if not all(isinstance(k, str) and isinstance(v, bool) for k, v in rules.items()):
            raise ConfigurationError("idempotent maps tool names to True or False")
        table = {str(k): bool(v) for k, v in rules.items()}
        return lambda name: table.get(name)
    raise ConfigurationError("idempotent must be None, True, False or a mapping of tool names")


def command_name(command: str, args: Sequence[str]) -> str:
    """A name for a stdio server: the module after `-m`, else the script or package a
    runner (python, node, npx, uvx, ...) is given, else the command; an entry file
    (`index.js`, `server.py`) is named after its folder."""
    base = os.path.basename(command)
    chosen = base
    if "-m" in args[:-1]:
        chosen = args[args.index("-m") + 1].rsplit(".", 1)[-1]
    elif re.sub(r"[\d.]+$", "", base) in _RUNNERS:
        for arg in args:
            if arg.startswith("-") or arg in ("run", "exec", "x"):
                continue
            chosen = _script_name(arg)
            break
    name = tool_name(re.sub(r"\.(py|js|mjs|cjs|ts|exe)$", "", chosen))[:48]
    return name or "mcp"


def _script_name(arg: str) -> str:
    if arg.startswith("@") and "/" in arg:  # an npm package: @scope/name@version
        return arg.split("/", 1)[1].split("@", 1)[0]
    parts = [p for p in arg.replace("\\", "/").split("/") if p]
    if not parts:
        return arg
    stem = re.sub(r"\.(py|js|mjs|cjs|ts)$", "", parts[-1])
    if stem in _ENTRY_FILES:
        for folder in reversed(parts[:-1]):
            if folder not in _BUILD_DIRS:
                return folder
    return stem.split("@", 1)[0] if "@" in stem[1:] else stem


def host_name(host: str) -> str:
    name = tool_name(host.replace(".", "_"))
    if name.startswith("_") and host[:1].isdigit():
        name = "mcp" + name
    return name[:48]
