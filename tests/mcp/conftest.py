"""Real MCP servers for the MCP client's tests: `mcp-server-time` and `mcp-server-git` from PyPI
(the dev extra), `@modelcontextprotocol/server-everything` from npm (installed once into
`~/.cache/threadline/npm/server-everything`), and a small server of our own."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

EVERYTHING_PACKAGE = "@modelcontextprotocol/server-everything"
EVERYTHING_VERSION = "2026.8.31"
INSTALL_SECONDS = 300


def _cache() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "threadline" / "npm" / "server-everything"


def _install_everything(npm: str) -> Path:
    target = _cache()
    entry = target / "node_modules" / EVERYTHING_PACKAGE / "dist" / "index.js"
    version_file = target / "version.txt"
    if (
        entry.is_file()
        and version_file.is_file()
        and version_file.read_text() == EVERYTHING_VERSION
    ):
        return entry
    target.parent.mkdir(parents=True, exist_ok=True)
    # Installed aside and renamed into place: a cut install is never taken for a whole one.
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix="server-everything.installing-"))
    try:
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(staging),
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                f"{EVERYTHING_PACKAGE}@{EVERYTHING_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm install failed:\n{done.stderr[-4000:]}")
        (staging / "version.txt").write_text(EVERYTHING_VERSION)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not entry.is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return entry


@pytest.fixture(scope="session")
def everything() -> tuple[str, str]:
    """`(node, path of server-everything's entry script)`. Skips without Node and npm,
    except in CI (`CI` set), where it fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("the MCP client tests need Node and npm on PATH; CI must run them")
        pytest.skip("the server-everything tests need Node and npm on PATH")
    return node, str(_install_everything(npm))


@pytest.fixture
def start_everything(
    everything: tuple[str, str],
) -> Iterator[Callable[[str, int], subprocess.Popen[bytes]]]:
    """Start server-everything over HTTP: `start(mode, port)` returns the process; each is
    stopped when the test ends."""
    node, script = everything
    started: list[subprocess.Popen[bytes]] = []

    def start(mode: str, port: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [node, script, mode],
            env={"PATH": os.environ.get("PATH", ""), "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
