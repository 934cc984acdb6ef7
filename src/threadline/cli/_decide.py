"""`threadline approve` and `threadline deny`: decide a paused turn from another terminal."""

from __future__ import annotations

import asyncio

import click

from threadline import ApprovalResponse
from threadline.types import ApprovalDecision

from ._render import Activity, TurnPrinter, make_console
from ._session import app_model, build_app, load_weights, stream_events
from ._settings import Settings, pass_settings


def _decide_command(decision: ApprovalDecision) -> click.Command:
    verb = "approve" if decision == "approved" else "deny"

    @click.command(verb)
    @click.argument("thread_id", metavar="THREAD_ID")
    @click.argument("tool_call_id", metavar="CALL_ID")
    @click.option("--reason", help="Why; the model reads it.")
    @click.option(
        "--always",
        is_flag=True,
        help=f"Also {verb} every later call of the same tool on this thread.",
    )
    @click.option(
        "--no-resume",
        is_flag=True,
        help="Only record the decision; the turn continues wherever it is resumed.",
    )
    @pass_settings
    def command(
        settings: Settings,
        thread_id: str,
        tool_call_id: str,
        reason: str | None,
        always: bool,
        no_resume: bool,
    ) -> None:
        asyncio.run(_decide(settings, decision, thread_id, tool_call_id, reason, always, no_resume))

    command.help = (
        f"{verb.capitalize()} the pending tool call CALL_ID of a paused turn, then "
        "continue the turn here and print its reply. `threadline threads show "
        "THREAD_ID` lists what is pending."
    )
    return command


async def _decide(
    settings: Settings,
    decision: ApprovalDecision,
    thread_id: str,
    tool_call_id: str,
    reason: str | None,
    always: bool,
    no_resume: bool,
) -> None:
    err = make_console(stderr=True)
    async with build_app(settings) as app:
        model = app_model(app)
        thread = await app.threads.resume(thread_id)
        response: ApprovalResponse = await (
            thread.approve if decision == "approved" else thread.deny
        )(tool_call_id, reason=reason, always=always, sender="cli")
        err.print(f"{tool_call_id}: {response.decision}", style="dim", markup=False)
        if no_resume:
            return
        activity = Activity(err)
        await load_weights(model, activity)
        result = await stream_events(
            thread.resume_turn_streamed(), TurnPrinter(make_console(), err, activity)
        )
        if result.status == "paused":
            err.print(
                f"the turn is paused again: see `threadline threads show {thread_id}`",
                style="yellow",
                markup=False,
            )


approve = _decide_command("approved")
deny = _decide_command("denied")
