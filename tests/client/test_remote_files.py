"""A thread's files over the app-server WebSocket: the same answers and errors as in-process,
and one caller's threads are not another's."""

from __future__ import annotations

import pytest

import threadline as tl
from threadline.client import RemoteThreadline


async def test_files_round_trip_as_in_process(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    written = await thread.write_file("notes/todo.md", "- call Ann\n")
    await thread.append_file("notes/todo.md", b"- pay Bob\n")
    await thread.write_file("data/blob.bin", bytes(range(256)))

    assert await thread.read_file("notes/todo.md") == b"- call Ann\n- pay Bob\n"
    assert await thread.read_file("data/blob.bin") == bytes(range(256))
    same = await local.threads.resume(thread.id)
    assert await thread.stat_file("notes/todo.md") == await same.stat_file("notes/todo.md")
    assert written.file_id == (await same.stat_file("notes/todo.md")).file_id
    assert await thread.readdir_file() == await same.readdir_file()
    assert [f.path for f in await thread.find_files("**/*.md")] == ["notes/todo.md"]

    moved = await thread.move_file("notes/todo.md", "done.md")
    assert moved.file_id == written.file_id
    assert await thread.delete_file("done.md") is True
    assert await thread.delete_file("done.md") is False
    assert [f.path for f in await same.find_files("**")] == ["data/blob.bin"]


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/%2e%2e/b", "a\x00b"])
async def test_a_path_outside_the_root_is_refused_remotely(
    remote: RemoteThreadline, local: tl.Threadline, path: str
) -> None:
    thread = await remote.threads.start()
    with pytest.raises(tl.InvalidInputError):
        await thread.write_file(path, "x")
    assert await (await local.threads.resume(thread.id)).find_files("**") == []


async def test_a_missing_file_is_not_found(remote: RemoteThreadline) -> None:
    thread = await remote.threads.start()
    with pytest.raises(tl.NotFoundError):
        await thread.read_file("nothing.txt")
    with pytest.raises(tl.InvalidInputError):
        await thread._fs("write", path="a.txt", dataBase64="not base64!")  # pyright: ignore[reportPrivateUsage]
