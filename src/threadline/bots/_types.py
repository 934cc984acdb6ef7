"""The bot layer's vocabulary: who speaks, the messages and events that adapters deliver, the
references to posted messages, and what the capability-gated operations return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from threadline.types import InvalidInputError

Capability = Literal[
    "edit",  # posted messages can be edited in place (streaming edits them)
    "delete",  # posted messages can be deleted
    "buttons",  # cards can carry buttons that report clicks (`ActionEvent`)
    "reactions",  # the bot can react to a message and reports reactions (`ReactionEvent`)
    "history",  # the conversation's past messages can be read
    "files",  # files can be uploaded into a conversation
    "lookup_user",  # users can be found by name or id
    "markdown",  # text is rendered as markdown
    "images",  # cards can show images inline
]
CAPABILITIES: frozenset[Capability] = frozenset(
    (
        "edit",
        "delete",
        "buttons",
        "reactions",
        "history",
        "files",
        "lookup_user",
        "markdown",
        "images",
    )
)


def check_capabilities(values: object, owner: str) -> frozenset[Capability]:
    """`values` as a set of known capability names. Raises `InvalidInputError`."""
    if isinstance(values, str) or not isinstance(values, set | frozenset | list | tuple):
        raise InvalidInputError(f"{owner}: capabilities must be a set of names")
    unknown = sorted(str(v) for v in values if v not in CAPABILITIES)  # pyright: ignore[reportUnknownVariableType]
    if unknown:
        raise InvalidInputError(
            f"{owner}: unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}"
        )
    return frozenset(values)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class User:
    """Someone on a chat platform: the platform's `id` for them and a display `name`."""

    id: str
    name: str
    is_bot: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, kw_only=True)
class MessageRef:
    """A message on a platform: enough to edit, delete or react to it later, in any process."""

    platform: str
    conversation: str
    message_id: str

    def to_dict(self) -> dict[str, str]:
        return {
            "platform": self.platform,
            "conversation": self.conversation,
            "message_id": self.message_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageRef:
        return cls(
            platform=str(data["platform"]),
            conversation=str(data["conversation"]),
            message_id=str(data["message_id"]),
        )


@dataclass(frozen=True, kw_only=True)
class Message:
    """A message in a conversation, as delivered to the bot or read from its history.

    `event_id` is the platform's id of the delivery (a retried webhook or a replayed sync
    repeats it): it is the `client_key` of the turn the message starts, so it never runs
    twice. `conversation` is the adapter's key for where a reply goes (a channel, a room, a
    channel's thread). `mentioned` says the bot was addressed (always true in a direct chat).
    """

    type: Literal["message"] = "message"
    event_id: str
    message_id: str
    conversation: str
    user: User
    text: str
    mentioned: bool = False
    timestamp: float = 0.0

    def ref(self, platform: str) -> MessageRef:
        return MessageRef(
            platform=platform, conversation=self.conversation, message_id=self.message_id
        )


@dataclass(frozen=True, kw_only=True)
class ActionEvent:
    """Someone clicked a button of a card the bot posted; `action_id` is the button's id as
    the bot gave it to the adapter."""

    type: Literal["action"] = "action"
    event_id: str
    conversation: str
    message: MessageRef
    action_id: str
    user: User


@dataclass(frozen=True, kw_only=True)
class ReactionEvent:
    """Someone added (or removed) a reaction to a message."""

    type: Literal["reaction"] = "reaction"
    event_id: str
    conversation: str
    message: MessageRef
    emoji: str
    user: User
    added: bool = True


ChatEvent = Message | ActionEvent | ReactionEvent
"""What an adapter delivers to the bot."""


@dataclass(frozen=True, kw_only=True)
class FileUpload:
    """A file to post into a conversation (see `Adapter.upload`)."""

    data: bytes
    filename: str
    title: str | None = None
    alt_text: str | None = None


class FileResult(TypedDict):
    """What `post_file` returns: `ok`, the platform's `file_id`, or why it failed."""

    ok: bool
    file_id: str | None
    error: str | None


@dataclass(frozen=True)
class ContextEntry:
    """A labelled fact the agent is told for a run, e.g. `ContextEntry("Requesting user",
    "Ann")`; it is added to the run's instructions, not to the conversation."""

    label: str
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise InvalidInputError("a ContextEntry needs a non-empty text label")
        if not isinstance(self.value, str):
            raise InvalidInputError(f"the value of ContextEntry {self.label!r} must be text")


def context_instructions(entries: list[ContextEntry]) -> str | None:
    """The context entries as the lines added to a run's instructions."""
    if not entries:
        return None
    lines = "\n".join(f"- {e.label}: {e.value}" for e in entries)
    return f"Context of this conversation:\n{lines}"
