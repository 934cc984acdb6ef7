from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ._errors import InvalidInputError


@dataclass(frozen=True, kw_only=True, slots=True)
class TextPart:
    type: Literal["text"] = "text"
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ImagePart:
    type: Literal["image"] = "image"
    url: str
    detail: Literal["auto", "low", "high"] = "auto"


@dataclass(frozen=True, kw_only=True, slots=True)
class FilePart:
    type: Literal["file"] = "file"
    file_id: str
    filename: str | None = None


ContentPart = TextPart | ImagePart | FilePart
"""One part of a user input: text, an image by URL, or a reference to a stored file."""


def part_to_dict(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image", "url": part.url, "detail": part.detail}
    return {"type": "file", "file_id": part.file_id, "filename": part.filename}


_PARTS = (TextPart, ImagePart, FilePart)


def part_from_dict(data: Any) -> ContentPart:
    """Parse one input part; accepts the OpenAI spellings (`input_text`, `image_url`...) too."""
    if type(data) is dict and data.get("type") == "text":  # stored parts: the common case
        text = data.get("text")
        if isinstance(text, str):
            return TextPart(text=text)
    if isinstance(data, str):
        return TextPart(text=data)
    if isinstance(data, _PARTS):
        return data
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"an input part must be a string or an object, not {type(data).__name__}"
        )
    kind = data.get("type")
    if kind in ("text", "input_text") and isinstance(data.get("text"), str):
        return TextPart(text=data["text"])
    if kind in ("image", "input_image", "image_url"):
        url = data.get("url", data.get("image_url"))
        if isinstance(url, dict):
            url = url.get("url")
        if isinstance(url, str):
            detail = data.get("detail", "auto")
            return ImagePart(
                url=url, detail=detail if detail in ("auto", "low", "high") else "auto"
            )
    if kind in ("file", "input_file") and isinstance(data.get("file_id"), str):
        return FilePart(file_id=data["file_id"], filename=data.get("filename"))
    raise InvalidInputError(
        f"unsupported input part {str(kind)[:40]!r}: use text, image (url) or file (file_id)"
    )


def parts_text(parts: tuple[ContentPart, ...]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))
