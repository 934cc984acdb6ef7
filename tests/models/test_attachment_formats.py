"""Attached files in each provider's request: text inline everywhere, images and PDFs by
value where the provider reads them, a marker for the rest and for a file not loaded."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from threadline.models import AttachedFile, ModelRequest
from threadline.models._anthropic_format import anthropic_messages
from threadline.models._chat_format import chat_messages
from threadline.models._local_prompt import render_prompt
from threadline.models._responses_format import responses_input
from threadline.types import FilePart, Item, TextPart, UserMessage

PNG = b"\x89PNG\r\n"
FILES = {
    "text": AttachedFile(
        file_id="f_text", path="notes/todo.md", media_type="text/markdown", data=b"- eggs\n"
    ),
    "noname": AttachedFile(
        file_id="f_noname", path="README", media_type="application/octet-stream", data=b"plain"
    ),
    "pdf": AttachedFile(
        file_id="f_pdf", path="docs/q3.pdf", media_type="application/pdf", data=b"%PDF-1.7 x"
    ),
    "image": AttachedFile(file_id="f_image", path="shot.png", media_type="image/png", data=PNG),
    "binary": AttachedFile(
        file_id="f_binary", path="a.zip", media_type="application/zip", data=b"PK\x03\x04"
    ),
    "not utf-8": AttachedFile(
        file_id="f_latin", path="old.txt", media_type="text/plain", data=b"caf\xe9"
    ),
}


def request_with(kind: str) -> ModelRequest:
    file_id = FILES[kind].file_id if kind in FILES else "f_gone"
    message = UserMessage(
        content=(TextPart(text="Look"), FilePart(file_id=file_id, filename="gone.txt"))
    )
    item = Item(
        item_id="i1",
        thread_id="t",
        turn_id="t1",
        seq=1,
        status="completed",
        payload=message,
        created_at=1.0,
    )
    return ModelRequest(
        instructions=None, items=[item], files={f.file_id: f for f in FILES.values()}
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


EXPECTED: dict[str, dict[str, Any]] = {
    "text": {
        "responses": {"type": "input_text", "text": "[attached file: notes/todo.md]\n- eggs\n"},
        "chat": {"type": "text", "text": "[attached file: notes/todo.md]\n- eggs\n"},
        "anthropic": {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "- eggs\n"},
            "title": "notes/todo.md",
        },
        "local": "[attached file: notes/todo.md]\n- eggs\n",
    },
    "noname": {
        "responses": {"type": "input_text", "text": "[attached file: README]\nplain"},
        "chat": {"type": "text", "text": "[attached file: README]\nplain"},
        "anthropic": {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
            "title": "README",
        },
        "local": "[attached file: README]\nplain",
    },
    "pdf": {
        "responses": {
            "type": "input_file",
            "filename": "q3.pdf",
            "file_data": f"data:application/pdf;base64,{b64(b'%PDF-1.7 x')}",
        },
        "chat": {
            "type": "file",
            "file": {
                "filename": "q3.pdf",
                "file_data": f"data:application/pdf;base64,{b64(b'%PDF-1.7 x')}",
            },
        },
        "anthropic": {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": b64(b"%PDF-1.7 x"),
            },
            "title": "docs/q3.pdf",
        },
        "local": "[attached file: q3.pdf; this model cannot read files of this kind]",
    },
    "image": {
        "responses": {
            "type": "input_image",
            "image_url": f"data:image/png;base64,{b64(PNG)}",
            "detail": "auto",
        },
        "chat": {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{b64(PNG)}", "detail": "auto"},
        },
        "anthropic": {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
        },
        "local": "[image]",
    },
}
MARKERS = {
    "binary": "[attached file: a.zip (application/zip, 4 bytes); this model cannot read files "
    "of this kind]",
    "not utf-8": "[attached file: old.txt (text/plain, 4 bytes); this model cannot read files "
    "of this kind]",
    "missing": "[attached file: gone.txt]",
}
for _kind, _marker in MARKERS.items():
    EXPECTED[_kind] = {
        "responses": {"type": "input_text", "text": _marker},
        "chat": {"type": "text", "text": _marker},
        "anthropic": {"type": "text", "text": _marker},
        "local": _marker,
    }


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_provider_gets_what_it_can_read(kind: str) -> None:
    request = request_with(kind)
    expected = EXPECTED[kind]

    assert responses_input(request)[0]["content"][1] == expected["responses"]
    assert chat_messages(request)[0]["content"][1] == expected["chat"]
    assert anthropic_messages(request)[0]["content"][1] == expected["anthropic"]
    prompt = render_prompt(chat_messages(request), ())
    assert f"Look\n{expected['local']}" in prompt
