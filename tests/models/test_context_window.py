"""Fitting a history into a context window drops its oldest parts whole."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from threadline.models import FitResult, LocalModel, estimate_tokens, fit_history
from threadline.models._context_window import IMAGE_TOKENS, ITEM_OVERHEAD_TOKENS
from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    ImagePart,
    Item,
    Payload,
    Reasoning,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)


def user(text: str = "question") -> UserMessage:
    return UserMessage(content=(TextPart(text=text),))


def agent(text: str = "answer") -> AgentMessage:
    return AgentMessage(text=text)


def call(call_id: str) -> ToolCall:
    return ToolCall(tool_call_id=call_id, name="lookup", arguments="{}")


def result(call_id: str) -> ToolResult:
    return ToolResult(tool_call_id=call_id, name="lookup", output="42")


def history(*turns: Sequence[Payload]) -> list[Item]:
    """Items numbered from 1; each argument is one turn."""
    items: list[Item] = []
    for turn, payloads in enumerate(turns, start=1):
        for payload in payloads:
            seq = len(items) + 1
            items.append(
                Item(
                    item_id=f"i{seq}",
                    thread_id="t",
                    turn_id=f"turn_{turn}",
                    seq=seq,
                    status="completed",
                    payload=payload,
                    created_at=float(seq),
                )
            )
    return items


def ten_each(item: Item) -> int:
    return 10


def kept(result_: FitResult) -> list[str]:
    return [item.item_id for item in result_.items_kept]


def dropped(result_: FitResult) -> list[str]:
    return [item.item_id for item in result_.items_dropped]


def test_a_history_that_fits_is_kept_whole() -> None:
    items = history([user(), agent()], [user(), agent()])

    fit = fit_history(items, max_tokens=40, count_tokens=ten_each)

    assert fit == FitResult(
        items_kept=tuple(items), items_dropped=(), tokens_kept=40, over_budget=False
    )


def test_the_oldest_turns_go_first() -> None:
    items = history([user(), agent()], [user(), agent()], [user(), agent()])

    fit = fit_history(items, max_tokens=45, count_tokens=ten_each)

    assert kept(fit) == ["i3", "i4", "i5", "i6"]
    assert dropped(fit) == ["i1", "i2"]
    assert (fit.tokens_kept, fit.over_budget) == (40, False)


def test_a_tool_call_and_its_result_are_dropped_together() -> None:
    # Newest first: i6, i5 and the result i4 fit in 35 tokens, its call i3 would not.
    items = history([user(), call("a"), result("a"), agent()], [user(), agent()])

    fit = fit_history(items, max_tokens=35, count_tokens=ten_each)

    assert kept(fit) == ["i5", "i6"]
    assert dropped(fit) == ["i1", "i2", "i3", "i4"]


def test_parallel_calls_keep_each_call_with_its_own_result() -> None:
    items = history([user(), call("a"), call("b"), result("a"), result("b"), agent()])
    costs = {"i1": 1, "i2": 100, "i3": 1, "i4": 1, "i5": 1, "i6": 1}

    fit = fit_history(items, max_tokens=10, count_tokens=lambda item: costs[item.item_id])

    assert kept(fit) == ["i1", "i3", "i5", "i6"]  # call b with result b; call a is too big
    assert dropped(fit) == ["i2", "i4"]


def test_a_steps_reasoning_stays_with_its_text_and_calls() -> None:
    items = history(
        [user(), Reasoning(text="think"), agent("checking"), call("a"), result("a"), agent()],
        [user(), agent()],
    )
    costs = {"i2": 1000}

    fit = fit_history(items, max_tokens=60, count_tokens=lambda item: costs.get(item.item_id, 10))

    assert kept(fit) == ["i7", "i8"]
    assert dropped(fit) == ["i1", "i2", "i3", "i4", "i5", "i6"]


def test_approval_items_go_with_their_call() -> None:
    items = history(
        [
            user(),
            call("a"),
            ApprovalRequest(tool_call_id="a", name="lookup", arguments="{}", arguments_hash="h"),
            ApprovalResponse(tool_call_id="a", decision="approved"),
            result("a"),
            agent(),
        ],
        [user(), agent()],
    )

    fit = fit_history(items, max_tokens=50, count_tokens=ten_each)

    assert kept(fit) == ["i7", "i8"]


def test_the_latest_user_message_is_kept_even_over_budget() -> None:
    items = history([user(), agent()], [user("a very long question")])

    fit = fit_history(items, max_tokens=5, count_tokens=ten_each)

    assert kept(fit) == ["i3"]
    assert (fit.tokens_kept, fit.over_budget) == (10, True)


def test_the_current_turn_keeps_its_question_and_newest_step_and_drops_the_middle() -> None:
    items = history(
        [user(), agent()],
        [user(), call("a"), result("a"), call("b"), result("b"), call("c"), result("c")],
    )

    fit = fit_history(items, max_tokens=50, count_tokens=ten_each)

    # The question and the newest call were required (30); one more call pair fits (50).
    assert kept(fit) == ["i3", "i6", "i7", "i8", "i9"]
    assert dropped(fit) == ["i1", "i2", "i4", "i5"]
    assert fit.over_budget is False


@pytest.mark.parametrize(
    ("keep", "expected"), [(0, ["i3"]), (1, ["i3", "i5"]), (2, ["i3", "i4", "i5"])]
)
def test_keep_whole_newest_keeps_that_many_units_whatever_they_cost(
    keep: int, expected: list[str]
) -> None:
    items = history([user(), agent()], [user(), agent("long"), agent("longer")])

    fit = fit_history(items, max_tokens=0, count_tokens=ten_each, keep_whole_newest=keep)

    assert kept(fit) == expected
    assert fit.over_budget is True


def test_what_is_kept_starts_at_a_user_message() -> None:
    # The budget would allow i3-i7, but i3-i5 answer a question that was dropped.
    items = history([user(), call("a"), result("a"), agent()], [user(), agent()])
    costs = {"i1": 100}

    fit = fit_history(items, max_tokens=60, count_tokens=lambda item: costs.get(item.item_id, 10))

    assert kept(fit) == ["i5", "i6"]
    assert fit.tokens_kept == 20


def test_a_history_with_no_user_message_keeps_the_newest_stretch() -> None:
    items = history([agent("a"), agent("b"), agent("c")])

    fit = fit_history(items, max_tokens=20, count_tokens=ten_each)

    assert kept(fit) == ["i2", "i3"]


def test_an_empty_history_fits() -> None:
    assert fit_history([], max_tokens=0) == FitResult(
        items_kept=(), items_dropped=(), tokens_kept=0, over_budget=False
    )


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        fit_history([], max_tokens=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        fit_history([], max_tokens=10, keep_whole_newest=-1)


def test_the_default_counter_is_the_estimate() -> None:
    items = history([user("x" * 400), agent("y" * 40)])

    fit = fit_history(items, max_tokens=1_000)

    assert fit.tokens_kept == sum(estimate_tokens(item) for item in items) == 100 + 10 + 8


@pytest.mark.parametrize(
    ("payload", "tokens"),
    [
        (user("abcd" * 10), 10),
        (user(""), 0),
        (agent("abcde"), 2),  # rounded up
        (Reasoning(text="a" * 8), 2),
        (ToolCall(tool_call_id="c", name="lookup", arguments='{"q": 1}'), 4),
        (ToolResult(tool_call_id="c", name="lookup", output="x" * 12), 3),
    ],
)
def test_the_estimate_is_about_four_characters_a_token(payload: Payload, tokens: int) -> None:
    [item] = history([payload])

    assert estimate_tokens(item) == ITEM_OVERHEAD_TOKENS + tokens


def test_the_estimate_counts_each_image_at_a_fixed_price() -> None:
    [item] = history(
        [
            UserMessage(
                content=(
                    TextPart(text="abcd"),
                    ImagePart(url="https://x/1.png"),
                    ImagePart(url="https://x/2.png"),
                )
            )
        ]
    )

    assert estimate_tokens(item) == ITEM_OVERHEAD_TOKENS + 1 + 2 * IMAGE_TOKENS


@pytest.mark.local_model
async def test_the_local_model_counts_with_its_own_tokenizer(local_model: LocalModel) -> None:
    count = await local_model.token_counter()
    [short, long] = history([user("Hello"), agent("Hello, world! " * 20)])

    assert 3 < count(short) < count(long)
    # ChatML markers are single special tokens: a few, not dozens of characters' worth.
    assert count(short) <= 8
