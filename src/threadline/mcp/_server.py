"""`MCPServer`: an MCP server an agent takes tools from, and whose prompts and resources an app
may read. The object is configuration plus the process's sessions with the server."""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import unquote, urlsplit

from threadline.tools import ApprovalPolicy, FileData, Tool, ToolSource, tool_name
from threadline.types import (
    ConfigurationError,
    FileInfo,
    InvalidInputError,
    MCPServerUnavailableError,
    NotFoundError,
    ToolError,
)

from ._connections import Connections, paged
from ._options import (
    approvals,
    command_name,
    host_name,
    idempotence,
    names_of,
    positive,
    strings,
)
from ._tools import MCPTool
from ._transports import HttpTransport, StdioTransport, Transport, UrlTransport

if TYPE_CHECKING:
    from mcp.types import CallToolResult, Prompt, RequestParamsMeta, Resource
    from mcp.types import Tool as ToolSpec

logger = logging.getLogger("threadline.mcp")
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class FileTarget(Protocol):
    """Where a resource can be attached: a `Thread`, a tool's `ThreadState`, or a remote
    thread (`tl.connect`): anything with their `write_file`."""

    async def write_file(self, path: str, data: FileData) -> FileInfo: ...


class MCPServer(ToolSource):
    """An MCP server whose tools an agent uses: `Agent(tools=[..., server])`. Build one with
    `MCPServer.stdio(...)` or `MCPServer.http(...)`.

        time = tl.MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"])
        agent = tl.Agent(name="assistant", tools=[time])

    The session is opened on first use and shared by everything in the process that uses this
    object (one per event loop); a server that went away is connected to again on the next
    use. Its tools are listed before each step of a turn (again after the server says they
    changed) and shown to the model with the server's schemas, under their own names unless
    the agent has another tool of that name: then as `<name>_<tool>`.

    A call is durable like a local tool's: one that is not idempotent is stored as started
    before it is sent, and after a crash is reported as unknown instead of being sent again.
    A tool is idempotent when the server annotates it `idempotentHint` or `readOnlyHint`,
    unless `idempotent` says otherwise. A server that is down, or dies during a call, gives
    the call an error result that the model reads; the turn goes on.

    Args:
        name: prefixes tools whose names collide and names the server in messages; by
            default taken from the command or the host.
        allowed_tools: the server's tool names the agent may use (None: all).
        needs_approval: True (every tool), a collection of the server's tool names, or a
            mapping of name to True or a policy `(arguments, state) -> bool`.
        idempotent: True or False for every tool, or a mapping of the server's tool names
            to True or False; tools it does not name follow the server's annotations.
        timeout: seconds to connect, list tools, read a prompt or a resource.
        call_timeout: seconds a tool call may take (None: no limit but the turn's).

    Raises `ConfigurationError` for a bad argument.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        name: str,
        allowed_tools: Collection[str] | None = None,
        needs_approval: bool | Collection[str] | Mapping[str, bool | ApprovalPolicy] = False,
        idempotent: bool | Mapping[str, bool] | None = None,
        timeout: float = 30.0,
        call_timeout: float | None = None,
    ) -> None:
        if not isinstance(name, str) or tool_name(name) != name or len(name) > 48:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                f"invalid MCP server name {name!r}: use letters, digits, _ or -, at most 48"
            )
        if not positive(timeout) or (call_timeout is not None and not positive(call_timeout)):
            raise ConfigurationError("timeout and call_timeout must be positive numbers")
        self.name = name
        self.transport = transport
        self.allowed_tools = names_of(allowed_tools, "allowed_tools")
        self._approval = approvals(needs_approval)
        self._idempotent = idempotence(idempotent)
        self.timeout = float(timeout)
        self.call_timeout = None if call_timeout is None else float(call_timeout)
        self._connections = Connections(name, transport, self.timeout)
        self._specs: list[ToolSpec] | None = None  # the listing the tools were built from
        self._tools: list[Tool] = []

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        name: str | None = None,
        allowed_tools: Collection[str] | None = None,
        needs_approval: bool | Collection[str] | Mapping[str, bool | ApprovalPolicy] = False,
        idempotent: bool | Mapping[str, bool] | None = None,
        timeout: float = 30.0,
        call_timeout: float | None = None,
    ) -> MCPServer:
        """A server run as a subprocess of this process (`command` with `args`), spoken to
        over its stdin and stdout. It gets `env` over a minimal environment (`PATH`, `HOME`,
        ...), not this process's; its stderr is this process's.

            git = tl.MCPServer.stdio("uvx", ["mcp-server-git"], needs_approval={"git_commit"})
        """
        if not isinstance(command, str) or not command.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError("an MCP server's command must be a non-empty string")
        arguments = strings(args, "args")
        if env is not None and not (
            isinstance(env, Mapping)  # pyright: ignore[reportUnnecessaryIsInstance]
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())  # pyright: ignore[reportUnnecessaryIsInstance]
        ):
            raise ConfigurationError("env must map names to strings")
        transport = StdioTransport(
            command=command,
            args=arguments,
            env=dict(env) if env is not None else None,
            cwd=os.fspath(cwd) if cwd is not None else None,
        )
        return cls(
            transport,
            name=name if name is not None else command_name(command, arguments),
            allowed_tools=allowed_tools,
            needs_approval=needs_approval,
            idempotent=idempotent,
            timeout=timeout,
            call_timeout=call_timeout,
        )

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        transport: HttpTransport = "auto",
        name: str | None = None,
        allowed_tools: Collection[str] | None = None,
        needs_approval: bool | Collection[str] | Mapping[str, bool | ApprovalPolicy] = False,
        idempotent: bool | Mapping[str, bool] | None = None,
        timeout: float = 30.0,
        call_timeout: float | None = None,
    ) -> MCPServer:
        """A server at `url`, over streamable HTTP; with `transport="auto"` (the default),
        over the older HTTP+SSE transport when the server has only that. `headers` (such as
        `{"Authorization": "Bearer ..."}`) go with every request and appear in no message.

            docs = tl.MCPServer.http("https://mcp.example.com/mcp", headers={"Authorization": token})
        """
        parts = urlsplit(url) if isinstance(url, str) else None  # pyright: ignore[reportUnnecessaryIsInstance]
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("an MCP server's URL must be an http:// or https:// URL")
        if transport not in ("auto", "streamable_http", "sse"):
            raise ConfigurationError("transport must be 'auto', 'streamable_http' or 'sse'")
        if headers is not None and not (
            isinstance(headers, Mapping)  # pyright: ignore[reportUnnecessaryIsInstance]
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())  # pyright: ignore[reportUnnecessaryIsInstance]
        ):
            raise ConfigurationError("headers must map names to strings")
        return cls(
            UrlTransport(url=url, headers=dict(headers or {}), transport=transport),
            name=name if name is not None else host_name(parts.hostname),
            allowed_tools=allowed_tools,
            needs_approval=needs_approval,
            idempotent=idempotent,
            timeout=timeout,
            call_timeout=call_timeout,
        )

    def __repr__(self) -> str:
        return f"MCPServer({self.name!r})"

    # -- tools --------------------------------------------------------------------------------

    async def list_tools(self) -> list[Tool]:
        """The server's tools that the agent may use, as `Tool`s. Never raises: when the
        server cannot be reached, the tools it listed last (their calls then fail with an
        error result the model reads), or none."""
        try:
            specs = await self._connections.list_tools(self.timeout)
        except ToolError as exc:  # unavailable, or it answered the listing with an error
            logger.info(
                "%s; its tools are those it listed last (%d)", exc.message, len(self._tools)
            )
            return self._tools
        if specs is not self._specs:
            self._tools = [
                self._tool(spec)
                for spec in specs
                if self.allowed_tools is None or spec.name in self.allowed_tools
            ]
            self._specs = specs
        return self._tools

    def _tool(self, spec: ToolSpec) -> MCPTool:
        idempotent = self._idempotent(spec.name)
        if idempotent is None:
            hints = spec.annotations
            idempotent = hints is not None and bool(hints.idempotent_hint or hints.read_only_hint)
        return MCPTool(self, spec, idempotent=idempotent, needs_approval=self._approval(spec.name))

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        """Call the server's tool `name` (its own name) with `arguments`. Raises
        `MCPServerUnavailableError` (`sent` in its context when the call may have reached
        the server), `ToolError` when the server answers with an error."""
        request_meta = cast("RequestParamsMeta | None", meta)  # an open map, as MCP's is
        return await self._connections.request(
            lambda client: client.call_tool(name, arguments, meta=request_meta),
            self.call_timeout,
            what=f"a call of its tool {name!r}",
        )

    # -- prompts and resources ----------------------------------------------------------------

    async def list_prompts(self) -> list[Prompt]:
        """The server's prompts (`mcp.types.Prompt`: name, description, arguments). Raises
        `MCPServerUnavailableError`."""
        return await paged(
            self._connections.request,
            lambda client, cursor: client.list_prompts(cursor=cursor),
            lambda page: page.prompts,
            self.timeout,
            what="the listing of its prompts",
        )

    async def load_prompt(self, name: str, /, **arguments: str) -> str:
        """The server's prompt `name` rendered with `arguments` (text, as MCP prompts take):
        the text of its messages, one after the other.

        Raises `NotFoundError` (naming the server's prompts) for an unknown name,
        `InvalidInputError` for arguments the server refuses, `MCPServerUnavailableError`.

            text = await server.load_prompt("code_review", code=source)
        """
        for key, value in arguments.items():
            if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise InvalidInputError(f"MCP prompt arguments are text; {key!r} is not")
        try:
            result = await self._connections.request(
                lambda client: client.get_prompt(name, dict(arguments)),
                self.timeout,
                what=f"the prompt {name!r}",
            )
        except MCPServerUnavailableError:
            raise
        except ToolError as exc:
            names = [p.name for p in await self.list_prompts()]
            if name not in names:
                raise NotFoundError(
                    f"the MCP server {self.name!r} has no prompt {name!r}; prompts: "
                    f"{', '.join(sorted(names)) or 'none'}"
                ) from None
            raise InvalidInputError(exc.message) from None
        return "\n\n".join(_message_text(message.content) for message in result.messages)

    async def list_resources(self) -> list[Resource]:
        """The server's resources (`mcp.types.Resource`: uri, name, mime type, ...). Raises
        `MCPServerUnavailableError`."""
        return await paged(
            self._connections.request,
            lambda client, cursor: client.list_resources(cursor=cursor),
            lambda page: page.resources,
            self.timeout,
            what="the listing of its resources",
        )

    async def read_resource(self, uri: str) -> tuple[bytes, str | None]:
        """The content of the server's resource `uri` (text as UTF-8) and its media type, if
        the server gives one: the content the server returns for that URI (the first, if it
        returns several). Raises `NotFoundError` when the server has no such resource or
        refuses it, `MCPServerUnavailableError`."""
        from mcp.types import BlobResourceContents

        try:
            result = await self._connections.request(
                lambda client: client.read_resource(uri),
                self.timeout,
                what=f"the resource {uri!r}",
            )
        except MCPServerUnavailableError:
            raise
        except ToolError as exc:
            raise NotFoundError(exc.message) from None
        if not result.contents:
            raise NotFoundError(f"the MCP server {self.name!r} returned nothing for {uri!r}")
        content = next((c for c in result.contents if str(c.uri) == uri), result.contents[0])
        if isinstance(content, BlobResourceContents):
            return base64.b64decode(content.blob), content.mime_type
        return content.text.encode(), content.mime_type

    async def attach_resource(
        self, thread: FileTarget, uri: str, path: str | None = None
    ) -> FileInfo:
        """Store the server's resource `uri` as a file of `thread` (a `Thread`, a tool's
        `ThreadState`: then with the tool's result, like its other writes; or a remote
        thread), at `path` or by default `mcp/<server name>/<last part of the URI>`. Returns
        the file; an input attaches it with `{"type": "file", "file_id": info.file_id}`.

        Raises what `read_resource` and `write_file` raise.

            info = await docs.attach_resource(thread, "file:///guide.md")
        """
        data, media_type = await self.read_resource(uri)
        return await thread.write_file(path or self._resource_path(uri, media_type), data)

    def _resource_path(self, uri: str, media_type: str | None) -> str:
        parts = urlsplit(uri)
        segments = [s for s in unquote(parts.path).split("/") if s]
        base = segments[-1] if segments else (parts.netloc or "resource")
        base = _PATH_UNSAFE.sub("_", base).strip(". ")[:200] or "resource"
        if base.strip("_") == "":
            base = "resource"
        if "." not in base and media_type:
            base += mimetypes.guess_extension(media_type.split(";")[0].strip()) or ""
        return f"mcp/{self.name}/{base}"

    # -- lifetime -----------------------------------------------------------------------------

    async def retain(self) -> None:
        self._connections.retain()

    async def release(self) -> None:
        await self._connections.release()

    async def aclose(self) -> None:
        """Close the session of the running event loop, if one is open (stopping a stdio
        server); the next use opens another."""
        await self._connections.close()

    async def __aenter__(self) -> MCPServer:
        await self.retain()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()


def _message_text(content: Any) -> str:
    from mcp.types import EmbeddedResource, TextContent, TextResourceContents

    if isinstance(content, TextContent):
        return content.text
    if isinstance(content, EmbeddedResource) and isinstance(content.resource, TextResourceContents):
        return content.resource.text
    kind = getattr(content, "type", "content")
    return f"[{kind}]"
