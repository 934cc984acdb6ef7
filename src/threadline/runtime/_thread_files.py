from __future__ import annotations


class ThreadFiles:
    """The thread's files, from outside (see `Thread`)."""
