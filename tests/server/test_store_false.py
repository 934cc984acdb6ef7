"""`store=false`: nothing of the request is retrievable afterwards, not even right after the
create returns, while its turn runs to its end. On both stores."""

from __future__ import annotations

from typing import Any

import openai
import pytest

ATTEMPTS = 20  # the response was found about every other time when this was a race


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("continued", [False, True])
def test_a_store_false_response_is_never_found_afterwards(
    recorded_client: openai.OpenAI, stream: bool, continued: bool
) -> None:
    link: dict[str, Any] = {}
    if continued:
        link["conversation"] = recorded_client.conversations.create().id
    for n in range(ATTEMPTS):
        if stream:
            with recorded_client.responses.stream(
                model="assistant", input=f"say {n}", store=False, **link
            ) as events:
                response = events.get_final_response()
        else:
            response = recorded_client.responses.create(
                model="assistant", input=f"say {n}", store=False, **link
            )
        assert response.output_text == str(n)

        with pytest.raises(openai.NotFoundError):
            recorded_client.responses.retrieve(response.id)
        with pytest.raises(openai.NotFoundError):
            recorded_client.responses.input_items.list(response.id)
        with pytest.raises(openai.NotFoundError):
            recorded_client.responses.create(
                model="assistant", input="say again", previous_response_id=response.id
            )
        if not continued:
            with pytest.raises(openai.NotFoundError):
                recorded_client.conversations.retrieve(response.conversation.id)  # type: ignore[union-attr]
    if continued:  # the conversation itself is the client's, and stays
        listed = recorded_client.conversations.items.list(link["conversation"], limit=100)
        assert len(listed.data) == 2 * ATTEMPTS


def test_background_needs_store(recorded_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        recorded_client.responses.create(
            model="assistant", input="say x", background=True, store=False
        )

    assert refused.value.body["param"] == "background"  # type: ignore[index]
