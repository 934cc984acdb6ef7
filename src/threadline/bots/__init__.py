"""Chat platforms: a `Bot` whose handlers receive each conversation as a capability-gated
`ChatThread` backed by a durable threadline thread, and the adapters that connect it to
platforms (`Matrix` and `IRC` here; `threadline.testing.MemoryChat` for tests). How to write an adapter:
see `Adapter` (the protocol is described in `threadline.bots._adapter`'s docstring).

    bot = tl.Bot(app, adapters=[tl.bots.IRC("127.0.0.1", 6667, "helper", channels=["#ops"])])

    @bot.on_mention
    async def mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.run_agent(context=[tl.bots.ContextEntry("User", ctx.message.user.name)])
"""

from ._adapter import Adapter, EventSink
from ._bot import Bot, Context, Handler
from ._irc import IRC
from ._matrix import Matrix
from ._slack import Slack
from ._thread import ChatThread
from ._types import (
    CAPABILITIES,
    ActionEvent,
    Capability,
    ChatEvent,
    ContextEntry,
    FileResult,
    FileUpload,
    Message,
    MessageRef,
    ReactionEvent,
    User,
)
from ._ui import (
    NUMBER_EMOJI,
    UI,
    Button,
    Card,
    Component,
    Fields,
    Image,
    Markdown,
    Text,
    markdown_to_plain,
)

__all__ = [
    "CAPABILITIES",
    "IRC",
    "NUMBER_EMOJI",
    "UI",
    "ActionEvent",
    "Adapter",
    "Bot",
    "Button",
    "Capability",
    "Card",
    "ChatEvent",
    "ChatThread",
    "Component",
    "Context",
    "ContextEntry",
    "EventSink",
    "Fields",
    "FileResult",
    "FileUpload",
    "Handler",
    "Image",
    "Markdown",
    "Matrix",
    "Message",
    "MessageRef",
    "ReactionEvent",
    "Slack",
    "Text",
    "User",
    "markdown_to_plain",
]
