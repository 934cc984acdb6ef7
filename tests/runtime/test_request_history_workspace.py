"""The history a request carries applies what tools did to it: an edited item is shown as last
edited, and a message stored while calls waited for their results comes after those results,
whether the history is built at once or kept up to date request by request."""

from __future__ import annotations

from threadline.runtime._history import HistoryIndex, request_history, visible_history
from threadline.runtime._messages import edit_marker
from threadline.testing._invariants import (
    _valid_history,  # pyright: ignore[reportPrivateUsage]
)
from threadline.types import (
    AgentMessage,
    Item,
    Payload,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)


def _item(seq: int, payload: Payload) -> Item:
    return Item(
        item_id=f"item_{seq}",
        thread_id="thr_1",
        turn_id="turn_1",
        seq=seq,
        status="completed",
        payload=payload,
        created_at=float(seq),
    )


def _user(text: str) -> UserMessage:
    return UserMessage(content=(TextPart(text=text),))


def _call(call_id: str) -> ToolCall:
    return ToolCall(tool_call_id=call_id, name="look", arguments="{}")


def _result(call_id: str) -> ToolResult:
    return ToolResult(tool_call_id=call_id, name="look", output=f"{call_id} done")


HISTORY = [
    _user("go"),
    _call("a"),
    _call("b"),
    _user("injected by a"),
    _result("a"),
    AgentMessage(text="injected by b"),
    _result("b"),
    _call("c"),
    _result("c"),
    AgentMessage(text="answer"),
]


def _shown(items: object) -> list[str]:
    return [i.text or i.payload.tool_call_id for i in items]  # type: ignore[attr-defined, union-attr]


def test_messages_stored_between_calls_and_results_come_after_the_results() -> None:
    items = [_item(n, p) for n, p in enumerate(HISTORY, start=1)]

    shown = visible_history(items)

    assert _shown(shown) == [
        *("go", "a", "b", "a", "b", "injected by a", "injected by b"),
        *("c", "c", "answer"),
    ]
    assert _valid_history("thr_1", shown) == []
    assert _valid_history("thr_1", items) != []  # as stored, they would break a request
    assert not HistoryIndex(items).plain


def test_a_request_built_item_by_item_shows_the_same_history() -> None:
    history: list[Item] = []
    index = HistoryIndex()
    for n, payload in enumerate(HISTORY, start=1):
        item = _item(n, payload)
        history.append(item)
        index.add([item])
        # Synthetic results (for calls still open) get fresh ids: compare what is shown.
        expected = [(i.type, i.payload) for i in visible_history(history)]
        assert [(i.type, i.payload) for i in request_history(history, index)] == expected
    assert _shown(request_history(history, index))[-1] == "answer"


def test_an_edit_shows_the_new_version_from_the_next_request_on() -> None:
    history = [_item(1, _user("my order is A7")), _item(2, AgentMessage(text="noted"))]
    index = HistoryIndex(history)
    assert _shown(request_history(history, index)) == ["my order is A7", "noted"]

    for seq, text in ((3, "my order is B12"), (4, "my order is C3")):
        marker = _item(seq, edit_marker("item_1", _user(text)))
        history.append(marker)
        index.add([marker])

        assert _shown(request_history(history, index)) == [text, "noted"]
        assert _shown(visible_history(history)) == [text, "noted"]
    assert history[0].text == "my order is A7"  # the stored item is unchanged
