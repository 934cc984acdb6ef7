"""Files sent inline in input (`input_file` parts with `file_data`): stored as files of the
thread the input goes to, under `uploads/`, and then named by their `file_id` as any attached
file is. A part that names a `file_id` must name a file of that thread."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from threadline import Thread
from threadline.types import (
    FilePart,
    InvalidInputError,
    NotFoundError,
    Payload,
    UserMessage,
    check_path,
    new_id,
)

from .._errors import invalid

UPLOADS = "uploads"


@dataclass(frozen=True, slots=True)
class Upload:
    placeholder: str  # the file id the parsed input names until the file is stored
    filename: str
    data: bytes


def take_uploads(value: Any, param: str) -> tuple[Any, list[Upload]]:
    """`value` (a request's `input` or `items`) with every `input_file` part that carries
    `file_data` replaced by one naming a placeholder id, and what those parts carried. Input
    without such parts is returned as it is, not copied."""
    uploads: list[Upload] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        # `path` is spelled out only for an error: a long input is walked without copies.
        if isinstance(node, list):
            children: list[Any] = node  # type: ignore[assignment]
            walked = [walk(child, (*path, i)) for i, child in enumerate(children)]
            return node if all(a is b for a, b in zip(walked, children, strict=True)) else walked
        if not isinstance(node, dict):
            return node
        fields: dict[str, Any] = node  # type: ignore[assignment]
        if fields.get("type") == "input_file" and not isinstance(fields.get("file_id"), str):
            return _upload(fields, _spelled(param, path), uploads)
        walked_fields = {key: walk(child, (*path, key)) for key, child in fields.items()}
        changed = any(walked_fields[key] is not child for key, child in fields.items())
        return walked_fields if changed else node

    return walk(value, ()), uploads


def _spelled(param: str, path: tuple[str | int, ...]) -> str:
    return param + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _upload(fields: dict[str, Any], where: str, uploads: list[Upload]) -> dict[str, str]:
    if "file_data" not in fields:
        raise invalid(
            "an input_file part needs `file_data` (base64) or the `file_id` of a "
            "file of the conversation; `file_url` is not fetched",
            param=where,
        )
    upload = Upload(
        placeholder=new_id("upload"),
        filename=str(fields.get("filename") or "upload"),
        data=_decode(fields["file_data"], f"{where}.file_data"),
    )
    uploads.append(upload)
    return {"type": "input_file", "file_id": upload.placeholder}


def _decode(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise invalid("file_data must be a base64 string or a data URL", param=where)
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if not header.endswith(";base64"):
            raise invalid("a file_data URL must be base64-encoded", param=where)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("file_data is not valid base64", param=where) from None


async def store_uploads(thread: Thread, uploads: Sequence[Upload]) -> dict[str, FilePart]:
    """Store each upload as a new file of the thread; the parts that now name them."""
    stored: dict[str, FilePart] = {}
    for upload in uploads:
        info = await thread.write_file(await _free_path(thread, upload.filename), upload.data)
        assert info.file_id is not None
        stored[upload.placeholder] = FilePart(file_id=info.file_id, filename=info.path)
    return stored


async def _free_path(thread: Thread, filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name
    try:
        check_path(f"{UPLOADS}/{name}")
    except InvalidInputError:
        suffix = "".join(c for c in PurePosixPath(name).suffix if c.isalnum() or c == ".")
        name = "upload" + (suffix if len(suffix) > 1 else "")
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    candidate, number = f"{UPLOADS}/{name}", 1
    while True:
        try:
            await thread.stat_file(candidate)
        except NotFoundError:
            return candidate
        number += 1
        candidate = f"{UPLOADS}/{stem}-{number}{suffix}"


def with_uploads(payloads: list[Payload], stored: Mapping[str, FilePart]) -> list[Payload]:
    """`payloads` with each placeholder part replaced by the part naming the stored file."""
    if not stored:
        return payloads
    return [
        replace(
            payload,
            content=tuple(
                stored.get(part.file_id, part) if isinstance(part, FilePart) else part
                for part in payload.content
            ),
        )
        if isinstance(payload, UserMessage)
        else payload
        for payload in payloads
    ]
