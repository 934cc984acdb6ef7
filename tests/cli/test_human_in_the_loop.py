from __future__ import annotations

import json
import re

from cli_process import CliProcess, thread_id_of

BANK = ("--app", "tests.cli.bank_app:agents")
MODEL = "py:tests.cli.bank_app:model"


def call_id_of(text: str) -> str:
    match = re.search(r"\bcall_\w+", text)
    assert match, text
    return match.group(0)


def test_chat_asks_inline_and_runs_the_approved_call(cli: CliProcess) -> None:
    result = cli(*BANK, "chat", input="pay ann\ny\n", model=MODEL)

    assert result.returncode == 0, result.stderr
    assert "Allow transfer" in result.stderr
    assert "Result: sent 5 to ann" in result.stdout


def test_chat_denial_reaches_the_model(cli: CliProcess) -> None:
    result = cli(*BANK, "chat", input="pay eve\nn\n", model=MODEL)

    assert result.returncode == 0, result.stderr
    assert "a human denied this call" in result.stdout


def test_chat_asks_a_choice_inline(cli: CliProcess) -> None:
    result = cli(*BANK, "chat", input='book LH1\n{"seat": 7}\n{"seat": "7C"}\n', model=MODEL)

    assert result.returncode == 0, result.stderr
    assert "Which seat?" in result.stderr
    assert "not accepted" in result.stderr  # 7 is not a string; asked again
    assert "Result: booked LH1 seat 7C" in result.stdout


def test_approve_from_another_terminal(cli: CliProcess) -> None:
    paused = cli(*BANK, "run", "pay bob", model=MODEL)
    assert paused.returncode == 0, paused.stderr
    thread_id = thread_id_of(paused)
    shown = cli(*BANK, "threads", "show", thread_id, model=MODEL)
    assert "Waiting for a human:" in shown.stdout
    call_id = call_id_of(shown.stdout.split("Waiting for a human:")[1])

    approved = cli(*BANK, "approve", thread_id, call_id, model=MODEL)

    assert approved.returncode == 0, approved.stderr
    assert "Result: sent 5 to bob" in approved.stdout
    after = json.loads(cli(*BANK, "threads", "show", thread_id, "--json", model=MODEL).stdout)
    assert after["pending"] == []
    assert [t["status"] for t in after["turns"]] == ["completed"]


def test_deny_from_another_terminal_with_a_reason(cli: CliProcess) -> None:
    paused = cli(*BANK, "run", "pay mallory", model=MODEL)
    thread_id = thread_id_of(paused)
    call_id = call_id_of(paused.stderr.split("waiting:")[1])

    denied = cli(*BANK, "deny", thread_id, call_id, "--reason", "not a customer", model=MODEL)

    assert denied.returncode == 0, denied.stderr
    assert "not a customer" in denied.stdout
    again = cli(*BANK, "approve", thread_id, call_id, model=MODEL)
    assert again.returncode == 1
    assert "no paused turn" in again.stderr


def test_a_subagents_approval_is_shown_and_decided_on_the_parent(cli: CliProcess) -> None:
    lead = ("--app", "tests.cli.bank_app:delegating")
    paused = cli(*lead, "run", "delegate pay zoe", model=MODEL)
    assert paused.returncode == 0, paused.stderr
    thread_id = thread_id_of(paused)
    shown = cli(*lead, "threads", "show", thread_id, model=MODEL)
    waiting = shown.stdout.split("Waiting for a human:")[1]
    assert "approval call_" in waiting and "(in subagent thread thr" in waiting
    assert "waiting for subagent" in shown.stdout

    approved = cli(*lead, "approve", thread_id, call_id_of(waiting), model=MODEL)

    assert approved.returncode == 0, approved.stderr
    assert "Result: Result: sent 5 to zoe" in approved.stdout
    after = json.loads(cli(*lead, "threads", "show", thread_id, "--json", model=MODEL).stdout)
    (child,) = after["children"]
    assert (child["agent"], child["result"]["text"]) == ("bank", "Result: sent 5 to zoe")
    listed = cli(*lead, "threads", "show", thread_id, model=MODEL).stdout
    assert "Subagents:" in listed and child["thread_id"] in listed
