from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from threadline.server.codex._wire import file_info_from_wire
from threadline.types import FileInfo, ThreadRecord

if TYPE_CHECKING:
    from ._app import RemoteThreadline


def _content(data: bytes | str) -> dict[str, str]:
    if isinstance(data, str):
        return {"text": data}
    return {"dataBase64": base64.b64encode(bytes(data)).decode()}


class RemoteThreadFiles:
    """The thread's files on the server; the same methods as `threadline.Thread`'s."""

    _app: RemoteThreadline
    record: ThreadRecord

    async def _fs(self, method: str, **params: Any) -> Any:
        return await self._app.call(
            f"threadline/fs/{method}", threadId=self.record.thread_id, **params
        )

    async def read_file(self, path: str) -> bytes:
        """The content of the file at `path`; see `threadline.Thread.read_file`."""
        return base64.b64decode((await self._fs("read", path=path))["dataBase64"])

    async def write_file(self, path: str, data: bytes | str) -> FileInfo:
        """Create or replace the file at `path`; see `threadline.Thread.write_file`."""
        return file_info_from_wire((await self._fs("write", path=path, **_content(data)))["file"])

    async def append_file(self, path: str, data: bytes | str) -> FileInfo:
        """Add to the end of the file at `path`; see `threadline.Thread.append_file`."""
        return file_info_from_wire((await self._fs("append", path=path, **_content(data)))["file"])

    async def stat_file(self, path: str) -> FileInfo:
        """The file or directory at `path`; see `threadline.Thread.stat_file`."""
        return file_info_from_wire((await self._fs("stat", path=path))["file"])

    async def readdir_file(self, path: str = "") -> list[FileInfo]:
        """What the directory `path` holds; see `threadline.Thread.readdir_file`."""
        return [file_info_from_wire(f) for f in (await self._fs("readdir", path=path))["files"]]

    async def find_files(self, glob: str) -> list[FileInfo]:
        """The files matching `glob`; see `threadline.Thread.find_files`."""
        return [file_info_from_wire(f) for f in (await self._fs("find", glob=glob))["files"]]

    async def delete_file(self, path: str) -> bool:
        """Delete a file or a directory; see `threadline.Thread.delete_file`."""
        return bool((await self._fs("delete", path=path))["deleted"])

    async def move_file(self, source: str, destination: str) -> FileInfo:
        """Rename a file or a directory; see `threadline.Thread.move_file`."""
        data = await self._fs("move", source=source, destination=destination)
        return file_info_from_wire(data["file"])
