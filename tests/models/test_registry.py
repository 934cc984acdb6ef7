"""Model spec strings resolve to backends; bad specs say which forms exist."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from threadline.models import (
    AnthropicModel,
    LocalModel,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    OpenAIChatModel,
    OpenAIResponsesModel,
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


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("openai:gpt-5-mini", OpenAIResponsesModel),
        ("openai:gpt-oss@http://127.0.0.1:8000/v1", OpenAIResponsesModel),
        ("openai-chat:gpt-4o-mini", OpenAIChatModel),
        ("openai-chat:llama@http://127.0.0.1:8080/v1", OpenAIChatModel),
        ("openai-chat:qwen2.5:7b@http://localhost:11434/v1", OpenAIChatModel),
        ("anthropic:claude-sonnet-4-6", AnthropicModel),
        ("anthropic:claude-haiku-4-5@http://127.0.0.1:9000", AnthropicModel),
    ],
)
async def test_remote_specs_resolve_to_their_backend_and_back(
    spec: str, kind: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    model = resolve_model(spec)
    again = resolve_model(model.name)

    assert type(model) is kind
    assert model.name == again.name == spec
    for backend in (model, again):
        assert isinstance(backend, OpenAIChatModel | OpenAIResponsesModel | AnthropicModel)
        await backend.aclose()


def test_anthropic_without_its_sdk_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # makes `import anthropic` fail
    monkeypatch.delitem(sys.modules, "threadline.models._anthropic", raising=False)

    with pytest.raises(ConfigurationError, match=r"pip install 'threadline\[anthropic\]'"):
        resolve_model("anthropic:claude-sonnet-4-6")


def test_a_model_object_is_returned_as_it_is() -> None:
    class Echo:
        name = "echo"

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
            yield ModelResponse(text="echo")

    echo = Echo()

    assert resolve_model(echo) is echo


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("", "unknown kind of model"),
        ("gpt-4o", "unknown kind of model"),
        ("claude", "unknown kind of model"),
        ("anthropic:", "model name after 'anthropic:' is empty"),
        ("anthropic:claude@ftp://x", "must start with http"),
        ("local:", "path after 'local:' is empty"),
        ("local:/nonexistent/model.gguf", "not found"),
        ("openai:", "model name after 'openai:' is empty"),
        ("openai-chat:@http://127.0.0.1:8080/v1", "model name after 'openai-chat:' is empty"),
        ("openai-chat:llama@", "must start with http"),
        ("openai-chat:llama@127.0.0.1:8080", "must start with http"),
    ],
)
def test_bad_specs_list_the_accepted_forms(spec: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason) as raised:
        resolve_model(spec)

    if "not found" not in reason:
        assert (
            "'openai:MODEL' (Responses API), 'openai-chat:MODEL' (Chat Completions), "
            "'anthropic:MODEL'" in raised.value.message
        )


def test_the_anthropic_backend_without_its_sdk_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threadline.models

    monkeypatch.setitem(sys.modules, "anthropic", None)
    monkeypatch.delitem(sys.modules, "threadline.models._anthropic", raising=False)

    with pytest.raises(ConfigurationError, match=r"threadline\[anthropic\]"):
        threadline.models.AnthropicModel  # noqa: B018


def test_a_non_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="accepted specs"):
        resolve_model(42)  # type: ignore[arg-type]
