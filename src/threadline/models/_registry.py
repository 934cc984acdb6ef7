from __future__ import annotations

import threading

from threadline.types import ConfigurationError

from ._local import LocalModel
from ._protocol import Model

ACCEPTED_SPECS = (
    "'local' (the bundled SmolLM2), 'local:PATH.gguf', 'openai:MODEL' (Responses API), "
    "'openai-chat:MODEL' (Chat Completions), 'anthropic:MODEL', each remote one optionally "
    "with a base URL: 'openai-chat:MODEL@http://127.0.0.1:8080/v1'"
)
ANTHROPIC_EXTRA = "pip install 'threadline[anthropic]'"

# A LocalModel is cheap, but callers resolve the same spec on every turn.
_local_models: dict[str, LocalModel] = {}
_local_models_lock = threading.Lock()


def resolve_model(spec: str | Model) -> Model:
    """Turn a spec string into a `Model`; a `Model` is returned as it is.

    Specs: `local` (the bundled SmolLM2), `local:PATH.gguf`, `openai:MODEL` (the Responses
    API), `openai-chat:MODEL` (Chat Completions, also for any OpenAI-compatible server) and
    `anthropic:MODEL` (the Messages API); each remote form may end with `@BASE_URL` to use
    another server that speaks the same API.

    Raises:
        ConfigurationError: the spec is malformed or unknown, names a missing file, needs
            an API key that is not set, or needs an SDK that is not installed.

    Example:
        >>> resolve_model("openai-chat:llama@http://127.0.0.1:8080/v1").name
        'openai-chat:llama@http://127.0.0.1:8080/v1'
    """
    if not isinstance(spec, str):
        if isinstance(spec, Model):
            return spec
        raise ConfigurationError(
            f"a model must be a Model or a spec string, not {type(spec).__name__}; "
            f"accepted specs: {ACCEPTED_SPECS}"
        )
    scheme, colon, rest = spec.strip().partition(":")
    if scheme == "local":
        if colon and not rest:
            raise _bad_spec(spec, "the path after 'local:' is empty")
        return _local_model(rest or None)
    if scheme in ("openai", "openai-chat", "anthropic"):
        model, at, base_url = rest.partition("@")
        if not model:
            raise _bad_spec(spec, f"the model name after '{scheme}:' is empty")
        if at and not base_url.startswith(("http://", "https://")):
            raise _bad_spec(spec, "the base URL after '@' must start with http:// or https://")
        if scheme == "openai":
            from ._openai_responses import OpenAIResponsesModel

            return OpenAIResponsesModel(model, base_url=base_url or None)
        if scheme == "openai-chat":
            from ._openai_chat import OpenAIChatModel

            return OpenAIChatModel(model, base_url=base_url or None)
        return _anthropic_model(spec, model, base_url or None)
    raise _bad_spec(spec, "unknown kind of model")


def _anthropic_model(spec: str, model: str, base_url: str | None) -> Model:
    try:
        from ._anthropic import AnthropicModel
    except ImportError as exc:
        raise ConfigurationError(
            f"{spec!r} needs the anthropic SDK: {ANTHROPIC_EXTRA} ({exc})",
            spec=spec,
        ) from exc
    return AnthropicModel(model, base_url=base_url)


def _local_model(path: str | None) -> LocalModel:
    key = path or ""
    with _local_models_lock:
        model = _local_models.get(key)
        if model is None:
            model = _local_models[key] = LocalModel(path)
        return model


def _bad_spec(spec: str, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"bad model spec {spec[:200]!r}: {reason}; accepted specs: {ACCEPTED_SPECS}", spec=spec
    )
