from __future__ import annotations

from cli_process import REPO

from threadline.cli import render_help_markdown

DOCS = REPO / "docs" / "cli.md"


def test_docs_cli_md_is_the_generated_help() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_help_markdown(), (
        'docs/cli.md is out of date; regenerate it with: python -c "from threadline.cli '
        "import render_help_markdown as r; print(r(), end='')\" > docs/cli.md"
    )


def test_the_help_covers_every_command() -> None:
    rendered = render_help_markdown()

    for command in (
        "threadline",
        "threadline chat",
        "threadline run",
        "threadline threads",
        "threadline threads list",
        "threadline threads show",
        "threadline traces show",
    ):
        assert f"## `{command}`" in rendered
    assert "py:package.module:attribute" in rendered
