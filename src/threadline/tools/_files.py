"""A thread's files as code sees them: `StoredFiles` applies each change at once (the `Thread`
handle); `FileChanges` stages a tool call's changes until its result is stored (a tool's
`ThreadState`). Both offer the same operations, checked the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from threadline.store import FileOp, Store
from threadline.types import (
    FileInfo,
    FileQuotaExceededError,
    InvalidInputError,
    NotFoundError,
    check_glob,
    check_path,
    directory_info,
    glob_pattern,
    media_type_of,
    new_id,
    parent_paths,
)

FileData = bytes | str
"""What a file is written with: bytes, or text (stored as UTF-8)."""

DEFAULT_FILE_QUOTA_BYTES = 100 * 1024 * 1024


def as_bytes(data: object) -> bytes:
    """`data` as a file's bytes: text is encoded as UTF-8. Raises `InvalidInputError`."""
    if isinstance(data, str):
        try:
            return data.encode()
        except UnicodeEncodeError:
            raise InvalidInputError(
                "file text contains a lone surrogate; send valid Unicode"
            ) from None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidInputError(f"file data must be bytes or str, not {type(data).__name__}")


def not_found(path: str) -> NotFoundError:
    return NotFoundError(f"no file or directory {path!r} in the thread", path=path)


def _inside(path: str, directory: str) -> bool:
    return directory == "" or path.startswith(directory + "/")


def children(files: Iterable[FileInfo], directory: str) -> list[FileInfo]:
    """The entries directly in `directory`, given files under it: its files, and a directory
    for each first component that more files share; by path."""
    prefix = "" if directory == "" else directory + "/"
    entries: dict[str, FileInfo] = {}
    below: dict[str, list[FileInfo]] = {}
    for info in files:
        if not info.path.startswith(prefix):
            continue
        name, slash, _ = info.path[len(prefix) :].partition("/")
        if slash:
            below.setdefault(prefix + name, []).append(info)
        else:
            entries[info.path] = info
    for path, inside in below.items():
        entries[path] = directory_info(path, inside)
    return [entries[path] for path in sorted(entries)]


def glob_directory(pattern: str) -> str:
    """The deepest directory that every path a checked glob matches is in."""
    names = pattern.split("/")[:-1]
    fixed: list[str] = []
    for name in names:
        if "*" in name or "?" in name:
            break
        fixed.append(name)
    return "/".join(fixed)


def matching(files: Iterable[FileInfo], pattern: str) -> list[FileInfo]:
    regex = glob_pattern(pattern)
    return sorted((f for f in files if regex.fullmatch(f.path)), key=lambda f: f.path)


def check_place(files: Mapping[str, FileInfo], path: str) -> None:
    """Refuse a new file at `path` when a file is where one of its directories would be, or
    `path` is a directory, given every file of the thread."""
    for parent in parent_paths(path):
        if parent in files:
            raise InvalidInputError(f"{parent!r} is a file, so nothing can be inside it", path=path)
    if any(p.startswith(path + "/") for p in files):
        raise InvalidInputError(f"{path!r} is a directory", path=path)


class StoredFiles:
    """A thread's files in its store: each change is applied at once, in its own transaction."""

    def __init__(self, store: Store, thread_id: str, quota_bytes: int | None) -> None:
        self.store = store
        self.thread_id = thread_id
        self.quota_bytes = quota_bytes

    async def read_file(self, path: str) -> bytes:
        check_path(path)
        found = await self.store.read_file(self.thread_id, path)
        if found is None:
            raise await self._missing(path)
        return found[1]

    async def _missing(self, path: str) -> Exception:
        info = await self.store.stat_file(self.thread_id, path)
        if info is not None and info.kind == "directory":
            return InvalidInputError(f"{path!r} is a directory, not a file", path=path)
        return not_found(path)

    async def write_file(self, path: str, data: FileData) -> FileInfo:
        return await self._change(
            FileOp(
                kind="write",
                path=path,
                data=as_bytes(data),
                at=time.time(),
                file_id=new_id("file"),  # the id if the file is new, the same in a retry
            )
        )

    async def append_file(self, path: str, data: FileData) -> FileInfo:
        return await self._change(
            FileOp(
                kind="append",
                path=path,
                data=as_bytes(data),
                at=time.time(),
                file_id=new_id("file"),  # the id if the file is new, the same in a retry
            )
        )

    async def stat_file(self, path: str) -> FileInfo:
        check_path(path, root=True)
        info = await self.store.stat_file(self.thread_id, path)
        if info is None:
            raise not_found(path)
        return info

    async def readdir_file(self, path: str = "") -> list[FileInfo]:
        check_path(path, root=True)
        files = await self.store.list_files(self.thread_id, path)
        if not files and path:
            info = await self.store.stat_file(self.thread_id, path)
            if info is None:
                raise not_found(path)
            raise InvalidInputError(f"{path!r} is a file, not a directory", path=path)
        return children(files, path)

    async def find_files(self, glob: str) -> list[FileInfo]:
        pattern = check_glob(glob)
        return matching(
            await self.store.list_files(self.thread_id, glob_directory(pattern)), pattern
        )

    async def delete_file(self, path: str) -> bool:
        check_path(path)
        (deleted,) = await self.store.change_files(
            self.thread_id,
            [FileOp(kind="delete", path=path, at=time.time())],
            quota_bytes=self.quota_bytes,
        )
        return deleted is not None

    async def move_file(self, source: str, destination: str) -> FileInfo:
        check_path(source)
        check_path(destination)
        return await self._change(
            FileOp(kind="move", path=source, destination=destination, at=time.time())
        )

    async def _change(self, change: FileOp) -> FileInfo:
        check_path(change.path)
        (info,) = await self.store.change_files(
            self.thread_id, [change], quota_bytes=self.quota_bytes
        )
        assert info is not None
        return info


@dataclass(frozen=True, kw_only=True, slots=True)
class _Staged:
    """A file as a tool's staged changes leave it: the first `base_size` bytes of the stored
    file `base_id` (if any), then `tail`."""

    info: FileInfo
    base_id: str | None = None
    base_size: int = 0
    tail: bytes = b""


class FileChanges:
    """A tool call's changes to its thread's files, staged until its result is stored.

    The tool, and any tool it calls with the same changes, reads them at once; nobody else
    sees them before the commit that stores the call's result (`pending()`, then `mark_stored()`).
    Each change is checked when it is made (paths, a directory in the way, the quota,
    counting the stored files and the staged changes) and raises as `StoredFiles` would.
    """

    def __init__(
        self, stored: StoredFiles, *, settle: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.stored = stored
        # Awaited before the first read: the writes of the turn so far must be in the store.
        self._settle = settle
        self._ops: list[FileOp] = []
        self._view: dict[str, _Staged | None] = {}  # path -> staged file; None: deleted
        self._lock = asyncio.Lock()  # one change at a time, even from gathered calls

    def pending(self) -> list[FileOp]:
        """The changes made so far and not stored yet, in order."""
        return list(self._ops)

    def staged_by_id(self) -> dict[str, FileInfo]:
        """The files these changes wrote and have not stored yet, by `file_id`."""
        return {
            staged.info.file_id: staged.info
            for staged in self._view.values()
            if staged is not None and staged.info.file_id is not None
        }

    def mark_stored(self) -> None:
        """The pending changes were stored: the files as stored now include them."""
        self._ops, self._view = [], {}

    async def _settled(self) -> Store:
        if self._settle is not None:
            await self._settle()
            self._settle = None
        return self.stored.store

    async def _files(self, directory: str = "") -> dict[str, FileInfo]:
        """Every file under `directory` as the staged changes leave them."""
        store = await self._settled()
        stored = await store.list_files(self.stored.thread_id, directory)
        files = {f.path: f for f in stored}
        for path, staged in self._view.items():
            if not _inside(path, directory):
                continue
            if staged is None:
                files.pop(path, None)
            else:
                files[path] = staged.info
        return files

    async def _missing(self, path: str) -> Exception:
        files = await self._files()
        if any(p.startswith(path + "/") for p in files):
            return InvalidInputError(f"{path!r} is a directory, not a file", path=path)
        return not_found(path)

    async def read_file(self, path: str) -> bytes:
        check_path(path)
        async with self._lock:
            if path not in self._view:
                found = await (await self._settled()).read_file(self.stored.thread_id, path)
                if found is not None:
                    return found[1]
                raise await self._missing(path)
            staged = self._view[path]
            if staged is None:
                raise await self._missing(path)
            if staged.base_id is None or staged.base_size == 0:
                return staged.tail
            found = await self.stored.store.read_files(self.stored.thread_id, [staged.base_id])
            base = found[staged.base_id][1] if staged.base_id in found else b""
            return base[: staged.base_size] + staged.tail

    async def write_file(self, path: str, data: FileData) -> FileInfo:
        return await self._write(path, data, append=False)

    async def append_file(self, path: str, data: FileData) -> FileInfo:
        return await self._write(path, data, append=True)

    async def _write(self, path: str, data: FileData, *, append: bool) -> FileInfo:
        check_path(path)
        content = as_bytes(data)
        async with self._lock:
            files = await self._files()
            existing = files.get(path)
            if existing is None:
                check_place(files, path)
            old_size = 0 if existing is None else existing.size
            size = old_size + len(content) if append else len(content)
            self._check_quota(files, size - old_size)
            now = time.time()
            info = FileInfo(
                path=path,
                kind="file",
                size=size,
                file_id=new_id("file") if existing is None else existing.file_id,
                media_type=media_type_of(path),
                created_at=now if existing is None else existing.created_at,
                updated_at=now,
            )
            staged = self._view.get(path)
            if not append or existing is None:
                self._view[path] = _Staged(info=info, tail=content)
            elif staged is not None:
                self._view[path] = replace(staged, info=info, tail=staged.tail + content)
            else:  # appending to a stored file: its content is read only if the tool reads it
                self._view[path] = _Staged(
                    info=info, base_id=existing.file_id, base_size=existing.size, tail=content
                )
            self._ops.append(
                FileOp(
                    kind="append" if append else "write",
                    path=path,
                    data=content,
                    at=now,
                    file_id=info.file_id,
                )
            )
            return info

    def _check_quota(self, files: Mapping[str, FileInfo], more: int) -> None:
        quota = self.stored.quota_bytes
        if quota is None or more <= 0:
            return
        total = sum(f.size for f in files.values()) + more
        if total > quota:
            raise FileQuotaExceededError(
                f"the thread's files would take {total} bytes, over their quota of {quota} "
                "bytes; nothing was written",
                quota_bytes=quota,
                needed_bytes=total,
            )

    async def stat_file(self, path: str) -> FileInfo:
        check_path(path, root=True)
        async with self._lock:
            files = await self._files(path.rpartition("/")[0])  # its folder: itself, and all in it
        if path in files:
            return files[path]
        inside = [f for p, f in files.items() if _inside(p, path)]
        if path == "" and not inside:
            return await self.stored.stat_file("")
        if not inside:
            raise not_found(path)
        return directory_info(path, inside)

    async def readdir_file(self, path: str = "") -> list[FileInfo]:
        check_path(path, root=True)
        async with self._lock:
            files = await self._files(path)
            if path and not files:
                everything = await self._files()
                if path in everything:
                    raise InvalidInputError(f"{path!r} is a file, not a directory", path=path)
                raise not_found(path)
        return children(files.values(), path)

    async def find_files(self, glob: str) -> list[FileInfo]:
        pattern = check_glob(glob)
        async with self._lock:
            files = await self._files(glob_directory(pattern))
        return matching(files.values(), pattern)

    async def delete_file(self, path: str) -> bool:
        check_path(path)
        async with self._lock:
            files = await self._files()
            gone = [p for p in files if p == path or p.startswith(path + "/")]
            if not gone:
                return False
            for p in gone:
                self._view[p] = None
            self._ops.append(FileOp(kind="delete", path=path, at=time.time()))
            return True

    async def move_file(self, source: str, destination: str) -> FileInfo:
        check_path(source)
        check_path(destination)
        async with self._lock:
            if destination.startswith(source + "/"):
                raise InvalidInputError(
                    f"cannot move {source!r} into itself ({destination!r})", path=source
                )
            files = await self._files()
            is_file = source in files
            moving = (
                [files[source]]
                if is_file
                else [f for p, f in sorted(files.items()) if p.startswith(source + "/")]
            )
            if not moving:
                raise not_found(source)
            if destination == source:
                return moving[0] if is_file else directory_info(source, moving)
            if is_file:
                if destination not in files:
                    check_place(files, destination)
            else:
                check_place(files, destination)
                if destination in files:
                    raise InvalidInputError(f"{destination!r} is a file", path=destination)
            moved: list[FileInfo] = []
            for info in moving:
                target = destination + info.path[len(source) :]
                staged = self._view.get(info.path) or _Staged(
                    info=info, base_id=info.file_id, base_size=info.size
                )
                new_info = replace(info, path=target, media_type=media_type_of(target))
                self._view[info.path] = None
                self._view[target] = replace(staged, info=new_info)
                moved.append(new_info)
            self._ops.append(
                FileOp(kind="move", path=source, destination=destination, at=time.time())
            )
            return moved[0] if is_file else directory_info(destination, moved)
