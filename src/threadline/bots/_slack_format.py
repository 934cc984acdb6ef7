"""Slack's side of a message: cards rendered as mrkdwn text or Block Kit blocks, Slack's markup
read back as plain text, emoji names, and the conversation keys of channels and threads."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.types import InvalidInputError

from ._ui import NUMBER_EMOJI, Button, Card, Fields, Image, Markdown, Text, split_text

TEXT_LIMIT = 4000  # chat.update refuses longer text (msg_too_long)
SECTION_LIMIT = 3000  # a section block's text
FIELD_LIMIT = 2000  # one field of a section
FIELDS_PER_SECTION = 10
BUTTONS_PER_BLOCK = 25
BUTTON_LABEL_LIMIT = 75
ACTION_ID_LIMIT = 255

_CHANNEL = re.compile(r"[A-Z0-9]{2,}")
_TS = re.compile(r"\d+\.\d+")


def conversation_key(channel: str, thread_ts: str | None = None) -> str:
    """A channel's conversation ("C123"), or one of its threads ("C123/1712345678.000100")."""
    return channel if not thread_ts else f"{channel}/{thread_ts}"


def split_conversation(conversation: str) -> tuple[str, str | None]:
    """The channel and thread of a conversation key. Raises `InvalidInputError`."""
    channel, _, thread_ts = conversation.partition("/")
    if not _CHANNEL.fullmatch(channel) or (thread_ts and not _TS.fullmatch(thread_ts)):
        raise InvalidInputError(
            f"{conversation!r} is not a Slack conversation (a channel id such as C0123ABCD, "
            "or CHANNEL/THREAD_TS for a thread)"
        )
    return channel, thread_ts or None


def message_conversation(channel: str, message: Mapping[str, Any]) -> str:
    """The conversation a message of `channel` belongs to: its thread, or the channel for a
    message at the top (a thread's root included: the bot posts roots in the channel)."""
    ts = message.get("ts")
    thread_ts = message.get("thread_ts")
    if isinstance(thread_ts, str) and thread_ts and thread_ts != ts:
        return conversation_key(channel, thread_ts)
    return channel


# -- outgoing ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A card as chat.postMessage / chat.update take it: mrkdwn `text`, and `blocks` when
    the card needs them (None: text only)."""

    text: str
    blocks: list[dict[str, Any]] | None


def render(card: Card, actions: Sequence[str] = ()) -> Rendered:
    """`card` for Slack. Markdown alone is sent as mrkdwn text; anything else as blocks
    (plain text as plain_text, fields as a section's fields, images as image blocks, buttons
    as actions reporting `actions`), with the card's text as the notification fallback.
    Raises `InvalidInputError` for a button whose action id Slack would refuse."""
    if all(isinstance(c, Markdown) for c in card.components):
        text = to_mrkdwn(card.markdown())
        if len(text) <= TEXT_LIMIT:
            return Rendered(text=text, blocks=None)
    blocks: list[dict[str, Any]] = []
    for component in card.components:
        if isinstance(component, Text):
            for piece in _fit(component.text, SECTION_LIMIT, lambda s: s):
                blocks.append(_section({"type": "plain_text", "text": piece, "emoji": True}))
        elif isinstance(component, Markdown):
            for piece in _fit(component.text, SECTION_LIMIT, to_mrkdwn):
                blocks.append(_section({"type": "mrkdwn", "text": piece}))
        elif isinstance(component, Fields):
            blocks.extend(_fields(component))
        elif isinstance(component, Image):
            blocks.append(_image(component))
    blocks.extend(_actions(card.buttons, actions))
    fallback = escape(card.plain_text().strip()) or escape(
        " / ".join(b.label for b in card.buttons)
    )
    return Rendered(text=clip(fallback, TEXT_LIMIT), blocks=blocks)


def _section(text: dict[str, Any]) -> dict[str, Any]:
    return {"type": "section", "text": text}


def _fields(fields: Fields) -> list[dict[str, Any]]:
    shown = [
        {"type": "mrkdwn", "text": clip(f"*{escape(label)}*\n{escape(value)}", FIELD_LIMIT)}
        for label, value in fields.items
    ]
    return [
        {"type": "section", "fields": shown[i : i + FIELDS_PER_SECTION]}
        for i in range(0, len(shown), FIELDS_PER_SECTION)
    ]


def _image(image: Image) -> dict[str, Any]:
    if not image.url.startswith(("https://", "http://")):  # an mxc:// URL Slack cannot load
        label = escape(image.alt_text or image.url)
        return _section(
            {"type": "mrkdwn", "text": clip(f"{label} ({escape(image.url)})", SECTION_LIMIT)}
        )
    return {"type": "image", "image_url": image.url, "alt_text": image.alt_text or "image"}


def _actions(buttons: Sequence[Button], actions: Sequence[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    elements: list[dict[str, Any]] = []
    for index, button in enumerate(buttons):
        action_id = actions[index] if index < len(actions) else f"button:{index}"
        if len(action_id) > ACTION_ID_LIMIT:
            raise InvalidInputError(
                f"a Slack button's action id is at most {ACTION_ID_LIMIT} characters: "
                "shorten the button's value"
            )
        element: dict[str, Any] = {
            "type": "button",
            "text": {
                "type": "plain_text",
                "text": clip(button.label, BUTTON_LABEL_LIMIT, marker="…"),
                "emoji": True,
            },
            "action_id": action_id,
        }
        if button.style != "default":
            element["style"] = button.style
        # An action id must be unique within its block.
        taken = {e["action_id"] for e in elements}
        if len(elements) == BUTTONS_PER_BLOCK or action_id in taken:
            blocks.append({"type": "actions", "elements": elements})
            elements = []
        elements.append(element)
    if elements:
        blocks.append({"type": "actions", "elements": elements})
    return blocks


def _fit(text: str, limit: int, convert: Callable[[str], str], raw_limit: int = 0) -> list[str]:
    """`text` converted in pieces that each fit in `limit` characters once converted (escaping
    makes text longer), cut where `split_text` cuts."""
    pieces: list[str] = []
    for piece in split_text(text, raw_limit or limit):
        converted = convert(piece)
        if len(converted) <= limit or len(piece) <= 1:
            if converted.strip():
                pieces.append(converted)
            continue
        smaller = max(1, min(len(piece) - 1, len(piece) * limit // len(converted)))
        pieces.extend(_fit(piece, limit, convert, smaller))
    return pieces


def escape(text: str) -> str:
    """Text as Slack shows it literally: `&`, `<` and `>` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int, *, marker: str = " …") -> str:
    """`text` cut to at most `limit` characters, never inside an escape such as `&amp;`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(marker)]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + marker


_FENCE = re.compile(r"```[\w+-]*\n?(.*?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"#{1,6}\s+(.*)")
_BULLET = re.compile(r"(\s*)[-*+]\s+(.*)")
_INLINE = re.compile(
    r"\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|\*\*(?P<bold>\S(?:.*?\S)?)\*\*"
    r"|__(?P<bold2>\S(?:.*?\S)?)__"
    r"|~~(?P<strike>\S(?:.*?\S)?)~~"
    r"|(?<![\w*])\*(?P<italic>[^\s*](?:[^*\n]*?[^\s*])?)\*(?![\w*])"
    r"|(?<!\w)_(?P<italic2>[^\s_](?:[^_\n]*?[^\s_])?)_(?!\w)"
)


def to_mrkdwn(markdown: str) -> str:
    """Markdown as Slack's mrkdwn: `**bold**` as `*bold*`, `*italic*` as `_italic_`,
    `~~struck~~` as `~struck~`, links as `<url|label>`, headings in bold, bullets as •, code
    kept; `&`, `<` and `>` escaped everywhere, so that no text can mention or link."""
    out: list[str] = []
    position = 0
    for fence in _FENCE.finditer(markdown):
        out.append(_mrkdwn_text(markdown[position : fence.start()]))
        out.append(f"```{escape(fence.group(1))}```")
        position = fence.end()
    out.append(_mrkdwn_text(markdown[position:]))
    return "".join(out)


def _mrkdwn_text(text: str) -> str:
    lines: list[str] = []
    for line in text.split("\n"):
        quote = ""
        if line.startswith(">"):
            quote, line = ">", line[1:]
        heading = _HEADING.fullmatch(line)
        bullet = _BULLET.fullmatch(line)
        if heading:
            line = f"*{_inline(heading.group(1))}*"
        elif bullet:
            line = f"{bullet.group(1)}• {_inline(bullet.group(2))}"
        else:
            line = _inline(line)
        lines.append(quote + line)
    return "\n".join(lines)


def _inline(text: str) -> str:
    out: list[str] = []
    position = 0
    for code in _CODE.finditer(text):
        out.append(_emphasis(escape(text[position : code.start()])))
        out.append(f"`{escape(code.group(1))}`")
        position = code.end()
    out.append(_emphasis(escape(text[position:])))
    return "".join(out)


def _emphasis(escaped: str) -> str:
    def replace(match: re.Match[str]) -> str:
        groups = match.groupdict()
        if groups["label"] is not None:
            label = groups["label"].replace("|", "¦")
            return f"<{groups['url']}|{label}>"
        if groups["bold"] is not None or groups["bold2"] is not None:
            return f"*{_emphasis(groups['bold'] or groups['bold2'])}*"
        if groups["strike"] is not None:
            return f"~{_emphasis(groups['strike'])}~"
        return f"_{_emphasis(groups['italic'] or groups['italic2'])}_"

    return _INLINE.sub(replace, escaped)


# -- incoming ---------------------------------------------------------------------------------

_REFERENCE = re.compile(r"<([^<>\n]+)>")
_USER_REFERENCE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_SPACES = re.compile(r"[ \t]{2,}")


def mentioned_users(text: str) -> set[str]:
    """The user ids a message's text mentions (`<@U123>`)."""
    return set(_USER_REFERENCE.findall(text))


def mentions(text: str, user_id: str) -> bool:
    return bool(user_id) and user_id in mentioned_users(text)


def to_plain(text: str, *, names: Mapping[str, str], bot_user_id: str) -> str:
    """A message's text as a person reads it: mentions as `@name` (the bot's own removed),
    channels as `#name`, links as `label (url)`, escapes undone."""

    def reference(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            if user_id == bot_user_id:
                return ""
            return "@" + (names.get(user_id) or label or user_id)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            if special in ("here", "channel", "everyone"):
                return "@" + special
            return label or ""
        url = target.removeprefix("mailto:")
        return f"{label} ({url})" if label and label != url else url

    plain = _REFERENCE.sub(reference, text)
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _SPACES.sub(" ", plain).strip()


# -- emoji ------------------------------------------------------------------------------------

_NUMBER_NAMES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EMOJI_NAMES: dict[str, str] = {
    **dict(zip(NUMBER_EMOJI, (*_NUMBER_NAMES, "keycap_ten"), strict=True)),
    "👍": "+1",
    "👎": "-1",
    "✅": "white_check_mark",
    "❌": "x",
    "👀": "eyes",
    "🎉": "tada",
    "❤️": "heart",
    "🚀": "rocket",
    "🙏": "pray",
    "⚠️": "warning",
    "🔥": "fire",
    "⏳": "hourglass_flowing_sand",
    "🤔": "thinking_face",
    "😄": "smile",
}
_EMOJI_BY_NAME = {name: emoji for emoji, name in _EMOJI_NAMES.items()} | {
    "thumbsup": "👍",
    "thumbsdown": "👎",
}
_EMOJI_NAME = re.compile(r"[a-z0-9_+'-]+")


def emoji_name(emoji: str) -> str:
    """The name Slack reacts with for `emoji` (a known emoji, or a name with or without
    colons). Raises `InvalidInputError` for anything else."""
    known = _EMOJI_NAMES.get(emoji)
    if known is not None:
        return known
    name = emoji.strip().strip(":")
    if not _EMOJI_NAME.fullmatch(name):
        raise InvalidInputError(
            f"Slack reacts with emoji names such as 'eyes' or ':tada:'; {emoji!r} is not one "
            "it knows here"
        )
    return name


def emoji_from_name(name: str) -> str:
    """A reaction Slack reports by name, as the emoji where it is a known one (so `one` is
    1️⃣), else as `:name:`; skin tones are dropped."""
    base = name.split("::", 1)[0]
    return _EMOJI_BY_NAME.get(base, f":{base}:")
