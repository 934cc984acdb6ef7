"""A real IRC server for the IRC adapter's tests: Debian's `ngircd`, unpacked from its package
without installing a service, and a small IRC client that plays the people."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "threadline" / "ngircd"
PACKAGES = ("ngircd", "libident")


def ngircd_binary() -> tuple[Path, dict[str, str]] | str:
    """The ngircd binary and the environment it runs in, unpacked into the cache on first use
    (`apt-get download` + `dpkg -x`); or why that cannot work here."""
    system = shutil.which("ngircd")
    if system is not None:
        return Path(system), {}
    root = CACHE / "root"
    binary = root / "usr" / "sbin" / "ngircd"
    if not binary.exists():
        reason = _unpack(root)
        if reason is not None:
            return reason
    libraries = [str(p) for p in (root / "usr" / "lib").glob("*-linux-gnu")]
    return binary, {"LD_LIBRARY_PATH": os.pathsep.join([*libraries, str(root / "usr" / "lib")])}


def _unpack(root: Path) -> str | None:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "ngircd is not installed and there is no apt-get/dpkg to fetch it"
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        download = ["apt-get", "download", *PACKAGES]
        done = subprocess.run(download, cwd=work, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 and os.geteuid() == 0:  # empty package lists (a fresh image)
            subprocess.run(["apt-get", "update"], capture_output=True, timeout=600, check=False)
            done = subprocess.run(download, cwd=work, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            return f"apt-get download {' '.join(PACKAGES)} failed: {done.stderr.strip()[-300:]}"
        unpacked = Path(work) / "root"
        for deb in sorted(Path(work).glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True, timeout=60)
        if root.exists():  # another run unpacked it meanwhile
            return None
        unpacked.rename(root)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CONFIG = """[Global]
\tName = irc.test
\tInfo = threadline tests
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = tests
\tPidFile = {directory}/ngircd.pid
\tAdminInfo1 = tests
\tAdminInfo2 = tests
\tAdminEMail = tests@example.org
\tHelpFile = {directory}/help.txt
[Limits]
\tMaxNickLength = 30
\tMaxPenaltyTime = 0
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
"""


@dataclass
class IrcServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]


def start_ngircd(binary: Path, env: dict[str, str], directory: Path) -> IrcServer:
    port = free_port()
    directory.chmod(0o777)  # ngircd drops to `nobody` when it runs as root
    config = directory / "ngircd.conf"
    config.write_text(CONFIG.format(port=port, directory=directory))
    (directory / "help.txt").write_text("")
    with (directory / "ngircd.log").open("wb") as log:
        process = subprocess.Popen(
            [str(binary), "--nodaemon", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    return IrcServer(host="127.0.0.1", port=port, process=process)


class IrcPerson:
    """Someone on IRC: connects, joins, says things and hears what the bot says."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.heard: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()  # (from, to, text)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, server: IrcServer, channel: str) -> None:
        self._reader, self._writer = await asyncio.open_connection(server.host, server.port)
        await self._send(f"NICK {self.nick}", f"USER {self.nick} 0 * :{self.nick}")
        await self._until(" 001 ")
        await self._send(f"JOIN {channel}")
        await self._until(" 366 ")
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def say(self, target: str, text: str) -> None:
        await self._send(f"PRIVMSG {target} :{text}")

    async def hear(self, count: int, *, within: float = 10.0) -> list[tuple[str, str, str]]:
        """The next `count` messages said to this person or their channel."""
        return [await asyncio.wait_for(self.heard.get(), within) for _ in range(count)]

    async def wait_for_join(self, nick: str, *, within: float = 10.0) -> str:
        """The nick of the next one to join whose nick starts with `nick`."""
        while True:
            sender, _, text = await asyncio.wait_for(self.heard.get(), within)
            if sender.startswith(nick) and text == "\x00JOIN":
                return sender

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._writer.wait_closed()

    async def _send(self, *lines: str) -> None:
        assert self._writer is not None
        self._writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await self._writer.drain()

    async def _until(self, marker: str) -> None:
        assert self._reader is not None
        while True:
            line = (await self._reader.readline()).decode()
            if not line:
                raise ConnectionError("the IRC server closed the connection")
            if line.startswith("PING"):
                await self._send("PONG" + line[4:].rstrip())
            if marker in line:
                return

    async def _listen(self) -> None:
        assert self._reader is not None
        while line := (await self._reader.readline()).decode():
            words = line.rstrip("\r\n").split(" ", 3)
            if words[0] == "PING":
                await self._send("PONG " + " ".join(words[1:]))
            elif len(words) >= 4 and words[1] == "PRIVMSG":
                await self.heard.put((words[0][1:].split("!")[0], words[2], words[3][1:]))
            elif len(words) >= 3 and words[1] == "JOIN":
                await self.heard.put((words[0][1:].split("!")[0], words[2], "\x00JOIN"))
