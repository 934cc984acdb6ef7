"""The global options work after the subcommand too, on every command, and win there."""

from __future__ import annotations

import json
from pathlib import Path

import click
from cli_process import SCRIPTED, CliProcess, thread_id_of

from threadline.cli import cli

GLOBAL = {"--db", "--model", "--app", "--debug"}


def _commands(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _commands(sub, f"{path} {name}")
    return found


def test_every_command_accepts_every_global_option() -> None:
    for path, command in _commands(cli, "threadline"):
        options = {name for param in command.params for name in param.opts}
        assert options >= GLOBAL, (path, GLOBAL - options)


def _listed(cli: CliProcess, db: Path) -> list[str]:
    result = cli.bare("threads", "list", "--json", "--db", str(db))
    assert result.returncode == 0, result.stderr
    return [t["id"] for t in json.loads(result.stdout)]


def test_run_and_chat_take_db_and_model_after_the_subcommand(cli: CliProcess) -> None:
    db = cli.folder / "after.db"

    ran = cli.bare("run", "--db", str(db), "--model", SCRIPTED, "hello")
    chatted = cli.bare("chat", "--model", SCRIPTED, "--db", str(db), input="hi\n")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "You said: hello (message 1)\n"
    assert chatted.returncode == 0, chatted.stderr
    assert chatted.stdout.strip() == "You said: hi (message 1)"
    assert thread_id_of(ran) in _listed(cli, db)
    assert len(_listed(cli, db)) == 2
    assert not (cli.folder / "threadline.db").exists()


def test_the_subcommands_value_wins_over_the_groups(cli: CliProcess) -> None:
    before, after = cli.folder / "before.db", cli.folder / "after.db"

    ran = cli.bare(
        "--db", str(before), "--model", "nonsense:x", "run", "--db", str(after), "--model",
        SCRIPTED, "hello",
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert _listed(cli, after) == [thread_id_of(ran)]
    assert not before.exists()


def test_the_environment_gives_way_to_an_option_after_the_subcommand(cli: CliProcess) -> None:
    from_env, typed = cli.folder / "env.db", cli.folder / "typed.db"

    ran = cli.bare(
        "run", "--db", str(typed), "hello", env={"THREADLINE_DB": str(from_env),
        "THREADLINE_MODEL": SCRIPTED},
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert _listed(cli, typed) == [thread_id_of(ran)]
    assert not from_env.exists()


def test_nested_commands_and_debug_take_global_options_too(cli: CliProcess) -> None:
    db = cli.folder / "nested.db"
    ran = cli.bare("run", "--db", str(db), "--model", SCRIPTED, "hello")
    assert ran.returncode == 0, ran.stderr

    listed = cli.bare("threads", "--db", str(db), "list", "--json")
    broken = cli.bare("threads", "list", "--app", "tests.cli.store_app:broken", "--debug")

    assert [t["id"] for t in json.loads(listed.stdout)] == [thread_id_of(ran)]
    assert broken.returncode == 1
    assert "Traceback" in broken.stderr
    assert "RuntimeError: the app factory is broken" in broken.stderr
