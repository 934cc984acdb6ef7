from __future__ import annotations

from ._protocol import Model


def resolve_model(spec: str | Model) -> Model:
    """Turn a spec string (`local`, `local:PATH.gguf`, `openai:MODEL`, ...) into a `Model`."""
    if not isinstance(spec, str):
        return spec
    raise NotImplementedError  # filled in by the backends
