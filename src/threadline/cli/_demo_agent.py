"""The agent the CLI runs: a short-spoken assistant with a clock and a calculator."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from threadline import Agent, ToolError, tool

INSTRUCTIONS = (
    "You are a helpful assistant. Answer briefly. "
    "Use get_time for the current date or time and calculate for arithmetic."
)

# 4096 bits is about 1,200 decimal digits: far beyond any useful answer, yet cheap to compute
# and to print, so no expression can make the tool hang or exhaust memory.
_MAX_BITS = 4096
_MAX_EXPRESSION_LENGTH = 500

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


@tool(idempotent=True)
def get_time(timezone: str = "UTC") -> str:
    """The current date and time, in ISO 8601, in a time zone.

    Args:
        timezone: an IANA time zone name such as "Europe/Paris" or "America/New_York".
    """
    return datetime.now(_zone(timezone)).isoformat(timespec="seconds")


@tool(idempotent=True)
def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression: numbers, + - * / // % ** and parentheses.

    Args:
        expression: for example "(2 + 3) * 4 ** 2".
    """
    if len(expression) > _MAX_EXPRESSION_LENGTH:
        raise ToolError(f"the expression is too long (at most {_MAX_EXPRESSION_LENGTH} characters)")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError(f"not a valid arithmetic expression: {expression!r}") from None
    try:
        value = _evaluate(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, RecursionError, MemoryError):
        raise ToolError("the result is too large to compute") from None
    return repr(value)


def demo_agent() -> Agent:
    """The CLI's agent: "assistant", with the `get_time` and `calculate` tools."""
    return Agent(name="assistant", instructions=INSTRUCTIONS, tools=[get_time, calculate])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    # Models often write "utc" or "europe/paris"; the IANA database is case-sensitive.
    folded = name.strip().casefold()
    for candidate in available_timezones():
        if candidate.casefold() == folded:
            return ZoneInfo(candidate)
    raise ToolError(
        f"unknown time zone {name!r}: use an IANA name such as 'UTC', "
        "'Europe/Paris' or 'America/New_York'"
    )


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _checked(value)
        raise ToolError(f"only numbers are allowed, not {value!r}")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _checked(_power(_evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _checked(_BINARY[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.Name):
        raise ToolError(f"names such as {node.id!r} are not allowed: use numbers only")
    if isinstance(node, ast.Call):
        raise ToolError("function calls are not allowed: use numbers and + - * / // % **")
    raise ToolError(
        f"unsupported syntax ({type(node).__name__}): use numbers, + - * / // % ** and parentheses"
    )


def _power(base: Number, exponent: Number) -> Number:
    # Check before computing: 9 ** 9 ** 9 would take minutes to produce, not to reject.
    if isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        bits = math.log2(abs(base)) * exponent
        if bits > _MAX_BITS:
            raise ToolError("the result is too large to compute")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolError("the result is not a real number")
    return result


def _checked(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise ToolError("the result is too large to compute")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is too large to compute")
    return value
