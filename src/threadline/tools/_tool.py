from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_origin, get_type_hints, overload

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import to_jsonable_python

from threadline.types import ConfigurationError, ToolError, ToolOutcome

from ._state import ThreadState

logger = logging.getLogger("threadline.tools")

ApprovalPolicy = Callable[[dict[str, Any], Any], bool]
"""Decides per call: `(arguments, thread_state) -> needs approval`."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolOutput:
    output: str
    outcome: ToolOutcome


class Tool:
    """A function the model may call. Build one with `@tl.tool`.

    Arguments are validated against a JSON Schema derived from the type hints. A validation
    error or an exception becomes an error result the model reads; only the message of a
    `ToolError` is shown to it (other exceptions give their type, never their text, so secrets
    in messages stay out of the history).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        idempotent: bool = False,
        needs_approval: bool | ApprovalPolicy = False,
    ) -> None:
        self.fn = fn
        doc = inspect.getdoc(fn) or ""
        self._declare(
            name or fn.__name__,
            description if description is not None else _summary(doc),
            idempotent=idempotent,
            needs_approval=needs_approval,
        )
        self.is_async = inspect.iscoroutinefunction(fn)
        self.context_parameter: str | None = None
        self._arguments_model = self._build_model(fn, _param_docs(doc))
        self.parameters: dict[str, Any] = self._arguments_model.model_json_schema()
        self.parameters.pop("title", None)

    def _declare(
        self,
        name: str,
        description: str,
        *,
        idempotent: bool,
        needs_approval: bool | ApprovalPolicy,
    ) -> None:
        """Set what every tool has (a subclass that wraps no Python function calls this)."""
        _check_name(name)
        self.name = name
        self.description = description
        self.idempotent = idempotent
        self._needs_approval = needs_approval

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def renamed(self, name: str) -> Tool:
        """The same tool under another name; this one is unchanged. Raises
        `ConfigurationError` for an invalid name."""
        _check_name(name)
        copied = copy.copy(self)
        copied.name = name
        return copied

    def needs_approval(self, arguments: str, state: Any) -> bool:
        """Whether this call must wait for a human. A policy that raises asks for approval."""
        policy = self._needs_approval
        if isinstance(policy, bool):
            return policy
        try:
            parsed = orjson.loads(arguments or "{}")
        except orjson.JSONDecodeError:
            return False  # invalid arguments never run, so there is nothing to approve
        try:
            return bool(policy(parsed if isinstance(parsed, dict) else {}, state))
        except Exception:
            logger.info("the approval policy of tool %s raised; asking for approval", self.name)
            return True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def _build_model(self, fn: Callable[..., Any], docs: dict[str, str]) -> type[BaseModel]:
        try:
            hints = get_type_hints(fn)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot read the type hints of tool {self.name!r}: {exc}"
            ) from None
        fields: dict[str, Any] = {}
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigurationError(
                    f"tool {self.name!r}: *args and **kwargs are not "
                    "supported; name every parameter"
                )
            annotation = hints.get(param.name, Any)
            if annotation is ThreadState or get_origin(annotation) is ThreadState:
                self.context_parameter = param.name
                continue
            from pydantic import Field

            default = ... if param.default is param.empty else param.default
            fields[param.name] = (annotation, Field(default, description=docs.get(param.name)))
        try:
            model = create_model(
                f"{self.name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
            )
            model.model_json_schema()
        except Exception as exc:
            raise ConfigurationError(
                f"tool {self.name!r} has a parameter type that cannot be "
                f"described as JSON Schema: {exc}"
            ) from None
        return model

    def check_arguments(self, arguments: str) -> str | None:
        """What is wrong with `arguments` (JSON text) for this tool, as the model would read
        it; None if they are valid."""
        try:
            self._arguments_model.model_validate_json(arguments or "{}")
        except ValidationError as exc:
            return self._invalid(exc)
        return None

    def _invalid(self, exc: ValidationError) -> str:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:10]
        )
        return f"Invalid arguments for tool {self.name}: {problems}"

    async def invoke(self, arguments: str, context: ThreadState[Any] | None) -> ToolOutput:
        """Validate `arguments` (JSON text), run the tool, and return what the model reads."""
        try:
            parsed = self._arguments_model.model_validate_json(arguments or "{}")
        except ValidationError as exc:
            return ToolOutput(output=self._invalid(exc), outcome="error")
        kwargs = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        if self.context_parameter is not None:
            kwargs[self.context_parameter] = context
        try:
            if self.is_async:
                value = await self.fn(**kwargs)
            else:
                value = await asyncio.to_thread(self.fn, **kwargs)
        except ToolError as exc:
            return ToolOutput(output=f"Error: {exc.message}", outcome="error")
        except Exception as exc:
            logger.info("tool %s raised %s", self.name, type(exc).__name__)
            return ToolOutput(
                output=f"Error: tool {self.name} failed ({type(exc).__name__}).", outcome="error"
            )
        try:
            return ToolOutput(output=_render(value), outcome="success")
        except (TypeError, ValueError) as exc:
            logger.info(
                "tool %s returned a value that is not JSON: %s", self.name, type(exc).__name__
            )
            return ToolOutput(
                output=f"Error: tool {self.name} returned a value that cannot be shown as JSON.",
                outcome="error",
            )


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"invalid tool name {name!r}: use letters, digits, _ or -, at most 64"
        )


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    jsonable = to_jsonable_python(value)
    try:
        return orjson.dumps(jsonable).decode()
    except TypeError:  # orjson refuses integers beyond 64 bits; the standard library does not
        return json.dumps(jsonable, separators=(",", ":"), ensure_ascii=False)


def _summary(doc: str) -> str:
    lines: list[str] = []
    for line in doc.strip().splitlines():
        if not line.strip() or re.match(r"^(Args|Arguments|Parameters|Returns|Raises):", line):
            break
        lines.append(line.strip())
    return " ".join(lines)


def _param_docs(doc: str) -> dict[str, str]:
    docs: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if re.match(r"^\s*(Args|Arguments|Parameters):\s*$", line):
            in_args = True
            continue
        if in_args:
            match = re.match(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$", line)
            if match:
                docs[match.group(1)] = match.group(2).strip()
            elif line.strip() and not line.startswith((" ", "\t")):
                in_args = False
    return docs


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    idempotent: bool = False,
    needs_approval: bool | ApprovalPolicy = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    idempotent: bool = False,
    needs_approval: bool | ApprovalPolicy = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a tool from a plain or async function; its type hints become the JSON Schema.

        @tl.tool
        async def get_weather(city: str) -> dict:
            \"\"\"Current weather for a city.\"\"\"
            return {"city": city, "temp_c": 18}

    `idempotent=True` declares that running the tool twice with the same arguments is safe:
    after a crash it runs again with the same idempotency key; other tools run at most once.
    `needs_approval=True` (or a policy `(arguments, state) -> bool`) pauses the turn until a
    human approves or denies the call.
    """
    if fn is not None:
        return Tool(fn)

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(
            f,
            name=name,
            description=description,
            idempotent=idempotent,
            needs_approval=needs_approval,
        )

    return wrap


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool(value)
    raise ConfigurationError(f"not a tool: {value!r}")
