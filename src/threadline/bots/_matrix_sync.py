"""Where the Matrix adapter's sync stands, kept durably: the sync token up to which every
received event was handled. Events are handled concurrently (one conversation at a time), so
a batch's token is kept only once its events and every earlier batch's are done; a bot that
dies before then receives them again when it restarts, and its turns' client keys make that
safe."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from threadline.types import ConfigurationError

logger = logging.getLogger("threadline.bots")


class SyncPosition:
    """The handled sync token of `user_id`, in the file at `path` (in memory only for None).

    `add(token, handling)` records a sync batch and the handling of its events; the token is
    saved once all of them (and those of earlier batches) are done. An event whose handling
    was cancelled is not done: its batch is never saved, so the event is delivered again
    after a restart.
    """

    def __init__(self, path: Path | None, user_id: str) -> None:
        self.path = path
        self.user_id = user_id
        self.handled: str | None = None  # the token up to which everything was handled
        self._saved: str | None = None
        self._batches: deque[tuple[str, list[asyncio.Future[None]]]] = deque()
        self._changed = asyncio.Event()
        self._saving: asyncio.Task[None] | None = None
        self._closing = False

    def load(self) -> str | None:
        """The token saved by the last run, None if there is none. Raises
        `ConfigurationError` for a file that is not one of ours, or is another user's."""
        self._batches.clear()  # a restarted adapter forgets what it was handling
        self.handled = self._saved = None
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the Matrix sync position in {self.path}: {type(exc).__name__}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("next_batch"), str):
            raise ConfigurationError(f"{self.path} does not hold a Matrix sync position")
        if data.get("user_id") != self.user_id:
            raise ConfigurationError(
                f"{self.path} holds the sync position of {data.get('user_id')!r}, not of "
                f"{self.user_id!r}: give each Matrix account its own file"
            )
        self.handled = self._saved = data["next_batch"]
        return self.handled

    def start(self) -> None:
        self._closing = False
        self._saving = asyncio.get_running_loop().create_task(self._save_when_changed())

    def add(self, token: str, handling: Sequence[asyncio.Future[None]]) -> None:
        """A sync batch up to `token` whose events are being handled by `handling`."""
        pending = [f for f in handling if not f.done()]
        self._batches.append((token, pending))
        for future in pending:
            future.add_done_callback(self._one_done)
        self._advance()

    async def close(self) -> None:
        """Stop saving in the background; save what is handled by now."""
        if self._saving is not None:
            self._closing = True
            self._changed.set()
            await self._saving  # lets a save under way finish
            self._saving = None
        self._advance()
        await self._save()

    def _one_done(self, future: asyncio.Future[None]) -> None:
        self._advance()

    def _advance(self) -> None:
        while self._batches:
            token, handling = self._batches[0]
            if not all(f.done() and not f.cancelled() for f in handling):
                return
            self._batches.popleft()
            self.handled = token
            self._changed.set()

    async def _save_when_changed(self) -> None:
        while not self._closing:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._save()
            except OSError as exc:  # kept in memory; the next change tries again
                logger.warning("could not save the Matrix sync position: %s", exc)

    async def _save(self) -> None:
        token = self.handled
        if self.path is None or token is None or token == self._saved:
            return
        await asyncio.to_thread(_write, self.path, {"user_id": self.user_id, "next_batch": token})
        self._saved = token


def _write(path: Path, data: dict[str, str]) -> None:
    """Replace the file's content atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        json.dump(data, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
