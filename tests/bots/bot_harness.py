"""What the bot tests share: a running bot, and tools that ask through the bot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import threadline as tl
from threadline.testing import MemoryChat, ScriptedModel


@dataclass
class Running:
    """An app, its bot on a `MemoryChat`, and the scripted model behind it."""

    app: tl.Threadline
    bot: tl.Bot
    chat: MemoryChat
    model: ScriptedModel
    mentions: list[tl.bots.Context] = field(default_factory=list[tl.bots.Context])


BotFactory = Callable[..., Any]


class BotRef:
    """The bot that tools defined before it reach through `bot.thread(state)`."""

    bot: tl.Bot | None = None

    def thread(self, state: tl.ThreadState[Any]) -> tl.bots.ChatThread:
        assert self.bot is not None
        return self.bot.thread(state)


def deploy_tool(ref: BotRef, log: list[str], *, approvers: Sequence[str] | None = None) -> tl.Tool:
    """A tool that asks, through the bot, whether to deploy; it is idempotent, so a restarted
    bot runs it again and it finds its answer."""

    @tl.tool(idempotent=True)
    async def deploy(env: str, thread: tl.ThreadState[Any]) -> str:
        """Deploy to an environment once a person agrees."""
        log.append(f"asked {env}")
        card = tl.bots.Card(
            tl.bots.Markdown(f"Deploy to **{env}**?"),
            tl.bots.Button("Deploy", "yes", style="primary"),
            tl.bots.Button("Cancel", "no", style="danger"),
        )
        choice = await ref.thread(thread).await_choice(card, approvers=approvers)
        log.append(f"chose {choice}")
        return "deployed" if choice == "yes" else "cancelled"

    return deploy
