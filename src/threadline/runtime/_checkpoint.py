"""A paused stateless run, serializable: see `Checkpoint`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import orjson

from threadline.store import ThreadSnapshot
from threadline.types import CheckpointError, InvalidInputError

from ._secrets import SecretBox, SecretKey

CHECKPOINT_VERSION = 1
_KIND = "threadline.checkpoint"
_PURPOSE = "checkpoint"


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Everything a paused stateless run needs to resume, in this process or in another one
    days later: the run's thread as it was stored when it paused (its items, the paused turn
    and its options, the tool calls' states, its files and its own environment, a secret's
    value as the ciphertext the store keeps).

    `to_json()` signs it with an HMAC keyed by the app's secret key (`THREADLINE_SECRET_KEY`,
    or `secret_key=`); `from_json()` checks the signature with any configured key, so keys
    rotate as they do for secrets. The JSON is signed, not encrypted: it holds the
    conversation in the clear.

        text = result.checkpoint.to_json()
        checkpoint = tl.Checkpoint.from_json(text)   # later, in any process
        resumed = await tl.run_agent_resume(agent, checkpoint, [...])
    """

    agent: str
    thread_id: str
    turn_id: str
    snapshot: ThreadSnapshot
    version: int = CHECKPOINT_VERSION

    def to_json(self, *, secret_key: SecretKey | None = None) -> str:
        """The checkpoint as signed JSON text. Raises `SecretKeyError` when no secret key is
        configured (the checkpoint still resumes in this process without one)."""
        keys = SecretBox.configure(secret_key).signing_keys(_PURPOSE)
        body = orjson.dumps(
            {
                "agent": self.agent,
                "thread_id": self.thread_id,
                "turn_id": self.turn_id,
                "snapshot": self.snapshot.to_dict(),
            }
        ).decode()
        return orjson.dumps(
            {
                "type": _KIND,
                "version": self.version,
                "body": body,
                "signature": _sign(keys[0], self.version, body),
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes, *, secret_key: SecretKey | None = None) -> Checkpoint:
        """Read a checkpoint that `to_json` wrote. Raises `SecretKeyError` when no secret key
        is configured, `CheckpointError` for text that is not a checkpoint, one altered or
        signed with a key that is not configured here, or one of another version."""
        keys = SecretBox.configure(secret_key).signing_keys(_PURPOSE)
        try:
            envelope = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise CheckpointError("not a checkpoint: the text is not JSON (is it whole?)") from None
        if not isinstance(envelope, dict) or envelope.get("type") != _KIND:  # pyright: ignore[reportUnknownMemberType]
            raise CheckpointError("not a checkpoint: write one with Checkpoint.to_json()")
        fields: dict[str, Any] = envelope  # pyright: ignore[reportUnknownVariableType]
        version, body, signature = (
            fields.get("version"),
            fields.get("body"),
            fields.get("signature"),
        )
        if version != CHECKPOINT_VERSION:
            raise CheckpointError(
                f"the checkpoint has version {version!r}, and this threadline resumes version "
                f"{CHECKPOINT_VERSION} only: resume it with the threadline that wrote it",
                found=version,
                supported=CHECKPOINT_VERSION,
            )
        if not isinstance(body, str) or not isinstance(signature, str):
            raise CheckpointError("not a checkpoint: its body or its signature is missing")
        if not any(hmac.compare_digest(_sign(key, version, body), signature) for key in keys):
            raise CheckpointError(
                "the checkpoint's signature does not match: it was altered, or signed with a "
                "secret key that is not configured here (give every key in use, the newest "
                "first, comma-separated)"
            )
        try:
            data = orjson.loads(body)
            return cls(
                agent=str(data["agent"]),
                thread_id=str(data["thread_id"]),
                turn_id=str(data["turn_id"]),
                snapshot=ThreadSnapshot.from_dict(data["snapshot"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, InvalidInputError):
            # Signed by a key of ours, yet unreadable: a writer with a bug, not an attacker.
            raise CheckpointError("the checkpoint is signed but cannot be read") from None


def _sign(key: bytes, version: int, body: str) -> str:
    return hmac.new(key, f"{_KIND}\n{version}\n{body}".encode(), sha256).hexdigest()
