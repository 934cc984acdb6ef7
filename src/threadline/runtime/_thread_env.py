from __future__ import annotations


class ThreadEnv:
    """The thread's configuration and secrets, from outside (see `Thread`)."""
