"""Client-managed history: a request's `input` is the conversation so far. Without a
`conversation` or `previous_response_id` the server starts a thread from exactly that history;
with one, the items the thread holds already are recognised and stored once. This is what the
OpenAI Agents SDK sends in its default mode, on both stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from apps import CommandModel, get_weather, transfer
from responses_harness import API_KEYS, RunningServer, start_server, stop_server

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.models import ModelEvent, ModelRequest
from threadline.types import (
    AgentMessage,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"word": {"type": "string"}},
        "required": ["word"],
    },
}


class RecordingModel(CommandModel):
    """The apps' command model, keeping every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        async for event in super().stream(request):
            yield event

    def last_read(self) -> list[Any]:
        """What the model read in its last request (system events are not shown to it)."""
        return [
            i.payload for i in self.requests[-1].items if not isinstance(i.payload, SystemEvent)
        ]


@dataclass
class Served:
    server: RunningServer
    model: RecordingModel
    backend: str
    schema: str

    def store(self) -> tl.Store:
        """Another store object on the server's database, to count what it holds."""
        if self.backend == "sqlite":
            return tl.SQLiteStore(self.server.db)
        return tl.PostgresStore(postgres_url(), schema=self.schema)

    async def thread_count(self) -> int:
        async with self.store() as store:  # type: ignore[attr-defined]
            return len((await store.list_threads(limit=1000)).threads)


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    backend: str = request.param
    db = tmp_path_factory.mktemp("history") / "threadline.db"
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    store = None if backend == "sqlite" else tl.PostgresStore(postgres_url(), schema=schema)
    model = RecordingModel()
    agent = tl.Agent(
        name="assistant", instructions="Be brief.", model=model, tools=[get_weather, transfer]
    )
    running, handle = start_server(db, store=store, served=[agent])
    yield Served(server=running, model=model, backend=backend, schema=schema)
    stop_server(handle)
    if backend == "postgres":
        asyncio.run(drop_schema(postgres_url(), schema))


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=served.server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def async_client(served: Served) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=served.server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


def _user(text: str) -> UserMessage:
    return UserMessage(content=(TextPart(text=text),))


HISTORY: list[Any] = [
    {"role": "user", "content": 'client lookup {"word": "tea"}'},
    {
        "type": "function_call",
        "call_id": "call_from_elsewhere",
        "name": "lookup",
        "arguments": '{"word": "tea"}',
    },
    {"type": "function_call_output", "call_id": "call_from_elsewhere", "output": "a drink"},
    {"role": "assistant", "content": [{"type": "output_text", "text": "Tea is a drink."}]},
]


# -- a new thread from the client's history ---------------------------------------------------


def test_the_turn_reads_exactly_the_history_the_client_sent(
    client: openai.OpenAI, served: Served
) -> None:
    response = client.responses.create(
        model="assistant", tools=[LOOKUP], input=[*HISTORY, {"role": "user", "content": "say ok"}]
    )

    assert response.output_text == "ok"
    assert served.model.last_read() == [
        _user('client lookup {"word": "tea"}'),
        ToolCall(tool_call_id="call_from_elsewhere", name="lookup", arguments='{"word": "tea"}'),
        ToolResult(tool_call_id="call_from_elsewhere", name="lookup", output="a drink"),
        AgentMessage(text="Tea is a drink."),
        _user("say ok"),
    ]
    listed = client.responses.input_items.list(response.id, order="asc").data
    assert [(i.type, getattr(i, "role", None), getattr(i, "call_id", None)) for i in listed] == [
        ("message", "user", None),
        ("function_call", None, "call_from_elsewhere"),
        ("function_call_output", None, "call_from_elsewhere"),
        ("message", "assistant", None),
        ("message", "user", None),
    ]
    assert listed[3].content[0].text == "Tea is a drink."  # type: ignore[union-attr]
    stored = client.conversations.items.list(response.conversation.id, order="asc").data  # type: ignore[union-attr]
    assert [i.id for i in stored] == [*(i.id for i in listed), response.output[0].id]


def test_a_history_ending_with_outputs_is_answered(client: openai.OpenAI, served: Served) -> None:
    response = client.responses.create(model="assistant", tools=[LOOKUP], input=HISTORY[:3])

    assert response.output_text == "lookup returned a drink"
    assert served.model.last_read() == [
        _user('client lookup {"word": "tea"}'),
        ToolCall(tool_call_id="call_from_elsewhere", name="lookup", arguments='{"word": "tea"}'),
        ToolResult(tool_call_id="call_from_elsewhere", name="lookup", output="a drink"),
    ]
    assert len(client.responses.input_items.list(response.id).data) == 3


def test_several_input_messages_become_several_items_in_order(
    client: openai.OpenAI, served: Served
) -> None:
    response = client.responses.create(
        model="assistant",
        input=[
            {"role": "user", "content": "alpha"},
            {"role": "user", "content": [{"type": "input_text", "text": "beta"}]},
            {"role": "user", "content": "say gamma"},
        ],
    )

    assert response.output_text == "gamma"
    assert served.model.last_read() == [_user("alpha"), _user("beta"), _user("say gamma")]
    listed = client.responses.input_items.list(response.id, order="asc").data
    assert [i.content[0].text for i in listed] == ["alpha", "beta", "say gamma"]  # type: ignore[union-attr]
    newest_first = client.responses.input_items.list(response.id).data
    assert [i.id for i in newest_first] == [i.id for i in reversed(listed)]


@pytest.mark.parametrize(
    ("input", "message"),
    [
        (
            [{"type": "function_call_output", "call_id": "call_x", "output": "1"}],
            "No tool call found for function call output with call_id call_x.",
        ),
        (
            [HISTORY[0], HISTORY[1], {"role": "user", "content": "hi"}],
            "No tool output found for function call call_from_elsewhere.",
        ),
        ([*HISTORY[:3], HISTORY[2]], "two outputs for function call 'call_from_elsewhere'"),
        ([{"type": "item_reference", "id": "item_nope"}], "Item with id 'item_nope' not found."),
        (
            [
                {"role": "assistant", "content": "nul \u0000 inside"},
                {"role": "user", "content": "x"},
            ],
            "NUL",
        ),
    ],
)
async def test_a_history_no_conversation_could_have_is_refused_and_stores_nothing(
    served: Served, async_client: openai.AsyncOpenAI, input: list[Any], message: str
) -> None:
    before = await served.thread_count()

    with pytest.raises(openai.BadRequestError) as refused:
        await async_client.responses.create(model="assistant", tools=[LOOKUP], input=input)

    assert message in refused.value.message
    assert await served.thread_count() == before


def test_an_item_reference_stands_for_an_item_of_another_response(
    client: openai.OpenAI, served: Served
) -> None:
    first = client.responses.create(model="assistant", input="say hello")

    second = client.responses.create(  # as the Vercel AI SDK sends a stored answer back
        model="assistant",
        input=[
            {"role": "user", "content": "say hello"},
            {"type": "item_reference", "id": first.output[0].id},
            {"role": "user", "content": "say more"},
        ],
    )

    assert second.output_text == "more"
    assert served.model.last_read() == [
        _user("say hello"),
        AgentMessage(text="hello"),
        _user("say more"),
    ]
    assert second.conversation.id != first.conversation.id  # type: ignore[union-attr]


def test_an_item_reference_to_another_keys_item_is_unknown(keyed_server: RunningServer) -> None:
    alpha, beta = (
        openai.OpenAI(base_url=keyed_server.base_url, api_key=key, max_retries=0)
        for key in API_KEYS
    )
    with alpha, beta:
        first = alpha.responses.create(model="assistant", input="say mine")
        reference = {"type": "item_reference", "id": first.output[0].id}
        message = {"role": "user", "content": "say next"}

        with pytest.raises(openai.BadRequestError, match="not found"):
            beta.responses.create(model="assistant", input=[reference, message])
        assert alpha.responses.create(model="assistant", input=[reference, message]).output_text


# -- the OpenAI Agents SDK in its default mode ------------------------------------------------


def _agents_sdk(client: openai.AsyncOpenAI, *, approval: bool = False) -> Any:
    from agents import Agent, OpenAIResponsesModel, function_tool, set_tracing_disabled

    set_tracing_disabled(True)

    @function_tool(needs_approval=approval)
    def lookup(word: str) -> str:
        """Look a word up."""
        return f"{word} is a drink"

    return Agent(
        name="helper",
        model=OpenAIResponsesModel(model="assistant", openai_client=client),
        tools=[lookup],
    )


async def test_the_agents_sdk_runs_a_function_tool_against_the_server(
    async_client: openai.AsyncOpenAI, served: Served
) -> None:
    from agents import Runner

    agent = _agents_sdk(async_client)

    result = await Runner.run(agent, 'client lookup {"word": "tea"}')
    streamed = Runner.run_streamed(agent, 'client lookup {"word": "mate"}')
    async for _ in streamed.stream_events():
        pass

    assert result.final_output == "lookup returned tea is a drink"
    assert streamed.final_output == "lookup returned mate is a drink"
    read = served.model.last_read()
    assert [type(p).__name__ for p in read] == ["UserMessage", "ToolCall", "ToolResult"]


@pytest.mark.parametrize("approve", [True, False])
async def test_the_agents_sdk_approves_or_rejects_a_tool_client_side(
    async_client: openai.AsyncOpenAI, approve: bool
) -> None:
    from agents import Runner

    agent = _agents_sdk(async_client, approval=True)

    first = await Runner.run(agent, 'client lookup {"word": "tea"}')
    [interruption] = first.interruptions
    state = first.to_state()
    if approve:
        state.approve(interruption)
    else:
        state.reject(interruption)
    result = await Runner.run(agent, state)

    assert interruption.tool_name == "lookup"
    if approve:
        assert result.final_output == "lookup returned tea is a drink"
    else:
        assert result.final_output.startswith("lookup returned ")
        assert "not approved" in result.final_output


async def test_an_openai_conversations_session_carries_two_runs(
    async_client: openai.AsyncOpenAI, served: Served
) -> None:
    from agents import Runner
    from agents.memory import OpenAIConversationsSession

    agent = _agents_sdk(async_client)
    session = OpenAIConversationsSession(openai_client=async_client)

    first = await Runner.run(agent, "say one", session=session)
    second = await Runner.run(agent, "say two", session=session)

    assert (first.final_output, second.final_output) == ("one", "two")
    assert served.model.last_read() == [
        _user("say one"),
        AgentMessage(text="one"),
        _user("say two"),
    ]
    items = await session.get_items()
    assert [i.get("role") for i in items] == ["user", "assistant", "user", "assistant"]


# -- items sent back are recognised -----------------------------------------------------------


@pytest.mark.parametrize("continued_by", ["previous_response_id", "conversation"])
def test_items_sent_back_are_stored_once(
    client: openai.OpenAI, served: Served, continued_by: str
) -> None:
    conversation = client.conversations.create()
    link: dict[str, Any] = {"conversation": conversation.id}
    first = client.responses.create(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "sky"}', **link
    )
    [call] = first.output
    assert call.type == "function_call"
    if continued_by == "previous_response_id":
        link = {"previous_response_id": first.id}
    sent_back: list[Any] = [
        {"role": "user", "content": 'client lookup {"word": "sky"}'},  # no id: known by content
        {  # the function call as the SDK echoes it, with our item id
            "type": "function_call",
            "id": call.id,
            "call_id": call.call_id,  # type: ignore[union-attr]
            "name": "lookup",
            "arguments": '{"word": "sky"}',
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "blue"},  # type: ignore[union-attr]
    ]

    second = client.responses.create(model="assistant", tools=[LOOKUP], input=sent_back, **link)
    link = {"previous_response_id": second.id} if continued_by != "conversation" else link
    [answer] = second.output
    third = client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        input=[
            *sent_back,
            {"type": "item_reference", "id": answer.id},
            {"role": "user", "content": "say done"},
        ],
        **link,
    )

    assert second.output_text == "lookup returned blue"
    assert third.output_text == "done"
    stored = client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, getattr(i, "role", None)) for i in stored] == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    assert [i.type for i in client.responses.input_items.list(third.id).data] == ["message"]
    assert [type(p).__name__ for p in served.model.last_read()] == [
        "UserMessage",
        "ToolCall",
        "ToolResult",
        "AgentMessage",
        "UserMessage",
    ]


def test_a_conversation_sent_back_without_ids_is_recognised(
    client: openai.OpenAI, served: Served
) -> None:
    first = client.responses.create(model="assistant", input="say hello")
    history = [
        {"role": "user", "content": "say hello"},
        {"role": "assistant", "content": "hello"},
    ]

    second = client.responses.create(
        model="assistant",
        previous_response_id=first.id,
        input=[*history, {"role": "user", "content": "say again"}],
    )
    repeated = client.responses.create(
        model="assistant", previous_response_id=second.id, input="say hello"
    )

    assert served.model.last_read() == [
        _user("say hello"),
        AgentMessage(text="hello"),
        _user("say again"),
        AgentMessage(text="again"),
        _user("say hello"),  # the same words again, alone, are a new message
    ]
    assert repeated.output_text == "hello"


def test_a_new_call_under_a_call_id_the_conversation_holds_keeps_the_clients_id(
    client: openai.OpenAI, served: Served
) -> None:
    first = client.responses.create(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "one"}'
    )
    [call] = first.output
    call_id = call.call_id  # type: ignore[union-attr]
    second = client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call_id, "output": "1"}],
    )

    third = client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        previous_response_id=second.id,
        input=[  # a call the client made elsewhere, under the same id
            {"type": "function_call", "call_id": call_id, "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": call_id, "output": "2"},
        ],
    )

    assert third.output_text == "lookup returned 2"
    read = [p for p in served.model.last_read() if isinstance(p, ToolCall)]
    assert read[0].tool_call_id == call_id
    assert read[1].tool_call_id != call_id  # stored under a fresh id
    listed = client.responses.input_items.list(third.id, order="asc").data
    assert [(i.type, i.call_id) for i in listed] == [  # type: ignore[union-attr]
        ("function_call", call_id),
        ("function_call_output", call_id),
    ]


def test_input_with_nothing_new_is_answered_as_the_conversation_stands(
    client: openai.OpenAI, served: Served
) -> None:
    conversation = client.conversations.create(items=[{"role": "user", "content": "say stored"}])
    [stored] = client.conversations.items.list(conversation.id).data

    response = client.responses.create(
        model="assistant",
        conversation=conversation.id,
        input=[{"type": "item_reference", "id": stored.id}],
    )

    assert response.output_text == "stored"
    assert served.model.last_read() == [_user("say stored")]
    assert client.responses.input_items.list(response.id).data == []
    paused = client.responses.create(
        model="assistant", conversation=conversation.id, input="transfer 5"
    )
    assert paused.output[0].type == "mcp_approval_request"
    with pytest.raises(openai.BadRequestError, match="waits for the answer to an approval"):
        client.responses.create(model="assistant", conversation=conversation.id, input=[])


def test_new_items_before_items_the_conversation_holds_are_refused(
    client: openai.OpenAI,
) -> None:
    first = client.responses.create(model="assistant", input="say hi")

    with pytest.raises(openai.BadRequestError, match="is not part of this conversation"):
        client.responses.create(
            model="assistant",
            previous_response_id=first.id,
            input=[
                {"role": "user", "content": "never said"},
                {"type": "item_reference", "id": first.output[0].id},
                {"role": "user", "content": "say more"},
            ],
        )


# -- store=false ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_store_false_response_is_never_found_afterwards(
    client: openai.OpenAI, stream: bool
) -> None:
    conversation = client.conversations.create()
    for n in range(20):
        link: dict[str, Any] = {"conversation": conversation.id} if n % 2 else {}
        if stream:
            with client.responses.stream(
                model="assistant", input=f"say {n}", store=False, **link
            ) as events:
                response = events.get_final_response()
        else:
            response = client.responses.create(
                model="assistant", input=f"say {n}", store=False, **link
            )
        assert response.output_text == str(n)

        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(response.id)
        with pytest.raises(openai.NotFoundError):
            client.responses.input_items.list(response.id)
        if not link:
            with pytest.raises(openai.NotFoundError):
                client.conversations.retrieve(response.conversation.id)  # type: ignore[union-attr]
        with pytest.raises(openai.NotFoundError):
            client.responses.create(
                model="assistant", input="say again", previous_response_id=response.id
            )


def test_background_needs_store(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="assistant", input="say x", background=True, store=False)

    assert refused.value.body["param"] == "background"  # type: ignore[index]
