"""What a bot posts: text, or a card made of a few components, and how a card falls back to
plain text on platforms that cannot show it (buttons become numbered replies)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from threadline.types import InvalidInputError

ButtonStyle = Literal["default", "primary", "danger"]
NUMBER_EMOJI = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
MAX_OPTIONS = len(NUMBER_EMOJI)


@dataclass(frozen=True)
class Text:
    """Plain text, shown as it is."""

    text: str


@dataclass(frozen=True)
class Markdown:
    """Markdown text; shown as plain text (markers removed) where the platform has no
    markdown."""

    text: str


@dataclass(frozen=True)
class Button:
    """A button; `value` (default: the label) is what a choice returns when it is clicked."""

    label: str
    value: str | None = None
    style: ButtonStyle = "default"

    @property
    def chosen(self) -> str:
        return self.label if self.value is None else self.value


@dataclass(frozen=True, init=False)
class Fields:
    """Labelled values, shown as `label: value` lines where the platform has no layout."""

    items: tuple[tuple[str, str], ...]

    def __init__(self, items: Mapping[str, str] | Sequence[tuple[str, str]]) -> None:
        pairs = tuple(items.items()) if isinstance(items, Mapping) else tuple(items)
        object.__setattr__(self, "items", tuple((str(k), str(v)) for k, v in pairs))


@dataclass(frozen=True)
class Image:
    """An image by URL; shown as its alt text and URL where the platform shows no images."""

    url: str
    alt_text: str = ""


Component = Text | Markdown | Button | Fields | Image


@dataclass(frozen=True, init=False)
class Card:
    """A message made of components, in order. Strings are `Text`.

    card = Card(Markdown("**Deploy** v2 to production?"), Button("Deploy", "yes"),
                Button("Cancel", "no", style="danger"))
    """

    components: tuple[Component, ...]

    def __init__(self, *components: str | Component) -> None:
        parts: list[Component] = []
        for component in components:
            parts.append(Text(component) if isinstance(component, str) else component)
        for part in parts:
            _check_component(part)
        object.__setattr__(self, "components", tuple(parts))

    @property
    def buttons(self) -> list[Button]:
        return [c for c in self.components if isinstance(c, Button)]

    def without_buttons(self) -> Card:
        return Card(*(c for c in self.components if not isinstance(c, Button)))

    def plain_text(self) -> str:
        """The card as plain text, buttons left out (see `fallback`)."""
        return "\n".join(_plain(c) for c in self.components if not isinstance(c, Button))

    def markdown(self) -> str:
        """The card as markdown, buttons left out (see `fallback`)."""
        return "\n".join(_markdown(c) for c in self.components if not isinstance(c, Button))

    def text_length(self) -> int:
        return max(len(self.plain_text()), len(self.markdown()))

    def to_dict(self) -> dict[str, Any]:
        return {"components": [_component_dict(c) for c in self.components]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Card:
        return cls(*(_component_from(c) for c in data.get("components", [])))


UI = str | Component | Sequence[str | Component] | Card
"""What `post`, `update` and `await_choice` take: a string (plain text), a component, a list
of them, or a `Card`."""


def as_card(ui: UI) -> Card:
    """`ui` as a `Card`. Raises `InvalidInputError` for anything else, or an empty card."""
    if isinstance(ui, Card):
        card = ui
    elif isinstance(ui, str | Text | Markdown | Button | Fields | Image):
        card = Card(ui)
    elif isinstance(ui, Sequence):
        card = Card(*ui)
    else:
        raise InvalidInputError(
            f"a message is text, a component (Text, Markdown, Button, Fields, Image), a list "
            f"of them or a Card, not {type(ui).__name__}"
        )
    if not card.components or not (card.plain_text().strip() or card.buttons):
        raise InvalidInputError("a message needs some text or a component")
    return card


def fallback(card: Card, *, buttons: bool, reactions: bool) -> Card:
    """The card as a platform without buttons shows it: its buttons become a numbered list
    that a reply with the number (or, with reactions, the number's emoji) chooses from."""
    if buttons or not card.buttons:
        return card
    labels = [b.label for b in card.buttons]
    if reactions and len(labels) <= MAX_OPTIONS:
        listed = "  ".join(f"{NUMBER_EMOJI[i]} {label}" for i, label in enumerate(labels))
        hint = "react or reply with a number"
    else:
        listed = "  ".join(f"[{i + 1}] {label}" for i, label in enumerate(labels))
        hint = "reply with a number"
    return Card(*card.without_buttons().components, Text(f"{listed} ({hint})"))


def split_card(card: Card, limit: int) -> list[Card]:
    """The card as messages that each fit in `limit` characters: its text is cut at paragraph,
    line or word boundaries, and the last message carries the other components."""
    if card.text_length() <= limit:
        return [card]
    texts = [c for c in card.components if isinstance(c, Text | Markdown)]
    others = [c for c in card.components if not isinstance(c, Text | Markdown)]
    kind = Markdown if any(isinstance(c, Markdown) for c in texts) else Text
    joined = "\n".join(c.text for c in texts)
    reserve = len(Card(*others).plain_text()) + 1 if others else 0
    chunks = split_text(joined, limit)
    if reserve and len(chunks[-1]) + reserve > limit:
        chunks.append("")
    cards = [Card(kind(chunk)) for chunk in chunks[:-1]]
    last: list[Component] = [kind(chunks[-1])] if chunks[-1] else []
    cards.append(Card(*last, *others))
    return cards


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at the last paragraph break, line
    break or space before the limit (mid-word only when a word is longer than the limit)."""
    if limit < 1:
        raise InvalidInputError("a message length limit must be at least 1")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = split_point(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [p for p in pieces if p] or [""]


def split_point(text: str, limit: int) -> int:
    """Where to cut `text` so that its first part has at most `limit` characters."""
    window = text[: limit + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator, 1)
        if at > 0 and at <= limit:
            return at
    return limit


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_EMPHASIS = re.compile(r"(\*\*|__|~~|\*|_)(?=\S)(.+?)(?<=\S)\1")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_FENCE = re.compile(r"^```[\w-]*\n?", re.MULTILINE)


def markdown_to_plain(text: str) -> str:
    """Markdown as readable plain text: links as `label (url)`, no emphasis markers,
    headings or code fences."""
    text = _FENCE.sub("", text)
    text = _LINK.sub(r"\1 (\2)", text)
    text = _CODE.sub(r"\1", text)
    text = _HEADING.sub("", text)
    previous = None
    while previous != text:
        previous, text = text, _EMPHASIS.sub(r"\2", text)
    return text


def _plain(component: Component) -> str:
    if isinstance(component, Text):
        return component.text
    if isinstance(component, Markdown):
        return markdown_to_plain(component.text)
    if isinstance(component, Fields):
        return "\n".join(f"{label}: {value}" for label, value in component.items)
    if isinstance(component, Image):
        return f"{component.alt_text} ({component.url})" if component.alt_text else component.url
    return ""


def _markdown(component: Component) -> str:
    if isinstance(component, Text | Markdown):
        return component.text
    if isinstance(component, Fields):
        return "\n".join(f"**{label}**: {value}" for label, value in component.items)
    if isinstance(component, Image):
        return f"![{component.alt_text}]({component.url})"
    return ""


def _check_component(component: object) -> None:
    if isinstance(component, Text | Markdown):
        _check_text(component.text, type(component).__name__)
    elif isinstance(component, Button):
        _check_text(component.label, "a Button's label")
        if not component.label.strip():
            raise InvalidInputError("a Button needs a label")
        if component.value is not None:
            _check_text(component.value, "a Button's value")
        if component.style not in ("default", "primary", "danger"):
            raise InvalidInputError("a Button's style is 'default', 'primary' or 'danger'")
    elif isinstance(component, Fields):
        for label, value in component.items:
            _check_text(label + value, "Fields")
    elif isinstance(component, Image):
        _check_text(component.url + component.alt_text, "an Image")
        if not component.url.startswith(("https://", "http://", "mxc://")):
            raise InvalidInputError("an Image needs an http(s) or mxc URL")
    else:
        raise InvalidInputError(
            f"a card is made of Text, Markdown, Button, Fields and Image, not "
            f"{type(component).__name__}"
        )


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text")
    if "\x00" in value:
        raise InvalidInputError(f"{what} must not contain NUL characters")


def _component_dict(component: Component) -> dict[str, Any]:
    if isinstance(component, Text):
        return {"type": "text", "text": component.text}
    if isinstance(component, Markdown):
        return {"type": "markdown", "text": component.text}
    if isinstance(component, Button):
        return {
            "type": "button",
            "label": component.label,
            "value": component.value,
            "style": component.style,
        }
    if isinstance(component, Fields):
        return {"type": "fields", "items": [list(pair) for pair in component.items]}
    return {"type": "image", "url": component.url, "alt_text": component.alt_text}


def _component_from(data: Mapping[str, Any]) -> Component:
    kind = data.get("type")
    if kind == "text":
        return Text(str(data["text"]))
    if kind == "markdown":
        return Markdown(str(data["text"]))
    if kind == "button":
        return Button(str(data["label"]), data.get("value"), data.get("style", "default"))
    if kind == "fields":
        return Fields([(str(k), str(v)) for k, v in data["items"]])
    if kind == "image":
        return Image(str(data["url"]), str(data.get("alt_text", "")))
    raise InvalidInputError(f"unknown card component {kind!r}")
