"""A real OpenID provider for the tests: the certified `oidc-provider` npm package, pinned in
`oidc/package-lock.json`, installed once into `~/.cache/threadline/npm/oidc-provider-<hash>`
and run with Node by `oidc/provider.mjs` on 127.0.0.1. It serves two issuers (the main one,
and `<main>/other` with the same key), client-credentials clients `alice`, `bob` and
`short-lived` (tokens of one second) whose tokens are JWTs for `AUDIENCE` or
`OTHER_AUDIENCE`, and the code-flow client `inspector`."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from js_harness import MIN_NODE, node_env, node_major, npm_installed

HERE = Path(__file__).resolve().parent / "oidc"
AUDIENCE = "https://api.threadline.test"
OTHER_AUDIENCE = "https://elsewhere.threadline.test"
INSPECTOR_CLIENT = ("inspector", "inspector-secret")
START_SECONDS = 60  # Node loading the provider's modules on a busy machine


@dataclass(frozen=True)
class Issued:
    """Where the provider listens and the key it signs with."""

    port: int
    issuer: str
    other_issuer: str
    kid: str


class OIDCProvider:
    """One provider process; `restart()` starts another on the same port with a new key."""

    def __init__(self, node: str, folder: Path, redirect_uri: str) -> None:
        self._node = node
        self._folder = folder
        self._redirect_uri = redirect_uri
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self.issued = self._start(0)

    @property
    def issuer(self) -> str:
        return self.issued.issuer

    def token(
        self,
        client: str,
        *,
        audience: str = AUDIENCE,
        issuer: str | None = None,
    ) -> str:
        """A JWT access token of the client-credentials client `client` (its `sub`)."""
        response = httpx.post(
            f"{issuer or self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": audience, "scope": "api"},
            auth=(client, f"{client}-secret"),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def jwks_fetches(self) -> int:
        """How many times the main issuer's keys were fetched since this process started."""
        response = httpx.get(f"{self.issuer}/__test/jwks-fetches", timeout=10)
        return int(response.json()["count"])

    def jwks(self) -> dict[str, Any]:
        return httpx.get(f"{self.issuer}/jwks", timeout=10).json()

    def restart(self) -> None:
        """Stop, and start again on the same port with a new signing key (a rotation)."""
        port = self.issued.port
        self.stop()
        self.issued = self._start(port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            assert self._process.stdout is not None
            self._process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _start(self, port: int) -> Issued:
        settings = {
            "port": port,
            "audience": AUDIENCE,
            "other_audience": OTHER_AUDIENCE,
            "redirect_uri": self._redirect_uri,
        }
        self._log = (self._folder / "provider.log").open("a")
        self._process = subprocess.Popen(
            [self._node, str(self._folder / "provider.mjs"), json.dumps(settings)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=node_env(),
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            # A restart may find the port still held for a moment; the script then exits.
            ready, _, _ = select.select([self._process.stdout], [], [], 0.1)
            if ready:
                line = self._process.stdout.readline()
                if line:
                    return Issued(**json.loads(line))
            if self._process.poll() is not None:
                break
        log = (self._folder / "provider.log").read_text()[-3000:]
        code = self._process.poll()
        self.stop()
        state = "still silent" if code is None else f"exited with {code}"
        raise RuntimeError(f"the OpenID provider did not start ({state}):\n{log}")


def start_provider(scratch: Path, redirect_uri: str) -> OIDCProvider:
    """The provider, its packages installed if the cache lacks them. Skips when Node or npm is
    missing, except in CI (`CI` set), where it fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None or node_major(node) < MIN_NODE:
        reason = f"the OIDC tests need Node >= {MIN_NODE} and npm on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run them")
        pytest.skip(reason)
    modules = npm_installed(npm, HERE, "oidc-provider") / "node_modules"
    shutil.copy(HERE / "provider.mjs", scratch / "provider.mjs")
    (scratch / "node_modules").symlink_to(modules, target_is_directory=True)
    return OIDCProvider(node, scratch, redirect_uri)
