"""Which of a PostgreSQL store's own appends its readers should wait to see (:class:`OwnWrites`).

A process that appends and then reads the global log expects to find what it appended. On
PostgreSQL its events can be committed yet still behind the visibility barrier (an older event
writer is open, or another transaction committed while the read ran), so such a read is made
again, briefly and with a bound, until the barrier it was read below has passed them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from eventledger.backoff import Backoff

logger: Final = logging.getLogger("eventledger.postgres")
_Result = TypeVar("_Result")
_BACKOFF: Final = Backoff(first=0.002, maximum=0.05)
"""Between looks at the barrier: exact, as only this process waits for its own writes."""


class OwnWrites:
    """The newest transaction id this store wrote under, which its readers wait to see.

    It is kept, not forgotten once a read has seen it: a later read can still be held below
    it for a moment (a transaction of another session that ends while the read runs), and
    a store's second read of the global log must not show less of its own appends than its
    first did.
    """

    def __init__(self) -> None:
        self.newest: int | None = None
        #: The barrier at which the last wait gave up (a long-open transaction); None if none.
        self.stuck_at: int | None = None

    def wrote(self, transaction_id: int) -> None:
        """Note an append (or writing transaction) committed under ``transaction_id``."""
        if self.newest is None or transaction_id > self.newest:
            self.newest = transaction_id

    async def read_visible(
        self, read: Callable[[], Awaitable[tuple[int, _Result]]], within: float, where: str
    ) -> _Result:
        """Run ``read`` until the barrier it read below has passed this store's own appends.

        ``read`` returns the barrier of its statement and its result. A read is held below the
        barrier by an open event writer, or for that one read by any transaction that committed
        while it ran (see ``postgres_statements``), so this reads again, with growing pauses,
        until the result can include what this store appended. An event writer that holds the
        barrier usually ends within milliseconds. If one stays open for longer than ``within``
        seconds, the last result is returned without this store's latest appends (it is the
        long-transaction hazard, and ``visibility_status()`` shows it), and later reads do not
        wait again until that transaction has ended.
        """
        barrier, result = await read()
        written = self.newest
        if written is None:
            return result
        deadline = asyncio.get_running_loop().time() + within
        for delay in _BACKOFF.delays():
            if barrier > written:
                self.stuck_at = None
                return result
            if self.stuck_at == barrier:
                return result
            if asyncio.get_running_loop().time() >= deadline:
                self.stuck_at = barrier
                logger.warning(
                    "eventledger: %s: an open transaction holds back readers of the global log; "
                    "reading without this store's latest appends (see visibility_status())",
                    where,
                )
                return result
            await asyncio.sleep(delay)
            barrier, result = await read()
        raise AssertionError("unreachable: the back-off never ends")
