from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from threadline import ToolError
from threadline.cli._demo_agent import calculate, demo_agent, get_time


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 3 * 4", "14"),
        ("(2 + 3) * 4", "20"),
        ("-2 ** 2", "-4"),
        ("+7 // 2", "3"),
        ("-7 % 3", "2"),
        ("1 / 4", "0.25"),
        ("2 ** -1", "0.5"),
        ("2 ** 100", str(2**100)),
        ("1.5 * 2", "3.0"),
        (" 10 - 2.5 ", "7.5"),
    ],
)
def test_calculate_evaluates_arithmetic(expression: str, value: str) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "function calls are not allowed"),
        ("x + 1", "names such as 'x' are not allowed"),
        ("().__class__", "unsupported syntax"),
        ("'a' * 3", "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("[1, 2]", "unsupported syntax"),
        ("1 < 2", "unsupported syntax"),
        ("1 << 2000", "unsupported syntax"),
        ("lambda: 1", "unsupported syntax"),
        ("1 +", "not a valid arithmetic expression"),
        ("", "not a valid arithmetic expression"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("1e400", "too large"),
        ("2.0 ** 5000", "too large"),
        ("1" * 600, "too long"),
    ],
)
def test_calculate_refuses_anything_but_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        calculate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "9 ** 9 ** 9",
        "10 ** 5000",
        "2 ** 4000 * 2 ** 4000",
        "(10 ** 1000) ** 10",
        "-(2 ** 4097)",
    ],
)
def test_calculate_refuses_huge_numbers_at_once(expression: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match="too large"):
        calculate(expression)
    assert time.monotonic() - started < 1


def test_get_time_returns_the_iso_time_in_the_zone() -> None:
    tokyo = datetime.fromisoformat(get_time("Asia/Tokyo"))
    utc = datetime.fromisoformat(get_time())

    assert tokyo.utcoffset() == timedelta(hours=9)
    assert utc.utcoffset() == timedelta(0)
    assert abs((tokyo - utc).total_seconds()) < 5


def test_get_time_accepts_zone_names_in_any_case() -> None:
    assert datetime.fromisoformat(get_time("utc")).utcoffset() == timedelta(0)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "", "Europe"])
def test_get_time_refuses_unknown_zones(zone: str) -> None:
    with pytest.raises(ToolError, match="unknown time zone"):
        get_time(zone)


def test_demo_agent_is_the_assistant_with_both_tools() -> None:
    agent = demo_agent()

    assert agent.name == "assistant"
    assert agent.instructions
    assert sorted(agent.tools) == ["calculate", "get_time"]
    assert agent.tools["get_time"].parameters["properties"]["timezone"]["default"] == "UTC"
