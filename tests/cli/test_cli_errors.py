from __future__ import annotations

import subprocess
import sys

from cli_process import SCRIPTED, CliProcess, assert_one_error_line, cli_env


def test_an_unknown_thread_is_one_red_line_and_exit_code_1(cli: CliProcess) -> None:
    run, chat = cli.concurrently(
        ["run", "--thread", "thr_nope", "hello"], ["chat", "--thread", "thr_nope"]
    )

    assert_one_error_line(run, "no thread 'thr_nope'")
    assert_one_error_line(chat, "no thread 'thr_nope'")


def test_debug_shows_the_traceback(cli: CliProcess) -> None:
    result = cli("--debug", "run", "--thread", "thr_nope", "hello")

    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: no thread 'thr_nope'"


def test_a_model_that_cannot_be_loaded_is_a_clear_error(cli: CliProcess) -> None:
    missing, malformed = cli.concurrently(
        ["--model", "py:tests.cli.no_such_module:model", "run", "hi"],
        ["--model", "py:tests.cli.scripted_models", "run", "hi"],
        model=None,
    )

    assert_one_error_line(missing, "cannot import 'tests.cli.no_such_module'")
    assert_one_error_line(malformed, "py:package.module:attribute")


def test_usage_errors_exit_with_code_2(cli: CliProcess) -> None:
    result = cli("threads", "list", "--limit", "0")

    assert result.returncode == 2
    assert "Invalid value for '--limit'" in result.stderr


def test_settings_come_from_the_environment(cli: CliProcess) -> None:
    env = cli_env() | {
        "THREADLINE_DB": str(cli.folder / "from-env.db"),
        "THREADLINE_MODEL": SCRIPTED,
    }

    result = subprocess.run(
        [sys.executable, "-m", "threadline.cli", "run", "hello"],
        cwd=cli.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hello (message 1)\n"
    assert (cli.folder / "from-env.db").exists()
    assert not (cli.folder / "threadline.db").exists()
