"""What the global options decided, built once per invocation and handed to each command."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

DEFAULT_DB = "threadline.db"
DEFAULT_MODEL = "local"


@dataclass(frozen=True, kw_only=True)
class Settings:
    db: str
    model_spec: str
    debug: bool
    app_spec: str | None = None

    def db_exists(self) -> bool:
        """Whether the database is there already (URLs are assumed to exist)."""
        return "://" in self.db or os.path.exists(self.db)

    def command(self, *words: str) -> str:
        """A `threadline ...` command line that reuses this invocation's database and model."""
        parts = ["threadline"]
        if self.app_spec is not None:
            parts += ["--app", self.app_spec]
        if self.db != DEFAULT_DB:
            parts += ["--db", self.db]
        if self.model_spec != DEFAULT_MODEL:
            parts += ["--model", self.model_spec]
        return shlex.join([*parts, *words])
