from __future__ import annotations


class ThreadMessages:
    """Messages and lifecycle of the thread, from outside (see `Thread`)."""
