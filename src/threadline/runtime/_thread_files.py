from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.tools import FileData, StoredFiles
from threadline.types import FileInfo, ThreadRecord

if TYPE_CHECKING:
    from ._engine import Engine


class ThreadFiles:
    """The thread's files, from outside (see `Thread`).

    Each change applies at once, in a transaction of its own, and every process sharing the
    store sees it. Paths are relative to the thread's root (`"notes/todo.md"`); anything that
    could leave it is refused with `InvalidInputError` and changes nothing.

        await thread.write_file("notes/todo.md", "- call Ann\\n")
        print(await thread.read_file("notes/todo.md"))
    """

    _engine: Engine
    record: ThreadRecord

    def _stored_files(self) -> StoredFiles:
        engine = self._engine
        return StoredFiles(engine.store, self.record.thread_id, engine.settings.file_quota_bytes)

    async def read_file(self, path: str) -> bytes:
        """The content of the file at `path`. Raises `NotFoundError`, or `InvalidInputError`
        for a bad path or a directory."""
        return await self._stored_files().read_file(path)

    async def write_file(self, path: str, data: FileData) -> FileInfo:
        """Create or replace the file at `path` (text is stored as UTF-8). Raises
        `InvalidInputError` for a bad path or a directory in the way,
        `FileQuotaExceededError` over the thread's quota."""
        return await self._stored_files().write_file(path, data)

    async def append_file(self, path: str, data: FileData) -> FileInfo:
        """Add `data` at the end of the file at `path`, creating it if needed."""
        return await self._stored_files().append_file(path, data)

    async def stat_file(self, path: str) -> FileInfo:
        """The file or directory at `path` (`""`: the root). Raises `NotFoundError`."""
        return await self._stored_files().stat_file(path)

    async def readdir_file(self, path: str = "") -> list[FileInfo]:
        """The files and directories directly in the directory `path` (`""`: the root), by
        path. Raises `NotFoundError`, or `InvalidInputError` for a file."""
        return await self._stored_files().readdir_file(path)

    async def find_files(self, glob: str) -> list[FileInfo]:
        """The files whose path matches `glob`, by path: `*` matches within a component,
        `?` one character of one, `**` any number of components (`"**/*.md"`)."""
        return await self._stored_files().find_files(glob)

    async def delete_file(self, path: str) -> bool:
        """Delete the file at `path`, or the directory and every file under it. False if
        there was nothing."""
        return await self._stored_files().delete_file(path)

    async def move_file(self, source: str, destination: str) -> FileInfo:
        """Rename a file (replacing a file at `destination`) or a directory (to a path that
        is free). The file keeps its `file_id`. Raises `NotFoundError`, `InvalidInputError`."""
        return await self._stored_files().move_file(source, destination)
