"""The synchronous facade: one event loop on a background thread, and proxies that call the
async API through it. Proxies expose exactly the async classes' public operations, so the two
cannot drift apart."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from threadline.types import ConfigurationError

from ._bus import Subscription
from ._manager import ThreadList, ThreadManager
from ._thread import Thread

if TYPE_CHECKING:
    from ._app import Threadline

T = TypeVar("T")


class _Portal:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="threadline-sync", daemon=True
        )
        self._thread.start()

    def call(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result()

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        while True:
            try:
                yield self.call(iterator.__anext__())
            except StopAsyncIteration:
                return

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def public_operations(cls: type) -> frozenset[str]:
    """The names a sync proxy of `cls` exposes: every public method and property."""
    return frozenset(
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )


class _SyncProxy:
    _target_class: type = object

    def __init__(self, target: Any, portal: _Portal) -> None:
        self._target = target
        self._portal = portal

    def __dir__(self) -> list[str]:
        return sorted(public_operations(self._target_class))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in public_operations(self._target_class):
            raise AttributeError(name)
        value = getattr(self._target, name)
        return _blocking(value, self._portal) if callable(value) else value


def _blocking(fn: Callable[..., Any], portal: _Portal) -> Callable[..., Any]:
    """`fn` called on the portal's loop (awaiting what it returns), its result wrapped."""

    async def on_loop(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(portal.call(on_loop(args, kwargs)), portal)

    call.__name__ = getattr(fn, "__name__", "call")
    call.__doc__ = fn.__doc__
    return call


class _SyncIterator:
    """A sync view of an async iterator (a turn stream or a subscription); its methods block."""

    def __init__(self, target: Any, portal: _Portal) -> None:
        self._target = target
        self._portal = portal
        self._iterator = portal.iterate(target)

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def __next__(self) -> Any:
        return next(self._iterator)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        return _blocking(value, self._portal) if callable(value) else value


class _SyncSubscription(_SyncIterator):
    """A sync view of a subscription: `with` closes it at the end of the block."""

    def __enter__(self) -> _SyncSubscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._portal.call(self._target.__aexit__(*exc_info))


class SyncThread(_SyncProxy):
    """`Thread` for synchronous code: the same operations, blocking."""

    _target_class = Thread


class SyncThreadManager(_SyncProxy):
    """`ThreadManager` for synchronous code: the same operations, blocking."""

    _target_class = ThreadManager


def _wrap(value: Any, portal: _Portal) -> Any:
    if isinstance(value, Subscription):
        return _SyncSubscription(value, portal)
    if hasattr(value, "__anext__"):
        return _SyncIterator(value, portal)
    if isinstance(value, Thread):
        return SyncThread(value, portal)
    if isinstance(value, ThreadList):
        return ThreadList(
            threads=[_wrap(t, portal) for t in value.threads], next_cursor=value.next_cursor
        )
    return value


class SyncThreadline:
    """A `Threadline` app driven from synchronous code.

    with tl.Threadline(agents=[agent]).sync as app:
        thread = app.threads.start(user_id="me")
        print(thread.run("Hello").text)
    """

    def __init__(self, app: Threadline) -> None:
        self._app = app
        self._portal: _Portal | None = None
        self.threads: Any = None

    def __enter__(self) -> SyncThreadline:
        if self._portal is not None:
            raise ConfigurationError("this sync facade is already open")
        self._portal = _Portal()
        self._portal.call(self._app.open())
        self.threads = SyncThreadManager(self._app.threads, self._portal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._portal is not None:
            self._portal.call(self._app.close())
            self._portal.stop()
            self._portal = None
