from __future__ import annotations


class ToolAccess:
    """Tools called from a tool, for a tool (see `ThreadState`)."""
