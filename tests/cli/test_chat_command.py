from __future__ import annotations

import json
import os
import signal
import subprocess

from cli_process import CliProcess, cli_env, thread_id_of


def test_piped_chat_answers_each_line_until_exit(cli: CliProcess) -> None:
    result, broken = cli.concurrently(
        ["chat"],
        ["--model", "py:tests.cli.scripted_models:broken", "chat"],
        input="hello\n\ncalculate 2 ** 10\n/exit\nnever sent\n",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "You said: hello (message 1)",
        "The calculate tool says: 1024",
    ]
    assert '→ calculate({"expression":"2 ** 10"})' in result.stderr
    assert "you>" not in result.stdout + result.stderr
    # A failed reply is reported, the next line is still answered, and the exit code tells.
    assert broken.returncode == 1
    assert broken.stdout.startswith("I was \n")
    errors = [line for line in broken.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0] == "error: turn failed: the backend is down"
    assert len(errors) == 2
    assert "Traceback" not in broken.stderr


def test_chat_with_thread_resumes_an_earlier_conversation(cli: CliProcess) -> None:
    first = cli("chat", input="remember the lighthouse\n")  # ends at end of input
    thread_id = thread_id_of(first)

    second = cli("chat", "--thread", thread_id, input="what did I say?\n")

    assert second.returncode == 0, second.stderr
    assert second.stdout == "You said: what did I say? (message 2)\n"
    transcript = cli("threads", "show", thread_id)
    assert "remember the lighthouse" in transcript.stdout
    assert "what did I say?" in transcript.stdout


def test_ctrl_c_interrupts_the_reply_and_the_chat_goes_on(cli: CliProcess) -> None:
    process = subprocess.Popen(
        cli.command("chat", model="py:tests.cli.scripted_models:slow"),
        cwd=cli.folder,
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(b"count slowly\n")
    process.stdin.flush()
    # The first word of the slow reply proves the turn is streaming.
    streamed = os.read(process.stdout.fileno(), 1024)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(b"hello again\n", timeout=30)

    assert process.returncode == 0, stderr
    output = (streamed + stdout).decode()
    assert output.startswith("word0 ")
    assert output.splitlines()[-1] == "You said: hello again (message 2)"
    assert "interrupted" in stderr.decode()
    shown = json.loads(cli("threads", "show", "--json", thread_id_of_bytes(stderr)).stdout)
    assert [turn["status"] for turn in shown["turns"]] == ["cancelled", "completed"]
    partial = next(item for item in shown["items"] if item["type"] == "agent_message")
    assert partial["status"] == "cancelled"
    assert partial["content"]["text"].startswith("word0 ")


def thread_id_of_bytes(stderr: bytes) -> str:
    return thread_id_of(subprocess.CompletedProcess([], 0, "", stderr.decode()))
