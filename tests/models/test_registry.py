"""Model spec strings resolve to backends; bad specs say which forms exist."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from threadline.models import (
    LocalModel,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    OpenAIChatModel,
    resolve_model,
)
from threadline.types import ConfigurationError


async def test_local_resolves_to_one_shared_bundled_model(bundled_model_path: str) -> None:
    model = resolve_model("local")

    assert isinstance(model, LocalModel)
    assert model.name == "local"
    assert model.path == bundled_model_path
    assert resolve_model("local") is model


def test_local_with_a_path_uses_that_file(bundled_model_path: str) -> None:
    model = resolve_model(f"local:{bundled_model_path}")

    assert isinstance(model, LocalModel)
    assert model.name == f"local:{bundled_model_path}"
    assert resolve_model(f"local:{bundled_model_path}") is model


@pytest.mark.parametrize(("spec", "name"), [
    ("openai:gpt-4o-mini", "openai-chat:gpt-4o-mini"),
    ("openai-chat:gpt-4o-mini", "openai-chat:gpt-4o-mini"),
    ("openai-chat:llama@http://127.0.0.1:8080/v1", "openai-chat:llama@http://127.0.0.1:8080/v1"),
    ("openai:qwen2.5:7b@http://localhost:11434/v1", "openai-chat:qwen2.5:7b@http://localhost:11434/v1"),
])
async def test_openai_specs_resolve_to_chat_completions(
        spec: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    model = resolve_model(spec)

    assert isinstance(model, OpenAIChatModel)
    assert model.name == name
    assert resolve_model(model.name).name == name
    await model.aclose()


def test_a_model_object_is_returned_as_it_is() -> None:
    class Echo:
        name = "echo"

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
            yield ModelResponse(text="echo")

    echo = Echo()

    assert resolve_model(echo) is echo


@pytest.mark.parametrize(("spec", "reason"), [
    ("", "unknown kind of model"),
    ("gpt-4o", "unknown kind of model"),
    ("anthropic:claude", "unknown kind of model"),
    ("local:", "path after 'local:' is empty"),
    ("local:/nonexistent/model.gguf", "not found"),
    ("openai:", "model name after 'openai:' is empty"),
    ("openai-chat:@http://127.0.0.1:8080/v1", "model name after 'openai-chat:' is empty"),
    ("openai-chat:llama@", "must start with http"),
    ("openai-chat:llama@127.0.0.1:8080", "must start with http"),
])
def test_bad_specs_list_the_accepted_forms(spec: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason) as raised:
        resolve_model(spec)

    if "not found" not in reason:
        assert "'local:PATH.gguf', 'openai:MODEL', 'openai-chat:MODEL'" in raised.value.message


def test_a_non_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="accepted specs"):
        resolve_model(42)  # type: ignore[arg-type]
