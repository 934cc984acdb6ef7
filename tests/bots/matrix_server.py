"""A real Matrix homeserver for the Matrix adapter's tests: Synapse from PyPI, installed into a
virtualenv of its own in the cache and run as a separate process. Synapse is AGPL: it is never
imported here nor a dependency of threadline, only a server the tests talk to."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "threadline"
VENV = CACHE / "synapse-venv"
REQUIREMENT = "matrix-synapse>=1.120,<2"
SERVER_NAME = "localhost"
T = TypeVar("T")


def synapse_python() -> Path | str:
    """The Python of Synapse's own virtualenv, installed on first use; or why it cannot be."""
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    building = CACHE / f"synapse-venv.{os.getpid()}.tmp"
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(building)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        done = subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "-q", REQUIREMENT],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            return f"pip install {REQUIREMENT} failed: {done.stderr.strip()[-300:]}"
        building.rename(VENV)
    except (OSError, subprocess.SubprocessError) as exc:
        if python.exists():  # another run installed it meanwhile
            return python
        return f"could not install Synapse: {exc}"
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_UNLIMITED = "{{per_second: 10000, burst_count: 10000}}"  # doubled: CONFIG is formatted

CONFIG = f"""server_name: "{SERVER_NAME}"
pid_file: "{{directory}}/homeserver.pid"
listeners:
  - port: {{port}}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{{directory}}/homeserver.db"
media_store_path: "{{directory}}/media"
signing_key_path: "{{directory}}/signing.key"
macaroon_secret_key: "{{secret}}"
form_secret: "{{secret}}"
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
send_federation: false
enable_registration: true
enable_registration_without_verification: true
user_directory:
  enabled: true
  search_all_users: true
presence:
  enabled: false
url_preview_enabled: false
bcrypt_rounds: 4
rc_message: {_UNLIMITED}
rc_registration: {_UNLIMITED}
rc_login:
  address: {_UNLIMITED}
  account: {_UNLIMITED}
  failed_attempts: {_UNLIMITED}
rc_joins:
  local: {_UNLIMITED}
  remote: {_UNLIMITED}
rc_invites:
  per_room: {_UNLIMITED}
  per_user: {_UNLIMITED}
  per_issuer: {_UNLIMITED}
rc_media_create: {_UNLIMITED}
"""


@dataclass
class Homeserver:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path

    def log_tail(self) -> str:
        log = self.directory / "synapse.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def start_synapse(python: Path, directory: Path, *, within: float = 60.0) -> Homeserver:
    """Synapse on a free port of 127.0.0.1 with a fresh SQLite database, once it answers."""
    port = free_port()
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    (directory / "signing.key").write_text(f"ed25519 a_test {seed}\n")
    config = directory / "homeserver.yaml"
    config.write_text(
        CONFIG.format(port=port, directory=directory, secret=secrets.token_urlsafe(32))
    )
    with (directory / "synapse.log").open("wb") as log:
        process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "--config-path", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    server = Homeserver(url=f"http://127.0.0.1:{port}", process=process, directory=directory)
    deadline = time.monotonic() + within
    with httpx.Client(timeout=2) as client:
        while True:
            try:
                if client.get(f"{server.url}/_matrix/client/versions").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stop_synapse(server)
                raise RuntimeError(f"Synapse did not start:\n{server.log_tail()}")
            time.sleep(0.05)  # the server is starting: poll its port


def stop_synapse(server: Homeserver) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@dataclass(frozen=True)
class Account:
    user_id: str
    access_token: str
    name: str


def register(server: Homeserver, username: str, display_name: str) -> Account:
    """A new account (open registration, no verification) with a display name."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.post(
            "/_matrix/client/v3/register",
            json={
                "username": username,
                "password": secrets.token_urlsafe(16),
                "auth": {"type": "m.login.dummy"},
                "inhibit_login": False,
            },
        )
        response.raise_for_status()
        data = response.json()
        token = data["access_token"]
        client.put(
            f"/_matrix/client/v3/profile/{data['user_id']}/displayname",
            json={"displayname": display_name},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
    return Account(user_id=data["user_id"], access_token=token, name=display_name)


class MatrixPerson:
    """Someone on the homeserver, through its client-server API: says things, reacts, and
    reads what the bot did. `until` waits for something to be true without sleeping: between
    two looks it long-polls `/sync`, which returns as soon as anything happens."""

    def __init__(self, server: Homeserver, account: Account) -> None:
        self.account = account
        self.user_id = account.user_id
        self._client = httpx.AsyncClient(
            base_url=server.url,
            headers={"Authorization": f"Bearer {account.access_token}"},
            timeout=30,
        )
        self._since: str | None = None
        self._transactions = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    async def create_room(self, invite: list[str], *, direct: bool = False) -> str:
        body: dict[str, Any] = {"invite": invite, "is_direct": direct}
        if direct:
            body["preset"] = "trusted_private_chat"
        return str((await self.call("POST", "/_matrix/client/v3/createRoom", json=body))["room_id"])

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/join/{quote(room_id)}", json={})

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        self._transactions += 1
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/t{self._transactions}"
        return str((await self.call("PUT", path, json=content))["event_id"])

    async def say(
        self,
        room_id: str,
        text: str,
        *,
        mention: str | None = None,
        thread: str | None = None,
    ) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        content["m.mentions"] = {"user_ids": [mention]} if mention else {}
        if thread is not None:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread}
        return await self.send(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send(room_id, "m.reaction", content)

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        return await self.call(
            "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        )

    async def related(self, room_id: str, event_id: str, relation: str) -> list[dict[str, Any]]:
        """The events related to `event_id` by `relation`, oldest first."""
        data = await self.call(
            "GET",
            f"/_matrix/client/v1/rooms/{quote(room_id)}/relations/{quote(event_id)}/{relation}",
            params={"dir": "f", "limit": 100},
        )
        return list(data["chunk"])

    async def room_messages(self, room_id: str) -> list[dict[str, Any]]:
        """The room's messages (top level and in threads, edits left out), oldest first."""
        data = await self.call(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(room_id)}/messages",
            params={"dir": "b", "limit": 100, "filter": '{"types":["m.room.message"]}'},
        )
        return [
            m
            for m in reversed(data["chunk"])
            if m["content"].get("m.relates_to", {}).get("rel_type") != "m.replace"
        ]

    async def download(self, mxc: str) -> bytes:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        response = await self._client.get(f"/_matrix/client/v1/media/download/{server}/{media_id}")
        response.raise_for_status()
        return response.content

    async def until(self, check: Callable[[], Awaitable[T | None]], *, within: float = 15.0) -> T:
        """`check`'s first truthy answer; it is asked again whenever the homeserver has news.
        Raises `AssertionError` after `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            value = await check()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"condition not met within {within}s")
            params: dict[str, Any] = {"timeout": int(min(left, 2.0) * 1000)}
            if self._since is not None:
                params["since"] = self._since
            self._since = (await self.call("GET", "/_matrix/client/v3/sync", params=params))[
                "next_batch"
            ]


def shown(event: dict[str, Any]) -> dict[str, Any]:
    """An event's content as clients show it: its latest edit (bundled by the server) applied."""
    edit = event.get("unsigned", {}).get("m.relations", {}).get("m.replace")
    if edit is not None:
        return dict(edit["content"]["m.new_content"])
    return dict(event["content"])
