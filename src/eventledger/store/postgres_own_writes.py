"""Which of a PostgreSQL store's own appends its readers should wait to see (:class:`OwnWrites`).

A process that appends and then reads the global log expects to find what it appended. On
PostgreSQL its events can be committed yet still behind the visibility barrier (an older event
writer is open), so a read first waits, briefly and with a bound, until the barrier has passed
them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from eventledger.backoff import Backoff

logger: Final = logging.getLogger("eventledger.postgres")
_BACKOFF: Final = Backoff(first=0.002, maximum=0.05)
"""Between looks at the barrier: exact, as only this process waits for its own writes."""


class OwnWrites:
    """The newest transaction id this store wrote that readers may not see yet."""

    def __init__(self) -> None:
        self.pending: int | None = None
        #: The barrier at which the last wait gave up (a long-open transaction); None if none.
        self.stuck_at: int | None = None

    def wrote(self, transaction_id: int) -> None:
        """Note an append (or writing transaction) committed under ``transaction_id``."""
        if self.pending is None or transaction_id > self.pending:
            self.pending = transaction_id

    def seen(self, transaction_id: int) -> None:
        """Readers can see ``transaction_id``'s events now."""
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
        for delay in _BACKOFF.delays():
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
