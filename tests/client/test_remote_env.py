"""A remote thread's environment: the same methods as in-process, and a secret's value never
sent back over the network (its marker is)."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet

import threadline as tl
from threadline.client import RemoteThreadline


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_SECRET_KEY", Fernet.generate_key().decode())


async def test_the_environment_over_the_network(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    secret = f"~sk-{uuid.uuid4().hex}"
    await thread.set_env("TOKEN", secret)
    await thread.set_env("REGION", "eu", type="text")
    assert await thread.env("REGION") == "eu"
    assert await thread.env_type("REGION") == "text"
    assert await thread.env("TOKEN") == "[redacted:TOKEN]"
    assert await thread.env_type("TOKEN") == "secret"
    assert await thread.env("NOWHERE") is None
    assert await thread.env_type("NOWHERE") is None
    # The server's app holds the value itself.
    assert await (await local.threads.resume(thread.id)).env("TOKEN") == secret
    assert await thread.delete_env("REGION")
    assert not await thread.delete_env("REGION")
    assert await thread.env("REGION") is None
    with pytest.raises(tl.InvalidInputError):
        await thread.set_env("bad name", "value")
    with pytest.raises(tl.InvalidInputError):
        await thread.set_env("SHORT", "abc")
