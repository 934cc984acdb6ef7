"""Runs the real `threadline` command line in a subprocess, as a user's shell would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTED = "py:tests.cli.scripted_models:assistant"
_THREAD_ID = re.compile(r"\bthr_[0-9a-z]+\b")

Completed = subprocess.CompletedProcess[str]


def cli_env() -> dict[str, str]:
    """The environment without THREADLINE_* settings, able to import the repo's code."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_") and k != "COLUMNS"
    }
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env["PYTHONIOENCODING"] = "utf-8"
    return env


class CliProcess:
    """`threadline --db <folder>/threadline.db --model <scripted model> ...` in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "threadline.db"

    def command(self, *args: str, model: str | None = SCRIPTED) -> list[str]:
        options = ["--db", str(self.db)]
        if model is not None:
            options += ["--model", model]
        return [sys.executable, "-m", "threadline.cli", *options, *args]

    def __call__(
        self, *args: str, input: str = "", model: str | None = SCRIPTED, timeout: float = 30
    ) -> Completed:
        return subprocess.run(
            self.command(*args, model=model),
            cwd=self.folder,
            env=cli_env(),
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )

    def bare(
        self, *args: str, input: str = "", env: Mapping[str, str] | None = None, timeout: float = 30
    ) -> Completed:
        """`threadline ARGS...` in `folder`, with no options added, and `env` on top."""
        return subprocess.run(
            [sys.executable, "-m", "threadline.cli", *args],
            cwd=self.folder,
            env={**cli_env(), **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )

    def concurrently(
        self,
        *invocations: Sequence[str],
        input: str = "",
        model: str | None = SCRIPTED,
        timeout: float = 30,
    ) -> list[Completed]:
        """Several independent commands at once, each given `input` (each process spends
        most of its time importing)."""
        processes = [
            subprocess.Popen(
                self.command(*args, model=model),
                cwd=self.folder,
                env=cli_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
            for args in invocations
        ]
        results: list[Completed] = []
        for args, process in zip(invocations, processes, strict=True):
            stdout, stderr = process.communicate(input, timeout=timeout)
            results.append(Completed(list(args), process.returncode, stdout, stderr))
        return results


def thread_id_of(result: Completed) -> str:
    """The thread id the command printed to stderr."""
    match = _THREAD_ID.search(result.stderr)
    assert match, f"no thread id on stderr: {result.stderr!r}"
    return match.group(0)


def assert_one_error_line(result: Completed, *fragments: str) -> None:
    """Exit code 1 and exactly one `error: ...` line on stderr, without a traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
