"""Paths that could leave a thread's root, or be read two ways, are refused with
`InvalidInputError` by every operation on both entry points (the `Thread` handle and a tool's
`ThreadState`), and change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import threadline as tl
from threadline.testing import tool_call

BAD_PATHS = {
    "parent": "../etc/passwd",
    "parent alone": "..",
    "parent inside": "a/../../b",
    "parent last": "a/..",
    "absolute": "/etc/passwd",
    "drive": "C:\\x",
    "drive slash": "C:/x",
    "unc": "\\\\server\\share",
    "backslash": "a\\b",
    "url": "file:///etc/passwd",
    "encoded dots": "%2e%2e/x",
    "encoded upper": "%2E%2E/x",
    "encoded dots inside": "a/%2e%2e",
    "encoded slash": "a%2fb",
    "encoded backslash": "a%5cb",
    "double encoded": "%252e%252e/x",
    "nul": "a\x00b",
    "control": "a\x01b",
    "delete": "a\x7fb",
    "newline": "a\nb",
    "c1 control": "a\x85b",
    "empty component": "a//b",
    "trailing slash": "a/",
    "dot": ".",
    "dot first": "./a",
    "dot last": "a/.",
    "dots": "...",
    "dots inside": "a/..../b",
    "trailing dot": "a.",
    "trailing space": "a ",
    "leading space": " a",
    "home": "~",
    "home path": "~/x",
    "user home": "~root/x",
    "long name": "a" * 256,
    "long path": "a/" * 2048 + "b",
    "fullwidth dots": "\uff0e\uff0e/x",
    "fullwidth slash": "a\uff0fb",
    "fullwidth backslash": "a\uff3cb",
    "two dot leader": "\u2025/x",
    "ellipsis": "\u2026",
    "fullwidth percent": "\uff05\uff12\uff45",
    "bidi override": "a\u202eb",
    "zero width": "a\u200bb",
    "line separator": "a\u2028b",
    "lone surrogate": "a\ud800",
    "star": "a*",
    "question": "a?b",
    "empty": "",
}
# Globs may use * and ?; every other refusal holds for them.
BAD_GLOBS = {
    name: path for name, path in BAD_PATHS.items() if name not in ("star", "question", "empty")
} | {"partial double star": "a**/b", "empty glob": ""}

Operation = Callable[[Any, str], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {
    "read_file": lambda files, path: files.read_file(path),
    "write_file": lambda files, path: files.write_file(path, "x"),
    "append_file": lambda files, path: files.append_file(path, b"x"),
    "stat_file": lambda files, path: files.stat_file(path),
    "readdir_file": lambda files, path: files.readdir_file(path),
    "delete_file": lambda files, path: files.delete_file(path),
    "move_file from": lambda files, path: files.move_file(path, "moved.txt"),
    "move_file to": lambda files, path: files.move_file("kept.txt", path),
}
# The root itself is a directory to list or describe, never a file to change.
ROOT_ALLOWED = ("stat_file", "readdir_file")


def _expected_refusals(path: str) -> list[str]:
    return [name for name in OPERATIONS if not (path == "" and name in ROOT_ALLOWED)]


async def refusals(files: Any) -> list[str]:
    """What was not refused with InvalidInputError: "operation path-name" for each."""
    accepted: list[str] = []
    for label, path in BAD_PATHS.items():
        for name in _expected_refusals(path):
            try:
                await OPERATIONS[name](files, path)
            except tl.InvalidInputError:
                continue
            except Exception as exc:
                accepted.append(f"{name} {label}: {type(exc).__name__}")
                continue
            accepted.append(f"{name} {label}")
    for label, pattern in BAD_GLOBS.items():
        try:
            await files.find_files(pattern)
        except tl.InvalidInputError:
            continue
        accepted.append(f"find_files {label}")
    return accepted


async def test_bad_paths_are_refused_by_the_thread_handle(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    await thread.write_file("kept.txt", "kept")

    assert await refusals(thread) == []

    assert [f.path for f in await thread.find_files("**")] == ["kept.txt"]
    assert await thread.read_file("kept.txt") == b"kept"


async def test_bad_paths_are_refused_inside_a_tool(make_app: Any) -> None:
    found: list[list[str]] = []

    @tl.tool
    async def probe(thread: tl.ThreadState[Any]) -> str:
        """Try every bad path."""
        found.append(await refusals(thread))
        return "probed"

    app, _ = await make_app([tool_call("probe"), "Probed."], tools=[probe])
    thread = await app.threads.start()
    await thread.write_file("kept.txt", "kept")

    result = await thread.run("probe")

    assert result.status == "completed"
    assert found == [[]]
    assert [f.path for f in await thread.find_files("**")] == ["kept.txt"]
    assert await thread.read_file("kept.txt") == b"kept"


@pytest.mark.parametrize(
    "path",
    [
        "notes/todo.md",
        ".gitignore",
        "a b/c d.txt",
        "100% done.md",
        "é/ü/日本.txt",
        "x~y",
        "a-1_2.tar.gz",
    ],
)
async def test_ordinary_names_are_fine(make_app: Any, path: str) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    info = await thread.write_file(path, "ok")
    assert info.path == path
    assert await thread.read_file(path) == b"ok"


async def test_paths_are_compared_exactly(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    await thread.write_file("Notes.md", "upper")
    await thread.write_file("notes.md", "lower")
    await thread.write_file("caf\u00e9.txt", "composed")
    await thread.write_file("cafe\u0301.txt", "decomposed")
    assert len(await thread.readdir_file()) == 4
