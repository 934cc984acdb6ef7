"""The CLI reference in Markdown, rendered from the commands' own `--help`."""

from __future__ import annotations

from typing import Any

import click

# A fixed width, so the rendering does not depend on the terminal it runs in.
_WIDTH = 100

_HEADER = """\
# threadline command line

<!-- Generated from the commands' --help by threadline.cli.render_help_markdown(). Regenerate:
python -c "from threadline.cli import render_help_markdown as r; print(r(), end='')" > docs/cli.md
-->
"""


def render_help_markdown() -> str:
    """The `--help` of `threadline` and of every subcommand, as one Markdown page."""
    from ._main import cli

    lines = [_HEADER]
    _render(cli, "threadline", None, lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def _render(
    command: click.Command, name: str, parent: click.Context | None, lines: list[str]
) -> None:
    settings: dict[str, Any] = {
        **command.context_settings,
        "terminal_width": _WIDTH,
        "max_content_width": _WIDTH,
    }
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    lines += [f"## `{ctx.command_path}`", "", "```text", command.get_help(ctx), "```", ""]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                _render(sub, sub_name, ctx, lines)
