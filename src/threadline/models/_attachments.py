"""What each provider's request builder needs to know about an attached file: which kind it
is, its text, its bytes as a data URL, and what to tell a model that cannot read it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Literal

from threadline.types import FilePart

from ._protocol import AttachedFile

AttachmentKind = Literal[
    "text",  # UTF-8 text: every model can read it inline
    "image",  # a format vision models take
    "pdf",  # a document some providers read
    "binary",  # anything else: named to the model, not shown
]

_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_APPLICATIONS = frozenset(
    {
        "application/json",
        "application/jsonl",
        "application/yaml",
        "application/toml",
        "application/xml",
        "application/sql",
        "image/svg+xml",
    }
)
_UNKNOWN = "application/octet-stream"


def attachment_kind(file: AttachedFile) -> AttachmentKind:
    media_type = file.media_type
    if media_type in _IMAGES:
        return "image"
    if media_type == "application/pdf":
        return "pdf"
    textual = media_type.startswith("text/") or media_type in _TEXT_APPLICATIONS
    # A name that says nothing: text if it reads as text.
    if (textual or media_type == _UNKNOWN) and _text_of(file) is not None:
        return "text"
    return "binary"


def _text_of(file: AttachedFile) -> str | None:
    if b"\x00" in file.data:
        return None
    try:
        return file.data.decode()
    except UnicodeDecodeError:
        return None


def attached_text(file: AttachedFile) -> str:
    """A text file as the model reads it: its path, then its content."""
    return f"[attached file: {file.path}]\n{_text_of(file) or ''}"


def file_name(file: AttachedFile) -> str:
    return file.path.rsplit("/", 1)[-1]


def base64_data(file: AttachedFile) -> str:
    return base64.b64encode(file.data).decode()


def data_url(file: AttachedFile) -> str:
    return f"data:{file.media_type};base64,{base64_data(file)}"


def unreadable(part: FilePart, file: AttachedFile | None) -> str:
    """What a model that is not shown an attached file is told about it."""
    if file is None:  # not loaded for the request (deleted since, or too large)
        return f"[attached file: {part.filename or part.file_id}]"
    return (
        f"[attached file: {file.path} ({file.media_type}, {len(file.data)} bytes); this model "
        "cannot read files of this kind]"
    )


def attachment(
    part: FilePart, files: Mapping[str, AttachedFile]
) -> tuple[AttachmentKind | None, AttachedFile | None]:
    """The file a part attaches, and its kind; (None, None) if the request lacks it."""
    file = files.get(part.file_id)
    return (None, None) if file is None else (attachment_kind(file), file)
