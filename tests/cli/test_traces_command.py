from __future__ import annotations

import json
from pathlib import Path

from cli_process import CliProcess, assert_one_error_line, thread_id_of


def test_traces_show_prints_the_turn_as_an_indented_tree(tmp_path: Path) -> None:
    cli = CliProcess(tmp_path)
    thread_id = thread_id_of(cli("run", "--user", "alice", "What time is it?"))
    shown = json.loads(cli("threads", "show", "--json", thread_id).stdout)
    turn_id = shown["turns"][0]["id"]

    tree, as_json, missing = cli.concurrently(
        ["traces", "show", turn_id],
        ["traces", "show", "--json", turn_id],
        ["traces", "show", "turn_missing"],
    )

    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0].startswith("trace ")
    names = [line.split()[0] for line in lines[1:]]
    shape = [(line.split()[0], len(line) - len(line.lstrip())) for line in lines[1:]]
    assert shape == [
        ("thread.run", 0),
        ("thread.item", 2),  # the input
        ("thread.part", 4),
        ("thread.execution", 2),
        ("thread.step", 4),
        ("thread.context", 6),
        ("thread.llm", 6),
        ("thread.item", 8),
        ("thread.step", 4),
        ("thread.tool", 6),
        ("thread.item", 8),
        ("thread.step", 4),
        ("thread.context", 6),
        ("thread.llm", 6),
        ("thread.item", 8),
    ]
    assert "gen_ai.tool.name=get_time" in lines[names.index("thread.tool") + 1]
    assert " ms" in lines[1]
    spans = json.loads(as_json.stdout)
    assert {s["turn_id"] for s in spans} == {turn_id}
    assert missing.returncode != 0
    assert_one_error_line(missing)
