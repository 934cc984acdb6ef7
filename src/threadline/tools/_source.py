"""Tools that are only known at run time: a `ToolSource` (an MCP server) is listed before each
step of a turn, and its tools join the agent's own under names that never collide."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence

from ._tool import Tool

MAX_TOOL_NAME = 64
_INVALID = re.compile(r"[^A-Za-z0-9_-]")


class ToolSource(ABC):
    """A source of tools an agent lists before each step (`Agent(tools=[..., source])`).

    `name` prefixes a tool whose name another tool of the agent has. `list_tools` never
    raises: a source that cannot be reached lists what it listed last (its calls then fail
    with an error result the model reads). `retain` and `release` bracket each app that
    uses the source: what it holds open is closed when the last one lets go.
    """

    name: str

    @abstractmethod
    async def list_tools(self) -> Sequence[Tool]:
        """The source's tools now; cheap when nothing changed."""

    async def retain(self) -> None:  # noqa: B027 (optional: most sources hold nothing open)
        """An app that uses this source opened."""

    async def release(self) -> None:  # noqa: B027
        """An app that used this source closed."""


def tool_name(text: str) -> str:
    """`text` as a valid tool name: characters other than letters, digits, `_` and `-`
    become `_`, a leading digit or `-` gets a `_` before it, and a name over 64 characters
    is cut and ends with a short hash of the whole, so that two long names stay apart."""
    name = _INVALID.sub("_", text) or "_"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "_" + name
    if len(name) > MAX_TOOL_NAME:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        name = f"{name[: MAX_TOOL_NAME - 9]}_{digest}"
    return name


def source_tools(
    own: Mapping[str, Tool], listed: Sequence[tuple[ToolSource, Sequence[Tool]]]
) -> dict[str, Tool]:
    """The tools the sources add to an agent's own `own`, by the name the model sees: a tool
    keeps its name unless the agent has a tool of that name or another source lists one too;
    then it is named `<source name>_<tool name>` (each of them), and numbered if even that
    is taken."""
    seen = Counter(tool.name for _, tools in listed for tool in tools)
    table: dict[str, Tool] = {}
    for source, tools in listed:
        for tool in tools:
            name = tool.name
            if name in own or seen[name] > 1:
                name = tool_name(f"{source.name}_{tool.name}")
            base, number = name, 1
            while name in own or name in table:
                number += 1
                suffix = f"_{number}"
                name = base[: MAX_TOOL_NAME - len(suffix)] + suffix
            table[name] = tool if name == tool.name else tool.renamed(name)
    return table
