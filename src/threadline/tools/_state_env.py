from __future__ import annotations


class EnvAccess:
    """The thread's configuration and secrets, for a tool (see `ThreadState`)."""
