"""Failed sign-ins per client address: a few are allowed within a window, then every attempt
from that address is refused until the oldest failure leaves the window, so that a key
cannot be guessed through the sign-in form."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

_MAX_ADDRESSES = 10_000  # the memory an address flood can take is bounded


class FailedSignIns:
    """At most `limit` failures per address within `window` seconds."""

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Seconds before `address` may try again, or None when it may try now."""
        failures = self._recent(address)
        if len(failures) < self.limit:
            return None
        return max(1, int(failures[0] + self.window - self._clock()) + 1)

    def failed(self, address: str) -> None:
        """Count a failed attempt of `address`."""
        failures = self._recent(address)
        failures.append(self._clock())
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > _MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.get(address) or deque[float]()
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
        return failures
