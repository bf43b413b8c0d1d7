"""What a PostgreSQL store's readers keep track of between reads.

Small pieces of state, each with one job: how long a caught-up subscriber sleeps
(:class:`Pause`), whether its task was cancelled behind its back (:class:`CancellationWatch`),
and which of the store's own appends its readers should wait to see (:class:`OwnWrites`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

logger: Final = logging.getLogger("eventledger.postgres")


class OwnWrites:
    """The newest transaction id this store wrote that readers may not see yet."""

    def __init__(self) -> None:
        self.pending: int | None = None
        #: The barrier at which the last wait gave up (a long-open transaction); None if none.
        self.stuck_at: int | None = None

    def wrote(self, transaction_id: int) -> None:
        if self.pending is None or transaction_id > self.pending:
            self.pending = transaction_id

    def seen(self, transaction_id: int) -> None:
        # A newer append may have come in meanwhile; only forget what was actually seen.
        if self.pending == transaction_id:
            self.pending = None
        self.stuck_at = None

    async def wait_until_visible(
        self, barrier: Callable[[], Awaitable[int]], within: float, where: str
    ) -> None:
        """Wait until the barrier has passed this store's own appends (bounded; never skips).

        An event writer that holds the barrier usually ends within milliseconds. If one stays
        open for longer than ``within`` seconds, the read goes ahead with what is visible (it
        is the long-transaction hazard, and ``visibility_status()`` shows it), and later reads
        do not wait again until that transaction has ended.
        """
        written = self.pending
        if written is None:
            return
        deadline = asyncio.get_running_loop().time() + within
        delay = 0.002
        while True:
            now = await barrier()
            if now > written:
                self.seen(written)
                return
            if self.stuck_at == now:
                return
            if asyncio.get_running_loop().time() >= deadline:
                self.stuck_at = now
                logger.warning(
                    "eventledger: %s: an open transaction holds back readers of the global log; "
                    "reading without this store's latest appends (see visibility_status())",
                    where,
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


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
        task = self._task
        if task is not None and task is asyncio.current_task() and task.cancelling() > self._at_start:
            raise asyncio.CancelledError


class Pause:
    """How long a caught-up subscriber sleeps before it re-reads, if nothing wakes it.

    Normally :attr:`PostgresEventStore.poll_interval`. But a wake-up that finds nothing new
    usually means the event it announced is committed and still behind the visibility barrier
    (an older event writer is still open), and no second notification will come when
    that transaction ends. Then it re-reads soon, backing off from 10 ms up to the interval.
    """

    _FIRST: Final = 0.01

    def __init__(self, poll_interval: float) -> None:
        self._poll_interval = poll_interval
        self._woken = False
        self._quick: float | None = None

    @property
    def seconds(self) -> float:
        return self._poll_interval if self._quick is None else min(self._quick, self._poll_interval)

    def after_read(self, *, found_events: bool) -> None:
        if found_events:
            self._quick = None
        elif self._woken:
            self._quick = self._FIRST
        elif self._quick is not None:
            self._quick = None if self._quick * 2 >= self._poll_interval else self._quick * 2

    def after_wait(self, *, woken: bool) -> None:
        self._woken = woken
