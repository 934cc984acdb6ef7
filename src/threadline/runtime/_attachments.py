"""Files attached to input (`{"type": "file", "file_id": ...}`): checked when the input is
accepted, loaded when a request is built, and copied when a file goes from one thread to
another."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from threadline.models import AttachedFile
from threadline.store import Store
from threadline.types import (
    ContentPart,
    FileInfo,
    FilePart,
    Item,
    NotFoundError,
    UserMessage,
    new_id,
)

if TYPE_CHECKING:
    from ._context import TurnContext
    from ._engine import Engine

MAX_ATTACHED_BYTES = 32 * 1024 * 1024
"""A larger attached file is named to the model, not sent (providers refuse more)."""


def _unknown(file_id: str) -> NotFoundError:
    # The same answer for an id of another thread's file as for an id of none.
    return NotFoundError(f"no file {file_id!r} in the thread", file_id=file_id)


def has_files(parts: Iterable[ContentPart]) -> bool:
    return any(isinstance(part, FilePart) for part in parts)


async def accept_attachments(
    store: Store,
    thread_id: str,
    parts: tuple[ContentPart, ...],
    staged: Mapping[str, FileInfo] | None = None,
) -> tuple[ContentPart, ...]:
    """`parts` with each file part's `filename` set to its file's path in the thread. Raises
    `NotFoundError` if a part names no file of this thread (stored, or among the `staged`
    writes of the tool that sends the parts, by id); then nothing is stored."""
    file_ids = [part.file_id for part in parts if isinstance(part, FilePart)]
    if not file_ids:
        return parts
    staged = staged or {}
    found = {**await store.stat_files(thread_id, [i for i in file_ids if i not in staged])}
    found |= {i: staged[i] for i in file_ids if i in staged}
    for file_id in file_ids:
        if file_id not in found:
            raise _unknown(file_id)
    return tuple(
        replace(part, filename=found[part.file_id].path) if isinstance(part, FilePart) else part
        for part in parts
    )


def attached_ids(items: Iterable[Item]) -> list[str]:
    """The ids of the files the items' inputs attach, in order, once each."""
    ids: dict[str, None] = {}
    for item in items:
        payload = item.payload
        if isinstance(payload, UserMessage):
            for part in payload.content:
                if isinstance(part, FilePart):
                    ids[part.file_id] = None
    return list(ids)


async def load_attachments(ctx: TurnContext, items: Sequence[Item]) -> Mapping[str, AttachedFile]:
    """The content of the files that `items` attach, read once per turn (again after a tool
    changes files). Nothing is read for a thread whose inputs attach no file."""
    if not ctx.indexed.attachments:
        return {}
    wanted = attached_ids(items)
    cache = ctx.attachments
    missing = [file_id for file_id in wanted if file_id not in cache]
    if missing:
        await ctx.flush()  # a tool's file changes may still be on their way to the store
        thread_id = ctx.thread.thread_id
        infos = await ctx.store.stat_files(thread_id, missing)
        small = [i for i, info in infos.items() if info.size <= MAX_ATTACHED_BYTES]
        contents = await ctx.store.read_files(thread_id, small) if small else {}
        for file_id in missing:
            found = contents.get(file_id)
            # A file deleted since, or too large, is named to the model but not shown.
            cache[file_id] = (
                None
                if found is None
                else AttachedFile(
                    file_id=file_id,
                    path=found[0].path,
                    media_type=found[0].media_type or "application/octet-stream",
                    data=found[1],
                )
            )
    return {file_id: file for file_id in wanted if (file := cache[file_id]) is not None}


async def copy_attachment(
    engine: Engine,
    part: FilePart,
    source_thread_id: str,
    destination_thread_id: str,
    *,
    destination: str | None = None,
) -> FilePart:
    """Copy the file `part` attaches from one thread into another (a parent's file for its
    child, a child's for its parent) and return the part as the destination sees it: the
    copy's `file_id`, and its path as `filename`. The copy goes to `destination`, by default
    the file's path in the source thread, or to the first free `name-2.ext`, `name-3.ext`...
    beside it. Raises `NotFoundError` if the source thread has no such file,
    `FileQuotaExceededError` if the copy would take the destination over its quota."""
    info = await engine.store.copy_file(
        source_thread_id,
        part.file_id,
        destination_thread_id,
        destination,
        quota_bytes=engine.settings.file_quota_bytes,
        new_file_id=new_id("file"),
        at=time.time(),
    )
    assert info.file_id is not None
    return FilePart(file_id=info.file_id, filename=info.path)
