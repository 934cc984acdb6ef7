"""`env`, `env_type` and `set_env`: where a name resolves, what a write keeps, and what is
refused, on both stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel

import threadline as tl
from threadline.testing import ScriptedModel
from threadline.testing._scripted import tool_call
from threadline.types import InvalidInputError, NotFoundError, ThreadRecord, new_id

AppMaker = Callable[..., Any]

StoreFactory = Callable[[], tl.Store]


@pytest.fixture(autouse=True)
def no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADLINE_SECRET_KEY", raising=False)
    monkeypatch.delenv("THREADLINE_SECRET_KEY_FILE", raising=False)


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def open_app(make_store: StoreFactory) -> AsyncIterator[AppMaker]:
    """`await open_app(agents=..., steps=..., **threadline_kwargs)`: an open app on the test's
    store (a new store object each time, so several apps share the database)."""
    opened: list[tl.Threadline] = []

    async def factory(
        *,
        agents: Sequence[tl.Agent] | None = None,
        steps: Sequence[Any] = (),
        tools: Sequence[Any] = (),
        agent_env: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tl.Threadline:
        if agents is None:
            model = ScriptedModel(list(steps))
            agents = [tl.Agent(name="assistant", tools=tools, model=model, env=agent_env)]
        app = tl.Threadline(agents=agents, store=make_store(), **kwargs)
        await app.open()
        opened.append(app)
        return app

    yield factory
    for app in opened:
        await app.close()


async def child_of(app: tl.Threadline, parent: tl.Thread, **fields: Any) -> tl.Thread:
    """A thread whose `parent_id` is `parent`, made through the store (as a subagent is)."""
    record = await app.store.create_thread(
        ThreadRecord(
            thread_id=new_id("thr"),
            agent=parent.record.agent,
            parent_id=parent.id,
            created_at=0.0,
            updated_at=0.0,
            **fields,
        )
    )
    return await app.threads.resume(record.thread_id)


def secret_value() -> str:
    return f"~sk-{uuid.uuid4().hex}"


async def test_a_name_resolves_most_specific_first(open_app: AppMaker, key: str) -> None:
    app = await open_app(
        secret_key=key,
        env={"LEVEL": "app-static", "APP_ONLY": "a"},
        agent_env={"LEVEL": "agent", "AGENT_ONLY": "g"},
    )
    thread = await app.threads.start(user_id="ada", resource_id="acme")
    other = await app.threads.start(user_id="bob", resource_id="acme")
    assert await thread.env("LEVEL") == "app-static"  # the app instance before the agent
    assert await thread.env("AGENT_ONLY") == "g"
    assert await thread.env("APP_ONLY") == "a"
    assert await thread.env("NOWHERE") is None
    assert await thread.env_type("NOWHERE") is None
    await app.set_env("LEVEL", "instance", type="text")
    assert await thread.env("LEVEL") == "instance"
    await app.set_env("LEVEL", "resource", type="text", resource_id="acme")
    assert await thread.env("LEVEL") == "resource"
    await app.set_env("LEVEL", "user", type="text", user_id="ada")
    assert await thread.env("LEVEL") == "user"
    assert await other.env("LEVEL") == "resource"  # bob's account has none of its own
    await thread.set_env("LEVEL", "thread", type="text")
    assert await thread.env("LEVEL") == "thread"
    assert await other.env("LEVEL") == "resource"
    # Taking a level away uncovers the one below.
    assert await thread.delete_env("LEVEL")
    assert not await thread.delete_env("LEVEL")
    assert await thread.env("LEVEL") == "user"
    assert await app.delete_env("LEVEL", user_id="ada")
    assert await app.delete_env("LEVEL", resource_id="acme")
    assert await app.delete_env("LEVEL")
    assert await thread.env("LEVEL") == "app-static"
    # The app's own view: an owner's values over the instance's.
    await app.set_env("LEVEL", "user", type="text", user_id="ada")
    assert await app.env("LEVEL", user_id="ada") == "user"
    assert await app.env("LEVEL", user_id="bob") == "app-static"
    assert await app.env_type("LEVEL") == "text"


async def test_the_agents_prompt_is_the_last_layer(open_app: AppMaker, key: str) -> None:
    class Team(BaseModel):
        team: str = "the support team"

    prompt = tl.Prompt(
        name="support",
        template="You help {team}.",
        variables=Team,
        env={"TONE": "warm", "LEVEL": "prompt"},
    )
    model = ScriptedModel(["hello"])
    agent = tl.Agent(name="assistant", instructions=prompt, model=model, env={"LEVEL": "agent"})
    app = await open_app(agents=[agent], secret_key=key)
    thread = await app.threads.start()
    assert await thread.env("TONE") == "warm"  # only the prompt has it
    assert await thread.env("LEVEL") == "agent"  # the agent comes before its prompt
    assert await thread.env_type("TONE") == "text"
    await thread.run("hi")
    assert model.requests[0].instructions == "You help the support team."


def test_a_prompt_as_instructions_needs_a_default_for_each_variable() -> None:
    prompt = tl.Prompt(name="p", template="Hi {name}.", variables={"name": str})
    with pytest.raises(tl.ConfigurationError, match="default"):
        tl.Agent(name="a", instructions=prompt)


async def test_a_tool_reads_and_writes_its_thread_environment(open_app: AppMaker, key: str) -> None:
    seen: dict[str, Any] = {}

    @tl.tool
    async def configure(thread: tl.ThreadState) -> str:
        seen["region"] = await thread.env("REGION")
        seen["region_type"] = await thread.env_type("REGION")
        await thread.set_env("REGION", "us-east-1")  # keeps "text"
        await thread.set_env("TOKEN", "~tok-12345")  # new: a secret
        seen["token"] = await thread.env("TOKEN")
        return "done"

    app = await open_app(
        secret_key=key,
        agent_env={"REGION": "eu-west-1"},
        tools=[configure],
        steps=[tool_call("configure", {}), "ok"],
    )
    thread = await app.threads.start(user_id="ada")
    await thread.run("configure")
    assert seen == {"region": "eu-west-1", "region_type": "text", "token": "~tok-12345"}
    assert await thread.env("REGION") == "us-east-1"
    assert await thread.env_type("REGION") == "text"
    assert await thread.env_type("TOKEN") == "secret"
    # Another process (a new app on the same store) reads the same.
    again = await open_app(secret_key=key)
    resumed = await again.threads.resume(thread.id)
    assert await resumed.env("TOKEN") == "~tok-12345"


async def test_setting_keeps_the_type_or_makes_a_secret(open_app: AppMaker, key: str) -> None:
    app = await open_app(
        secret_key=key, env={"MODE": "fast"}, agent_env={"API": tl.Secret("~agent-key")}
    )
    thread = await app.threads.start(user_id="ada")
    await thread.set_env("MODE", "slow")
    assert await thread.env_type("MODE") == "text"
    await thread.set_env("API", "~thread-key")  # a secret stays a secret
    assert await thread.env_type("API") == "secret"
    await thread.set_env("NEW", "~a-new-value")
    assert await thread.env_type("NEW") == "secret"
    await thread.set_env("NEW", "now shown", type="text")  # an explicit type wins
    assert await thread.env_type("NEW") == "text"
    await app.set_env("ACCOUNT", "~acct-value", user_id="ada")
    assert await app.env_type("ACCOUNT", user_id="ada") == "secret"
    await thread.set_env("ACCOUNT", "~thread-value")
    assert await thread.env_type("ACCOUNT") == "secret"
    assert await thread.env("ACCOUNT") == "~thread-value"


async def test_set_env_reaches_active_descendants(open_app: AppMaker, key: str) -> None:
    app = await open_app(secret_key=key)
    parent = await app.threads.start(user_id="ada")
    child = await child_of(app, parent)
    grandchild = await child_of(app, child)
    archived = await child_of(app, parent, status="archived")
    unrelated = await app.threads.start(user_id="ada")
    await parent.set_env("TOKEN", "~parent-token")
    for thread in (parent, child, grandchild):
        assert await thread.env("TOKEN") == "~parent-token"
        assert await thread.env_type("TOKEN") == "secret"
    assert await archived.env("TOKEN") is None
    assert await unrelated.env("TOKEN") is None
    # A child's value reaches its own subtree, not its parent.
    await child.set_env("TOKEN", "~child-token")
    assert await parent.env("TOKEN") == "~parent-token"
    assert await grandchild.env("TOKEN") == "~child-token"
    # Deleting a thread deletes its descendants too, with their values.
    await parent.delete()
    assert await child.env("TOKEN") is None
    assert await grandchild.env("TOKEN") is None
    assert await unrelated.env("TOKEN") is None


async def test_bad_names_values_and_types_change_nothing(open_app: AppMaker, key: str) -> None:
    app = await open_app(secret_key=key)
    thread = await app.threads.start(user_id="ada")
    for name in ("", "1ABC", "A-B", "A B", "Ä", "x" * 129, "A\x00", None, 3):
        with pytest.raises(InvalidInputError):
            await thread.set_env(name, "value")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            await thread.env(name)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            await app.set_env(name, "value", user_id="ada")  # type: ignore[arg-type]
    assert await thread.env("A" + "_" * 127) is None  # 128 characters is a name
    with pytest.raises(InvalidInputError):
        await thread.set_env("OK", "value", type="password")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await thread.set_env("OK", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await thread.set_env("OK", "nul\x00inside", type="text")
    with pytest.raises(InvalidInputError):
        await thread.set_env("OK", "abc")  # too short to be told apart: refused as a secret
    with pytest.raises(InvalidInputError):
        await app.set_env("OK", "value", user_id="ada", resource_id="acme")
    assert await thread.env("OK") is None
    assert await app.store.get_env("OK", [("thread", thread.id), ("user", "ada")]) == []
    with pytest.raises(NotFoundError):
        gone = await app.threads.start()
        await gone.delete()
        await gone.set_env("OK", "value", type="text")


async def test_without_a_key_secrets_are_refused(open_app: AppMaker, key: str) -> None:
    app = await open_app()
    thread = await app.threads.start(user_id="ada")
    with pytest.raises(tl.SecretKeyError, match="THREADLINE_SECRET_KEY") as raised:
        await thread.set_env("TOKEN", "never-stored")
    assert isinstance(raised.value, tl.ConfigurationError)
    assert "never-stored" not in str(raised.value)
    with pytest.raises(tl.SecretKeyError):
        await app.set_env("TOKEN", "never-stored", type="secret", user_id="ada")
    assert await app.store.get_env("TOKEN", [("thread", thread.id), ("user", "ada")]) == []
    # Text needs no key.
    await thread.set_env("REGION", "eu", type="text")
    assert await thread.env("REGION") == "eu"
    # A secret stored with a key cannot be read without it, nor with another one.
    keyed = await open_app(secret_key=key)
    await (await keyed.threads.resume(thread.id)).set_env("TOKEN", "~stored-secret")
    assert await thread.env_type("TOKEN") == "secret"  # nothing to decrypt
    with pytest.raises(tl.SecretKeyError, match="no secret key is configured"):
        await thread.env("TOKEN")
    other = await open_app(secret_key=Fernet.generate_key().decode())
    with pytest.raises(tl.SecretKeyError, match="not the one it was stored with"):
        await (await other.threads.resume(thread.id)).env("TOKEN")


async def test_a_stored_secret_is_ciphertext_bound_to_its_name(
    open_app: AppMaker, key: str
) -> None:
    app = await open_app(secret_key=key)
    thread = await app.threads.start()
    value = secret_value()
    await thread.set_env("TOKEN", value)
    [stored] = await app.store.get_env("TOKEN", [("thread", thread.id)])
    assert stored.type == "secret"
    assert value not in stored.value
    assert Fernet(key.encode()).decrypt(stored.value.encode()).decode() == f"TOKEN\n{value}"
    # The ciphertext moved to another name does not decrypt as that name.
    await app.store.set_env(
        tl.types.EnvEntry(
            scope="thread",
            owner=thread.id,
            name="MOVED",
            type="secret",
            value=stored.value,
            updated_at=0.0,
        )
    )
    with pytest.raises(tl.CorruptDataError):
        await thread.env("MOVED")


async def test_the_key_from_the_environment_a_file_or_a_rotation(
    open_app: AppMaker, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_SECRET_KEY", key)
    app = await open_app()
    thread = await app.threads.start()
    await thread.set_env("TOKEN", "~from-the-env-key")
    monkeypatch.delenv("THREADLINE_SECRET_KEY")
    key_file = tmp_path / "secret.key"
    key_file.write_text(key + "\n")
    monkeypatch.setenv("THREADLINE_SECRET_KEY_FILE", str(key_file))
    from_file = await open_app()
    assert await (await from_file.threads.resume(thread.id)).env("TOKEN") == "~from-the-env-key"
    monkeypatch.delenv("THREADLINE_SECRET_KEY_FILE")
    by_path = await open_app(secret_key=key_file)
    assert await (await by_path.threads.resume(thread.id)).env("TOKEN") == "~from-the-env-key"
    # A new key first and the old one after it: old secrets read, new ones use the new key.
    new_key = Fernet.generate_key().decode()
    rotated = await open_app(secret_key=f"{new_key},{key}")
    handle = await rotated.threads.resume(thread.id)
    assert await handle.env("TOKEN") == "~from-the-env-key"
    await handle.set_env("TOKEN", "~under-the-new-key")
    [stored] = await rotated.store.get_env("TOKEN", [("thread", thread.id)])
    assert Fernet(new_key.encode()).decrypt(stored.value.encode()).endswith(b"~under-the-new-key")


def test_a_bad_key_or_env_is_refused_at_construction(tmp_path: Path) -> None:
    agent = tl.Agent(name="a", model=ScriptedModel([]))
    for bad in ("not-a-key", "", tmp_path / "missing.key"):
        with pytest.raises(tl.ConfigurationError) as raised:
            tl.Threadline(agents=[agent], store=":memory:", secret_key=bad)
        assert "not-a-key" not in str(raised.value)
    for env in (
        {"bad name": "x"},
        {"OK": 3},
        {"OK": tl.Secret("abc")},  # too short to redact
        {"OK": tl.Secret("has\x00nul")},
    ):
        with pytest.raises(tl.ConfigurationError):
            tl.Threadline(agents=[agent], store=":memory:", env=env)  # type: ignore[arg-type]
        with pytest.raises(tl.ConfigurationError):
            tl.Agent(name="b", env=env)  # type: ignore[arg-type]
    assert "abcd" not in repr(tl.Secret("abcd-value")) + str(tl.Secret("abcd-value"))


async def test_a_thread_state_outside_a_turn_has_no_environment() -> None:
    state = tl.ThreadState[Any](
        thread_id="thr", turn_id="turn", tool_call_id="call", user_id=None, items=[],
        state={}, state_type=None,
    )  # fmt: skip
    with pytest.raises(tl.ConfigurationError, match="running turn"):
        await state.env("TOKEN")
