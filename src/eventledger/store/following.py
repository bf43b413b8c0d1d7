"""What a subscription needs between reads of the global log, for every backend.

Small pieces, each with one job, used by :meth:`EventStore.subscribe
<eventledger.store.base.EventStore.subscribe>`: the subscribers waiting for news and how they
are woken (:class:`Wakeups`), how long a caught-up subscriber sleeps (:class:`Pause`), and
whether its task was cancelled behind its back (:class:`CancellationWatch`).
"""

from __future__ import annotations

import asyncio

from eventledger.backoff import Backoff


class Wakeups:
    """The subscribers of one store that wait for news, and the wake-up that ends their wait."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def register(self) -> asyncio.Future[None]:
        """A new waiter, woken by the next :meth:`wake_all`.

        Register before reading, so an append between the read and the wait still wakes it.
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        return waiter

    def forget(self, waiter: asyncio.Future[None]) -> None:
        """Drop ``waiter`` (its subscriber moved on or stopped)."""
        self._waiters.discard(waiter)
        if not waiter.done():
            waiter.cancel()

    def wake_all(self) -> None:
        """Wake every registered waiter (safe from any thread)."""
        if not self._waiters:
            return  # nobody is waiting: every append comes through here, so keep it cheap
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.get_loop().call_soon_threadsafe(_resolve, waiter)


async def sleep_until_woken(waiter: asyncio.Future[None], seconds: float) -> bool:
    """Sleep until ``waiter`` is woken (True) or ``seconds`` have passed (False)."""
    # A timer rather than asyncio.wait_for: on Python 3.11, wait_for swallows a cancellation
    # that arrives while the wake-up is being delivered, and the cancelled subscriber then
    # runs for ever.
    timed_out = False

    def time_out() -> None:
        nonlocal timed_out
        if not waiter.done():
            timed_out = True
            waiter.set_result(None)

    timer = asyncio.get_running_loop().call_later(seconds, time_out)
    try:
        await waiter
    finally:
        timer.cancel()
    return not timed_out


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class CancellationWatch:
    """Notices a cancellation of the subscribing task that something swallowed.

    On Python 3.11, ``asyncio.wait_for`` (which psycopg_pool uses while a task waits for a
    connection) drops a cancellation that arrives just as the connection is handed over. A
    one-off read then merely finishes; a subscription, which never ends by itself, would run
    on for ever. So it compares the task's pending cancellations with those it started with.
    """

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._at_start = self._task.cancelling() if self._task is not None else 0

    def check(self) -> None:
        """Raise CancelledError if the task was cancelled since the watch began."""
        task = self._task
        if task is not None and task is asyncio.current_task() and task.cancelling() > self._at_start:
            raise asyncio.CancelledError


class Pause:
    """How long a caught-up subscriber sleeps before it re-reads, if nothing wakes it.

    Normally the store's ``poll_interval``. But a wake-up whose read finds nothing new can mean
    that the event it announced is committed and not yet readable (on PostgreSQL: behind the
    visibility barrier, held by an older event writer that is still open), and no second
    wake-up comes when that changes. Then it re-reads soon, backing off from 5 ms up to the
    interval. Where a wake-up always finds its event (memory, SQLite) this costs nothing.

    ``follow``: a read that found events is also followed by a quick re-read, backing off the
    same way while reads find nothing. That is for stores whose wake-ups from other processes
    are spaced out during a burst (PostgreSQL sends one NOTIFY per 50 ms at most, to keep
    notifications off the appends' path): under steady traffic a follower then reads every few
    milliseconds, at its own cost, instead of waiting for the next notification.
    """

    _QUICK_FIRST = 0.005

    def __init__(self, poll_interval: float, *, follow: bool = False) -> None:
        self._poll_interval = poll_interval
        self._quick = Backoff(first=min(self._QUICK_FIRST, poll_interval), maximum=poll_interval)
        self._follow = follow
        self._woken = False
        self._quick_attempt = 0  # 0: not re-reading quickly

    @property
    def seconds(self) -> float:
        """How long to sleep now."""
        if self._quick_attempt == 0:
            return self._poll_interval
        return self._quick.delay(self._quick_attempt)

    def after_read(self, *, found_events: bool) -> None:
        """Note what the last read found."""
        if found_events:
            self._quick_attempt = 1 if self._follow else 0
        elif self._woken:
            self._quick_attempt = 1
        elif self._quick_attempt:
            self._quick_attempt += 1
            if self._quick.delay(self._quick_attempt) >= self._poll_interval:
                self._quick_attempt = 0

    def after_wait(self, *, woken: bool) -> None:
        """Note whether the last sleep ended by a wake-up (True) or ran its time (False)."""
        self._woken = woken
