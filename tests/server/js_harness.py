"""JavaScript clients from the npm registry, run unmodified with Node: the packages pinned in
`js/package-lock.json` are installed once per lock into a cache
(`~/.cache/threadline/npm/<hash>`), and the scripts in `js/` run against a test server,
each printing what it observed as one JSON object."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent / "js"
MANIFESTS = ("package.json", "package-lock.json")
SCRIPTS = ("openai_client.mjs", "ai_sdk.mjs")
MIN_NODE = 18  # the oldest Node the pinned packages declare support for
INSTALL_SECONDS = 300
RUN_SECONDS = 60


class ClientFailed(Exception):
    """A script exited with an error; the message is its stderr."""


@dataclass(frozen=True)
class NodeClients:
    folder: Path  # the scripts, beside a `node_modules` of the pinned packages
    node: str

    def run(self, script: str, base_url: str, scenario: str) -> dict[str, Any]:
        """Run one scenario of `script` against `base_url`; what it printed."""
        done = subprocess.run(
            [self.node, str(self.folder / script), base_url, scenario],
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            env=node_env(),
            check=False,
        )
        if done.returncode != 0:
            raise ClientFailed(done.stderr[-4000:])
        return json.loads(done.stdout.strip().splitlines()[-1])


def node_clients(scratch: Path) -> NodeClients:
    """Install the pinned packages if the cache lacks them, and put the scripts beside them
    in `scratch`. Skips when Node or npm is missing, except in CI (`CI` set), where it fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None or node_major(node) < MIN_NODE:
        reason = f"the JavaScript client tests need Node >= {MIN_NODE} and npm on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run them")
        pytest.skip(reason)
    modules = npm_installed(npm, HERE) / "node_modules"
    for script in SCRIPTS:
        shutil.copy(HERE / script, scratch / script)
    (scratch / "node_modules").symlink_to(modules, target_is_directory=True)
    return NodeClients(folder=scratch, node=node)


def npm_installed(npm: str, folder: Path, name: str = "") -> Path:
    """A cache folder holding the `node_modules` that `folder`'s package-lock.json pins,
    installed there first if missing (`~/.cache/threadline/npm/<name->hash>`)."""
    digest = hashlib.sha256()
    for manifest in MANIFESTS:
        digest.update((folder / manifest).read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "threadline" / "npm"
    target = cache / f"{name}{'-' if name else ''}{digest.hexdigest()[:16]}"
    if (target / "node_modules").is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # Installed aside and renamed into place, so a cut install is never taken for a whole one,
    # and two sessions installing at once both end with the same folder.
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=f"{target.name}.installing-"))
    try:
        for manifest in MANIFESTS:
            shutil.copy(folder / manifest, staging / manifest)
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(staging)],
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm ci failed:\n{done.stderr[-4000:]}")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "node_modules").is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def node_major(node: str) -> int:
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    try:
        return int(version.strip().lstrip("v").split(".")[0])
    except ValueError:
        return 0


def node_env() -> dict[str, str]:
    # Only what Node needs: no proxy settings or NODE_OPTIONS of the caller's shell.
    keep = ("PATH", "HOME", "TMPDIR", "LANG")
    return {name: os.environ[name] for name in keep if name in os.environ}
