"""What an app declares by name for its tools to load: prompts (named templates with typed
variables), models and agents."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from threadline.models import Model, resolve_model
from threadline.types import (
    ConfigurationError,
    EnvValue,
    InvalidInputError,
    NotFoundError,
    static_env,
)

if TYPE_CHECKING:
    from ._agent import Agent


class Prompt:
    """A named prompt template with typed variables, loaded by tools with
    `thread.load_prompt(name, **variables)` (and by `app.load_prompt`).

        tl.Prompt(name="greet", template="Hello {user}, you have {count} messages.",
                  variables={"user": str, "count": int})

    Args:
        name: unique within an app.
        template: text with `{variable}` fields (`{{` and `}}` for literal braces). A field
            names a variable; attribute and index lookups are refused.
        variables: a pydantic model, or a mapping of variable name to type (each then
            required). Values are validated strictly: `"3"` is not an int.
        env: configuration that belongs with this prompt: the last place a thread's
            `env(name)` looks, after its agent's, when the prompt is the agent's
            instructions (a `str` is text, a `tl.Secret` a secret).

    Raises `ConfigurationError` if the template does not parse or uses a field that is not a
    declared variable.
    """

    def __init__(
        self,
        *,
        name: str,
        template: str,
        variables: type[BaseModel] | Mapping[str, Any] | None = None,
        env: Mapping[str, EnvValue] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError("a prompt needs a non-empty name")
        if not isinstance(template, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"prompt {name!r}: the template must be text")
        self.name = name
        self.template = template
        self.variables: type[BaseModel] = _variables_model(name, variables)
        fields = _template_fields(name, template)
        undeclared = sorted(fields - set(self.variables.model_fields))
        if undeclared:
            raise ConfigurationError(
                f"prompt {name!r}: the template uses undeclared variables: {', '.join(undeclared)}"
            )
        self.env: Mapping[str, EnvValue] = MappingProxyType(
            dict(static_env(env, f"prompt {name!r}"))
        )

    def __repr__(self) -> str:
        return f"Prompt({self.name!r})"

    def render(self, **variables: Any) -> str:
        """The template with `variables`. Raises `InvalidInputError` naming a variable that
        is missing, of the wrong type or not declared."""
        declared = self.variables.model_fields
        unknown = sorted(set(variables) - set(declared))
        if unknown:
            raise InvalidInputError(
                f"prompt {self.name!r} has no variable {unknown[0]!r}; its variables: "
                f"{', '.join(sorted(declared)) or 'none'}",
                prompt=self.name,
                variable=unknown[0],
            )
        try:
            values = self.variables.model_validate(variables, strict=True)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            variable = ".".join(str(part) for part in error["loc"]) or "?"
            problem = "is missing" if error["type"] == "missing" else f"is invalid: {error['msg']}"
            raise InvalidInputError(
                f"prompt {self.name!r}: variable {variable!r} {problem}",
                prompt=self.name,
                variable=variable,
            ) from None
        return self.template.format_map({field: getattr(values, field) for field in declared})


def _variables_model(
    name: str, variables: type[BaseModel] | Mapping[str, Any] | None
) -> type[BaseModel]:
    if isinstance(variables, type) and issubclass(variables, BaseModel):
        return variables
    if variables is not None and not isinstance(variables, Mapping):
        raise ConfigurationError(
            f"prompt {name!r}: variables must be a pydantic model or a mapping of name to type"
        )
    fields: dict[str, Any] = {}
    for variable, kind in (variables or {}).items():
        if not isinstance(variable, str) or not variable.isidentifier():
            raise ConfigurationError(f"prompt {name!r}: {variable!r} is not a variable name")
        fields[variable] = (kind, ...)
    try:
        return create_model(  # type: ignore[call-overload, no-any-return]
            "PromptVariables", __config__=ConfigDict(extra="forbid"), **fields
        )
    except Exception as exc:
        raise ConfigurationError(f"prompt {name!r}: invalid variable types: {exc}") from None


def _template_fields(name: str, template: str) -> set[str]:
    fields: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigurationError(f"prompt {name!r}: the template does not parse: {exc}") from None
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        if not field.isidentifier() or (spec and "{" in spec):
            raise ConfigurationError(
                f"prompt {name!r}: template fields name variables; {{{field}}} does not"
            )
        fields.add(field)
    return fields


class Loaders:
    """The prompts, models and agents an app declares, by name."""

    def __init__(
        self,
        *,
        agents: Mapping[str, Agent],
        prompts: Sequence[Prompt] = (),
        models: Mapping[str, str | Model] | None = None,
    ) -> None:
        self.agents = agents
        self.prompts: dict[str, Prompt] = {}
        for prompt in prompts:
            if not isinstance(prompt, Prompt):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise ConfigurationError(f"not a Prompt: {prompt!r}")
            if prompt.name in self.prompts:
                raise ConfigurationError(f"two prompts are named {prompt.name!r}")
            self.prompts[prompt.name] = prompt
        self.models: dict[str, str | Model] = {}
        for name, spec in (models or {}).items():
            if not isinstance(spec, str) and not isinstance(spec, Model):
                raise ConfigurationError(
                    f"model {name!r} must be a spec such as 'openai:gpt-4.1-mini' or a Model"
                )
            self.models[name] = spec
        self._resolved: dict[str, Model] = {}

    def prompt(self, name: str) -> Prompt:
        try:
            return self.prompts[name]
        except (KeyError, TypeError):
            raise _missing("prompt", name, self.prompts) from None

    def load_prompt(self, name: str, variables: Mapping[str, Any]) -> str:
        return self.prompt(name).render(**variables)

    def load_model(self, name: str) -> Model:
        model = self._resolved.get(name) if isinstance(name, str) else None  # pyright: ignore[reportUnnecessaryIsInstance]
        if model is None:
            try:
                spec = self.models[name]
            except (KeyError, TypeError):
                raise _missing("model", name, self.models) from None
            model = self._resolved[name] = resolve_model(spec)
        return model

    def load_agent(self, name: str) -> Agent:
        try:
            return self.agents[name]
        except (KeyError, TypeError):
            raise _missing("agent", name, self.agents) from None


def _missing(kind: str, name: object, known: Mapping[str, Any]) -> NotFoundError:
    there = ", ".join(sorted(known)) or "none"
    return NotFoundError(f"no {kind} named {name!r} in this app; {kind}s: {there}")
