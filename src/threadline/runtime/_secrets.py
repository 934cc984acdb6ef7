"""The operator's key for secrets at rest: Fernet (AES-128-CBC with HMAC-SHA256, from
`cryptography`), never a scheme of our own.

The key comes from `Threadline(secret_key=...)`, else `THREADLINE_SECRET_KEY`, else the file
that `THREADLINE_SECRET_KEY_FILE` names. Several keys (comma- or line-separated) rotate: the
first encrypts, each of them decrypts. Without a key, secrets can be neither stored nor read;
text values need none.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from threadline.types import ConfigurationError, CorruptDataError, SecretKeyError

SECRET_KEY_VAR = "THREADLINE_SECRET_KEY"
SECRET_KEY_FILE_VAR = "THREADLINE_SECRET_KEY_FILE"

SecretKey = str | bytes | os.PathLike[str]
"""A Fernet key (or several, comma-separated, the first one encrypting), or the path of a
file that holds them."""

_HOW = (
    f'set {SECRET_KEY_VAR} to a Fernet key (make one with `python -c "from '
    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`), '
    f"or {SECRET_KEY_FILE_VAR} to a file that holds one, or pass Threadline(secret_key=...)"
)


class SecretBox:
    """Encrypts secret values for the store and decrypts them back. Each ciphertext is bound
    to its name: a value moved to another name does not decrypt."""

    def __init__(self, keys: list[bytes], source: str) -> None:
        self._source = source
        self._keys = keys
        self._fernet = MultiFernet([Fernet(key) for key in keys]) if keys else None

    @classmethod
    def configure(
        cls, secret_key: SecretKey | None = None, environ: Mapping[str, str] | None = None
    ) -> SecretBox:
        """The box for `secret_key`, else for the key the environment names. Raises
        `ConfigurationError` for a key that is not a Fernet key or a file that cannot be read
        (the message never holds a key)."""
        environ = os.environ if environ is None else environ
        if isinstance(secret_key, os.PathLike):
            return cls(_read_key_file(Path(secret_key), "secret_key"), "secret_key")
        if secret_key is not None:
            text = secret_key.decode() if isinstance(secret_key, bytes) else secret_key
            # A key file is given as a path object: text is always the key itself.
            return cls(_parse_keys(text, "secret_key (a key, or a pathlib.Path)"), "secret_key")
        if environ.get(SECRET_KEY_VAR):
            return cls(_parse_keys(environ[SECRET_KEY_VAR], SECRET_KEY_VAR), SECRET_KEY_VAR)
        if environ.get(SECRET_KEY_FILE_VAR):
            path = Path(environ[SECRET_KEY_FILE_VAR])
            return cls(_read_key_file(path, SECRET_KEY_FILE_VAR), SECRET_KEY_FILE_VAR)
        return cls([], "")

    @property
    def configured(self) -> bool:
        return self._fernet is not None

    def signing_keys(self, purpose: str) -> list[bytes]:
        """A key for each configured key, derived for `purpose` alone (HMAC-SHA256 of the
        purpose under the key), the first one for signing: a signature made for one purpose
        is worth nothing for another, and never reveals the key. Raises `SecretKeyError`
        without a key."""
        if not self._keys:
            raise SecretKeyError(
                f"cannot sign or check a {purpose}: no secret key is configured; {_HOW}"
            )
        label = f"threadline {purpose}".encode()
        return [hmac.new(key, label, hashlib.sha256).digest() for key in self._keys]

    def encrypt(self, name: str, value: str) -> str:
        """The ciphertext of secret `name`. Raises `SecretKeyError` without a key."""
        if self._fernet is None:
            raise SecretKeyError(
                f"cannot store the secret {name}: no secret key is configured; {_HOW}",
                name=name,
            )
        return self._fernet.encrypt(f"{name}\n{value}".encode()).decode()

    def decrypt(self, name: str, token: str) -> str:
        """The value of secret `name` from its ciphertext. Raises `SecretKeyError` without a
        key or with another key than the one it was stored with."""
        if self._fernet is None:
            raise SecretKeyError(
                f"cannot read the secret {name}: it is stored encrypted and no secret key is "
                f"configured; {_HOW}",
                name=name,
            )
        try:
            plain = self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"cannot read the secret {name}: the secret key ({self._source}) is not the one "
                "it was stored with (to change keys, give the new key first and the old one "
                "after it, comma-separated)",
                name=name,
            ) from None
        stored_name, separator, value = plain.partition("\n")
        if not separator or stored_name != name:
            raise CorruptDataError(
                f"the stored secret {name} was encrypted for another name", table="env", name=name
            )
        return value


def _parse_keys(text: str, source: str) -> list[bytes]:
    keys = [part for part in text.replace(",", " ").split() if part]
    if not keys:
        raise ConfigurationError(f"{source} holds no key; {_HOW}")
    for key in keys:
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"{source} is not a Fernet key (32 url-safe base64-encoded bytes); {_HOW}"
            ) from None
    return [key.encode() for key in keys]


def _read_key_file(path: Path, source: str) -> list[bytes]:
    try:
        text = path.read_text()
    except (OSError, UnicodeError) as exc:
        raise ConfigurationError(
            f"{source}: cannot read the secret key file {str(path)!r} ({type(exc).__name__})"
        ) from None
    return _parse_keys(text, f"the secret key file {str(path)!r}")
