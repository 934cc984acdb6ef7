from __future__ import annotations

from typing import Any

import pytest

import threadline as tl


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nul \x00 byte", "NUL"),
        ("lone \ud800 surrogate", "surrogate"),
        ([], "empty"),
        ("", "empty"),
        (" \n\t ", "empty"),
        ([{"type": "text", "text": "  "}, " "], "empty"),
        ({"input": "   "}, "empty"),
        (42, "must be a string"),
        ([{"type": "video", "url": "x"}], "unsupported input part"),
        ({"text": "no input key"}, "'input' key"),
        ({"input": "x", "bogus": 1}, "unknown keys"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    make_app: Any, value: Any, message: str
) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()

    with pytest.raises(tl.InvalidInputError, match=message):
        await thread.run(value)
    with pytest.raises(tl.InvalidInputError, match=message):
        await thread.enqueue(value)

    assert await thread.items() == []
    assert await thread.turns() == []
    assert await thread.inbox() == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"note": "nul \x00 byte"}, "NUL"),
        ({"nul \x00 key": "x"}, "NUL"),
        ({"deep": [{"note": "lone \ud800 surrogate"}]}, "surrogate"),
        (["not", "a", "dict"], "must be a dict"),
    ],
)
async def test_bad_metadata_is_refused_and_stores_nothing(
    make_app: Any, metadata: Any, message: str
) -> None:
    app, _ = await make_app()
    thread = await app.threads.start(user_id="ann", metadata={"topic": "trip"})

    with pytest.raises(tl.InvalidInputError, match=message):
        await app.threads.start(user_id="ann", metadata=metadata)
    for user_id in ("ann", "bob"):
        with pytest.raises(tl.InvalidInputError, match=message):
            await app.threads.get_or_create(user_id=user_id, metadata=metadata)
    with pytest.raises(tl.InvalidInputError, match=message):
        await app.threads.fork(thread.id, metadata=metadata)
    with pytest.raises(tl.InvalidInputError, match=message):
        await thread.set_metadata(metadata)

    assert [t.id for t in (await app.threads.list()).threads] == [thread.id]
    assert (await thread.reload()).metadata == {"topic": "trip"}


async def test_an_image_without_text_is_not_empty(make_app: Any) -> None:
    app, _ = await make_app(["a cat"])
    thread = await app.threads.start()

    result = await thread.run([{"type": "image", "url": "https://example.com/cat.png"}, "  "])

    assert result.text == "a cat"
    user = (await thread.items())[0]
    assert user.type == "user_message"
    assert [p.type for p in user.payload.content] == ["image", "text"]  # type: ignore[union-attr]


async def test_errors_share_one_root_and_carry_codes() -> None:
    for error in (
        tl.TurnFailedError,
        tl.TurnCancelledError,
        tl.TurnInProgressError,
        tl.InvalidInputError,
        tl.ConfigurationError,
        tl.StoreError,
        tl.ModelError,
        tl.NotFoundError,
        tl.BudgetExceededError,
        tl.SchemaVersionError,
    ):
        assert issubclass(error, tl.ThreadlineError)
        assert error.code
        assert error.code != tl.ThreadlineError.code
    assert not issubclass(tl.LeaseLost, Exception)
