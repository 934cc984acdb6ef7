"""The vocabulary of a thread's environment: names, types, secret values and stored entries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ._errors import ConfigurationError, InvalidInputError
from ._text import check_text

EnvType = Literal[
    "secret",  # encrypted at rest, redacted wherever it could surface
    "text",  # configuration kept and shown as given
]
EnvScope = Literal[
    "thread",  # one thread's own value
    "user",  # every thread of a `user_id`
    "resource",  # every thread of a `resource_id`
    "instance",  # every thread in the store
]
ENV_TYPES: tuple[EnvType, ...] = ("secret", "text")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MIN_SECRET_LENGTH = 4
"""A secret shorter than this could not be told apart from ordinary text, so it could not be
redacted: it is refused."""
MAX_ENV_VALUE_LENGTH = 64 * 1024


class Secret:
    """A secret value in a static environment (`Threadline(env=...)`, `Agent(env=...)`): a
    plain `str` there is text. Its `repr` and `str` never show the value.

        tl.Agent(name="a", env={"REGION": "eu", "API_KEY": tl.Secret(os.environ["API_KEY"])})
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise ConfigurationError("a Secret holds text")
        self._value = value

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))


EnvValue = str | Secret
"""A value of a static environment: text, or a `Secret`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvEntry:
    """A stored environment value. `value` is the text as given, or, for a secret, the
    ciphertext: the store never sees a secret in clear."""

    scope: EnvScope
    owner: str  # the thread, user or resource id; "" for the instance
    name: str
    type: EnvType
    value: str
    updated_at: float


def check_env_name(name: object) -> str:
    """`name` if it is a valid environment name (a letter or `_`, then letters, digits or
    `_`, 128 at most). Raises `InvalidInputError`."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInputError(
            "an environment name is a letter or _ followed by letters, digits or _ "
            "(128 characters at most)",
            field="name",
        )
    return name


def check_env_type(env_type: object) -> EnvType:
    if env_type == "secret":
        return "secret"
    if env_type == "text":
        return "text"
    raise InvalidInputError("an environment type is 'secret' or 'text'", field="type")


def check_env_value(value: object, env_type: EnvType) -> str:
    """`value` if it can be stored as an environment value of `env_type`. The message never
    holds the value. Raises `InvalidInputError`."""
    if not isinstance(value, str):
        raise InvalidInputError("an environment value is text", field="value")
    check_text(value, "the environment value")
    if len(value) > MAX_ENV_VALUE_LENGTH:
        raise InvalidInputError(
            f"an environment value has at most {MAX_ENV_VALUE_LENGTH} characters", field="value"
        )
    if env_type == "secret" and len(value) < MIN_SECRET_LENGTH:
        raise InvalidInputError(
            f"a secret has at least {MIN_SECRET_LENGTH} characters, so that it can be "
            "recognized and redacted",
            field="value",
        )
    return value


def static_env(env: Mapping[str, EnvValue] | None, owner: str) -> dict[str, EnvValue]:
    """A static environment as declared in code, checked: names valid, values text or
    `Secret`. Raises `ConfigurationError` naming `owner`, never a value."""
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise ConfigurationError(f"the env of {owner} must be a mapping of names to values")
    checked: dict[str, EnvValue] = {}
    for name, value in env.items():
        try:
            check_env_name(name)
            if isinstance(value, Secret):
                check_env_value(value.reveal(), "secret")
            else:
                check_env_value(value, "text")
        except InvalidInputError as exc:
            shown = name if isinstance(name, str) and _NAME.fullmatch(name) else "a name"
            raise ConfigurationError(
                f"the env of {owner}: {shown}: {exc.message} (a plain str is text; wrap a "
                "secret in tl.Secret)"
            ) from None
        checked[name] = value
    return checked
