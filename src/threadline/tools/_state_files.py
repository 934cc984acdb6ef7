from __future__ import annotations


class FileAccess:
    """The thread's files, for a tool (see `ThreadState`)."""
