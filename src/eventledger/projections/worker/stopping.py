"""Stopping a worker between batches, and the waits a stop cuts short.

A stop is a request, not a cancellation: the batch in progress finishes (or, when cancelled,
rolls back) and every wait the worker is in (a back-off pause, the standby poll, the live
feed, an operator's decision) ends at once by raising :class:`Stopped`, which each loop takes
as "leave between batches".
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


class Stopped(Exception):
    """The runner is stopping: leave the loop between batches."""


class StopSwitch:
    """A worker's stop request, and waits that end when it comes."""

    def __init__(self) -> None:
        self._stopping = False
        self._event = asyncio.Event()

    def stop(self) -> None:
        """Ask to stop after the batch in progress."""
        self._stopping = True
        self._event.set()

    def reset(self) -> None:
        """Allow running again after a stop."""
        self._stopping = False
        self._event = asyncio.Event()

    def raise_if_stopping(self) -> None:
        """Raise :class:`Stopped` when a stop was asked for."""
        if self._stopping:
            raise Stopped

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, unless a stop comes first."""
        await self.interruptible(asyncio.sleep(seconds))

    async def interruptible(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` unless a stop comes first (then raise :class:`Stopped`)."""
        if self._stopping:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise Stopped
        future = asyncio.ensure_future(awaitable)
        stopper = asyncio.create_task(self._event.wait())
        try:
            done, _ = await asyncio.wait({future, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not future.done():
                future.cancel()
        if future in done:
            return future.result()
        raise Stopped
