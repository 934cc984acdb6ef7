"""`input_file` parts through the official SDK: inline `file_data` becomes a file of the
conversation's thread, which the model reads and which later input names by `file_id`."""

from __future__ import annotations

import base64

import openai
import pytest
from dirty_equals import IsStr

FILE = IsStr(regex=r"^file_[0-9a-z]{26}$")


def _file(name: str, text: str, *, data_url: bool = True) -> dict[str, str]:
    encoded = base64.b64encode(text.encode()).decode()
    return {
        "type": "input_file",
        "filename": name,
        "file_data": f"data:text/plain;base64,{encoded}" if data_url else encoded,
    }


def _message(*parts: dict[str, str]) -> list[dict[str, object]]:
    return [{"role": "user", "content": [{"type": "input_text", "text": "files"}, *parts]}]


def test_inline_file_data_is_stored_and_read_by_the_model(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    response = client.responses.create(
        model="assistant",
        conversation=conversation.id,
        input=_message(_file("notes.txt", "buy tea"), _file("notes.txt", "x", data_url=False)),  # type: ignore[arg-type]
    )

    assert response.output_text == "uploads/notes.txt: buy tea | uploads/notes-2.txt: x"
    first = next(iter(client.conversations.items.list(conversation.id, order="asc")))
    content = first.model_dump(exclude_none=True)["content"]
    assert content[1:] == [
        {"type": "input_file", "file_id": FILE, "filename": "uploads/notes.txt"},
        {"type": "input_file", "file_id": FILE, "filename": "uploads/notes-2.txt"},
    ]

    # A later request names the stored file by its id: the same file, not a new one.
    again = client.responses.create(
        model="assistant",
        conversation=conversation.id,
        input=_message({"type": "input_file", "file_id": content[1]["file_id"]}),  # type: ignore[arg-type]
    )
    # Every message of the history attaches its files; none was added.
    assert again.output_text == "uploads/notes.txt: buy tea | uploads/notes-2.txt: x"
    latest = next(iter(client.conversations.items.list(conversation.id, limit=2, order="desc")))
    assert latest.type == "message" and latest.role == "assistant"


def test_conversation_items_with_inline_files_share_the_threads_files(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": [_file("a.md", "alpha")]}]  # type: ignore[list-item]
    )
    client.conversations.items.create(
        conversation.id,
        items=[{"type": "message", "role": "user", "content": [_file("a.md", "beta")]}],  # type: ignore[list-item]
    )
    response = client.responses.create(
        model="assistant", conversation=conversation.id, input="files"
    )
    # The request attaches the files of every message in the history.
    assert response.output_text == "uploads/a.md: alpha | uploads/a-2.md: beta"


def test_a_file_id_of_another_conversation_is_not_found(client: openai.OpenAI) -> None:
    owner = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": [_file("secret.txt", "mine")]}]  # type: ignore[list-item]
    )
    [item] = list(client.conversations.items.list(owner.id))
    file_id = item.model_dump()["content"][0]["file_id"]
    other = client.conversations.create()

    with pytest.raises(openai.NotFoundError):
        client.responses.create(
            model="assistant",
            conversation=other.id,
            input=_message({"type": "input_file", "file_id": file_id}),  # type: ignore[arg-type]
        )
    with pytest.raises(openai.NotFoundError):
        client.responses.create(
            model="assistant",
            input=_message({"type": "input_file", "file_id": "file_nope"}),  # type: ignore[arg-type]
        )
    assert list(client.conversations.items.list(other.id)) == []


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "input_file", "file_url": "https://example.com/a.pdf"}, "file_url"),
        ({"type": "input_file", "filename": "a", "file_data": "%%%"}, "base64"),
        ({"type": "input_file", "file_data": "data:text/plain,plain"}, "base64"),
    ],
)
def test_bad_file_parts_are_refused(
    client: openai.OpenAI, part: dict[str, str], message: str
) -> None:
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError, match=message):
        client.responses.create(
            model="assistant",
            conversation=conversation.id,
            input=_message(part),  # type: ignore[arg-type]
        )
    assert list(client.conversations.items.list(conversation.id)) == []
