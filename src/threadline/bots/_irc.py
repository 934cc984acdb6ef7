"""`IRC`: the bot on an IRC network, on asyncio streams. IRC has no message ids, edits,
history, threads, files, reactions or buttons, so it is where the bot shows every degradation:
answers are posted once complete, choices are numbered replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import Sequence

from threadline.types import ConfigurationError, InvalidInputError

from ._adapter import Adapter, EventSink
from ._irc_lines import Line, message_lines, parse, plain
from ._types import Capability, Message, MessageRef, User
from ._ui import Card

logger = logging.getLogger("threadline.bots")

_RECONNECT_DELAYS = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)
_CHANNEL_PREFIXES = "#&+!"


class IRC(Adapter):
    """An IRC connection for a `Bot`: it joins `channels` as `nick` and hears messages that
    address it (`nick: ...`, or its nick anywhere in the line) and direct messages.

        tl.bots.IRC("irc.libera.chat", 6697, "helper", channels=["#ops"], tls=True)

    A channel's conversation key is the channel (`#ops`); a direct chat's is the other
    person's nick. If the nick is taken, `_` is appended until one is free (`user_id` is the
    nick in use). A dropped connection is made again (at once, then after 1, 2, 5, 10 and every 30 s).

    Raises `ConfigurationError` for a nick or channel IRC would refuse.
    """

    platform = "irc"
    capabilities: frozenset[Capability] = frozenset()
    max_message_length = 1000

    def __init__(
        self,
        host: str,
        port: int = 6667,
        nick: str = "threadline",
        *,
        channels: Sequence[str] = (),
        password: str | None = None,
        realname: str = "threadline bot",
        tls: bool = False,
        connect_timeout: float = 30.0,
    ) -> None:
        if not nick or any(c in nick for c in " ,*?!@:#\r\n\x00") or nick[0].isdigit():
            raise ConfigurationError(f"{nick!r} is not a valid IRC nick")
        for channel in channels:
            if (
                not channel
                or channel[0] not in _CHANNEL_PREFIXES
                or any(c in channel for c in " ,\x07\r\n\x00")
            ):
                raise ConfigurationError(f"{channel!r} is not a valid IRC channel")
        if password is not None and any(c in password for c in "\r\n\x00"):
            raise ConfigurationError("an IRC password cannot hold line breaks")
        self.host = host
        self.port = port
        self.nick = nick
        self.channels = tuple(channels)
        self.user_id = nick
        self._password = password
        self._realname = realname
        self._tls = tls
        self._connect_timeout = connect_timeout
        self._sink: EventSink | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listening: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._stopping = False

    # -- the protocol ----------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._stopping = False
        await asyncio.wait_for(self._connect(), self._connect_timeout)
        self._listening = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        self._stopping = True
        writer = self._writer
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(OSError):
                await self._send("QUIT :bye")
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
            self._listening = None
        await self._close()

    async def post(
        self, conversation: str, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        if not conversation or any(c in conversation for c in " ,\r\n\x00"):
            raise InvalidInputError(f"{conversation!r} is not an IRC channel or nick")
        for line in message_lines(card.plain_text()):
            await self._send(f"PRIVMSG {conversation} :{line}")
        return MessageRef(platform=self.platform, conversation=conversation, message_id=_new_id())

    # -- connection ------------------------------------------------------------------------

    async def _connect(self) -> None:
        context = ssl.create_default_context() if self._tls else None
        self._reader, self._writer = await asyncio.open_connection(
            self.host, self.port, ssl=context
        )
        if self._password:
            await self._send(f"PASS {self._password}")
        self.user_id = self.nick
        await self._send(f"NICK {self.user_id}")
        await self._send(f"USER {self.nick} 0 * :{self._realname}")
        await self._until_welcomed()
        joining = {c.lower() for c in self.channels}
        for channel in self.channels:
            await self._send(f"JOIN {channel}")
        while joining:
            line = await self._read_line()
            if line.command == "366" and len(line.params) > 1:  # end of the channel's names
                joining.discard(line.params[1].lower())
            elif line.command in ("403", "405", "471", "473", "474", "475"):
                params = list(line.params)
                channel = params[1] if len(params) > 1 else "?"
                raise ConfigurationError(f"IRC refused to join {channel}: {' '.join(params[2:])}")

    async def _until_welcomed(self) -> None:
        while True:
            line = await self._read_line()
            if line.command == "001":
                if line.params:
                    self.user_id = line.params[0]
                return
            if line.command in ("432", "433", "436"):  # erroneous or taken nick
                self.user_id += "_"
                await self._send(f"NICK {self.user_id}")
            elif line.command in ("464", "465", "ERROR"):
                raise ConfigurationError(f"the IRC server refused the bot: {line.params[-1:]}")

    async def _read_line(self) -> Line:
        """The next line that is not a PING (answered here)."""
        reader = self._reader
        assert reader is not None
        while True:
            raw = await reader.readline()
            if not raw:
                raise ConnectionError("the IRC server closed the connection")
            line = parse(raw.decode("utf-8", errors="replace"))
            if line is None:
                continue
            if line.command == "PING":
                await self._send("PONG :" + (line.params[-1] if line.params else ""))
                continue
            return line

    async def _listen(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                while True:
                    line = await self._read_line()
                    attempt = 0
                    self._on_line(line)
            except (ConnectionError, OSError) as exc:
                if self._stopping:
                    return
                logger.warning("the IRC connection dropped: %s", type(exc).__name__)
            await self._close()
            while not self._stopping:
                await asyncio.sleep(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)])
                attempt += 1
                try:
                    await asyncio.wait_for(self._connect(), self._connect_timeout)
                    break
                except (ConnectionError, OSError, TimeoutError, ConfigurationError) as exc:
                    logger.warning("reconnecting to IRC failed: %s", type(exc).__name__)
                    await self._close()

    def _on_line(self, line: Line) -> None:
        if line.command == "NICK" and line.nick == self.user_id and line.params:
            self.user_id = line.params[0]
            return
        if line.command != "PRIVMSG" or len(line.params) < 2 or line.nick is None:
            return
        target, text = line.params[0], line.params[1]
        if text.startswith("\x01"):
            if not text.startswith("\x01ACTION "):
                return  # CTCP requests (VERSION, PING...) are not messages
            text = text[8:].rstrip("\x01")
        text = plain(text).strip()
        direct = target[:1] not in _CHANNEL_PREFIXES
        addressed, text = self._addressed(text)
        message = Message(
            event_id=_new_id(),
            message_id=_new_id(),
            conversation=line.nick if direct else target,
            user=User(id=line.nick, name=line.nick),
            text=text,
            mentioned=direct or addressed,
            timestamp=time.time(),
        )
        assert self._sink is not None
        self._sink.submit(message)

    def _addressed(self, text: str) -> tuple[bool, str]:
        """Whether `text` names the bot, and the text without a leading `nick:`."""
        nick = self.user_id.lower()
        lowered = text.lower()
        for separator in (":", ","):
            if lowered.startswith(nick + separator):
                return True, text[len(nick) + 1 :].strip()
        words = {w.strip(".,:;!?()[]<>'\"@") for w in lowered.split()}
        return nick in words, text

    async def _send(self, line: str) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionError("not connected to the IRC server")
        async with self._write_lock:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

    async def _close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


def _new_id() -> str:
    return uuid.uuid4().hex
