"""The `threadline` command line: `chat`, `run` and `threads`.

$ threadline chat
$ threadline run "What time is it in Tokyo?"
"""

from ._docs import render_help_markdown
from ._main import cli, main

__all__ = ["cli", "main", "render_help_markdown"]
