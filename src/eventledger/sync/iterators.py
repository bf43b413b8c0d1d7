"""Async iterators read from synchronous code: ``read_stream``, ``read_all`` and ``subscribe``.

A task on the portal's loop drives the async iterator and puts what it yields in a bounded
buffer; the consuming thread takes everything buffered at once. So a catch-up read costs one
hand-over between threads per buffer, not per event, while a live subscription hands each event
over as soon as it arrives. When the buffer is full the task waits for the consumer (memory stays
bounded however far behind the consumer is). The task starts at the first ``next()``. Closing
the iterator (``close()``, or dropping the last reference after a ``break``) cancels the task,
which ends the async iterator the way cancelling an async consumer would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Generic, TypeVar

from eventledger.errors import StoreClosed
from eventledger.sync.portal import Portal

T = TypeVar("T")

DEFAULT_BUFFER = 1000
"""Items a bridge holds for its consumer at most (a store page's worth)."""


class BridgedIterator(Generic[T]):
    """A synchronous iterator over an async iterator that runs on ``portal``'s loop.

    ``source`` makes the async iterator; it is called on the loop thread.
    """

    def __init__(self, portal: Portal, source: Callable[[], AsyncIterator[T]], buffer: int = DEFAULT_BUFFER):
        self._portal = portal
        self._source = source
        self._capacity = max(1, buffer)
        self._ready = threading.Condition()
        self._items: deque[T] = deque()
        self._finished = False
        self._error: BaseException | None = None
        self._room = asyncio.Event()
        self._ended = threading.Event()
        self._stopping = False
        self._started = False
        self._iterator = self._consume()
        self._future: concurrent.futures.Future[None] | None = None

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return next(self._iterator)

    def close(self) -> None:
        """Stop reading: the async iterator is cancelled and its cleanup has run on return."""
        self._iterator.close()

    async def _pump(self) -> None:
        self._started = True
        try:
            async for item in self._source():
                with self._ready:
                    self._items.append(item)
                    full = len(self._items) >= self._capacity
                    self._ready.notify()
                if full:
                    self._room.clear()
                    with self._ready:
                        # The consumer may have drained the buffer since; its wake-up would
                        # have come before the clear, so look again before waiting.
                        full = len(self._items) >= self._capacity
                    if full:
                        await self._room.wait()
        except asyncio.CancelledError:
            if not self._stopping:  # not the consumer's doing: the store is closing under it
                self._end(StoreClosed(f"{self._portal.name} was closed while it was being read"))
        except BaseException as error:
            self._end(error)
        finally:
            self._end(None)

    def _done(self, future: concurrent.futures.Future[None]) -> None:
        # A task cancelled before it ever ran (the store closed at once) runs no finally.
        if future.cancelled() and not self._started:
            self._end(None if self._stopping else StoreClosed(f"{self._portal.name} was closed"))

    def _end(self, error: BaseException | None) -> None:
        with self._ready:
            if not self._finished:
                self._finished = True
                self._error = error
            self._ready.notify_all()
        self._ended.set()

    def _consume(self) -> Generator[T, None, None]:
        # Started on the first next(), like an async generator: an iterator never read costs nothing.
        self._future = self._portal.submit(self._pump())
        self._future.add_done_callback(self._done)
        try:
            while True:
                with self._ready:
                    while not self._items and not self._finished:
                        self._ready.wait()
                    batch, self._items = self._items, deque()
                    finished, error = self._finished, self._error
                if batch:
                    self._portal.call_soon(self._room.set)
                    yield from batch
                elif finished:
                    if error is not None:
                        raise error
                    return
        finally:
            self._cancel()

    def _cancel(self) -> None:
        if self._future is None or self._ended.is_set() or self._portal.forked:
            return
        self._stopping = True
        self._future.cancel()  # cancels the task on the loop
        if not self._portal.on_loop_thread:  # (a finaliser may run there; the loop cannot wait for itself)
            self._ended.wait()
