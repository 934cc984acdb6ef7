from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from cli_process import CliProcess, Completed, thread_id_of

BROKEN = "py:tests.cli.scripted_models:broken"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Completed]:
    """Independent `run` commands, started together: each process mostly imports."""
    cli = CliProcess(tmp_path_factory.mktemp("run"))
    invocations = {
        "hello": ["run", "hello there"],
        "time": ["run", "What time is it?"],
        "events": ["run", "--events", "calculate 6 * 7"],
        "broken": ["--model", BROKEN, "run", "hi"],
    }
    return dict(zip(invocations, cli.concurrently(*invocations.values()), strict=True))


def test_run_prints_the_reply_and_the_thread_id(runs: dict[str, Completed]) -> None:
    result = runs["hello"]

    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hello there (message 1)\n"
    assert thread_id_of(result).startswith("thr_")


def test_run_shows_tool_calls_on_stderr_and_the_answer_on_stdout(
    runs: dict[str, Completed],
) -> None:
    result = runs["time"]

    assert result.returncode == 0, result.stderr
    assert '→ get_time({"timezone":"UTC"})' in result.stderr
    assert result.stdout.startswith("The get_time tool says: ")
    answer = datetime.fromisoformat(result.stdout.removeprefix("The get_time tool says: ").strip())
    assert answer.utcoffset() == timedelta(0)


def test_run_events_prints_one_json_event_per_line(runs: dict[str, Completed]) -> None:
    result = runs["events"]

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    types = [event["type"] for event in events]
    assert types[0] == "turn_started"
    assert types[-1] == "completed"
    assert {"item_started", "item_completed", "agent_message_delta"} <= set(types)
    assert {event["thread_id"] for event in events} == {thread_id_of(result)}
    results = [
        e["params"]["item"]["content"]
        for e in events
        if e["type"] == "item_completed" and e["params"]["item"]["type"] == "tool_result"
    ]
    assert [r["output"] for r in results] == ["42"]


def test_a_failed_turn_keeps_the_partial_reply_and_exits_1(runs: dict[str, Completed]) -> None:
    result = runs["broken"]

    assert result.returncode == 1
    assert result.stdout == "I was \n"
    assert result.stderr.strip().splitlines()[-1] == "error: turn failed: the backend is down"
    assert "Traceback" not in result.stderr


def test_run_continues_a_thread_with_a_prompt_from_stdin(cli: CliProcess) -> None:
    first = cli("run", "one")
    second = cli("run", "--thread", thread_id_of(first), "-", input="two, from a pipe\n")

    assert second.returncode == 0, second.stderr
    assert second.stdout == "You said: two, from a pipe (message 2)\n"
    assert thread_id_of(second) == thread_id_of(first)
