"""A paused stateless run, serializable: see `Checkpoint`."""

from __future__ import annotations


class Checkpoint:
    """Everything a paused stateless run needs to resume in another process."""
