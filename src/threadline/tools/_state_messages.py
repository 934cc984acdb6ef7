from __future__ import annotations


class MessageAccess:
    """The thread's identity, messages, lifecycle and loaders, for a tool (see `ThreadState`)."""
