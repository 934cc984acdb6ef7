"""What the Matrix adapter sends: the content of messages, edits, reactions and files, and
cards as Matrix HTML (`formatted_body`). Text from users and models is untrusted: raw HTML in
it is escaped, never passed through, and links go only to http(s), mailto or mxc."""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from ._types import FileUpload
from ._ui import Card, Fields, Image, Markdown, Text

HTML_FORMAT = "org.matrix.custom.html"


def _render_image(
    renderer: Any, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    # Clients show only mxc:// images inline; any other image becomes a link to it.
    token = tokens[index]
    source = str(token.attrGet("src") or "")
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    if source.startswith("mxc://"):
        return f'<img src="{html.escape(source)}" alt="{html.escape(alt)}">'
    return f'<a href="{html.escape(source)}">{html.escape(alt or source)}</a>'


def _validate_link(url: str) -> bool:
    return url.strip().lower().startswith(("https://", "http://", "mailto:", "mxc://", "#"))


def _markdown_renderer() -> MarkdownIt:
    # html=False: HTML in the text is shown as text; breaks=True: a new line is a line break,
    # as people expect in a chat.
    renderer = MarkdownIt("commonmark", {"html": False, "breaks": True})
    renderer.enable(["strikethrough", "table"])
    renderer.validateLink = _validate_link  # type: ignore[method-assign]
    renderer.add_render_rule("image", _render_image)
    return renderer


_MARKDOWN = _markdown_renderer()


def markdown_html(text: str) -> str:
    """Markdown as Matrix HTML, with raw HTML escaped; one paragraph without its `<p>`."""
    rendered = _MARKDOWN.render(text).strip()
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        rendered = rendered[3:-4]
    return rendered


def text_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def card_html(card: Card) -> str:
    """The card's components (buttons left out) as Matrix HTML."""
    parts: list[str] = []
    for component in card.components:
        if isinstance(component, Text):
            parts.append(text_html(component.text))
        elif isinstance(component, Markdown):
            parts.append(markdown_html(component.text))
        elif isinstance(component, Fields):
            parts.append(
                "<br>".join(
                    f"<b>{html.escape(label)}</b>: {html.escape(value)}"
                    for label, value in component.items
                )
            )
        elif isinstance(component, Image):
            url, alt = html.escape(component.url), html.escape(component.alt_text)
            if component.url.startswith("mxc://"):
                parts.append(f'<img src="{url}" alt="{alt}">')
            else:
                parts.append(f'<a href="{url}">{alt or url}</a>')
    return "<br>".join(p for p in parts if p)


def card_content(card: Card) -> dict[str, Any]:
    """An `m.room.message` showing the card: plain text in `body`, HTML in `formatted_body`.
    It mentions nobody (`m.mentions` empty), so a bot's answer pings no one."""
    return {
        "msgtype": "m.text",
        "body": card.plain_text(),
        "format": HTML_FORMAT,
        "formatted_body": card_html(card),
        "m.mentions": {},
    }


def in_thread(content: dict[str, Any], root: str | None) -> dict[str, Any]:
    """The content placed in the thread rooted at `root` (as is for None); clients without
    threads see it as a reply to the root."""
    if root is None:
        return content
    return {
        **content,
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        },
    }


def edit_content(original: str, new: dict[str, Any]) -> dict[str, Any]:
    """An edit (`m.replace`) of the event `original` to show `new`."""
    return {
        "msgtype": new.get("msgtype", "m.text"),
        "body": "* " + str(new.get("body", "")),
        "m.new_content": new,
        "m.mentions": {},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }


def reaction_content(target: str, emoji: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": emoji}}


def file_mimetype(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def file_content(file: FileUpload, url: str, mimetype: str) -> dict[str, Any]:
    """An `m.image` (for images) or `m.file` message for an uploaded file at `url` (mxc).
    `body` is the caption: the image's alt text or the title, else the file name."""
    image = mimetype.startswith("image/")
    caption = (file.alt_text if image else None) or file.title or file.filename
    return {
        "msgtype": "m.image" if image else "m.file",
        "body": caption,
        "filename": file.filename,
        "url": url,
        "info": {"mimetype": mimetype, "size": len(file.data)},
        "m.mentions": {},
    }
