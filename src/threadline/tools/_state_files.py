from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from threadline.types import ConfigurationError, FileInfo

from ._files import FileChanges, FileData


@runtime_checkable
class FileServices(Protocol):
    """What the runtime lends a tool for its thread's files: the changes of its call."""

    @property
    def files(self) -> FileChanges: ...


class FileAccess:
    """The thread's files, for a tool (see `ThreadState`).

    A tool's writes are staged: it (and the tools it calls) reads them at once, and they are
    stored in the same transaction as its result, so a call cut off by a crash leaves no
    half of them behind. A tool that raises stores none. Paths are relative to the thread's
    root (`"notes/todo.md"`); anything that could leave it is refused (see `check_path`).

        @tl.tool
        async def save(name: str, text: str, thread: tl.ThreadState) -> str:
            info = await thread.write_file(f"notes/{name}.md", text)
            return f"saved {info.path}"
    """

    _services: Any  # set by `ThreadState`

    def _file_changes(self) -> FileChanges:
        services = self._services
        if not isinstance(services, FileServices):
            raise ConfigurationError("the thread's files need a running turn")
        return services.files

    async def read_file(self, path: str) -> bytes:
        """The content of the file at `path`, with this call's own writes. Raises
        `NotFoundError`, or `InvalidInputError` for a bad path or a directory."""
        return await self._file_changes().read_file(path)

    async def write_file(self, path: str, data: FileData) -> FileInfo:
        """Create or replace the file at `path` (text is stored as UTF-8), stored with this
        call's result. Raises `InvalidInputError` for a bad path or a directory in the way,
        `FileQuotaExceededError` over the thread's quota."""
        return await self._file_changes().write_file(path, data)

    async def append_file(self, path: str, data: FileData) -> FileInfo:
        """Add `data` at the end of the file at `path`, creating it if needed."""
        return await self._file_changes().append_file(path, data)

    async def stat_file(self, path: str) -> FileInfo:
        """The file or directory at `path` (`""`: the root). Raises `NotFoundError`."""
        return await self._file_changes().stat_file(path)

    async def readdir_file(self, path: str = "") -> list[FileInfo]:
        """The files and directories directly in the directory `path` (`""`: the root), by
        path. Raises `NotFoundError`, or `InvalidInputError` for a file."""
        return await self._file_changes().readdir_file(path)

    async def find_files(self, glob: str) -> list[FileInfo]:
        """The files whose path matches `glob`, by path: `*` matches within a component,
        `?` one character of one, `**` any number of components (`"**/*.md"`)."""
        return await self._file_changes().find_files(glob)

    async def delete_file(self, path: str) -> bool:
        """Delete the file at `path`, or the directory and every file under it. False if
        there was nothing."""
        return await self._file_changes().delete_file(path)

    async def move_file(self, source: str, destination: str) -> FileInfo:
        """Rename a file (replacing a file at `destination`) or a directory (to a path that
        is free). The file keeps its `file_id`. Raises `NotFoundError`, `InvalidInputError`."""
        return await self._file_changes().move_file(source, destination)
