from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from cli_process import CliProcess, Completed, assert_one_error_line, thread_id_of


@dataclass(frozen=True)
class History:
    clock_thread: str  # alice asked the time: a tool call, then the answer
    calculator_thread: str  # bob divided by zero (newer): a tool error, then the answer
    reads: dict[str, Completed]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Two threads, then every read command over them (started together: they only read)."""
    cli = CliProcess(tmp_path_factory.mktemp("threads"))
    clock = thread_id_of(cli("run", "--user", "alice", "What time is it?"))
    calculator = thread_id_of(cli("run", "--user", "bob", "calculate 1 / 0"))
    invocations = {
        "list": ["threads", "list"],
        "list alice": ["threads", "list", "--user", "alice", "--json"],
        "list 1": ["threads", "list", "--limit", "1", "--json"],
        "show clock": ["threads", "show", clock],
        "show calculator json": ["threads", "show", "--json", calculator],
        "show missing": ["threads", "show", "thr_missing"],
    }
    reads = dict(zip(invocations, cli.concurrently(*invocations.values()), strict=True))
    return History(clock_thread=clock, calculator_thread=calculator, reads=reads)


def test_threads_list_shows_a_table_newest_first(history: History) -> None:
    result = history.reads["list"]

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "agent", "status", "turns", "updated"]
    assert [line.split()[:4] for line in lines[1:]] == [
        [history.calculator_thread, "assistant", "idle", "1"],
        [history.clock_thread, "assistant", "idle", "1"],
    ]


def test_threads_list_filters_by_user_and_prints_json(history: History) -> None:
    result = history.reads["list alice"]

    assert result.returncode == 0, result.stderr
    threads = json.loads(result.stdout)
    assert [(t["id"], t["user_id"], t["turn_count"]) for t in threads] == [
        (history.clock_thread, "alice", 1)
    ]


def test_threads_list_limit(history: History) -> None:
    threads = json.loads(history.reads["list 1"].stdout)

    assert [t["id"] for t in threads] == [history.calculator_thread]


def test_threads_show_prints_the_transcript_with_turn_usage(history: History) -> None:
    result = history.reads["show clock"]

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Thread {history.clock_thread}"
    assert "user alice" in lines[1]
    assert "Turn 1 · completed · 26 tokens (20 in, 6 out) · $0.0000" in lines
    transcript = [line for line in lines if line.startswith(("user>", "→", "←", "assistant>"))]
    assert transcript[0] == "user> What time is it?"
    assert transcript[1] == '→ get_time({"timezone":"UTC"})'
    assert transcript[2].startswith("← ")
    assert transcript[3] == "assistant> The get_time tool says: " + transcript[2][2:]


def test_threads_show_json_has_the_thread_turns_and_items(history: History) -> None:
    result = history.reads["show calculator json"]

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["thread"]["id"] == history.calculator_thread
    assert [(t["number"], t["status"]) for t in shown["turns"]] == [(1, "completed")]
    assert [item["type"] for item in shown["items"]] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_message",
    ]
    tool_result = shown["items"][2]["content"]
    assert (tool_result["outcome"], tool_result["output"]) == ("error", "Error: division by zero")


def test_threads_show_of_an_unknown_thread_is_one_error_line(history: History) -> None:
    assert_one_error_line(history.reads["show missing"], "no thread 'thr_missing'")


def test_threads_commands_do_not_create_a_missing_database(cli: CliProcess) -> None:
    result = cli("threads", "list")

    assert_one_error_line(result, "no database at")
    assert not cli.db.exists()
