"""A thread's files, written once for every SQL store (see `_sql`).

Two tables. `files` has a row per file, keyed by the thread's number and the path: its
`file_id` (unique across threads, kept through rewrites, appends and moves), its size and
times. `file_chunks` holds the content, keyed by the thread's number, the `file_id` and the
chunk's number: `CHUNK_BYTES` a chunk, the last one shorter. Directories are not stored: a
directory is there while a file's path runs through it.

Every change of a thread's files takes the thread row first (as every write of a thread does),
so changes of one thread take turns and each decides from what the previous committed; a turn's
write holds it through its lease fence. Paths are checked here too (`check_path`), whoever
calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import (
    CorruptDataError,
    FileInfo,
    FileQuotaExceededError,
    InvalidInputError,
    NotFoundError,
    check_path,
    directory_info,
    media_type_of,
    new_id,
    parent_paths,
    under,
)

from ._ops_threads import thread_row
from ._sql import Op, many, marks, one, rows, run
from ._writes import FileOp

CHUNK_BYTES = 256 * 1024
_COLUMNS = "path, file_id, size, created_at, updated_at"
_THREAD_KEY = "(SELECT tkey FROM {threads} WHERE thread_id = ?)"
_BATCH = 500  # ids or paths in one IN list


def _file(row: Sequence[Any]) -> FileInfo:
    path = str(row[0])
    return FileInfo(
        path=path,
        kind="file",
        size=int(row[2]),
        file_id=str(row[1]),
        media_type=media_type_of(path),
        created_at=float(row[3]),
        updated_at=float(row[4]),
    )


def _not_found(path: str) -> NotFoundError:
    return NotFoundError(f"no file or directory {path!r} in the thread", path=path)


# -- reads ---------------------------------------------------------------------------------


def stat_file(thread_id: str, path: str) -> Op[FileInfo | None]:
    """The file or directory at `path` (`""`: the root, there while the thread is)."""
    check_path(path, root=True)
    if path == "":
        thread = yield one("SELECT tkey, created_at FROM {threads} WHERE thread_id = ?", thread_id)
        if thread is None:
            return None
        found = yield rows(f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = ?", thread[0])
        return directory_info("", [_file(r) for r in found], float(thread[1]))
    row = yield one(
        f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = {_THREAD_KEY} AND path = ?",
        thread_id,
        path,
    )
    if row is not None:
        return _file(row)
    low, high = under(path)
    found = yield rows(
        f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = {_THREAD_KEY} AND path >= ? AND path < ?",
        thread_id,
        low,
        high,
    )
    return directory_info(path, [_file(r) for r in found]) if found else None


def list_files(thread_id: str, directory: str) -> Op[list[FileInfo]]:
    """Every file under `directory` (`""`: the thread's), however deep, by path."""
    check_path(directory, root=True)
    if directory == "":
        found = yield rows(
            f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = {_THREAD_KEY} ORDER BY path",
            thread_id,
        )
    else:
        low, high = under(directory)
        found = yield rows(
            f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = {_THREAD_KEY} AND path >= ? AND "
            "path < ? ORDER BY path",
            thread_id,
            low,
            high,
        )
    return [_file(r) for r in found]


def read_file(thread_id: str, path: str) -> Op[tuple[FileInfo, bytes] | None]:
    check_path(path)
    # One statement: the row and its chunks as of one moment, on every store.
    found = yield rows(
        f"SELECT f.path, f.file_id, f.size, f.created_at, f.updated_at, c.data FROM {{files}} f "
        "LEFT JOIN {file_chunks} c ON c.tkey = f.tkey AND c.file_id = f.file_id "
        f"WHERE f.tkey = {_THREAD_KEY} AND f.path = ? ORDER BY c.number",
        thread_id,
        path,
    )
    return _contents(found).get(path) if found else None


def read_files(thread_id: str, file_ids: Sequence[str]) -> Op[dict[str, tuple[FileInfo, bytes]]]:
    """The thread's files with these ids, by id, with their content; ids of no file of the
    thread are left out."""
    contents: dict[str, tuple[FileInfo, bytes]] = {}
    for start in range(0, len(file_ids), _BATCH):
        batch = list(file_ids[start : start + _BATCH])
        found = yield rows(
            "SELECT f.path, f.file_id, f.size, f.created_at, f.updated_at, c.data FROM "
            "{files} f LEFT JOIN {file_chunks} c ON c.tkey = f.tkey AND c.file_id = f.file_id "
            f"WHERE f.tkey = {_THREAD_KEY} AND f.file_id IN ({marks(len(batch))}) "
            "ORDER BY f.file_id, c.number",
            thread_id,
            *batch,
        )
        for info, data in _contents(found).values():
            assert info.file_id is not None
            contents[info.file_id] = (info, data)
    return contents


def stat_files(thread_id: str, file_ids: Sequence[str]) -> Op[dict[str, FileInfo]]:
    """The thread's files with these ids, by id, without their content."""
    infos: dict[str, FileInfo] = {}
    for start in range(0, len(file_ids), _BATCH):
        batch = list(file_ids[start : start + _BATCH])
        found = yield rows(
            f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = {_THREAD_KEY} AND file_id IN "
            f"({marks(len(batch))})",
            thread_id,
            *batch,
        )
        for row in found:
            info = _file(row)
            infos[str(row[1])] = info
    return infos


def _contents(found: Sequence[Sequence[Any]]) -> dict[str, tuple[FileInfo, bytes]]:
    """Rows of files joined with their chunks, in chunk order: each file and its content."""
    chunks: dict[str, list[bytes]] = {}
    infos: dict[str, FileInfo] = {}
    for row in found:
        path = str(row[0])
        if path not in infos:
            infos[path] = _file(row)
            chunks[path] = []
        if row[5] is not None:
            chunks[path].append(bytes(row[5]))
    contents: dict[str, tuple[FileInfo, bytes]] = {}
    for path, info in infos.items():
        data = b"".join(chunks[path])
        if len(data) != info.size:
            raise CorruptDataError(
                f"the content of file {info.file_id} is not the size its row says: the "
                "database was changed outside threadline or is damaged",
                table="file_chunks",
                row_id=info.file_id,
            )
        contents[path] = (info, data)
    return contents


# -- writes --------------------------------------------------------------------------------


def change_files(
    thread_id: str, changes: Sequence[FileOp], quota_bytes: int | None
) -> Op[list[FileInfo | None]]:
    """Apply `changes` in order, in one transaction, each checked: a path where a directory
    is (or inside a file), a move of nothing, a total over `quota_bytes` raise and nothing is
    written. Returns what each change left at its path (a move: at its destination); None for
    a delete that found nothing."""
    for change in changes:
        _check_change(change)
    tkey = (yield from thread_row(thread_id, lock=True))[6]
    results: list[FileInfo | None] = []
    for change in changes:
        results.append((yield from _apply(tkey, change, quota_bytes, strict=True)))
    return results


def apply_turn_files(thread_id: str, changes: Sequence[FileOp]) -> Op[None]:
    """A tool's changes, stored with its result by the turn's write (which holds the thread
    row): applied to the files as they are now, skipping what no longer applies. Never raises
    for what the files hold: the tool's result is stored whatever others did meanwhile."""
    for change in changes:
        _check_change(change)
    row = yield one("SELECT tkey FROM {threads} WHERE thread_id = ?", thread_id)
    for change in changes:
        yield from _apply(row[0], change, None, strict=False)


def _check_change(change: FileOp) -> None:
    check_path(change.path)
    if change.kind == "move":
        check_path(change.destination)
    elif change.kind not in ("write", "append", "delete"):
        raise InvalidInputError(f"unknown file change {change.kind!r}")


def _apply(tkey: int, change: FileOp, quota: int | None, *, strict: bool) -> Op[FileInfo | None]:
    if change.kind in ("write", "append"):
        return (yield from _write(tkey, change, quota, strict=strict))
    if change.kind == "delete":
        return (yield from _delete(tkey, change.path))
    assert change.destination is not None
    return (yield from _move(tkey, change.path, change.destination, strict=strict))


def _write(tkey: int, change: FileOp, quota: int | None, *, strict: bool) -> Op[FileInfo]:
    path, data, append = change.path, change.data, change.kind == "append"
    existing = yield one(
        f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = ? AND path = ?", tkey, path
    )
    if existing is None and strict:
        yield from _check_place(tkey, path)
    old_size = 0 if existing is None else int(existing[2])
    size = old_size + len(data) if append else len(data)
    if quota is not None and size > old_size:
        yield from _check_quota(tkey, size - old_size, quota)
    start, head = 0, b""
    if existing is None:
        file_id, created_at = change.file_id or new_id("file"), change.at
        yield run(
            f"INSERT INTO {{files}} (tkey, {_COLUMNS}) VALUES ({marks(6)})",
            tkey,
            path,
            file_id,
            size,
            created_at,
            change.at,
        )
    else:
        file_id, created_at = str(existing[1]), float(existing[3])
        yield run(
            "UPDATE {files} SET size = ?, updated_at = ? WHERE tkey = ? AND path = ?",
            size,
            change.at,
            tkey,
            path,
        )
        if append:
            start, kept = divmod(old_size, CHUNK_BYTES)
            if kept:  # the last chunk is short: it is written again, longer
                last = yield one(
                    "SELECT data FROM {file_chunks} WHERE tkey = ? AND file_id = ? AND number = ?",
                    tkey,
                    file_id,
                    start,
                )
                if last is None or len(last[0]) != kept:
                    raise CorruptDataError(
                        f"the content of file {file_id} is not the size its row says",
                        table="file_chunks",
                        row_id=file_id,
                    )
                head = bytes(last[0])
                yield run(
                    "DELETE FROM {file_chunks} WHERE tkey = ? AND file_id = ? AND number = ?",
                    tkey,
                    file_id,
                    start,
                )
        else:
            yield run("DELETE FROM {file_chunks} WHERE tkey = ? AND file_id = ?", tkey, file_id)
    content = head + data
    if content:
        yield many(
            "INSERT INTO {file_chunks} (tkey, file_id, number, data) VALUES (?, ?, ?, ?)",
            [
                (tkey, file_id, start + n, content[offset : offset + CHUNK_BYTES])
                for n, offset in enumerate(range(0, len(content), CHUNK_BYTES))
            ],
        )
    return _file((path, file_id, size, created_at, change.at))


def _check_quota(tkey: int, more: int, quota: int) -> Op[None]:
    used = yield one("SELECT COALESCE(SUM(size), 0) FROM {files} WHERE tkey = ?", tkey)
    total = int(used[0]) + more
    if total > quota:
        raise FileQuotaExceededError(
            f"the thread's files would take {total} bytes, over their quota of {quota} bytes; "
            "nothing was written",
            quota_bytes=quota,
            needed_bytes=total,
        )


def _check_place(tkey: int, path: str) -> Op[None]:
    """Refuse a new file at `path` when a file is where one of its directories would be, or
    a directory is at `path` itself."""
    parents = parent_paths(path)
    if parents:
        found = yield one(
            f"SELECT path FROM {{files}} WHERE tkey = ? AND path IN ({marks(len(parents))})",
            tkey,
            *parents,
        )
        if found is not None:
            raise InvalidInputError(
                f"{found[0]!r} is a file, so nothing can be inside it", path=path
            )
    low, high = under(path)
    inside = yield one(
        "SELECT path FROM {files} WHERE tkey = ? AND path >= ? AND path < ?", tkey, low, high
    )
    if inside is not None:
        raise InvalidInputError(f"{path!r} is a directory", path=path)


def _at_or_under(tkey: int, path: str) -> Op[list[FileInfo]]:
    low, high = under(path)
    found = yield rows(
        f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = ? AND (path = ? OR (path >= ? AND "
        "path < ?)) ORDER BY path",
        tkey,
        path,
        low,
        high,
    )
    return [_file(r) for r in found]


def _delete(tkey: int, path: str) -> Op[FileInfo | None]:
    found = yield from _at_or_under(tkey, path)
    if not found:
        return None
    yield from _drop(tkey, found)
    if found[0].path == path:
        return found[0]
    return directory_info(path, found)


def _drop(tkey: int, files: Sequence[FileInfo]) -> Op[None]:
    """Delete these files of the thread, rows and content."""
    for start in range(0, len(files), _BATCH):
        batch = files[start : start + _BATCH]
        ids = [f.file_id for f in batch]
        paths = [f.path for f in batch]
        yield run(
            f"DELETE FROM {{file_chunks}} WHERE tkey = ? AND file_id IN ({marks(len(ids))})",
            tkey,
            *ids,
        )
        yield run(
            f"DELETE FROM {{files}} WHERE tkey = ? AND path IN ({marks(len(paths))})",
            tkey,
            *paths,
        )


def _move(tkey: int, source: str, destination: str, *, strict: bool) -> Op[FileInfo | None]:
    if destination.startswith(source + "/"):
        if strict:
            raise InvalidInputError(
                f"cannot move {source!r} into itself ({destination!r})", path=source
            )
        return None
    found = yield from _at_or_under(tkey, source)
    if not found:
        if strict:
            raise _not_found(source)
        return None
    if destination == source:
        return found[0] if found[0].path == source else directory_info(source, found)
    is_file = found[0].path == source
    moving = found[:1] if is_file else found
    targets = [destination + f.path[len(source) :] for f in moving]
    if strict:
        if is_file:
            yield from _check_place_for(tkey, destination)
        else:
            yield from _check_place(tkey, destination)
            taken = yield one(
                "SELECT path FROM {files} WHERE tkey = ? AND path = ?", tkey, destination
            )
            if taken is not None:
                raise InvalidInputError(f"{destination!r} is a file", path=destination)
    replaced: list[FileInfo] = []
    for start in range(0, len(targets), _BATCH):
        batch = targets[start : start + _BATCH]
        found_there = yield rows(
            f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = ? AND path IN ({marks(len(batch))})",
            tkey,
            *batch,
        )
        replaced += [_file(r) for r in found_there]
    yield from _drop(tkey, replaced)
    yield many(
        "UPDATE {files} SET path = ? WHERE tkey = ? AND path = ?",
        [(target, tkey, f.path) for f, target in zip(moving, targets, strict=True)],
    )
    moved = [
        FileInfo(
            path=target,
            kind="file",
            size=f.size,
            file_id=f.file_id,
            media_type=media_type_of(target),
            created_at=f.created_at,
            updated_at=f.updated_at,
        )
        for f, target in zip(moving, targets, strict=True)
    ]
    return moved[0] if is_file else directory_info(destination, moved)


def _check_place_for(tkey: int, path: str) -> Op[None]:
    """Refuse moving a file to `path` when no file could be created there; a file already
    at `path` is fine (it is replaced)."""
    existing = yield one("SELECT path FROM {files} WHERE tkey = ? AND path = ?", tkey, path)
    if existing is None:
        yield from _check_place(tkey, path)


def copy_file(
    source_thread_id: str,
    file_id: str,
    destination_thread_id: str,
    destination: str | None,
    quota_bytes: int | None,
    new_file_id: str,
    at: float,
) -> Op[FileInfo]:
    """Copy the source thread's file `file_id` into the destination thread at `destination`
    (None: the file's path in the source thread), or, if that place is taken, at the first
    free `name-2.ext`, `name-3.ext`... An id of no file of the source thread is
    `NotFoundError` (whoever's it is)."""
    if destination is not None:
        check_path(destination)
    # Both thread rows, in one order: two copies in opposite directions cannot deadlock.
    locked = yield rows(
        "SELECT thread_id, tkey FROM {threads} WHERE thread_id IN (?, ?) ORDER BY thread_id {lock}",
        source_thread_id,
        destination_thread_id,
    )
    keys = {str(thread_id): tkey for thread_id, tkey in locked}
    if destination_thread_id not in keys:
        raise NotFoundError(f"no thread {destination_thread_id!r}", thread_id=destination_thread_id)
    unknown = NotFoundError(f"no file {file_id!r} in the thread", file_id=file_id)
    if source_thread_id not in keys:
        raise unknown
    source_key, destination_key = keys[source_thread_id], keys[destination_thread_id]
    row = yield one(
        f"SELECT {_COLUMNS} FROM {{files}} WHERE tkey = ? AND file_id = ?", source_key, file_id
    )
    if row is None:
        raise unknown
    source = _file(row)
    path = yield from _free_path(destination_key, destination or source.path)
    yield from _check_place(destination_key, path)
    if quota_bytes is not None:
        yield from _check_quota(destination_key, source.size, quota_bytes)
    yield run(
        f"INSERT INTO {{files}} (tkey, {_COLUMNS}) VALUES ({marks(6)})",
        destination_key,
        path,
        new_file_id,
        source.size,
        at,
        at,
    )
    yield run(
        "INSERT INTO {file_chunks} (tkey, file_id, number, data) SELECT ?, ?, number, data "
        "FROM {file_chunks} WHERE tkey = ? AND file_id = ?",
        destination_key,
        new_file_id,
        source_key,
        file_id,
    )
    return _file((path, new_file_id, source.size, at, at))


_MAX_NAME_TRIES = 1000


def _free_path(tkey: int, path: str) -> Op[str]:
    """`path`, or the first of `stem-2.ext`, `stem-3.ext`... that names neither a file nor a
    directory of the thread."""
    folder, slash, name = path.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not stem:  # no extension, or a dot file
        stem, dot, extension = name, "", ""
    for n in range(1, _MAX_NAME_TRIES + 1):
        candidate = path if n == 1 else f"{folder}{slash}{stem}-{n}{dot}{extension}"
        check_path(candidate)
        low, high = under(candidate)
        taken = yield one(
            "SELECT path FROM {files} WHERE tkey = ? AND (path = ? OR (path >= ? AND path < ?))",
            tkey,
            candidate,
            low,
            high,
        )
        if taken is None:
            return candidate
    raise InvalidInputError(f"no free name like {path!r} in the thread", path=path)
