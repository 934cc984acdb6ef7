"""The web inspector that `threadline serve` serves at `/`: server-rendered pages (htmx and
a small script of the package's own, no build step, nothing from other sites)."""

from ._routes import CONTENT_SECURITY_POLICY, PREFIX, Inspector

__all__ = ["CONTENT_SECURITY_POLICY", "PREFIX", "Inspector"]
