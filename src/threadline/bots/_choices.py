"""Questions a turn waits on, as the bot shows them: a tool's `await_choice` card and a tool
call's approval card. Which question a click, a reaction or a numbered reply answers, who may
answer it, and how its card shows the answer.

A choice is threadline's own durable `await_choice`: its JSON Schema accepts exactly one
answer object (`{"choice": <tool call id>, "value": <a button's value>, "user": ...}`) and
carries, under `MARKER`, the card, where it was posted and who may answer, so any process can
route a click to it. An approval card's place is kept in the conversation's notes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from threadline.runtime import Thread
from threadline.types import (
    ApprovalRequest,
    AwaitingInput,
    InvalidInputError,
    NotFoundError,
)

from ._types import MessageRef, User
from ._ui import MAX_OPTIONS, NUMBER_EMOJI, Button, Card, Markdown, Text

MARKER = "x-threadline-bot"
ACTION_PREFIX = "tl"
APPROVAL_CARDS = "approval_cards"  # the conversation notes' key: tool call id -> card ref
_ARGUMENTS_SHOWN = 500


@dataclass(frozen=True, kw_only=True)
class Question:
    """A choice or an approval that the conversation's turn waits for."""

    kind: Literal["choice", "approval"]
    tool_call_id: str
    card: Card
    ref: MessageRef | None
    approvers: frozenset[str] | None

    @property
    def options(self) -> list[Button]:
        return self.card.buttons

    def action_id(self, index: int) -> str:
        return f"{ACTION_PREFIX}:{self.tool_call_id}:{index}"

    def actions(self) -> list[str]:
        return [self.action_id(i) for i in range(len(self.options))]

    def may_answer(self, user: User) -> bool:
        return self.approvers is None or user.id in self.approvers


def checked_options(card: Card) -> list[Button]:
    """A choice card's buttons. Raises `InvalidInputError` for none, too many, or two with
    the same value."""
    buttons = card.buttons
    if not buttons:
        raise InvalidInputError("await_choice needs a card with at least one Button")
    if len(buttons) > MAX_OPTIONS:
        raise InvalidInputError(f"a choice has at most {MAX_OPTIONS} buttons")
    values = [b.chosen for b in buttons]
    if len(set(values)) != len(values):
        raise InvalidInputError("the buttons of a choice need different values")
    return buttons


def choice_schema(
    tool_call_id: str, card: Card, ref: MessageRef | None, approvers: frozenset[str] | None
) -> dict[str, Any]:
    values = [b.chosen for b in checked_options(card)]
    return {
        "type": "object",
        "properties": {
            "choice": {"const": tool_call_id},
            "value": {"enum": values},
            "user": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
        },
        "required": ["choice", "value"],
        MARKER: {
            "card": card.to_dict(),
            "ref": None if ref is None else ref.to_dict(),
            "approvers": None if approvers is None else sorted(approvers),
        },
    }


def choice_prompt(card: Card) -> str:
    return card.plain_text().strip() or "Choose one"


def choice_answer(question: Question, index: int, user: User) -> dict[str, Any]:
    return {
        "choice": question.tool_call_id,
        "value": question.options[index].chosen,
        "user": user.to_dict(),
    }


def from_awaiting(request: AwaitingInput) -> Question | None:
    """The bot's question behind a pending `await_choice`, None for another tool's."""
    data = request.schema.get(MARKER)
    if not isinstance(data, dict):
        return None
    approvers = data.get("approvers")
    ref = data.get("ref")
    return Question(
        kind="choice",
        tool_call_id=request.tool_call_id,
        card=Card.from_dict(data["card"]),
        ref=None if ref is None else MessageRef.from_dict(ref),
        approvers=None if approvers is None else frozenset(approvers),
    )


def approval_card(request: ApprovalRequest) -> Card:
    arguments = request.arguments
    if len(arguments) > _ARGUMENTS_SHOWN:
        arguments = arguments[:_ARGUMENTS_SHOWN] + "…"
    lines = [f"Approve **{request.name}**?", f"`{arguments}`"]
    if request.reason:
        lines.append(request.reason)
    return Card(
        Markdown("\n".join(lines)),
        Button("Approve", "approve", "primary"),
        Button("Deny", "deny", "danger"),
    )


def from_approval(
    request: ApprovalRequest, cards: Mapping[str, Any], approvers: frozenset[str] | None
) -> Question:
    ref = cards.get(request.tool_call_id)
    return Question(
        kind="approval",
        tool_call_id=request.tool_call_id,
        card=approval_card(request),
        ref=MessageRef.from_dict(ref) if isinstance(ref, dict) else None,
        approvers=approvers,
    )


async def open_questions(
    thread: Thread, notes: Mapping[str, Any], approvers: frozenset[str] | None
) -> list[Question]:
    """What the conversation's paused turn waits for, oldest first."""
    if (await thread.reload()).status != "awaiting_input":
        return []
    cards = notes.get(APPROVAL_CARDS) or {}
    questions: list[Question] = []
    for request in await thread.pending():
        if isinstance(request, AwaitingInput):
            question = from_awaiting(request)
            if question is not None:
                questions.append(question)
        elif isinstance(request, ApprovalRequest):
            questions.append(from_approval(request, cards, approvers))
    return questions


def answered_by_action(
    questions: Sequence[Question], action_id: str
) -> tuple[Question, int] | None:
    prefix, _, rest = action_id.partition(":")
    tool_call_id, _, index = rest.rpartition(":")
    if prefix != ACTION_PREFIX or not index.isdigit():
        return None
    return _pick(questions, lambda q: q.tool_call_id == tool_call_id, int(index))


def answered_by_reaction(
    questions: Sequence[Question], ref: MessageRef, emoji: str
) -> tuple[Question, int] | None:
    if emoji not in NUMBER_EMOJI:
        return None
    return _pick(questions, lambda q: q.ref == ref, NUMBER_EMOJI.index(emoji))


def answered_by_number(questions: Sequence[Question], text: str) -> tuple[Question, int] | None:
    """A reply that is just a number answers the oldest open question."""
    text = text.strip().rstrip(".)")
    if not text.isdigit() or not questions:
        return None
    return _pick(questions[:1], lambda q: True, int(text) - 1)


def _pick(
    questions: Sequence[Question], match: Callable[[Question], bool], index: int
) -> tuple[Question, int] | None:
    for question in questions:
        if match(question) and 0 <= index < len(question.options):
            return question, index
    return None


async def record_answer(thread: Thread, question: Question, index: int, user: User) -> bool:
    """Store the answer durably; False (nothing stored) when the question is no longer open
    or was answered meanwhile."""
    try:
        if question.kind == "choice":
            await thread.answer(choice_answer(question, index, user), sender=user.name)
        elif question.options[index].chosen == "approve":
            await thread.approve(question.tool_call_id, sender=user.name)
        else:
            await thread.deny(question.tool_call_id, sender=user.name)
    except (InvalidInputError, NotFoundError):
        return False
    return True


def answered_card(question: Question, index: int, user: User) -> Card:
    """The question's card as it shows its answer: without buttons, saying who chose what."""
    label = question.options[index].label
    return Card(*question.card.without_buttons().components, Text(f"{user.name} chose {label}."))
