"""`--model` values: a spec for `threadline.resolve_model`, or `py:MODULE:ATTRIBUTE`."""

from __future__ import annotations

import importlib
from typing import Any

from threadline import ConfigurationError, Model, resolve_model

PYTHON_PREFIX = "py:"


def load_model(spec: str) -> Model:
    """The model a `--model` value names. Raises `ConfigurationError` with what to fix."""
    if spec.startswith(PYTHON_PREFIX):
        return _python_model(spec.removeprefix(PYTHON_PREFIX))
    return resolve_model(spec)


def _python_model(target: str) -> Model:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"--model py:{target} is not of the form py:package.module:attribute"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"--model: cannot import {module_name!r}: {exc}") from None
    value: Any = module
    for name in attribute.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise ConfigurationError(
                f"--model: {module_name!r} has no attribute {attribute!r}"
            ) from None
    # A class satisfies the runtime Model check through its attributes; it is a factory.
    if not isinstance(value, type) and isinstance(value, Model):
        return value
    if callable(value):
        value = value()
        if isinstance(value, Model):
            return value
    raise ConfigurationError(
        f"--model py:{target} is neither a Model nor a zero-argument callable returning one"
    )
