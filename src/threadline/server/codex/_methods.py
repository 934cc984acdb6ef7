"""Every method the server answers, by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._threadline import DETACHED
from ._threadline import METHODS as THREADLINE_METHODS
from ._threadline_env import METHODS as ENV_METHODS
from ._threadline_family import METHODS as FAMILY_METHODS
from ._threadline_fs import METHODS as FS_METHODS
from ._threadline_messages import METHODS as MESSAGE_METHODS
from ._threads import METHODS as THREAD_METHODS
from ._turns import METHODS as TURN_METHODS

if TYPE_CHECKING:
    from ._session import Handler

METHODS: dict[str, Handler] = {
    **THREAD_METHODS,
    **TURN_METHODS,
    **THREADLINE_METHODS,
    **ENV_METHODS,
    **FAMILY_METHODS,
    **FS_METHODS,
    **MESSAGE_METHODS,
}

__all__ = ["DETACHED", "METHODS"]
